//! Metrics: how good a model's predictions are, beyond the loss.

use std::fmt;

use percept_linalg::{Matrix, argmax};

/// Fraction of rows of `scores` whose highest score is the row's class.
///
/// # Panics
/// If `classes` has another length than `scores` has rows.
///
/// ```
/// use percept_linalg::Matrix;
/// use percept_train::accuracy;
/// let scores = Matrix::from_rows(&[[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]);
/// assert_eq!(accuracy(&scores, &[0, 1, 1]), 2.0 / 3.0);
/// ```
#[track_caller]
pub fn accuracy(scores: &Matrix, classes: &[usize]) -> f32 {
    top_k_accuracy(scores, classes, 1)
}

/// Fraction of rows whose class is among the `k` highest scores (ties broken towards lower
/// columns, as `argmax` does).
///
/// # Panics
/// If `classes` has another length than `scores` has rows.
#[track_caller]
pub fn top_k_accuracy(scores: &Matrix, classes: &[usize], k: usize) -> f32 {
    assert_eq!(scores.rows(), classes.len(), "top_k_accuracy: one class per row");
    if classes.is_empty() {
        return 0.0;
    }
    let hits = scores
        .row_iter()
        .zip(classes)
        .filter(|&(row, &c)| {
            // The class is in the top k when fewer than k scores beat it (earlier columns win ties).
            c < row.len()
                && row.iter().enumerate().filter(|&(j, &s)| s > row[c] || (s == row[c] && j < c)).count() < k
        })
        .count();
    hits as f32 / classes.len() as f32
}

/// Mean squared error between two equally shaped matrices.
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn mean_squared_error(prediction: &Matrix, target: &Matrix) -> f32 {
    assert_eq!(prediction.shape(), target.shape(), "mean_squared_error: shapes differ");
    let sum: f64 =
        prediction.as_slice().iter().zip(target.as_slice()).map(|(p, t)| ((p - t) as f64).powi(2)).sum();
    (sum / prediction.len().max(1) as f64) as f32
}

/// Mean absolute error between two equally shaped matrices.
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn mean_absolute_error(prediction: &Matrix, target: &Matrix) -> f32 {
    assert_eq!(prediction.shape(), target.shape(), "mean_absolute_error: shapes differ");
    let sum: f64 =
        prediction.as_slice().iter().zip(target.as_slice()).map(|(p, t)| ((p - t) as f64).abs()).sum();
    (sum / prediction.len().max(1) as f64) as f32
}

/// Counts of (true class, predicted class) pairs, with per-class precision, recall and F1.
///
/// ```
/// use percept_train::ConfusionMatrix;
/// let mut matrix = ConfusionMatrix::new(2);
/// matrix.add(0, 0);
/// matrix.add(0, 1);
/// matrix.add(1, 1);
/// assert_eq!(matrix.count(0, 1), 1);
/// assert_eq!(matrix.recall(0), Some(0.5));
/// assert_eq!(matrix.precision(1), Some(0.5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// `counts[truth * classes + predicted]`.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self { classes, counts: vec![0; classes * classes] }
    }

    /// Adds every row of `scores` (its highest score is the prediction) against `classes`.
    ///
    /// # Panics
    /// If the lengths differ or a class or a row is wider than the matrix.
    #[track_caller]
    pub fn add_scores(&mut self, scores: &Matrix, classes: &[usize]) {
        assert_eq!(scores.rows(), classes.len(), "ConfusionMatrix: one class per row");
        for (row, &truth) in scores.row_iter().zip(classes) {
            self.add(truth, argmax(row));
        }
    }

    /// Counts one sample of class `truth` predicted as `predicted`.
    ///
    /// # Panics
    /// If either is not below the number of classes.
    #[track_caller]
    pub fn add(&mut self, truth: usize, predicted: usize) {
        assert!(
            truth < self.classes && predicted < self.classes,
            "ConfusionMatrix: class beyond {}",
            self.classes
        );
        self.counts[truth * self.classes + predicted] += 1;
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of class `truth` predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// Samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Fraction predicted correctly.
    pub fn accuracy(&self) -> f32 {
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f32 / self.total().max(1) as f32
    }

    /// Of the samples predicted as `class`, the fraction that are (`None` if none was).
    pub fn precision(&self, class: usize) -> Option<f32> {
        let predicted: u64 = (0..self.classes).map(|t| self.count(t, class)).sum();
        (predicted > 0).then(|| self.count(class, class) as f32 / predicted as f32)
    }

    /// Of the samples of `class`, the fraction predicted as it (`None` if there is none).
    pub fn recall(&self, class: usize) -> Option<f32> {
        let actual: u64 = (0..self.classes).map(|p| self.count(class, p)).sum();
        (actual > 0).then(|| self.count(class, class) as f32 / actual as f32)
    }

    /// The harmonic mean of precision and recall (`None` if either is undefined; 0 when both
    /// are 0).
    pub fn f1(&self, class: usize) -> Option<f32> {
        let (p, r) = (self.precision(class)?, self.recall(class)?);
        Some(if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 })
    }
}

/// A table: counts with true classes down and predictions across, then precision, recall,
/// F1 and support per class.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.counts.iter().max().map_or(1, |m| m.to_string().len()).max(4);
        write!(f, "{:>10}", "true\\pred")?;
        for p in 0..self.classes {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f, "  {:>9} {:>9} {:>9} {:>9}", "precision", "recall", "f1", "support")?;
        let show = |v: Option<f32>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        for t in 0..self.classes {
            write!(f, "{t:>10}")?;
            for p in 0..self.classes {
                write!(f, " {:>width$}", self.count(t, p))?;
            }
            let support: u64 = (0..self.classes).map(|p| self.count(t, p)).sum();
            writeln!(
                f,
                "  {:>9} {:>9} {:>9} {support:>9}",
                show(self.precision(t)),
                show(self.recall(t)),
                show(self.f1(t))
            )?;
        }
        write!(f, "accuracy {:.4} of {} samples", self.accuracy(), self.total())
    }
}
