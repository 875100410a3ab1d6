//! Seeded synthetic data sets.

use percept_linalg::Matrix;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::InMemoryDataset;

/// Settings of [`make_classification`], after scikit-learn's function of that name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Classification {
    /// Number of samples.
    pub samples: usize,
    /// Number of classes.
    pub classes: usize,
    /// Gaussian clusters per class.
    pub clusters_per_class: usize,
    /// Half the side of the square whose corners hold the cluster centres.
    pub class_sep: f32,
    /// Fraction of samples whose label is replaced by a random class (label noise).
    pub flip_y: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Classification {
    /// The lesson's set: 100 samples, 2 classes, 2 informative features, `flip_y = 0.2`.
    fn default() -> Self {
        Self { samples: 100, classes: 2, clusters_per_class: 2, class_sep: 1.0, flip_y: 0.2, seed: 0 }
    }
}

/// Two informative features, classes made of Gaussian clusters, like scikit-learn's
/// `make_classification(n_features=2, n_informative=2, n_redundant=0)`.
///
/// Cluster centres sit on the corners of a square of side `2·class_sep` (and further out on
/// a grid when there are more than four clusters); each cluster is a standard normal cloud
/// passed through its own random linear map, so clusters are elongated and tilted. Then a
/// `flip_y` fraction of labels is replaced by random classes, and the samples are shuffled.
///
/// ```
/// use percept_data::{Classification, Dataset, make_classification};
/// let data = make_classification(&Classification::default());
/// assert_eq!((data.len(), data.num_features(), data.num_classes()), (100, 2, Some(2)));
/// ```
pub fn make_classification(settings: &Classification) -> InMemoryDataset {
    let Classification { samples, classes, clusters_per_class, class_sep, flip_y, seed } = *settings;
    let classes = classes.max(1);
    let clusters = classes * clusters_per_class.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    // Centres: corners of the square first, then further squares outwards.
    let corners = [(-1.0f32, -1.0f32), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)];
    let centres: Vec<(f32, f32)> = (0..clusters)
        .map(|c| {
            let (x, y) = corners[c % 4];
            let ring = (1 + c / 4) as f32;
            (x * class_sep * ring, y * class_sep * ring)
        })
        .collect();
    let maps: Vec<[f32; 4]> =
        (0..clusters).map(|_| std::array::from_fn(|_| rng.random_range(-1.0f32..1.0))).collect();

    let mut rows = Vec::with_capacity(samples);
    for i in 0..samples {
        let cluster = i % clusters;
        let (cx, cy) = centres[cluster];
        let [a, b, c, d] = maps[cluster];
        let (u, v) = (standard_normal(&mut rng), standard_normal(&mut rng));
        let x = [cx + a * u + b * v, cy + c * u + d * v];
        let mut class = cluster % classes;
        if rng.random::<f64>() < flip_y {
            class = rng.random_range(0..classes);
        }
        rows.push((x, class));
    }
    rows.shuffle(&mut rng);
    let features = Matrix::from_fn(samples, 2, |r, c| rows[r].0[c]);
    let labels = rows.iter().map(|&(_, class)| class).collect();
    InMemoryDataset::classification(features, labels, classes)
}

/// One standard normal sample (Box–Muller).
fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// A classification set of 2-D points from `(x, y, class)` triples.
fn points(rows: Vec<([f32; 2], usize)>, classes: usize) -> InMemoryDataset {
    let features = Matrix::from_fn(rows.len(), 2, |r, c| rows[r].0[c]);
    let labels = rows.iter().map(|&(_, class)| class).collect();
    InMemoryDataset::classification(features, labels, classes)
}

/// `samples` points around `centers` (one class per centre), normal with standard deviation
/// `std`, like scikit-learn's `make_blobs`; samples are dealt to the centres in turn.
pub fn make_blobs(samples: usize, centers: &[[f32; 2]], std: f32, seed: u64) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = centers.len().max(1);
    let rows = (0..samples)
        .map(|i| {
            let [cx, cy] = centers.get(i % k).copied().unwrap_or([0.0, 0.0]);
            ([cx + std * standard_normal(&mut rng), cy + std * standard_normal(&mut rng)], i % k)
        })
        .collect();
    points(rows, k)
}

/// Two interleaving half circles (scikit-learn's `make_moons`): class 0 on the upper arc
/// centred at the origin, class 1 on the lower arc centred at `(1, 0.5)`, with normal
/// noise of standard deviation `noise`. No line separates them.
pub fn make_moons(samples: usize, noise: f32, seed: u64) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows = (0..samples)
        .map(|i| {
            let class = i % 2;
            let t = std::f32::consts::PI * rng.random::<f32>();
            let (x, y) = if class == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
            ([x + noise * standard_normal(&mut rng), y + noise * standard_normal(&mut rng)], class)
        })
        .collect();
    points(rows, 2)
}

/// Two concentric circles (scikit-learn's `make_circles`): class 0 on the unit circle,
/// class 1 on the circle of radius `factor`, with normal noise `noise`.
pub fn make_circles(samples: usize, factor: f32, noise: f32, seed: u64) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows = (0..samples)
        .map(|i| {
            let class = i % 2;
            let radius = if class == 0 { 1.0 } else { factor };
            let t = std::f32::consts::TAU * rng.random::<f32>();
            let (x, y) = (radius * t.cos(), radius * t.sin());
            ([x + noise * standard_normal(&mut rng), y + noise * standard_normal(&mut rng)], class)
        })
        .collect();
    points(rows, 2)
}

/// `arms` interleaved spiral arms, one class each (the CS231n spiral set): along each arm the
/// radius grows from 0 to 1 over one full turn, with angular noise `noise` (radians,
/// normal).
pub fn make_spirals(samples: usize, arms: usize, noise: f32, seed: u64) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arms = arms.max(1);
    let rows = (0..samples)
        .map(|i| {
            let class = i % arms;
            let r = rng.random::<f32>();
            let t = class as f32 * std::f32::consts::TAU / arms as f32
                + r * std::f32::consts::TAU
                + noise * standard_normal(&mut rng);
            ([r * t.cos(), r * t.sin()], class)
        })
        .collect();
    points(rows, arms)
}

/// The XOR problem: points uniform on `[−1, 1]²` plus normal noise `noise`, class 1 where
/// the coordinates' signs differ (before the noise). No line separates the classes.
pub fn make_xor(samples: usize, noise: f32, seed: u64) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows = (0..samples)
        .map(|_| {
            let (x, y) = (rng.random_range(-1.0f32..1.0), rng.random_range(-1.0f32..1.0));
            let class = usize::from((x > 0.0) != (y > 0.0));
            ([x + noise * standard_normal(&mut rng), y + noise * standard_normal(&mut rng)], class)
        })
        .collect();
    points(rows, 2)
}

/// Linear regression data: features standard normal, `y = x · weights + bias + noise`
/// (normal, standard deviation `noise`), like scikit-learn's `make_regression`.
pub fn make_linear_regression(
    samples: usize,
    weights: &[f32],
    bias: f32,
    noise: f32,
    seed: u64,
) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = weights.len();
    let features = Matrix::from_fn(samples, d, |_, _| standard_normal(&mut rng));
    let targets = Matrix::from_fn(samples, 1, |r, _| {
        let clean: f32 = features.row(r).iter().zip(weights).map(|(x, w)| x * w).sum();
        clean + bias + noise * standard_normal(&mut rng)
    });
    InMemoryDataset::regression(features, targets)
}

/// A noisy 1-D function: `x` uniform on `[low, high)`, `y = f(x) + noise` (normal, standard
/// deviation `noise`): regression, as the lesson promises.
pub fn make_function(
    samples: usize,
    low: f32,
    high: f32,
    f: impl Fn(f32) -> f32,
    noise: f32,
    seed: u64,
) -> InMemoryDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let xs: Vec<f32> = (0..samples).map(|_| rng.random_range(low..high)).collect();
    let ys: Vec<f32> = xs.iter().map(|&x| f(x) + noise * standard_normal(&mut rng)).collect();
    InMemoryDataset::regression(Matrix::from_vec(samples, 1, xs), Matrix::from_vec(samples, 1, ys))
}
