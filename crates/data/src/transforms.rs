//! Transforms: scaling fitted on training data, one-hot targets, and seeded augmentation of
//! digit images.

use std::sync::atomic::{AtomicU64, Ordering};

use percept_linalg::{Matrix, SparseRows};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Dataset, Labels};

/// Per-feature scaling to `[0, 1]` by the minimum and maximum seen in training data
/// (scikit-learn's `MinMaxScaler`); a constant feature maps to 0.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler {
    min: Vec<f32>,
    range: Vec<f32>,
}

impl MinMaxScaler {
    /// Fits to the columns of `data`.
    pub fn fit(data: &Matrix) -> Self {
        let mut min = vec![f32::INFINITY; data.cols()];
        let mut max = vec![f32::NEG_INFINITY; data.cols()];
        for row in data.row_iter() {
            for ((lo, hi), &v) in min.iter_mut().zip(max.iter_mut()).zip(row) {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        let range = min.iter().zip(&max).map(|(lo, hi)| if hi > lo { hi - lo } else { 0.0 }).collect();
        Self { min, range }
    }

    /// Scales `data` in place (values outside the fitted range go outside `[0, 1]`).
    ///
    /// # Panics
    /// If `data` has another number of columns than the fitted data.
    #[track_caller]
    pub fn apply(&self, data: &mut Matrix) {
        assert_eq!(data.cols(), self.min.len(), "MinMaxScaler: fitted on {} features", self.min.len());
        let cols = data.cols();
        for (i, v) in data.as_mut_slice().iter_mut().enumerate() {
            let c = i % cols;
            *v = if self.range[c] > 0.0 { (*v - self.min[c]) / self.range[c] } else { 0.0 };
        }
    }
}

/// Per-feature standardization to mean 0 and standard deviation 1, fitted on training data
/// and applied to the rest (scikit-learn's `StandardScaler`); a constant feature is only
/// centred.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// The fitted means.
    pub mean: Vec<f32>,
    /// The fitted (population) standard deviations.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits to the columns of `data`.
    pub fn fit(data: &Matrix) -> Self {
        let (mean, variance) = percept_linalg::column_moments(data);
        let std = variance.iter().map(|v| v.sqrt() as f32).collect();
        Self { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// Standardizes `data` in place.
    ///
    /// # Panics
    /// If `data` has another number of columns than the fitted data.
    #[track_caller]
    pub fn apply(&self, data: &mut Matrix) {
        assert_eq!(data.cols(), self.mean.len(), "Standardizer: fitted on {} features", self.mean.len());
        let cols = data.cols();
        for (i, v) in data.as_mut_slice().iter_mut().enumerate() {
            let c = i % cols;
            let std = if self.std[c] > 0.0 { self.std[c] } else { 1.0 };
            *v = (*v - self.mean[c]) / std;
        }
    }
}

/// One row per class label, 1 in the label's column and 0 elsewhere.
///
/// # Panics
/// If a class is not below `classes`.
#[track_caller]
pub fn one_hot(labels: &[usize], classes: usize) -> Matrix {
    let mut m = Matrix::zeros(labels.len(), classes);
    for (r, &c) in labels.iter().enumerate() {
        assert!(c < classes, "one_hot: class {c} of sample {r} is not below {classes}");
        m.set(r, c, 1.0);
    }
    m
}

/// Random distortions of square grey images (28 × 28 digits), each drawn independently per
/// image: a shift of up to `max_shift` pixels in each direction, a rotation of up to
/// `max_degrees` either way, and optionally Simard et al.'s (2003) elastic distortion. The
/// image is resampled bilinearly; pixels from outside are 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Image side in pixels (28 for MNIST).
    pub side: usize,
    /// Largest shift in pixels, each axis.
    pub max_shift: f32,
    /// Largest rotation in degrees, either way.
    pub max_degrees: f32,
    /// Elastic distortion: random displacements smoothed by a Gaussian of standard deviation
    /// `sigma` pixels and scaled by `alpha` (Simard et al. use α = 34, σ = 4).
    pub elastic: Option<(f32, f32)>,
}

impl Default for Augmentation {
    /// MNIST: shifts of up to 2 pixels, rotations of up to 10°, no elastic distortion.
    fn default() -> Self {
        Self { side: 28, max_shift: 2.0, max_degrees: 10.0, elastic: None }
    }
}

impl Augmentation {
    /// Writes a distorted copy of `image` (`side²` values, row-major) into `out`.
    ///
    /// # Panics
    /// If either slice is not `side²` long.
    #[track_caller]
    pub fn apply(&self, image: &[f32], out: &mut [f32], rng: &mut ChaCha8Rng) {
        let side = self.side;
        assert!(
            image.len() == side * side && out.len() == side * side,
            "Augmentation: images of {side}×{side}"
        );
        let (dx, dy) = (
            rng.random_range(-1.0f32..=1.0) * self.max_shift,
            rng.random_range(-1.0f32..=1.0) * self.max_shift,
        );
        let angle = rng.random_range(-1.0f32..=1.0) * self.max_degrees.to_radians();
        let (sin, cos) = angle.sin_cos();
        let field = self.elastic.map(|(alpha, sigma)| elastic_field(side, alpha, sigma, rng));
        let centre = (side as f32 - 1.0) / 2.0;
        for r in 0..side {
            for c in 0..side {
                // Where output pixel (r, c) comes from: undo the shift, then the rotation.
                let (y, x) = (r as f32 - centre - dy, c as f32 - centre - dx);
                let (mut sy, mut sx) = (cos * y + sin * x + centre, -sin * y + cos * x + centre);
                if let Some((fy, fx)) = &field {
                    sy += fy[r * side + c];
                    sx += fx[r * side + c];
                }
                out[r * side + c] = bilinear(image, side, sy, sx);
            }
        }
    }
}

/// Samples `image` at `(y, x)`, 0 outside.
fn bilinear(image: &[f32], side: usize, y: f32, x: f32) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |r: f32, c: f32| {
        if r < 0.0 || c < 0.0 || r >= side as f32 || c >= side as f32 {
            0.0
        } else {
            image[r as usize * side + c as usize]
        }
    };
    (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1.0))
        + fy * ((1.0 - fx) * at(y0 + 1.0, x0) + fx * at(y0 + 1.0, x0 + 1.0))
}

/// Simard et al.'s displacement fields: uniform noise in `[−1, 1]` per pixel, smoothed by a
/// Gaussian of standard deviation `sigma` (separably), times `alpha`.
fn elastic_field(side: usize, alpha: f32, sigma: f32, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let kernel: Vec<f32> =
        (-radius..=radius).map(|k| (-(k * k) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let smooth = |rng: &mut ChaCha8Rng| {
        let noise: Vec<f32> = (0..side * side).map(|_| rng.random_range(-1.0f32..=1.0)).collect();
        let blur = |src: &[f32], along_rows: bool| {
            let mut dst = vec![0.0f32; side * side];
            for r in 0..side {
                for c in 0..side {
                    let mut acc = 0.0;
                    for (k, w) in kernel.iter().enumerate() {
                        let offset = k as isize - radius;
                        let (rr, cc) = if along_rows {
                            (r as isize + offset, c as isize)
                        } else {
                            (r as isize, c as isize + offset)
                        };
                        if rr >= 0 && cc >= 0 && (rr as usize) < side && (cc as usize) < side {
                            acc += w * src[rr as usize * side + cc as usize];
                        }
                    }
                    dst[r * side + c] = acc / total;
                }
            }
            dst
        };
        let once = blur(&noise, true);
        blur(&once, false).iter().map(|v| v * alpha).collect::<Vec<f32>>()
    };
    let fy = smooth(rng);
    let fx = smooth(rng);
    (fy, fx)
}

/// A data set whose images are distorted by an [`Augmentation`] each time they are
/// gathered (for training sets only). The distortions are seeded: the `n`-th gather of a run
/// draws from a generator seeded with `(seed, n)`, so a seed reproduces a run.
#[derive(Debug)]
pub struct Augmented<D> {
    inner: D,
    augmentation: Augmentation,
    seed: u64,
    gathers: AtomicU64,
}

impl<D: Dataset> Augmented<D> {
    /// Wraps `inner`, whose samples must be `side²` images.
    ///
    /// # Panics
    /// If `inner`'s feature count is not `augmentation.side²`.
    #[track_caller]
    pub fn new(inner: D, augmentation: Augmentation, seed: u64) -> Self {
        let side = augmentation.side;
        assert_eq!(inner.num_features(), side * side, "Augmented: samples must be {side}×{side} images");
        Self { inner, augmentation, seed, gathers: AtomicU64::new(0) }
    }
}

impl<D: Dataset> Dataset for Augmented<D> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn num_features(&self) -> usize {
        self.inner.num_features()
    }

    fn num_classes(&self) -> Option<usize> {
        self.inner.num_classes()
    }

    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels) {
        self.inner.gather(indices, inputs, labels);
        let n = self.gathers.fetch_add(1, Ordering::Relaxed);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut scratch = vec![0.0f32; inputs.cols()];
        for r in 0..inputs.rows() {
            self.augmentation.apply(inputs.row(r), &mut scratch, &mut rng);
            inputs.row_mut(r).copy_from_slice(&scratch);
        }
    }

    fn prefetch(&self, indices: &[usize]) {
        self.inner.prefetch(indices);
    }
}

/// The samples at `indices` of another data set, without copying them: a split of a data set
/// too large to copy (MNIST's images).
#[derive(Clone, Debug)]
pub struct Subset<'a, D: ?Sized> {
    inner: &'a D,
    indices: Vec<usize>,
}

impl<'a, D: Dataset + ?Sized> Subset<'a, D> {
    /// The samples of `inner` at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    #[track_caller]
    pub fn new(inner: &'a D, indices: Vec<usize>) -> Self {
        assert!(
            indices.iter().all(|&i| i < inner.len()),
            "Subset: an index is beyond the {} samples",
            inner.len()
        );
        Self { inner, indices }
    }

    /// The indices into the inner data set.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

impl<D: Dataset + ?Sized> Dataset for Subset<'_, D> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn num_features(&self) -> usize {
        self.inner.num_features()
    }

    fn num_classes(&self) -> Option<usize> {
        self.inner.num_classes()
    }

    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels) {
        self.with_inner_indices(indices, |mapped| self.inner.gather(mapped, inputs, labels));
    }

    fn gather_sparse(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
    ) -> bool {
        self.with_inner_indices(indices, |mapped| {
            self.inner.gather_sparse(mapped, inputs, labels, max_density)
        })
    }

    fn gather_sparse_during(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
        main: &mut dyn FnMut(),
    ) -> bool {
        self.with_inner_indices(indices, |mapped| {
            self.inner.gather_sparse_during(mapped, inputs, labels, max_density, main)
        })
    }

    fn prefetch(&self, indices: &[usize]) {
        // Out-of-range indices are ignored, as the trait asks: mapped out of range too.
        let map = |i: usize| self.indices.get(i).copied().unwrap_or(usize::MAX);
        with_mapped(indices, map, |mapped| self.inner.prefetch(mapped));
    }
}

thread_local! {
    /// Scratch for a batch's indices mapped into the inner data set: reused, so that gathering
    /// from a `Subset` (a validation split of MNIST) allocates nothing per batch. Taken out
    /// while in use, so a `Subset` of a `Subset` works (the inner one then starts a buffer).
    static SUBSET_INDICES: std::cell::Cell<Vec<usize>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<D: Dataset + ?Sized> Subset<'_, D> {
    /// Calls `f` with `indices` mapped into the inner data set.
    ///
    /// # Panics
    /// If an index is out of range (as gathering from any data set does).
    #[track_caller]
    fn with_inner_indices<T>(&self, indices: &[usize], f: impl FnOnce(&[usize]) -> T) -> T {
        let len = self.indices.len();
        let map = |i: usize| {
            assert!(i < len, "Subset: index {i} out of range for {len} samples");
            self.indices[i]
        };
        with_mapped(indices, map, f)
    }
}

/// Calls `f` with `map` applied to each of `indices`, in the reused [`SUBSET_INDICES`].
fn with_mapped<T>(indices: &[usize], map: impl Fn(usize) -> usize, f: impl FnOnce(&[usize]) -> T) -> T {
    SUBSET_INDICES.with(|scratch| {
        let mut mapped = scratch.take();
        mapped.clear();
        mapped.extend(indices.iter().map(|&i| map(i)));
        let result = f(&mapped);
        scratch.set(mapped);
        result
    })
}

/// A seeded split of `data` into the indices of the samples it keeps for training and those
/// it holds out for validation, `validation` being the fraction held out (0.1, say):
/// stratified by class for a classification set (each class split in the same proportion,
/// so the validation set has the training set's class balance), plain for a regression set.
/// This is what `FitConfig::validation_split` (percept-train) holds out.
///
/// ```
/// use percept_data::{Classification, Dataset, make_classification, split_for_validation};
/// let data = make_classification(&Classification { samples: 200, ..Default::default() });
/// let (train, validation) = split_for_validation(&data, 0.1, 7);
/// assert_eq!((train.len(), validation.len()), (180, 20));
/// assert!(validation.iter().all(|i| !train.contains(i)));
/// ```
pub fn split_for_validation(data: &dyn Dataset, validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let classes = data.num_classes().map(|_| {
        // The labels alone, gathered a block at a time (a data set has no other way to give
        // them; for MNIST's 60,000 images this takes a few milliseconds).
        let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
        let mut classes = Vec::with_capacity(data.len());
        let all: Vec<usize> = (0..data.len()).collect();
        for block in all.chunks(4096) {
            data.gather(block, &mut inputs, &mut labels);
            if let Labels::Classes(block_classes) = &labels {
                classes.extend_from_slice(block_classes);
            }
        }
        classes
    });
    let stratify = classes.as_deref().filter(|classes| classes.len() == data.len());
    split_indices(data.len(), validation, seed, stratify)
}

/// A seeded split of `len` samples into training and validation indices, `validation`
/// being the fraction held out (0.2 for the lab's 80/20 split). With `stratify` (one class
/// per sample), each class is split in the same proportion.
///
/// ```
/// use percept_data::split_indices;
/// let classes: Vec<usize> = (0..100).map(|i| usize::from(i < 30)).collect();
/// let (train, validation) = split_indices(100, 0.2, 7, Some(&classes));
/// assert_eq!((train.len(), validation.len()), (80, 20));
/// assert_eq!(validation.iter().filter(|&&i| classes[i] == 1).count(), 6); // 20% of the 30
/// ```
pub fn split_indices(
    len: usize,
    validation: f64,
    seed: u64,
    stratify: Option<&[usize]>,
) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fraction = validation.clamp(0.0, 1.0);
    let groups: Vec<Vec<usize>> = match stratify {
        Some(classes) => {
            let count = classes.iter().max().map_or(0, |&m| m + 1);
            let mut groups = vec![Vec::new(); count];
            for (i, &c) in classes.iter().enumerate().take(len) {
                groups[c].push(i);
            }
            groups
        }
        None => vec![(0..len).collect()],
    };
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for mut group in groups {
        group.shuffle(&mut rng);
        let cut = (fraction * group.len() as f64).round() as usize;
        held.extend_from_slice(&group[..cut]);
        train.extend_from_slice(&group[cut..]);
    }
    train.sort_unstable();
    held.sort_unstable();
    (train, held)
}
