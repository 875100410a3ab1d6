//! The PNG grid of misclassified digits, each with its labels drawn underneath in a small
//! bitmap font (PNG has no text; a font of ten digits is 70 bits each).

use percept_data::ImageDataset;

use super::Misclassified;

/// Digits per row of the grid.
const COLUMNS: usize = 10;
/// Each image pixel becomes `SCALE × SCALE` pixels.
const SCALE: usize = 2;
/// Image side in pixels, before scaling (MNIST: 28).
const SIDE: usize = 28;
/// Space around each tile.
const PAD: usize = 6;
/// Height of the label strip under each image.
const LABEL: usize = 20;
/// The predicted label's colour (red) and the true label's (green).
pub(crate) const PREDICTED_INK: [u8; 3] = [200, 30, 30];
pub(crate) const TRUE_INK: [u8; 3] = [20, 130, 40];

/// A classic 5 × 7 font of the digits: seven rows of five bits each, high bit on the left.
const FONT: [[u8; 7]; 10] = [
    [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
    [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
    [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
    [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
    [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
    [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
    [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
    [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
];

/// An RGB image being drawn.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self { width, height, pixels: vec![255; width * height * 3] }
    }

    fn set(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * 3;
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// Draws `digit` with its top-left corner at `(x, y)`, each font pixel 2 × 2.
    fn glyph(&mut self, digit: usize, x: usize, y: usize, colour: [u8; 3]) {
        for (row, bits) in FONT[digit % 10].iter().enumerate() {
            for column in 0..5 {
                if bits & (0b10000 >> column) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        self.set(x + 2 * column + dx, y + 2 * row + dy, colour);
                    }
                }
            }
        }
    }
}

/// The PNG file's bytes: `mistakes` in rows of ten, each image dark on light (MNIST's grey
/// levels inverted) and scaled twice, with the predicted label (red, left) and the true
/// label (green, right) underneath.
///
/// # Errors
/// A message when an image is not 28 × 28 or the encoder fails.
pub(crate) fn misclassified_grid(test: &ImageDataset, mistakes: &[Misclassified]) -> Result<Vec<u8>, String> {
    let tile_width = SIDE * SCALE + 2 * PAD;
    let tile_height = SIDE * SCALE + LABEL + 2 * PAD;
    let rows = mistakes.len().div_ceil(COLUMNS).max(1);
    let columns = mistakes.len().clamp(1, COLUMNS);
    let mut canvas = Canvas::new(columns * tile_width, rows * tile_height);
    for (k, mistake) in mistakes.iter().enumerate() {
        if mistake.index >= test.labels().len() {
            return Err(format!("test image {} does not exist", mistake.index));
        }
        let image = test.image_bytes(mistake.index);
        if image.len() != SIDE * SIDE {
            return Err(format!(
                "test image {} has {} pixels, not {}",
                mistake.index,
                image.len(),
                SIDE * SIDE
            ));
        }
        let (left, top) = ((k % COLUMNS) * tile_width + PAD, (k / COLUMNS) * tile_height + PAD);
        for (i, &value) in image.iter().enumerate() {
            let grey = 255 - value;
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    canvas.set(left + (i % SIDE) * SCALE + dx, top + (i / SIDE) * SCALE + dy, [grey; 3]);
                }
            }
        }
        let label_top = top + SIDE * SCALE + 4;
        canvas.glyph(mistake.predicted, left + 8, label_top, PREDICTED_INK);
        canvas.glyph(mistake.truth, left + SIDE * SCALE - 18, label_top, TRUE_INK);
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, canvas.width as u32, canvas.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&canvas.pixels).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}
