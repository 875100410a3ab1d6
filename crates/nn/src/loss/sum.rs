//! `Sum`: a loss with sum reduction instead of the mean.

use percept_linalg::Matrix;

use super::{Loss, Targets};
use crate::NnError;

/// Any loss summed instead of averaged: PyTorch's `reduction='sum'`. Every loss in percept
/// averages (over samples, or over every element for the elementwise ones); `Sum(loss)`
/// multiplies its value and gradient back by that count.
///
/// ```
/// use percept_linalg::Matrix;
/// use percept_nn::{Loss, Mse, Sum, Targets};
/// let p = Matrix::from_rows(&[[1.0, 2.0]]);
/// let t = Matrix::from_rows(&[[0.0, 0.0]]);
/// assert_eq!(Mse.forward(&p, Targets::Values(&t))?, 2.5);
/// assert_eq!(Sum(Mse).forward(&p, Targets::Values(&t))?, 5.0);
/// # Ok::<(), percept_nn::NnError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum<L>(pub L);

impl<L: Loss> Loss for Sum<L> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn averaged_over(&self, prediction: &Matrix, targets: Targets<'_>) -> f32 {
        let _ = (prediction, targets);
        1.0
    }

    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let count = self.0.averaged_over(prediction, targets);
        Ok(self.0.forward(prediction, targets)? * count)
    }

    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        let count = self.0.averaged_over(prediction, targets);
        self.0.backward(prediction, targets, prediction_grad)?;
        prediction_grad.as_mut_slice().iter_mut().for_each(|g| *g *= count);
        Ok(())
    }
}
