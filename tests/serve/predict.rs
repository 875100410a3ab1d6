//! `percept predict` on images from outside: decompression bombs and truncated files are
//! refused within bounded memory, dark-on-light digits are inverted (and it says so), and
//! digits of any size are prepared as MNIST's were. Every run of the binary here has its
//! address space limited to 4 GiB (`ulimit -v`), so that a test means the same on any
//! machine: an attempt to allocate what a header merely declares fails the test instead of
//! succeeding on a large machine.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::shared;

/// `percept ARGS` with its address space limited to `kib` KiB.
fn percept_limited(kib: u64, args: &[&str]) -> Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_percept"))
        .args(args)
        .output()
        .expect("sh runs")
}

/// `percept ARGS` within 4 GiB of address space.
fn percept(args: &[&str]) -> Output {
    percept_limited(4 << 20, args)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("predict_images");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The model the server's tests serve ([`crate::support::checkpoint`]).
fn model() -> &'static Path {
    crate::support::checkpoint()
}

fn write_png(path: &Path, width: u32, height: u32, colour: png::ColorType, data: &[u8]) {
    let file = std::fs::File::create(path).expect("create");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(colour);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().expect("header").write_image_data(data).expect("data");
}

/// A PNG of `width × height` black grey pixels, compressed as tightly as deflate allows.
fn write_bomb(path: &Path, width: u32, height: u32) {
    let file = std::fs::File::create(path).expect("create");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().expect("header").into_stream_writer().expect("stream");
    let row = vec![0u8; width as usize];
    for _ in 0..height {
        std::io::Write::write_all(&mut writer, &row).expect("row");
    }
    writer.finish().expect("finish");
}

#[test]
fn a_png_declaring_100000_by_100000_pixels_is_refused_without_allocating_them() {
    let _machine = shared();
    let path = dir().join("declared.png");
    // A real header (and one row of data) of a 100000 x 100000 grey image: 10 GB decoded.
    write_png(&path, 100_000, 1, png::ColorType::Grayscale, &vec![0; 100_000]);
    let mut bytes = std::fs::read(&path).expect("written");
    // IHDR's height sits at bytes 20..24, its CRC at 29..33.
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = png_crc(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let out = percept(&["predict", "--model", s(model()), s(&path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "declared.png: the image declares 100000x100000 pixels, more than the 33554432 pixels allowed"
        ),
        "{}",
        text(&out)
    );
}

/// PNG's CRC-32 (ISO 3309) of `bytes`, bit by bit: a header is short.
fn png_crc(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_real_20000_by_20000_png_bomb_is_refused_within_bounded_memory() {
    let _machine = shared();
    let path = dir().join("bomb.png");
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
        write_bomb(&path, 20_000, 20_000);
    }
    let size = std::fs::metadata(&path).expect("written").len();
    assert!(size < 1 << 20, "a bomb: {size} bytes that decode to 400 MB");
    // Within 4 GiB, and within 1 GiB too: the size is refused from the header.
    for kib in [4 << 20, 1 << 20] {
        let out = percept_limited(kib, &["predict", "--model", s(model()), s(&path)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(
                "bomb.png: the image declares 20000x20000 pixels, more than the 33554432 pixels allowed"
            ),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn truncated_and_foreign_images_are_errors_naming_the_file() {
    let _machine = shared();
    let path = dir().join("whole.png");
    write_png(&path, 40, 40, png::ColorType::Grayscale, &[128; 1600]);
    let bytes = std::fs::read(&path).expect("written");
    let truncated = dir().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() - 30]).expect("write");
    let out = percept(&["predict", "--model", s(model()), s(&truncated)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("truncated.png: PNG"), "{}", text(&out));
    let foreign = dir().join("foreign.pgm");
    std::fs::write(&foreign, b"GIF89a").expect("write");
    let out = percept(&["predict", "--model", s(model()), s(&foreign)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("foreign.pgm: not a PNG or PGM image"), "{}", text(&out));
}

/// Test image `index` of MNIST (bytes) and its label.
fn test_image(index: usize) -> (Vec<u8>, u8) {
    let mnist = crate::support::mnist();
    (mnist.test.image_bytes(index).to_vec(), mnist.test.labels()[index])
}

/// The class `percept predict` prints for `path`, with everything it printed.
fn predicted(path: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["predict", "--model", s(model()), s(path)];
    args.extend_from_slice(extra);
    let out = percept(&args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let class = stdout
        .strip_prefix("image 0: class ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    (class, text(&out))
}

#[test]
fn dark_ink_on_light_paper_is_inverted_and_said_so() {
    let _machine = shared();
    for index in 0..5 {
        let (pixels, label) = test_image(index);
        let (original, _) = {
            let path = dir().join(format!("light_{index}.png"));
            write_png(&path, 28, 28, png::ColorType::Grayscale, &pixels);
            predicted(&path, &[])
        };
        // The same digit, dark on white, as colour PNG.
        let paper: Vec<u8> = pixels.iter().flat_map(|&p| [255 - p; 3]).collect();
        let path = dir().join(format!("paper_{index}.png"));
        write_png(&path, 28, 28, png::ColorType::Rgb, &paper);
        let (class, output) = predicted(&path, &[]);
        assert_eq!(class, original, "test image {index} (a {label}): {output}");
        assert!(output.contains("looks like dark ink on a light background; inverted it"), "{output}");
        // --invert says it outright, and is not second-guessed.
        let (class, output) = predicted(&path, &["--invert"]);
        assert_eq!(class, original, "{output}");
        assert!(!output.contains("looks like"), "{output}");
    }
}

#[test]
fn digits_of_other_sizes_are_prepared_as_mnist_was_made() {
    let _machine = shared();
    let mut agree = 0;
    let count = 10;
    for index in 0..count {
        let (pixels, label) = test_image(index);
        let path = dir().join(format!("small_{index}.png"));
        write_png(&path, 28, 28, png::ColorType::Grayscale, &pixels);
        let (original, _) = predicted(&path, &[]);
        // Drawn four times as large (each pixel a 4x4 block), dark on light, in the top-left
        // corner of a 300 x 200 page.
        let (width, height) = (300, 200);
        let mut page = vec![255u8; width * height];
        for y in 0..112 {
            for x in 0..112 {
                page[(y + 10) * width + x + 5] = 255 - pixels[(y / 4) * 28 + x / 4];
            }
        }
        let path = dir().join(format!("large_{index}.png"));
        write_png(&path, width as u32, height as u32, png::ColorType::Grayscale, &page);
        let (class, output) = predicted(&path, &[]);
        assert!(
            output.contains("300x200 image cropped to its ink, fitted to 20x20 and centred in 28x28"),
            "{output}"
        );
        if class == original {
            agree += 1;
        } else {
            eprintln!("test image {index} (a {label}): {original} as drawn, {class} large: {output}");
        }
    }
    assert!(agree >= count - 1, "{agree} of {count} large copies classified as their originals");
}
