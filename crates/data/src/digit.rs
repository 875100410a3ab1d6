//! A picture of a digit made into what an MNIST model expects, the way MNIST was made.
//!
//! LeCun, Cortes and Burges describe MNIST's images: "The original black and white (bilevel)
//! images from NIST were size normalized to fit in a 20x20 pixel box while preserving their
//! aspect ratio. The resulting images contain grey levels as a result of the anti-aliasing
//! technique used by the normalization algorithm. the images were centered in a 28x28 image
//! by computing the center of mass of the pixels, and translating the image so as to
//! position this point at the center of the 28x28 field." (yann.lecun.com/exdb/mnist). MNIST
//! digits are light ink on a black background; over its training set the centre of mass
//! sits at pixel (14.0, 14.0) on average, counting pixels from 0.
//!
//! [`prepare_digit`] does the same to any picture: a drawing on a canvas, a photograph of
//! ink on paper, a scan. The browser page of `percept serve` and `percept predict` both use
//! it, so they see a drawing the same way.

use crate::GrayImage;

/// Whether to turn dark ink on a light background into light on dark, as MNIST has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inversion {
    /// Invert when the image looks dark on light ([`looks_inverted`]).
    #[default]
    Auto,
    /// Always invert.
    Always,
    /// Never invert.
    Never,
}

/// How [`prepare_digit`] works; the defaults are MNIST's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigitOptions {
    /// Side of the square result (28).
    pub size: usize,
    /// Side of the box the ink is scaled to fit (20).
    pub fit: usize,
    /// Light-on-dark or dark-on-light.
    pub inversion: Inversion,
    /// Grey level (after the background is taken away and the contrast stretched to `[0, 1]`)
    /// above which a pixel counts as ink for the bounding box (0.2): lower catches specks of
    /// noise in a photograph, higher trims the anti-aliased rim of a stroke.
    pub ink_threshold: f32,
}

impl Default for DigitOptions {
    fn default() -> Self {
        Self { size: 28, fit: 20, inversion: Inversion::Auto, ink_threshold: 0.2 }
    }
}

/// An image ready for a model: `size × size` grey levels in `[0, 1]`, light ink on black.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    /// `size * size` grey levels, row after row.
    pub pixels: Vec<f32>,
    /// Side of the square.
    pub size: usize,
    /// Whether the picture was inverted (dark ink on a light background).
    pub inverted: bool,
    /// Whether the picture was cropped, scaled and centred; `false` for one that already had
    /// the result's size and was taken as it is.
    pub resized: bool,
}

/// Whether `image` looks like dark ink on a light background: the median grey level of its
/// outermost pixels (the background, in a picture of one digit) is above one half.
pub fn looks_inverted(image: &GrayImage) -> bool {
    border_median(image) > 0.5
}

/// The median grey level of the image's outermost ring of pixels (0 for an empty image).
fn border_median(image: &GrayImage) -> f32 {
    let (width, height) = (image.width, image.height);
    let mut border: Vec<f32> = Vec::with_capacity(2 * (width + height));
    for y in 0..height {
        if y == 0 || y + 1 == height {
            border.extend_from_slice(&image.pixels[y * width..(y + 1) * width]);
        } else if width > 0 {
            border.push(image.get(0, y));
            if width > 1 {
                border.push(image.get(width - 1, y));
            }
        }
    }
    if border.is_empty() {
        return 0.0;
    }
    let middle = border.len() / 2;
    *border.select_nth_unstable_by(middle, f32::total_cmp).1
}

/// Makes `image` into an MNIST-style input, or `None` if it holds no ink (blank, or one
/// grey level throughout).
///
/// An image of `size × size` is taken as it is (only inverted if asked or if it looks
/// inverted): MNIST's own images, or any already prepared, pass unchanged. Any other
/// size is prepared as MNIST's digits were:
///
/// 1. inverted to light ink on black if it looks dark on light (or as `options` say);
/// 2. the background (the border's median grey level) taken away and the contrast stretched
///    so that the strongest ink is 1;
/// 3. cropped to the bounding box of the ink (pixels above `options.ink_threshold`);
/// 4. scaled, keeping the aspect ratio, so that its longer side is `options.fit` pixels:
///    anti-aliased, each new pixel the average of the area it covers (or interpolated
///    bilinearly when enlarging), then the strongest ink set to 1 again;
/// 5. placed in a `size × size` black square with its centre of mass at pixel
///    (`size / 2`, `size / 2`), the nearest whole-pixel shift, moved no further than keeps
///    all of it inside.
pub fn prepare_digit(image: &GrayImage, options: &DigitOptions) -> Option<Digit> {
    let size = options.size;
    let inverted = match options.inversion {
        Inversion::Auto => looks_inverted(image),
        Inversion::Always => true,
        Inversion::Never => false,
    };
    let ink = |grey: f32| if inverted { 1.0 - grey } else { grey };
    let background = ink(border_median(image));
    let strongest = image.pixels.iter().map(|&grey| ink(grey)).fold(f32::NEG_INFINITY, f32::max);
    // Nothing stands out of the background by more than a twentieth.
    if image.pixels.is_empty() || strongest - background < 0.05 {
        return None;
    }
    if image.width == size && image.height == size {
        let pixels = image.pixels.iter().map(|&grey| ink(grey)).collect();
        return Some(Digit { pixels, size, inverted, resized: false });
    }
    let range = strongest - background;
    let stretched: Vec<f32> =
        image.pixels.iter().map(|&grey| ((ink(grey) - background) / range).clamp(0.0, 1.0)).collect();

    // The bounding box of the ink: columns x0..x1, rows y0..y1.
    let width = image.width;
    let (mut x0, mut x1, mut y0, mut y1) = (usize::MAX, 0, usize::MAX, 0);
    for (index, &value) in stretched.iter().enumerate() {
        if value > options.ink_threshold {
            let (x, y) = (index % width, index / width);
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x + 1), y0.min(y), y1.max(y + 1));
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    let (box_width, box_height) = (x1 - x0, y1 - y0);
    let longer = box_width.max(box_height) as f64;
    let fit = options.fit.min(size).max(1);
    let scaled = |side: usize| ((side as f64 * fit as f64 / longer).round() as usize).clamp(1, fit);
    let (out_width, out_height) = (scaled(box_width), scaled(box_height));

    // Separable resampling: rows first (box_height × out_width), then columns.
    let column_weights = resampling_weights(box_width, out_width);
    let row_weights = resampling_weights(box_height, out_height);
    let mut rows = vec![0.0f32; box_height * out_width];
    for y in 0..box_height {
        let source = &stretched[(y0 + y) * width + x0..(y0 + y) * width + x1];
        for (out_x, weights) in column_weights.iter().enumerate() {
            rows[y * out_width + out_x] = weights.iter().map(|&(x, w)| w * source[x]).sum();
        }
    }
    let mut fitted = vec![0.0f32; out_height * out_width];
    for (out_y, weights) in row_weights.iter().enumerate() {
        for out_x in 0..out_width {
            fitted[out_y * out_width + out_x] =
                weights.iter().map(|&(y, w)| w * rows[y * out_width + out_x]).sum();
        }
    }
    let peak = fitted.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return None;
    }
    fitted.iter_mut().for_each(|value| *value = (*value / peak).min(1.0));

    // Centre of mass, in pixel indices of the fitted box.
    let (mut mass, mut moment_x, mut moment_y) = (0.0f64, 0.0f64, 0.0f64);
    for (index, &value) in fitted.iter().enumerate() {
        let value = f64::from(value);
        mass += value;
        moment_x += value * (index % out_width) as f64;
        moment_y += value * (index / out_width) as f64;
    }
    let centre = size as f64 / 2.0;
    let offset = |moment: f64, side: usize| {
        let shift = (centre - moment / mass).round();
        shift.clamp(0.0, (size - side) as f64) as usize
    };
    let (left, top) = (offset(moment_x, out_width), offset(moment_y, out_height));
    let mut pixels = vec![0.0f32; size * size];
    for y in 0..out_height {
        let start = (top + y) * size + left;
        pixels[start..start + out_width].copy_from_slice(&fitted[y * out_width..(y + 1) * out_width]);
    }
    Some(Digit { pixels, size, inverted, resized: true })
}

/// For each of `to` new pixels along one axis, the old pixels it draws on and their weights
/// (summing to 1). Shrinking averages the area a new pixel covers (a box filter, which
/// anti-aliases); enlarging interpolates linearly between the two nearest old pixel centres.
fn resampling_weights(from: usize, to: usize) -> Vec<Vec<(usize, f32)>> {
    let ratio = from as f64 / to as f64;
    (0..to)
        .map(|out| {
            if to <= from {
                let (start, end) = (out as f64 * ratio, (out + 1) as f64 * ratio);
                let first = start.floor() as usize;
                let last = (end.ceil() as usize).min(from);
                (first..last)
                    .map(|i| {
                        let covered = end.min(i as f64 + 1.0) - start.max(i as f64);
                        (i, (covered / ratio) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            } else {
                let position = ((out as f64 + 0.5) * ratio - 0.5).clamp(0.0, (from - 1) as f64);
                let first = position.floor() as usize;
                let next = (first + 1).min(from - 1);
                let t = (position - first as f64) as f32;
                vec![(first, 1.0 - t), (next, t)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `count` test images of datasets/mnist, as grey levels in [0, 1].
    fn mnist_test_images(count: usize) -> Vec<GrayImage> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
        let images = crate::idx::read_idx_u8(dir.join("t10k-images-idx3-ubyte.gz"), 3).expect("committed");
        (0..count)
            .map(|i| {
                let pixels =
                    images.data[i * 784..(i + 1) * 784].iter().map(|&b| f32::from(b) / 255.0).collect();
                GrayImage::new(28, 28, pixels)
            })
            .collect()
    }

    /// `image` enlarged `factor` times (bilinearly) and pasted at (`left`, `top`) on a black
    /// canvas of `width × height`.
    fn drawn_large(
        image: &GrayImage,
        factor: usize,
        width: usize,
        height: usize,
        left: usize,
        top: usize,
    ) -> GrayImage {
        let mut canvas = GrayImage::new(width, height, vec![0.0; width * height]);
        let side = image.width * factor;
        for y in 0..side {
            for x in 0..side {
                let sample = |v: usize| ((v as f32 + 0.5) / factor as f32 - 0.5).clamp(0.0, 27.0);
                let (sx, sy) = (sample(x), sample(y));
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(27), (y0 + 1).min(27));
                let (tx, ty) = (sx - x0 as f32, sy - y0 as f32);
                let top_row = image.get(x0, y0) * (1.0 - tx) + image.get(x1, y0) * tx;
                let bottom_row = image.get(x0, y1) * (1.0 - tx) + image.get(x1, y1) * tx;
                canvas.pixels[(top + y) * width + left + x] = top_row * (1.0 - ty) + bottom_row * ty;
            }
        }
        canvas
    }

    fn correlation(a: &[f32], b: &[f32]) -> f32 {
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let (ma, mb) = (mean(a), mean(b));
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            ab += (x - ma) * (y - mb);
            aa += (x - ma) * (x - ma);
            bb += (y - mb) * (y - mb);
        }
        ab / (aa * bb).sqrt()
    }

    #[test]
    fn an_mnist_digit_drawn_large_and_off_centre_comes_back_close_to_the_original() {
        let mut total = 0.0;
        for (i, original) in mnist_test_images(20).iter().enumerate() {
            let large = drawn_large(original, 9, 500, 400, 250 + i, 130 - i);
            let digit = prepare_digit(&large, &DigitOptions::default()).expect("ink");
            assert!(digit.resized && !digit.inverted);
            let r = correlation(&digit.pixels, &original.pixels);
            // MNIST's own centring rounds to whole pixels too; allow the shape to land a pixel off.
            let best = shifted_by_up_to_one(&digit.pixels)
                .map(|p| correlation(&p, &original.pixels))
                .fold(r, f32::max);
            assert!(best > 0.9, "test image {i}: correlation {r}, {best} shifted by a pixel");
            total += r;

            // The same digit in dark ink on white paper: detected, and prepared the same.
            let paper = GrayImage::new(500, 400, large.pixels.iter().map(|v| 1.0 - v).collect());
            let dark = prepare_digit(&paper, &DigitOptions::default()).expect("ink");
            assert!(dark.inverted, "test image {i}");
            let difference =
                dark.pixels.iter().zip(&digit.pixels).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(difference < 1e-4, "test image {i}: differs by {difference}");
        }
        assert!(total / 20.0 > 0.93, "mean correlation {}", total / 20.0);
    }

    /// `pixels` (28 × 28) moved by each of the eight one-pixel shifts.
    fn shifted_by_up_to_one(pixels: &[f32]) -> impl Iterator<Item = Vec<f32>> + '_ {
        [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)].into_iter().map(
            move |(dx, dy)| {
                let mut moved = vec![0.0; 784];
                for y in 0..28i32 {
                    for x in 0..28i32 {
                        let (from_x, from_y) = (x - dx, y - dy);
                        if (0..28).contains(&from_x) && (0..28).contains(&from_y) {
                            moved[(y * 28 + x) as usize] = pixels[(from_y * 28 + from_x) as usize];
                        }
                    }
                }
                moved
            },
        )
    }

    #[test]
    fn images_of_the_result_size_pass_unchanged_unless_inverted() {
        let original = &mnist_test_images(1)[0];
        let digit = prepare_digit(original, &DigitOptions::default()).expect("ink");
        assert_eq!(
            (digit.pixels.as_slice(), digit.resized, digit.inverted),
            (original.pixels.as_slice(), false, false)
        );
        let paper = GrayImage::new(28, 28, original.pixels.iter().map(|v| 1.0 - v).collect());
        let digit = prepare_digit(&paper, &DigitOptions::default()).expect("ink");
        assert!(digit.inverted);
        let difference =
            digit.pixels.iter().zip(&original.pixels).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(difference < 1e-6);
        let never = DigitOptions { inversion: Inversion::Never, ..Default::default() };
        // Taken as light ink, paper has nothing brighter than its background.
        assert_eq!(prepare_digit(&paper, &never), None);
    }

    #[test]
    fn a_tall_bar_keeps_its_aspect_ratio_and_lands_with_its_centre_of_mass_in_the_middle() {
        let mut bar = GrayImage::new(100, 90, vec![0.0; 9000]);
        for y in 10..70 {
            for x in 3..18 {
                bar.pixels[y * 100 + x] = 1.0;
            }
        }
        let digit = prepare_digit(&bar, &DigitOptions::default()).expect("ink");
        let lit: Vec<(usize, usize)> =
            (0..784).filter(|&i| digit.pixels[i] > 0.0).map(|i| (i % 28, i / 28)).collect();
        let (xs, ys): (Vec<usize>, Vec<usize>) = lit.iter().copied().unzip();
        let box_width = xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1;
        let box_height = ys.iter().max().unwrap() - ys.iter().min().unwrap() + 1;
        // 15 × 60 fitted to 20 rows: 5 columns.
        assert_eq!((box_width, box_height), (5, 20));
        let mass: f32 = digit.pixels.iter().sum();
        let centre_x: f32 = lit.iter().map(|&(x, y)| x as f32 * digit.pixels[y * 28 + x]).sum::<f32>() / mass;
        let centre_y: f32 = lit.iter().map(|&(x, y)| y as f32 * digit.pixels[y * 28 + x]).sum::<f32>() / mass;
        assert!((centre_x - 14.0).abs() <= 0.5 && (centre_y - 14.0).abs() <= 0.5, "({centre_x}, {centre_y})");
        assert!(digit.pixels.iter().all(|&v| v == 0.0 || (v - 1.0).abs() < 1e-5), "a solid bar stays solid");
    }

    #[test]
    fn a_small_digit_is_enlarged_to_fill_the_box() {
        let mut dot = GrayImage::new(40, 40, vec![0.0; 1600]);
        for y in 30..34 {
            for x in 30..32 {
                dot.pixels[y * 40 + x] = 0.8;
            }
        }
        let digit = prepare_digit(&dot, &DigitOptions::default()).expect("ink");
        let rows = (0..28).filter(|y| digit.pixels[y * 28..(y + 1) * 28].iter().any(|&v| v > 0.0)).count();
        assert_eq!(rows, 20);
        assert_eq!(digit.pixels.iter().copied().fold(0.0, f32::max), 1.0, "the contrast is stretched");
    }

    #[test]
    fn blank_and_flat_images_hold_no_digit() {
        for grey in [0.0, 0.5, 1.0] {
            assert_eq!(
                prepare_digit(&GrayImage::new(50, 30, vec![grey; 1500]), &DigitOptions::default()),
                None
            );
        }
        assert_eq!(prepare_digit(&GrayImage::new(0, 0, vec![]), &DigitOptions::default()), None);
        assert_eq!(prepare_digit(&GrayImage::new(28, 28, vec![0.0; 784]), &DigitOptions::default()), None);
    }

    #[test]
    fn inversion_is_judged_by_the_border() {
        let mut paper = GrayImage::new(10, 10, vec![0.9; 100]);
        paper.pixels[44] = 0.0;
        assert!(looks_inverted(&paper));
        let mut night = GrayImage::new(10, 10, vec![0.1; 100]);
        night.pixels[0] = 1.0; // ink touching the border does not outvote the background
        assert!(!looks_inverted(&night));
        assert!(!looks_inverted(&GrayImage::new(1, 1, vec![0.2])));
    }

    #[test]
    fn resampling_weights_sum_to_one_and_cover_their_area() {
        for (from, to) in [(1, 1), (7, 3), (100, 20), (3, 20), (20, 20), (1, 5)] {
            for weights in resampling_weights(from, to) {
                let total: f32 = weights.iter().map(|&(_, w)| w).sum();
                assert!((total - 1.0).abs() < 1e-5, "{from} → {to}: {weights:?}");
                assert!(weights.iter().all(|&(i, _)| i < from));
            }
        }
        assert_eq!(resampling_weights(4, 2), [vec![(0, 0.5), (1, 0.5)], vec![(2, 0.5), (3, 0.5)]]);
    }
}
