//! The IDX reader on arbitrary bytes: a value or a typed error, never a panic, a hang or an
//! allocation of what a header merely declares (libFuzzer's -rss_limit_mb catches that).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = percept_data::parse_idx(data, "fuzz.idx") {
        assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        let _ = array.to_matrix();
    }
});
