//! CSV files of numeric features with a label or target column, or without one (data to
//! predict).

use std::fmt::Write as _;
use std::path::Path;

use percept_linalg::Matrix;

use crate::{DataError, InMemoryDataset, Labels};

/// Which column holds the label (or regression target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// The last column (the default).
    Last,
    /// The column at this index, from 0.
    Index(usize),
    /// The column with this header name (needs a header).
    Name(String),
}

impl LabelColumn {
    /// A column as a command line or a recipe names it: a number is a 0-based index, any
    /// other text a header name.
    ///
    /// ```
    /// use percept_data::LabelColumn;
    /// assert_eq!(LabelColumn::from_name_or_index("2"), LabelColumn::Index(2));
    /// assert_eq!(LabelColumn::from_name_or_index("species"), LabelColumn::Name("species".into()));
    /// ```
    pub fn from_name_or_index(text: &str) -> Self {
        text.parse().map_or_else(|_| LabelColumn::Name(text.to_string()), LabelColumn::Index)
    }
}

/// What the label column is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Class labels: non-negative integers used as they are, or any strings, numbered in
    /// sorted order (the mapping is kept in [`CsvData::class_names`]).
    Classification,
    /// Numeric targets.
    Regression,
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first line names the columns (default true).
    pub has_header: bool,
    /// The label column (default the last).
    pub label: LabelColumn,
    /// Classification (default) or regression.
    pub task: Task,
    /// Field separator (default `,`).
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { has_header: true, label: LabelColumn::Last, task: Task::Classification, delimiter: b',' }
    }
}

/// A CSV file as a data set.
#[derive(Clone, Debug)]
pub struct CsvData {
    /// The samples: features from every column but the label.
    pub dataset: InMemoryDataset,
    /// Feature names (from the header, or `column 1`, `column 2`, … without one).
    pub feature_names: Vec<String>,
    /// For classification, the label text of each class: `class_names[c]` became class `c`.
    pub class_names: Option<Vec<String>>,
}

impl CsvData {
    /// The samples with their classes numbered as a model numbers them (`names[c]` is output
    /// `c`, as [`CsvData::class_names`] of its training file gave them): a file's label texts
    /// are numbered in sorted order, so a file that lacks a class, or has another, would number
    /// the rest differently from the training file. Regression data, or a file without class
    /// names, comes back as it is.
    ///
    /// # Errors
    /// [`DataError::UnknownClass`] for a label that is not one of `names` (`path` names the
    /// file).
    pub fn numbered_as(self, names: &[String], path: impl AsRef<Path>) -> Result<InMemoryDataset, DataError> {
        let (Some(file_names), Labels::Classes(classes)) = (&self.class_names, self.dataset.labels()) else {
            return Ok(self.dataset);
        };
        let model_class: Vec<Option<usize>> =
            file_names.iter().map(|name| names.iter().position(|n| n == name)).collect();
        let mut numbered = Vec::with_capacity(classes.len());
        for &c in classes {
            let number = model_class[c].ok_or_else(|| DataError::UnknownClass {
                path: path.as_ref().to_path_buf(),
                label: file_names[c].clone(),
                classes: names.to_vec(),
            })?;
            numbered.push(number);
        }
        Ok(InMemoryDataset::classification(self.dataset.features().clone(), numbered, names.len()))
    }
}

/// Reads the CSV file at `path`.
///
/// # Errors
/// [`DataError`] naming the file, and the line and column where there is one: missing or
/// unreadable file, no data rows, rows of different lengths, a value that is not a number
/// or not a finite one (NaN, infinite), a label column that does not exist.
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvData, DataError> {
    let path = path.as_ref();
    parse_csv(&read_bytes(path)?, path, options)
}

/// A CSV file's fields before any is read as a number: its header (if the options say it
/// has one), the column names, and the data rows with their line numbers.
struct Table {
    header: Option<Vec<String>>,
    names: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
    width: usize,
}

/// Writes `data` to `path` as CSV with a header: one column per feature (`x0`, `x1`, … unless
/// `feature_names` gives them), then the label: `class` (the class index) for classification,
/// `target` (or `target0`, `target1`, … for several) for regression. Values are written in
/// the shortest form that reads back to the same `f32`, so [`read_csv`] (with
/// [`Task::Regression`] for regression sets) returns `data` bit for bit.
///
/// The file is written whole to `path` with a `.tmp` suffix first, then renamed over `path`:
/// an interrupted write leaves the old file.
///
/// # Errors
/// [`DataError::Io`] naming the file when it cannot be written; [`DataError::Csv`] when
/// `feature_names` does not hold one name per feature or a name would not read back as one
/// field (a comma, quote or line break in it).
pub fn write_csv(
    path: impl AsRef<Path>,
    data: &InMemoryDataset,
    feature_names: Option<&[&str]>,
) -> Result<(), DataError> {
    let path = path.as_ref();
    let features = data.features();
    let mut header: Vec<String> = match feature_names {
        Some(names) if names.len() != features.cols() => {
            return Err(csv_error(
                path,
                0,
                String::new(),
                format!("{} feature names given for {} features", names.len(), features.cols()),
            ));
        }
        Some(names) => names.iter().map(|name| name.to_string()).collect(),
        None => (0..features.cols()).map(|j| format!("x{j}")).collect(),
    };
    match data.labels() {
        Labels::Classes(_) => header.push("class".into()),
        Labels::Values(targets) if targets.cols() == 1 => header.push("target".into()),
        Labels::Values(targets) => header.extend((0..targets.cols()).map(|j| format!("target{j}"))),
    }
    if let Some(bad) = header.iter().position(|name| name.contains([',', '"', '\n', '\r'])) {
        return Err(csv_error(
            path,
            1,
            header[bad].clone(),
            "a column name may not hold a comma, quote or line break".into(),
        ));
    }
    let mut text = header.join(",");
    text.push('\n');
    // Writing to a String cannot fail: the results are ignored.
    for (i, row) in features.row_iter().enumerate() {
        for value in row {
            let _ = write!(text, "{value},");
        }
        match data.labels() {
            Labels::Classes(classes) => {
                let _ = write!(text, "{}", classes[i]);
            }
            Labels::Values(targets) => {
                for (k, value) in targets.row(i).iter().enumerate() {
                    let _ = write!(text, "{}{value}", if k == 0 { "" } else { "," });
                }
            }
        }
        text.push('\n');
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let io_error = |source| DataError::Io { path: path.to_path_buf(), source };
    std::fs::write(&temporary, text).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}

/// The samples of a CSV file read without labels: data to predict.
#[derive(Clone, Debug)]
pub struct CsvFeatures {
    /// One row per sample.
    pub features: Matrix,
    /// Feature names (from the header, or `column 1`, `column 2`, … without one).
    pub feature_names: Vec<String>,
    /// The column left out as the label, if any: its 0-based index and name.
    pub label_column: Option<(usize, String)>,
}

/// Reads the CSV file at `path` as samples to predict: every column is a feature, or, with
/// `with_label`, every column but `options.label` (a file that still has its labels, such as
/// a test set). `options.task` is not used.
///
/// # Errors
/// As [`read_csv`]: [`DataError`] naming the file, and the line and column where there is one.
pub fn read_csv_features(
    path: impl AsRef<Path>,
    options: &CsvOptions,
    with_label: bool,
) -> Result<CsvFeatures, DataError> {
    let path = path.as_ref();
    let table = parse_table(&read_bytes(path)?, path, options, 1 + with_label as usize)?;
    let label = if with_label { Some(table.column(&options.label, path)?) } else { None };
    let (features, feature_names) = table.numbers(label, path)?;
    let label_column = label.map(|c| (c, table.names[c].clone()));
    Ok(CsvFeatures { features, feature_names, label_column })
}

/// The bytes of `path`, with [`DataError::Missing`] when there is no such file.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing { path: path.to_path_buf(), tried: vec![path.display().to_string()] }
        } else {
            DataError::Io { path: path.to_path_buf(), source }
        }
    })
}

/// Why a value that reads as NaN or infinite (`nan`, `inf`, or `1e39`, beyond `f32`) is
/// refused: one such feature turns every weight it reaches into NaN at the first step.
fn not_finite(field: &str) -> String {
    format!("{field:?} is not a finite number (NaN and infinite values cannot be trained on)")
}

/// A [`DataError::Csv`] for `path`.
fn csv_error(path: &Path, line: u64, column: String, message: String) -> DataError {
    DataError::Csv { path: path.to_path_buf(), line, column, message }
}

/// Splits `bytes` into a [`Table`], skipping blank lines; at least `min_width` columns.
fn parse_table(
    bytes: &[u8],
    path: &Path,
    options: &CsvOptions,
    min_width: usize,
) -> Result<Table, DataError> {
    let error = |line: u64, column: String, message: String| csv_error(path, line, column, message);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .from_reader(bytes);
    let mut records = reader.records();
    let mut header: Option<Vec<String>> = None;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for (i, record) in records.by_ref().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            error(line, String::new(), e.to_string())
        })?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        let fields: Vec<String> = record.iter().map(|f| f.trim().to_string()).collect();
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // blank line
        }
        if options.has_header && header.is_none() {
            header = Some(fields);
        } else {
            rows.push((line, fields));
        }
    }
    let Some((first_line, first)) = rows.first() else {
        return Err(error(0, String::new(), "no data rows".into()));
    };
    let width = header.as_ref().map_or(first.len(), Vec::len);
    if width < min_width {
        let need = if min_width > 1 { "need features and a label" } else { "need at least one feature" };
        return Err(error(*first_line, String::new(), format!("{width} columns; {need}")));
    }
    if let Some((line, fields)) = rows.iter().find(|(_, fields)| fields.len() != width) {
        return Err(error(*line, String::new(), format!("{} fields, expected {width}", fields.len())));
    }
    let names: Vec<String> =
        header.clone().unwrap_or_else(|| (1..=width).map(|c| format!("column {c}")).collect());
    Ok(Table { header, names, rows, width })
}

impl Table {
    /// The index of the `label` column.
    fn column(&self, label: &LabelColumn, path: &Path) -> Result<usize, DataError> {
        let (width, names) = (self.width, &self.names);
        match label {
            LabelColumn::Last => Ok(width - 1),
            LabelColumn::Index(i) if *i < width => Ok(*i),
            LabelColumn::Index(i) => Err(csv_error(
                path,
                0,
                (i + 1).to_string(),
                format!("no label column {} (the file has {width})", i + 1),
            )),
            LabelColumn::Name(name) => match (&self.header, names.iter().position(|n| n == name)) {
                (Some(_), Some(i)) => Ok(i),
                (None, _) => {
                    Err(csv_error(path, 0, name.clone(), "a label column by name needs a header".into()))
                }
                (Some(_), None) => Err(csv_error(
                    path,
                    1,
                    name.clone(),
                    format!("no column named {name:?} (columns: {})", names.join(", ")),
                )),
            },
        }
    }

    /// Every column but `skip` read as numbers, row by row, with the names of those columns.
    fn numbers(&self, skip: Option<usize>, path: &Path) -> Result<(Matrix, Vec<String>), DataError> {
        let kept = self.width - skip.is_some() as usize;
        let mut values = Vec::with_capacity(self.rows.len() * kept);
        for (line, fields) in &self.rows {
            for (c, field) in fields.iter().enumerate().filter(|&(c, _)| Some(c) != skip) {
                let column = || format!("{} ({})", c + 1, self.names[c]);
                let value: f32 = field
                    .parse()
                    .map_err(|_| csv_error(path, *line, column(), format!("{field:?} is not a number")))?;
                if !value.is_finite() {
                    return Err(csv_error(path, *line, column(), not_finite(field)));
                }
                values.push(value);
            }
        }
        let names =
            self.names.iter().enumerate().filter(|&(c, _)| Some(c) != skip).map(|(_, n)| n.clone()).collect();
        Ok((Matrix::from_vec(self.rows.len(), kept, values), names))
    }
}

/// Parses CSV bytes already in memory; `path` names them in errors.
///
/// # Errors
/// As [`read_csv`].
pub fn parse_csv(bytes: &[u8], path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvData, DataError> {
    let path = path.as_ref();
    let error = |line: u64, column: String, message: String| csv_error(path, line, column, message);
    let table = parse_table(bytes, path, options, 2)?;
    let label = table.column(&options.label, path)?;
    let (features, feature_names) = table.numbers(Some(label), path)?;
    let labels: Vec<(u64, String)> =
        table.rows.iter().map(|(line, fields)| (*line, fields[label].clone())).collect();
    let label_column = format!("{} ({})", label + 1, table.names[label]);
    match options.task {
        Task::Regression => {
            let mut targets = Vec::with_capacity(labels.len());
            for (line, text) in &labels {
                let value: f32 = text
                    .parse()
                    .map_err(|_| error(*line, label_column.clone(), format!("{text:?} is not a number")))?;
                if !value.is_finite() {
                    return Err(error(*line, label_column.clone(), not_finite(text)));
                }
                targets.push(value);
            }
            let targets = Matrix::from_vec(targets.len(), 1, targets);
            Ok(CsvData {
                dataset: InMemoryDataset::regression(features, targets),
                feature_names,
                class_names: None,
            })
        }
        Task::Classification => {
            let integers: Option<Vec<usize>> = labels.iter().map(|(_, t)| t.parse::<usize>().ok()).collect();
            let (classes, class_names) = match integers {
                // Integer labels are the classes; refuse absurd ones rather than allocate.
                Some(classes) if classes.iter().all(|&c| c < 1 << 20) => {
                    let count = classes.iter().max().map_or(0, |&m| m + 1);
                    (classes, (0..count).map(|c| c.to_string()).collect::<Vec<_>>())
                }
                _ => {
                    let mut names: Vec<String> = labels.iter().map(|(_, t)| t.clone()).collect();
                    names.sort();
                    names.dedup();
                    let classes = labels
                        .iter()
                        .map(|(_, t)| names.binary_search(t).expect("every label is listed"))
                        .collect();
                    (classes, names)
                }
            };
            let count = class_names.len();
            Ok(CsvData {
                dataset: InMemoryDataset::classification(features, classes, count),
                feature_names,
                class_names: Some(class_names),
            })
        }
    }
}
