//! Grey images from PNG and PGM files, decoded within limits a hostile file cannot talk past.
//!
//! A PNG of 20000 × 20000 black pixels compresses to under 400 KB; decoded naively it asks
//! for gigabytes. So the declared size is read from the header and checked against
//! [`ImageLimits`] before any pixel buffer exists, and the `png` decoder's own allocation
//! limit is set before it reads anything.

use std::path::Path;

use crate::DataError;

/// A grey image, row-major, one `f32` per pixel in `[0, 1]` (0 black, 1 white).
#[derive(Clone, Debug, PartialEq)]
pub struct GrayImage {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` grey levels, row after row.
    pub pixels: Vec<f32>,
}

impl GrayImage {
    /// An image of `width × height` grey levels.
    ///
    /// # Panics
    /// If `pixels.len() != width * height`.
    #[track_caller]
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Self {
        assert_eq!(pixels.len(), width * height, "a {width}x{height} image needs {} pixels", width * height);
        Self { width, height, pixels }
    }

    /// The grey level at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }
}

/// How much an image may make the decoder allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// Most pixels (width × height) an image may declare. Decoding takes up to 8 bytes a
    /// pixel (4 for the decoded 8-bit samples, 4 for the `f32` grey levels).
    pub max_pixels: u64,
    /// Longest file read, in bytes.
    pub max_file_bytes: u64,
}

impl Default for ImageLimits {
    /// 2²⁵ pixels (an 8K photograph, about 270 MB to decode) and 256 MiB files.
    fn default() -> Self {
        Self { max_pixels: 1 << 25, max_file_bytes: 256 << 20 }
    }
}

/// Reads a PNG or PGM (binary `P5` or text `P2`) file as grey levels in `[0, 1]`.
///
/// Colour is averaged to grey; transparent pixels are laid over a background opposite to
/// the ink ([`decode_image`]).
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read, [`DataError::ImageTooLarge`] if it is
/// longer than `limits.max_file_bytes` or declares more than `limits.max_pixels` pixels,
/// [`DataError::Image`] if it is not a PNG or PGM image or is corrupt or truncated.
pub fn read_image(path: impl AsRef<Path>, limits: &ImageLimits) -> Result<GrayImage, DataError> {
    let path = path.as_ref();
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let length = std::fs::metadata(path).map_err(io)?.len();
    if length > limits.max_file_bytes {
        return Err(DataError::ImageTooLarge {
            path: path.to_path_buf(),
            what: format!("is {length} bytes long"),
            limit: format!("{} bytes", limits.max_file_bytes),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode_image(&bytes, path, limits)
}

/// Decodes PNG or PGM `bytes` as grey levels in `[0, 1]`; `name` (a file name, or a
/// description such as `"request body"`) is what errors report.
///
/// PNG: any colour type and bit depth; colour is averaged to grey. An image with
/// transparency is laid over black when its opaque pixels are light on average and over
/// white otherwise, so that both white ink and black ink on a transparent canvas stay
/// visible. PGM: binary (`P5`, 8 or 16 bits) or text (`P2`).
///
/// # Errors
/// [`DataError::ImageTooLarge`] when the header declares more than `limits.max_pixels`
/// pixels (checked before anything is allocated), [`DataError::Image`] when the bytes are
/// not a PNG or PGM image, or are corrupt or truncated.
pub fn decode_image(
    bytes: &[u8],
    name: impl AsRef<Path>,
    limits: &ImageLimits,
) -> Result<GrayImage, DataError> {
    let name = name.as_ref();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes, name, limits)
    } else if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        decode_pgm(bytes, name, limits)
    } else {
        Err(image_error(name, "not a PNG or PGM image"))
    }
}

fn image_error(name: &Path, message: impl Into<String>) -> DataError {
    DataError::Image { path: name.to_path_buf(), message: message.into() }
}

fn check_size(name: &Path, width: u64, height: u64, limits: &ImageLimits) -> Result<usize, DataError> {
    match width.checked_mul(height) {
        Some(pixels) if pixels <= limits.max_pixels => {
            usize::try_from(pixels).map_err(|_| image_error(name, "image too large for this machine"))
        }
        _ => Err(DataError::ImageTooLarge {
            path: name.to_path_buf(),
            what: format!("declares {width}x{height} pixels"),
            limit: format!("{} pixels", limits.max_pixels),
        }),
    }
}

fn decode_png(bytes: &[u8], name: &Path, limits: &ImageLimits) -> Result<GrayImage, DataError> {
    let png_error = |e: png::DecodingError| image_error(name, format!("PNG: {e}"));
    // The decoder's own buffers (a few rows, ancillary chunks) stay well under this; the
    // frame buffer is ours and checked below.
    let decoder_limit = png::Limits { bytes: 64 << 20 };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), decoder_limit);
    let header = decoder.read_header_info().map_err(png_error)?;
    let (width, height) = (u64::from(header.width), u64::from(header.height));
    check_size(name, width, height, limits)?;
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    let size = reader.output_buffer_size().ok_or_else(|| image_error(name, "PNG frame too large"))?;
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(png_error)?;
    let channels = info.color_type.samples();
    let samples = &buffer[..info.buffer_size()];
    // Grey level and opacity of each pixel.
    let pixel = |px: &[u8]| -> (f32, f32) {
        let (colour, alpha) = match px.len() {
            2 | 4 => (&px[..px.len() - 1], f32::from(px[px.len() - 1]) / 255.0),
            _ => (px, 1.0),
        };
        (colour.iter().map(|&c| f32::from(c)).sum::<f32>() / colour.len() as f32 / 255.0, alpha)
    };
    let pixels: Vec<f32> = if matches!(channels, 2 | 4) {
        let (mut ink_sum, mut opaque) = (0.0f64, 0usize);
        for px in samples.chunks_exact(channels) {
            let (grey, alpha) = pixel(px);
            if alpha > 0.5 {
                ink_sum += f64::from(grey);
                opaque += 1;
            }
        }
        let background = if opaque > 0 && ink_sum / opaque as f64 > 0.5 { 0.0 } else { 1.0 };
        samples
            .chunks_exact(channels)
            .map(|px| {
                let (grey, alpha) = pixel(px);
                alpha * grey + (1.0 - alpha) * background
            })
            .collect()
    } else {
        samples.chunks_exact(channels).map(|px| pixel(px).0).collect()
    };
    Ok(GrayImage::new(info.width as usize, info.height as usize, pixels))
}

/// A binary (`P5`) or text (`P2`) PGM image (Netpbm's format).
fn decode_pgm(bytes: &[u8], name: &Path, limits: &ImageLimits) -> Result<GrayImage, DataError> {
    let binary = bytes.starts_with(b"P5");
    let mut fields = [0u64; 3];
    let mut position = 2;
    for field in &mut fields {
        // Whitespace and comments (from '#' to the end of the line).
        while position < bytes.len() && (bytes[position].is_ascii_whitespace() || bytes[position] == b'#') {
            if bytes[position] == b'#' {
                while position < bytes.len() && bytes[position] != b'\n' {
                    position += 1;
                }
            } else {
                position += 1;
            }
        }
        let start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        *field = std::str::from_utf8(&bytes[start..position])
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| image_error(name, "PGM: bad header (expected width, height and maximum value)"))?;
    }
    let [width, height, max] = fields;
    if !(1..=65535).contains(&max) {
        return Err(image_error(name, format!("PGM: maximum grey value {max} is not in 1..=65535")));
    }
    let count = check_size(name, width, height, limits)?;
    let (width, height) = (width as usize, height as usize);
    let scale = 1.0 / max as f32;
    let pixels: Vec<f32> = if binary {
        // One whitespace byte separates the header from the samples.
        let data = bytes.get(position + 1..).unwrap_or(&[]);
        let sample_bytes = if max > 255 { 2 } else { 1 };
        if data.len() < count * sample_bytes {
            return Err(image_error(
                name,
                format!("PGM: truncated: data ends after {} of {count} pixels", data.len() / sample_bytes),
            ));
        }
        if sample_bytes == 2 {
            data.chunks_exact(2)
                .take(count)
                .map(|c| f32::from(u16::from_be_bytes([c[0], c[1]])) * scale)
                .collect()
        } else {
            data[..count].iter().map(|&b| f32::from(b) * scale).collect()
        }
    } else {
        let text = std::str::from_utf8(&bytes[position..]).map_err(|_| image_error(name, "PGM: bad data"))?;
        let mut pixels = Vec::with_capacity(count.min(bytes.len()));
        for token in text.split_ascii_whitespace().take(count) {
            let value: u64 = token
                .parse()
                .map_err(|_| image_error(name, format!("PGM: {token:?} is not a grey level")))?;
            if value > max {
                return Err(image_error(name, format!("PGM: grey level {value} is above the maximum {max}")));
            }
            pixels.push(value as f32 * scale);
        }
        if pixels.len() < count {
            return Err(image_error(
                name,
                format!("PGM: truncated: data ends after {} of {count} pixels", pixels.len()),
            ));
        }
        pixels
    };
    Ok(GrayImage::new(width, height, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, colour: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(colour);
        encoder.set_depth(depth);
        let mut writer = encoder.write_header().expect("header");
        writer.write_image_data(data).expect("data");
        writer.finish().expect("finish");
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<GrayImage, DataError> {
        decode_image(bytes, "test.png", &ImageLimits::default())
    }

    #[test]
    fn grey_colour_and_sixteen_bit_pngs_decode_to_the_same_grey_levels() {
        use png::{BitDepth, ColorType};
        let grey = decode(&png(2, 1, ColorType::Grayscale, BitDepth::Eight, &[0, 255])).unwrap();
        assert_eq!(grey, GrayImage::new(2, 1, vec![0.0, 1.0]));
        let rgb = decode(&png(2, 1, ColorType::Rgb, BitDepth::Eight, &[0, 0, 0, 255, 255, 255])).unwrap();
        assert_eq!(rgb, grey);
        let deep = decode(&png(2, 1, ColorType::Grayscale, BitDepth::Sixteen, &[0, 0, 255, 255])).unwrap();
        assert_eq!(deep, grey);
        let mixed = decode(&png(1, 1, ColorType::Rgb, BitDepth::Eight, &[255, 0, 0])).unwrap();
        assert!((mixed.pixels[0] - 1.0 / 3.0).abs() < 1e-6, "{mixed:?}");
    }

    #[test]
    fn transparent_pngs_keep_their_ink_whatever_its_colour() {
        use png::{BitDepth, ColorType};
        // Black ink on a transparent canvas: laid over white.
        let black_ink = png(2, 1, ColorType::Rgba, BitDepth::Eight, &[0, 0, 0, 255, 0, 0, 0, 0]);
        assert_eq!(decode(&black_ink).unwrap().pixels, [0.0, 1.0]);
        // White ink on a transparent canvas: laid over black.
        let white_ink = png(2, 1, ColorType::GrayscaleAlpha, BitDepth::Eight, &[255, 255, 255, 0]);
        assert_eq!(decode(&white_ink).unwrap().pixels, [1.0, 0.0]);
    }

    #[test]
    fn pgm_text_and_binary_with_comments_and_sixteen_bits() {
        let text =
            decode_image(b"P2\n# comment\n2 2\n# another\n4\n0 1 2 4\n", "t.pgm", &ImageLimits::default());
        assert_eq!(text.unwrap(), GrayImage::new(2, 2, vec![0.0, 0.25, 0.5, 1.0]));
        let mut binary = b"P5 2 1 65535\n".to_vec();
        binary.extend_from_slice(&[0xff, 0xff, 0, 0]);
        assert_eq!(decode_image(&binary, "b.pgm", &ImageLimits::default()).unwrap().pixels, [1.0, 0.0]);
    }

    #[test]
    fn truncated_corrupt_and_foreign_files_are_errors_naming_the_file() {
        let full = png(8, 8, png::ColorType::Grayscale, png::BitDepth::Eight, &[7; 64]);
        for cut in [10, 30, full.len() - 20] {
            let error = decode(&full[..cut]).unwrap_err();
            assert!(matches!(error, DataError::Image { .. }), "{error}");
            assert!(error.to_string().starts_with("test.png: PNG"), "{error}");
        }
        let error = decode(b"GIF89a").unwrap_err();
        assert_eq!(error.to_string(), "test.png: not a PNG or PGM image");
        for (bytes, message) in [
            (&b"P5 2 2 255\n\x01"[..], "t.pgm: PGM: truncated: data ends after 1 of 4 pixels"),
            (b"P2 2 1 9 3 12", "t.pgm: PGM: grey level 12 is above the maximum 9"),
            (b"P2 2 x", "t.pgm: PGM: bad header (expected width, height and maximum value)"),
            (b"P2 1 1 0 0", "t.pgm: PGM: maximum grey value 0 is not in 1..=65535"),
        ] {
            let error = decode_image(bytes, "t.pgm", &ImageLimits::default()).unwrap_err();
            assert_eq!(error.to_string(), message);
        }
    }

    /// A PNG whose header declares `width × height` 8-bit grey pixels, followed by an IDAT
    /// chunk of one compressed row of zeros and IEND: what a decompression bomb looks like
    /// up to its header.
    pub(crate) fn declared_png(width: u32, height: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = Vec::new();
        header.extend_from_slice(&width.to_be_bytes());
        header.extend_from_slice(&height.to_be_bytes());
        header.extend_from_slice(&[8, 0, 0, 0, 0]); // 8 bits, grey, deflate, no filter, no interlace
        chunk(&mut out, b"IHDR", &header);
        // zlib header, then one empty final stored block: too little data for any row.
        chunk(&mut out, b"IDAT", &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 1]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        crc.sum()
    }

    #[test]
    fn a_png_declaring_huge_dimensions_is_refused_from_its_header() {
        let error = decode(&declared_png(100_000, 100_000)).unwrap_err();
        assert!(matches!(error, DataError::ImageTooLarge { .. }), "{error}");
        assert_eq!(
            error.to_string(),
            "test.png: the image declares 100000x100000 pixels, more than the 33554432 pixels allowed"
        );
        // Within the limits, the same header is decoded and found truncated instead.
        let small = decode(&declared_png(50, 50)).unwrap_err();
        assert!(matches!(small, DataError::Image { .. }), "{small}");
        let limits = ImageLimits { max_pixels: 2499, ..Default::default() };
        let refused = decode_image(&declared_png(50, 50), "x.png", &limits).unwrap_err();
        assert!(matches!(refused, DataError::ImageTooLarge { .. }), "{refused}");
        let pgm = decode_image(b"P5 100000 100000 255\n", "x.pgm", &ImageLimits::default()).unwrap_err();
        assert!(matches!(pgm, DataError::ImageTooLarge { .. }), "{pgm}");
    }

    #[test]
    fn files_longer_than_the_limit_are_not_read() {
        let dir = std::env::temp_dir().join(format!("percept-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.pgm");
        std::fs::write(&path, b"P2 1 1 255 0                    ").unwrap();
        let limits = ImageLimits { max_file_bytes: 16, ..Default::default() };
        let error = read_image(&path, &limits).unwrap_err();
        assert!(
            error.to_string().ends_with("the image is 32 bytes long, more than the 16 bytes allowed"),
            "{error}"
        );
        assert_eq!(read_image(&path, &ImageLimits::default()).unwrap().pixels, [0.0]);
        let missing = read_image(dir.join("missing.png"), &limits).unwrap_err();
        assert!(matches!(missing, DataError::Io { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
