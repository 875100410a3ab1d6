//! The [`Dataset`] trait and the in-memory data sets.

use percept_linalg::{
    CacheLevel, Matrix, Par, SPARSE_BUILD_PARALLEL_THRESHOLD, SparseRows, for_each_row_block,
    for_each_row_range, prefetch_bytes, scale_bytes,
};

/// The targets of a batch, gathered into reused buffers.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// One class index per sample.
    Classes(Vec<usize>),
    /// One row of values per sample.
    Values(Matrix),
}

impl Default for Labels {
    fn default() -> Self {
        Labels::Classes(Vec::new())
    }
}

/// A collection of samples that can be gathered into batches by index.
pub trait Dataset: Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// True with no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features per sample (784 for MNIST).
    fn num_features(&self) -> usize;

    /// Number of classes for classification data, `None` for regression.
    fn num_classes(&self) -> Option<usize>;

    /// Writes the samples at `indices` into `inputs` (resized to `[indices.len(), features]`)
    /// and their targets into `labels`, reusing both buffers' memory.
    ///
    /// # Panics
    /// If an index is out of range.
    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels);

    /// Like [`Dataset::gather`], but writes the inputs straight into a sparse matrix (the
    /// form a first `Linear` layer of percept-nn makes of a mostly-zero batch), for data sets
    /// that can do that faster than a dense gather: returns `false`,
    /// with `inputs` and `labels` unspecified, when it cannot, or when more than
    /// `max_density` of the batch's values are non-zero; the caller then gathers densely.
    /// The default always returns `false`.
    ///
    /// # Panics
    /// If an index is out of range.
    fn gather_sparse(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
    ) -> bool {
        let _ = (indices, inputs, labels, max_density);
        false
    }

    /// A hint that the samples at `indices` are gathered next: a data set may start pulling
    /// them into the cache while the current batch trains. The default does nothing;
    /// out-of-range indices are ignored.
    fn prefetch(&self, indices: &[usize]) {
        let _ = indices;
    }

    /// Runs `main` (the rest of a training step) and gathers the samples at `indices` as
    /// [`Dataset::gather_sparse`] does, the gathering done where the step leaves a thread
    /// waiting, if the data set can: returns whether `inputs` and `labels` now hold the
    /// batch. `main` runs exactly once, whatever is returned. The default prefetches the
    /// samples ([`Dataset::prefetch`]), runs `main` and returns `false` (the caller gathers
    /// the batch when it needs it).
    ///
    /// # Panics
    /// If an index is out of range.
    fn gather_sparse_during(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
        main: &mut dyn FnMut(),
    ) -> bool {
        let _ = (inputs, labels, max_density);
        self.prefetch(indices);
        main();
        false
    }
}

/// A borrowed data set is a data set (so wrappers such as [`crate::Augmented`] can borrow).
impl<D: Dataset + ?Sized> Dataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn num_features(&self) -> usize {
        (**self).num_features()
    }
    fn num_classes(&self) -> Option<usize> {
        (**self).num_classes()
    }
    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels) {
        (**self).gather(indices, inputs, labels);
    }
    fn gather_sparse(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
    ) -> bool {
        (**self).gather_sparse(indices, inputs, labels, max_density)
    }
    fn prefetch(&self, indices: &[usize]) {
        (**self).prefetch(indices);
    }
    fn gather_sparse_during(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
        main: &mut dyn FnMut(),
    ) -> bool {
        (**self).gather_sparse_during(indices, inputs, labels, max_density, main)
    }
}

/// Images stored as bytes, scaled to `[0, 1]` as they are gathered: MNIST's 47 MB of training
/// pixels stay 47 MB instead of 188 MB of `f32`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDataset {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    num_features: usize,
    num_classes: usize,
}

impl ImageDataset {
    /// `pixels` holds `labels.len()` images of `num_features` bytes each.
    ///
    /// # Panics
    /// If the sizes disagree or a label is not below `num_classes` (loaders check both first
    /// and return errors).
    #[track_caller]
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>, num_features: usize, num_classes: usize) -> Self {
        assert_eq!(pixels.len(), labels.len() * num_features, "ImageDataset: pixel count");
        assert!(labels.iter().all(|&l| (l as usize) < num_classes), "ImageDataset: label range");
        Self { pixels, labels, num_features, num_classes }
    }

    /// The pixels of sample `index` as stored: one byte per pixel, 0 to 255.
    ///
    /// # Panics
    /// If `index` is not below [`Dataset::len`].
    #[track_caller]
    pub fn image_bytes(&self, index: usize) -> &[u8] {
        &self.pixels[index * self.num_features..(index + 1) * self.num_features]
    }

    /// The pixels of sample `index` as the model sees them: `f32` in `[0, 1]` (the byte
    /// divided by 255), row-major (for MNIST, 28 rows of 28).
    ///
    /// ```
    /// use percept_data::ImageDataset;
    /// let data = ImageDataset::new(vec![0, 51, 255, 0, 0, 0], vec![1, 0], 3, 2);
    /// assert_eq!(data.image(0), [0.0, 0.2, 1.0]);
    /// assert_eq!((data.label(0), data.label(1)), (1, 0));
    /// ```
    ///
    /// # Panics
    /// If `index` is not below [`Dataset::len`].
    #[track_caller]
    pub fn image(&self, index: usize) -> Vec<f32> {
        let mut pixels = vec![0.0; self.num_features];
        scale_bytes(&mut pixels, self.image_bytes(index));
        pixels
    }

    /// The class of sample `index`.
    ///
    /// # Panics
    /// If `index` is not below [`Dataset::len`].
    #[track_caller]
    pub fn label(&self, index: usize) -> usize {
        self.labels[index] as usize
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// What the sparse gathers share: panics on an index out of range (naming `method`),
    /// has `build` compact the batch's images (`image(r)` is row `r`'s), then gathers the
    /// labels if it did.
    fn gather_sparse_with<'d>(
        &'d self,
        method: &str,
        indices: &[usize],
        labels: &mut Labels,
        build: impl FnOnce(&(dyn Fn(usize) -> &'d [u8] + Sync)) -> bool,
    ) -> bool {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            panic!("ImageDataset::{method}: index {bad} out of range for {} samples", self.len());
        }
        if !build(&|r: usize| self.image_bytes(indices[r])) {
            return false;
        }
        let classes = class_buffer(labels);
        classes.extend(indices.iter().map(|&i| self.labels[i] as usize));
        true
    }

    /// Every sample as `f32` in `[0, 1]`, with its class labels (for evaluation in one batch).
    pub fn to_matrix(&self) -> (Matrix, Vec<usize>) {
        let indices: Vec<usize> = (0..self.len()).collect();
        let mut inputs = Matrix::default();
        let mut labels = Labels::default();
        self.gather(&indices, &mut inputs, &mut labels);
        let Labels::Classes(classes) = labels else { unreachable!("ImageDataset gathers classes") };
        (inputs, classes)
    }
}

impl Dataset for ImageDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn num_features(&self) -> usize {
        self.num_features
    }

    fn num_classes(&self) -> Option<usize> {
        Some(self.num_classes)
    }

    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels) {
        inputs.resize(indices.len(), self.num_features);
        let features = self.num_features;
        // Split like the sparse copy that a first `Linear` layer makes of the batch, so each
        // thread compacts the rows it gathered.
        let par = Par::current().above(inputs.len(), SPARSE_BUILD_PARALLEL_THRESHOLD);
        for_each_row_block(inputs, par, |first_row, block| {
            for (row, &i) in block.chunks_exact_mut(features).zip(&indices[first_row..]) {
                scale_bytes(row, self.image_bytes(i));
            }
        });
        let classes = class_buffer(labels);
        classes.extend(indices.iter().map(|&i| self.labels[i] as usize));
    }

    /// Compacts the images' non-zero bytes straight from the stored bytes, scaled as
    /// [`Dataset::gather`] scales them: the same matrix as a dense gather followed by
    /// [`SparseRows::try_from_dense`], without writing and reading back four bytes per pixel.
    /// Each thread compacts the rows it prefetched ([`Dataset::prefetch`] splits the same way),
    /// but for the last rows of a slower thread's share, which the faster one takes over.
    fn gather_sparse(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
    ) -> bool {
        self.gather_sparse_with("gather_sparse", indices, labels, |image| {
            inputs.try_from_byte_rows(indices.len(), self.num_features, image, max_density, Par::current())
        })
    }

    /// [`ImageDataset::gather_sparse`] in the background of `main`
    /// ([`SparseRows::try_from_byte_rows_during`]): on two threads, whichever thread waits
    /// for the other during the step compacts images of the next batch meanwhile.
    fn gather_sparse_during(
        &self,
        indices: &[usize],
        inputs: &mut SparseRows,
        labels: &mut Labels,
        max_density: f32,
        main: &mut dyn FnMut(),
    ) -> bool {
        let par = Par::current();
        if !SparseRows::builds_in_background(indices.len(), self.num_features, par) {
            // Compacted after `main`: the images arrive from memory meanwhile.
            self.prefetch(indices);
        }
        self.gather_sparse_with("gather_sparse_during", indices, labels, |image| {
            inputs
                .try_from_byte_rows_during(indices.len(), self.num_features, image, max_density, par, main)
                .0
        })
    }

    /// Prefetches the images' pixels: a random batch of MNIST images otherwise waits on main
    /// memory for each one (47 MB of pixels do not fit in the cache).
    ///
    /// Each thread prefetches the images it will gather (the split of [`Dataset::gather`]),
    /// into its own core's cache.
    fn prefetch(&self, indices: &[usize]) {
        let par = Par::current().above(indices.len() * self.num_features, SPARSE_BUILD_PARALLEL_THRESHOLD);
        for_each_row_range(par, indices.len(), &|rows| {
            for &i in indices[rows].iter().filter(|&&i| i < self.len()) {
                prefetch_bytes(self.image_bytes(i), CacheLevel::Outer);
            }
        });
    }
}

/// Turns `labels` into an empty class buffer, keeping its allocation when it is one already.
fn class_buffer(labels: &mut Labels) -> &mut Vec<usize> {
    if !matches!(labels, Labels::Classes(_)) {
        *labels = Labels::Classes(Vec::new());
    }
    let Labels::Classes(classes) = labels else { unreachable!("set just above") };
    classes.clear();
    classes
}

/// Features in a `Matrix` with class labels or value targets, all in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct InMemoryDataset {
    features: Matrix,
    labels: Labels,
    num_classes: Option<usize>,
}

impl InMemoryDataset {
    /// A classification set: one class per row of `features`.
    ///
    /// # Panics
    /// If the counts differ or a class is not below `num_classes`.
    #[track_caller]
    pub fn classification(features: Matrix, classes: Vec<usize>, num_classes: usize) -> Self {
        assert_eq!(features.rows(), classes.len(), "InMemoryDataset: one class per row");
        assert!(classes.iter().all(|&c| c < num_classes), "InMemoryDataset: class range");
        Self { features, labels: Labels::Classes(classes), num_classes: Some(num_classes) }
    }

    /// A regression set: one row of targets per row of `features`.
    ///
    /// # Panics
    /// If the row counts differ.
    #[track_caller]
    pub fn regression(features: Matrix, targets: Matrix) -> Self {
        assert_eq!(features.rows(), targets.rows(), "InMemoryDataset: one target row per row");
        Self { features, labels: Labels::Values(targets), num_classes: None }
    }

    /// The features, `[samples, features]`.
    pub fn features(&self) -> &Matrix {
        &self.features
    }

    /// The targets.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Splits into the first `round(fraction · len)` samples and the rest, in order (the
    /// lesson's "first 80 train, last 20 test").
    pub fn split(&self, fraction: f64) -> (Self, Self) {
        let n = self.len();
        let cut = ((fraction.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        let head: Vec<usize> = (0..cut).collect();
        let tail: Vec<usize> = (cut..n).collect();
        (self.subset(&head), self.subset(&tail))
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let mut features = Matrix::default();
        let mut labels = Labels::default();
        self.gather(indices, &mut features, &mut labels);
        Self { features, labels, num_classes: self.num_classes }
    }
}

impl Dataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.features.rows()
    }

    fn num_features(&self) -> usize {
        self.features.cols()
    }

    fn num_classes(&self) -> Option<usize> {
        self.num_classes
    }

    fn gather(&self, indices: &[usize], inputs: &mut Matrix, labels: &mut Labels) {
        inputs.resize(indices.len(), self.features.cols());
        for (row, &i) in indices.iter().enumerate() {
            inputs.row_mut(row).copy_from_slice(self.features.row(i));
        }
        match &self.labels {
            Labels::Classes(all) => {
                let classes = class_buffer(labels);
                classes.extend(indices.iter().map(|&i| all[i]));
            }
            Labels::Values(all) => {
                if !matches!(labels, Labels::Values(_)) {
                    *labels = Labels::Values(Matrix::default());
                }
                let Labels::Values(values) = labels else { unreachable!("set just above") };
                values.resize(indices.len(), all.cols());
                for (row, &i) in indices.iter().enumerate() {
                    values.row_mut(row).copy_from_slice(all.row(i));
                }
            }
        }
    }
}
