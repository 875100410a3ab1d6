//! `percept::data::prepare_digit` with a trained model: MNIST test digits drawn large,
//! off-centre, dark on light, on pages of other sizes, are classified as their originals are.

use percept::data::{DigitOptions, GrayImage, prepare_digit};
use percept::linalg::Matrix;
use percept::prelude::*;

use crate::support::{checkpoint, shared, test_image};

/// Test image `index` (28 × 28 in [0, 1]) enlarged `factor` times (each pixel a block), dark
/// ink on white paper of `width × height`, its corner at (`left`, `top`).
fn drawn_on_paper(
    pixels: &[f32],
    factor: usize,
    width: usize,
    height: usize,
    left: usize,
    top: usize,
) -> GrayImage {
    let mut paper = vec![1.0; width * height];
    for y in 0..28 * factor {
        for x in 0..28 * factor {
            paper[(top + y) * width + left + x] = 1.0 - pixels[(y / factor) * 28 + x / factor];
        }
    }
    GrayImage::new(width, height, paper)
}

#[test]
fn test_digits_drawn_large_and_off_centre_are_classified_as_their_originals() {
    let _machine = shared();
    let mut model = percept::train::Checkpoint::load(checkpoint()).unwrap().model().unwrap();
    let count = 300;
    let (mut originals, mut drawn) = (Vec::new(), Vec::new());
    for index in 0..count {
        let (pixels, _) = test_image(index);
        // Sizes, places and pages vary with the index.
        let factor = 3 + index % 6;
        let (width, height) = (28 * factor + 40 + 7 * (index % 11), 28 * factor + 25 + 5 * (index % 7));
        let (left, top) = (index % 37, (3 * index) % 23);
        let page = drawn_on_paper(
            &pixels,
            factor,
            width.max(left + 28 * factor),
            height.max(top + 28 * factor),
            left,
            top,
        );
        let digit = prepare_digit(&page, &DigitOptions::default()).expect("ink");
        assert!(digit.inverted && digit.resized);
        originals.extend(pixels);
        drawn.extend(digit.pixels);
    }
    let mut classes = |pixels: Vec<f32>| -> Vec<usize> {
        let output = model.forward(&Matrix::from_vec(count, 784, pixels), Mode::Eval).unwrap();
        output.row_iter().map(percept::linalg::argmax).collect()
    };
    let (original, prepared) = (classes(originals), classes(drawn));
    let agree = original.iter().zip(&prepared).filter(|(a, b)| a == b).count();
    let labels: Vec<usize> = (0..count).map(|i| test_image(i).1).collect();
    let right = |classes: &[usize]| classes.iter().zip(&labels).filter(|(a, b)| a == b).count();
    println!(
        "{agree} of {count} drawn digits classified as their originals; {} originals and {} drawn ones right",
        right(&original),
        right(&prepared)
    );
    assert!(agree as f64 >= 0.95 * count as f64, "only {agree} of {count} agree");
    assert!(right(&prepared) as f64 >= 0.9 * count as f64);
}
