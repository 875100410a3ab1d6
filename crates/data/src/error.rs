//! The errors of percept-data: files that are missing, truncated or not what they claim.

use std::path::PathBuf;

/// Why a data set could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file does not exist (the message lists the names that were tried).
    #[error("{path}: file not found{}", tried_names(.tried))]
    Missing {
        /// The path reported (the first name tried).
        path: PathBuf,
        /// Every file name tried, for files with alternative names.
        tried: Vec<String>,
    },
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A `.gz` file (or one starting with gzip's magic bytes) is not a valid gzip stream.
    #[error("{path}: corrupt gzip data: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        source: std::io::Error,
    },
    /// The file does not start with the expected IDX magic number.
    #[error(
        "{path}: not an IDX file of the expected kind: magic number {found:#010x}, expected {expected:#010x}"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic the reader wanted.
        expected: u32,
    },
    /// The type code is not one the IDX format defines.
    #[error(
        "{path}: unsupported IDX element type 0x{code:02x} (the format defines 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)"
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type code found.
        code: u8,
    },
    /// The header declares sizes whose product does not fit in memory's address space.
    #[error("{path}: declared sizes {dims:?} multiply past what memory can address")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The declared sizes.
        dims: Vec<usize>,
    },
    /// A file named `.gz` that does not hold gzip data.
    #[error("{path}: named .gz but not gzip data (no gzip magic bytes)")]
    NotGzip {
        /// The file.
        path: PathBuf,
    },
    /// A CSV file does not hold what was asked of it.
    #[error("{path}: line {line}, column {column}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line number, from 1 (0 for the file as a whole).
        line: u64,
        /// Column name or number, from 1 (empty for the line as a whole).
        column: String,
        /// What is wrong.
        message: String,
    },
    /// The file ends before the data its header declares.
    #[error("{path}: truncated: {expected} bytes expected (header or data), only {found} present")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes declared.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file has more bytes than its header declares.
    #[error("{path}: {extra} unexpected bytes after the {expected} bytes of data the header declares")]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Bytes declared.
        expected: u64,
        /// Bytes beyond them.
        extra: u64,
    },
    /// Images and labels disagree in number.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Its count.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Its count.
        label_count: usize,
    },
    /// An image file that is not a PNG or PGM image, or is corrupt or truncated.
    #[error("{path}: {message}")]
    Image {
        /// The file (or a description of where the bytes came from, e.g. a request body).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An image larger than [`crate::ImageLimits`] allow, refused before it is decoded.
    #[error("{path}: the image {what}, more than the {limit} allowed")]
    ImageTooLarge {
        /// The file (or a description of where the bytes came from).
        path: PathBuf,
        /// What it is or declares ("declares 100000x100000 pixels").
        what: String,
        /// The limit, with its unit.
        limit: String,
    },
    /// A label is not a valid class.
    #[error("{path}: label {label} of sample {index} is outside the {classes} classes")]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label found.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A CSV file's label is none of the classes a model was trained on.
    #[error("{path}: label {label:?} is not one of the model's classes ({})", .classes.join(", "))]
    UnknownClass {
        /// The file.
        path: PathBuf,
        /// The label text.
        label: String,
        /// The model's classes, in order.
        classes: Vec<String>,
    },
}

fn tried_names(tried: &[String]) -> String {
    if tried.len() > 1 { format!(" (tried {})", tried.join(", ")) } else { String::new() }
}
