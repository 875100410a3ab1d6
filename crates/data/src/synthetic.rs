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
