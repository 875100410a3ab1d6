//! The CSV reader on arbitrary bytes, with options chosen by the first byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percept_data::{CsvOptions, LabelColumn, Task, parse_csv};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, text)) = data.split_first() else { return };
    let options = CsvOptions {
        has_header: choice & 1 == 0,
        label: match (choice >> 1) & 3 {
            0 => LabelColumn::Last,
            1 => LabelColumn::Index(usize::from(choice >> 4)),
            _ => LabelColumn::Name("label".into()),
        },
        task: if choice & 8 == 0 { Task::Classification } else { Task::Regression },
        delimiter: if choice & 0x80 == 0 { b',' } else { b';' },
    };
    if let Ok(data) = parse_csv(text, "fuzz.csv", &options) {
        use percept_data::Dataset;
        assert_eq!(data.feature_names.len(), data.dataset.num_features());
    }
});
