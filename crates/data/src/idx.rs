//! The IDX format of MNIST and its relatives, gzip'd or raw.
//!
//! Layout (all integers big-endian): two zero bytes, a type code (0x08 for unsigned bytes),
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

/// Reads an IDX file of unsigned bytes with `ndim` dimensions.
///
/// # Errors
/// [`DataError`] naming `path` for a missing file, another magic number, a truncated header or
/// body, trailing bytes, or a corrupt gzip stream. Memory grows with the bytes actually read,
/// never to a size the header merely declares.
pub fn read_idx_u8(path: impl AsRef<Path>, ndim: u8) -> Result<IdxU8, DataError> {
    let path = path.as_ref();
    let (mut reader, max_bytes) = open(path)?;
    let mut magic = [0u8; 4];
    let got = read_fully(&mut reader, &mut magic, path)?;
    if got < 4 {
        return Err(truncated(path, 4, got));
    }
    let magic = u32::from_be_bytes(magic);
    if magic != magic_u8(ndim) {
        return Err(DataError::BadMagic { path: path.to_path_buf(), found: magic, expected: magic_u8(ndim) });
    }
    let mut header = vec![0u8; 4 * ndim as usize];
    let got = read_fully(&mut reader, &mut header, path)?;
    if got < header.len() {
        return Err(truncated(path, header.len() as u64, got));
    }
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    // u64 arithmetic: 32-bit sizes multiplied can exceed usize on 32-bit targets.
    let expected: u64 = dims.iter().map(|&d| d as u64).product();
    // Reserve what the header declares only when the file can hold it: a corrupt header
    // then costs no huge allocation, and a valid file is read without reallocating.
    let mut data = Vec::new();
    if expected <= max_bytes {
        data.reserve_exact(expected as usize);
    }
    let read = reader.by_ref().take(expected).read_to_end(&mut data).map_err(|e| read_error(path, e))?;
    if (read as u64) < expected {
        return Err(truncated(path, expected, read));
    }
    let mut extra = [0u8; 1];
    if read_fully(&mut reader, &mut extra, path)? > 0 {
        let rest = 1 + std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| read_error(path, e))?;
        return Err(DataError::TrailingData { path: path.to_path_buf(), expected, extra: rest });
    }
    Ok(IdxU8 { dims, data })
}

fn truncated(path: &Path, expected: u64, found: usize) -> DataError {
    DataError::Truncated { path: PathBuf::from(path), expected, found: found as u64 }
}
