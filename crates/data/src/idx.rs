//! The IDX format of MNIST and its relatives, gzip'd or raw.
//!
//! Layout (all integers big-endian): two zero bytes, a type code (0x08 unsigned byte, 0x09
//! signed byte, 0x0B 16-bit and 0x0C 32-bit integers, 0x0D and 0x0E 32- and 64-bit floats),
//! the number of dimensions `d`, then `d` 32-bit sizes, then the data in row-major order.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::DataError;

/// An IDX file of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxU8 {
    /// Sizes, outermost first (`[60000, 28, 28]` for MNIST's training images).
    pub dims: Vec<usize>,
    /// `dims.iter().product()` bytes, row-major.
    pub data: Vec<u8>,
}

/// The magic number of an IDX file of unsigned bytes with `ndim` dimensions.
pub fn magic_u8(ndim: u8) -> u32 {
    0x0000_0800 | ndim as u32
}

/// Deflate expands at most about 1032:1, so a gzip file of `n` bytes holds no more than this.
const MAX_GZIP_RATIO: u64 = 1032;

/// Opens `path`, transparently decompressing gzip; also returns an upper bound on the bytes
/// the stream can yield (the file's size, or its size times deflate's maximum ratio).
fn open(path: &Path) -> Result<(Box<dyn Read>, u64), DataError> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut file = BufReader::new(File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing { path: path.to_path_buf(), tried: vec![path.display().to_string()] }
        } else {
            io(source)
        }
    })?);
    let size = file.get_ref().metadata().map_err(io)?.len();
    // gzip is recognised by its magic bytes, not by the file name.
    let head = std::io::BufRead::fill_buf(&mut file).map_err(io)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((Box::new(GzDecoder::new(file)), size.saturating_mul(MAX_GZIP_RATIO)))
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        // A raw file named .gz is most likely a mix-up (a failed download, a renamed file):
        // say so rather than guess.
        Err(DataError::NotGzip { path: path.to_path_buf() })
    } else {
        Ok((Box::new(file), size))
    }
}

/// Reads up to `buf.len()` bytes, returning how many arrived before the end.
fn read_fully(reader: &mut dyn Read, buf: &mut [u8], path: &Path) -> Result<usize, DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(read_error(path, source)),
        }
    }
    Ok(filled)
}

fn read_error(path: &Path, source: std::io::Error) -> DataError {
    // GzDecoder reports corrupt streams as InvalidInput / InvalidData / UnexpectedEof.
    match source.kind() {
        std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::UnexpectedEof => DataError::Gzip { path: path.to_path_buf(), source },
        _ => DataError::Io { path: path.to_path_buf(), source },
    }
}

/// The element types the IDX format defines, by type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    /// 0x08: unsigned byte.
    U8,
    /// 0x09: signed byte.
    I8,
    /// 0x0B: 16-bit integer, big-endian.
    I16,
    /// 0x0C: 32-bit integer, big-endian.
    I32,
    /// 0x0D: 32-bit float, big-endian.
    F32,
    /// 0x0E: 64-bit float, big-endian.
    F64,
}

impl IdxType {
    /// The type for a type code, if the format defines it.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// The elements of an IDX file, in their own type.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Unsigned bytes (MNIST's pixels and labels).
    U8(Vec<u8>),
    /// Signed bytes.
    I8(Vec<i8>),
    /// 16-bit integers.
    I16(Vec<i16>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
}

impl IdxData {
    /// Every element as `f32` (64-bit floats and 32-bit integers rounded).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            IdxData::U8(v) => v.iter().map(|&x| x as f32).collect(),
            IdxData::I8(v) => v.iter().map(|&x| x as f32).collect(),
            IdxData::I16(v) => v.iter().map(|&x| x as f32).collect(),
            IdxData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            IdxData::F32(v) => v.clone(),
            IdxData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// True with no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IDX file of any element type and number of dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Sizes, outermost first.
    pub dims: Vec<usize>,
    /// `dims.iter().product()` elements, row-major.
    pub data: IdxData,
}

impl IdxArray {
    /// The array as a matrix of `dims[0]` rows, everything else flattened into the columns
    /// (`[60000, 28, 28]` becomes `[60000, 784]`), elements converted to `f32`.
    pub fn to_matrix(&self) -> percept_linalg::Matrix {
        let rows = self.dims.first().copied().unwrap_or(1);
        let cols = self.dims.iter().skip(1).product::<usize>();
        percept_linalg::Matrix::from_vec(
            rows,
            if self.dims.len() <= 1 { 1 } else { cols },
            self.data.to_f32(),
        )
    }
}

/// Reads an IDX file of any element type and number of dimensions, gzip'd or raw.
///
/// # Errors
/// [`DataError`] naming `path` for a missing file, a magic number that is not IDX's, an
/// element type the format does not define, a truncated header or body, trailing bytes, or
/// a corrupt gzip stream. Memory grows with the bytes actually read, never to a size the
/// header merely declares.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let (mut reader, max_bytes) = open(path)?;
    read_idx_from(&mut reader, max_bytes, path)
}

/// Parses IDX bytes already in memory (raw, not gzip'd); `path` names them in errors.
///
/// # Errors
/// As [`read_idx`].
pub fn parse_idx(bytes: &[u8], path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    read_idx_from(&mut &bytes[..], bytes.len() as u64, path.as_ref())
}

/// The reader behind [`read_idx`] and [`parse_idx`]: `max_bytes` bounds what `reader` can
/// yield, so that a header declaring more is never allocated up front.
fn read_idx_from(reader: &mut dyn Read, max_bytes: u64, path: &Path) -> Result<IdxArray, DataError> {
    let mut magic = [0u8; 4];
    let got = read_fully(reader, &mut magic, path)?;
    if got < 4 {
        return Err(truncated(path, 4, got));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: u32::from_be_bytes(magic),
            expected: magic_u8(magic[3].max(1)),
        });
    }
    let Some(kind) = IdxType::from_code(magic[2]) else {
        return Err(DataError::UnsupportedType { path: path.to_path_buf(), code: magic[2] });
    };
    let ndim = magic[3] as usize;
    let mut header = vec![0u8; 4 * ndim];
    let got = read_fully(reader, &mut header, path)?;
    if got < header.len() {
        return Err(truncated(path, 4 + header.len() as u64, 4 + got));
    }
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    // Every product of sizes must fit in memory's address space, even when a 0 size makes
    // the array empty ([0, 2³², 2³²] would overflow flattening its rows): refuse at once.
    if dims.iter().filter(|&&d| d > 0).try_fold(1usize, |n, &d| n.checked_mul(d)).is_none() {
        return Err(DataError::TooLarge { path: path.to_path_buf(), dims });
    }
    let count = dims.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64));
    let expected = count.saturating_mul(kind.size() as u64);
    // Reserve what the header declares only when the file can hold it: a corrupt header
    // then costs no huge allocation, and a valid file is read without reallocating.
    let mut bytes = Vec::new();
    if expected <= max_bytes {
        bytes.reserve_exact(expected as usize);
    }
    let read = reader.take(expected).read_to_end(&mut bytes).map_err(|e| read_error(path, e))?;
    if (read as u64) < expected {
        return Err(truncated(path, expected, read));
    }
    let mut extra = [0u8; 1];
    if read_fully(reader, &mut extra, path)? > 0 {
        let rest = 1 + std::io::copy(reader, &mut std::io::sink()).map_err(|e| read_error(path, e))?;
        return Err(DataError::TrailingData { path: path.to_path_buf(), expected, extra: rest });
    }
    let data = match kind {
        IdxType::U8 => IdxData::U8(bytes),
        IdxType::I8 => IdxData::I8(bytes.iter().map(|&b| b as i8).collect()),
        IdxType::I16 => {
            IdxData::I16(bytes.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect())
        }
        IdxType::I32 => IdxData::I32(
            bytes.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
        ),
        IdxType::F32 => IdxData::F32(
            bytes.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
        ),
        IdxType::F64 => IdxData::F64(
            bytes.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().expect("8 bytes"))).collect(),
        ),
    };
    Ok(IdxArray { dims, data })
}

/// Reads an IDX file of unsigned bytes with `ndim` dimensions (MNIST's layout).
///
/// # Errors
/// As [`read_idx`], and [`DataError::BadMagic`] for another element type or number of
/// dimensions.
pub fn read_idx_u8(path: impl AsRef<Path>, ndim: u8) -> Result<IdxU8, DataError> {
    let path = path.as_ref();
    let (mut reader, max_bytes) = open(path)?;
    // Check the magic before reading the body: a file of another type is refused at once.
    let mut magic = [0u8; 4];
    let got = read_fully(&mut reader, &mut magic, path)?;
    if got < 4 {
        return Err(truncated(path, 4, got));
    }
    let magic_value = u32::from_be_bytes(magic);
    if magic_value != magic_u8(ndim) {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic_value,
            expected: magic_u8(ndim),
        });
    }
    let mut rest = std::io::Cursor::new(magic).chain(reader);
    match read_idx_from(&mut rest, max_bytes, path)? {
        IdxArray { dims, data: IdxData::U8(data) } => Ok(IdxU8 { dims, data }),
        _ => unreachable!("the magic number says unsigned bytes"),
    }
}

fn truncated(path: &Path, expected: u64, found: usize) -> DataError {
    DataError::Truncated { path: PathBuf::from(path), expected, found: found as u64 }
}
