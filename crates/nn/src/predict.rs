//! Prediction with a trained classifier: classes and class probabilities in one call each
//! (scikit-learn's `predict` and `predict_proba`).

use percept_linalg::{Matrix, Par, argmax_rows, softmax_rows};

use crate::{Mode, NnError, Sequential};

/// What a classifier's last layer already gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Scores (logits): probabilities still need a softmax, or a sigmoid for one output.
    Logits,
    /// Probabilities already (a last `Softmax`, or a `Sigmoid` on one output).
    Probabilities,
    /// Log-probabilities (a last `LogSoftmax`).
    LogProbabilities,
}

impl Sequential {
    /// The class of each sample: the model run in evaluation mode ([`Mode::Eval`]: dropout off,
    /// batch normalization on its running statistics), then the highest-scoring output of
    /// each row, or for a model with a single output, class 1 where its probability is above
    /// one half.
    ///
    /// # Shapes
    /// `input: [samples, in_features]` → one class per sample
    ///
    /// ```
    /// use percept_nn::{Linear, Sequential, seeded_rng};
    /// use percept_linalg::Matrix;
    /// let mut model = Sequential::new();
    /// model.add(Linear::new(2, 3, &mut seeded_rng(0)))?;
    /// let classes = model.predict(&Matrix::zeros(5, 2))?;
    /// assert_eq!(classes.len(), 5);
    /// assert!(classes.iter().all(|&c| c < 3));
    /// # Ok::<(), percept_nn::NnError>(())
    /// ```
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `input` does not have the model's number of features.
    pub fn predict(&mut self, input: &Matrix) -> Result<Vec<usize>, NnError> {
        let ending = self.ending();
        let output = self.forward(input, Mode::Eval)?;
        if output.cols() == 1 {
            let threshold = match ending {
                Ending::Logits => 0.0,
                Ending::Probabilities => 0.5,
                Ending::LogProbabilities => 0.5f32.ln(),
            };
            return Ok(output.as_slice().iter().map(|&v| usize::from(v > threshold)).collect());
        }
        let mut classes = vec![0; output.rows()];
        if output.cols() > 0 {
            argmax_rows(output, &mut classes);
        }
        Ok(classes)
    }

    /// The probability of each class for each sample, in evaluation mode: a softmax of the
    /// model's outputs (or the outputs themselves when the model ends in a `Softmax`, their
    /// exponential after a `LogSoftmax`). A model with a single output is read as a binary
    /// classifier trained with a sigmoid (`BinaryCrossEntropyWithLogits`, or a last
    /// `Sigmoid`): its row is `[1 − p, p]`.
    ///
    /// # Shapes
    /// `input: [samples, in_features]` → `[samples, classes]` (`[samples, 2]` for one output)
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `input` does not have the model's number of features.
    pub fn predict_proba(&mut self, input: &Matrix) -> Result<Matrix, NnError> {
        let ending = self.ending();
        let output = self.forward(input, Mode::Eval)?;
        if output.cols() == 1 {
            let mut probabilities = Matrix::zeros(output.rows(), 2);
            for (row, &value) in output.as_slice().iter().enumerate() {
                let p = match ending {
                    Ending::Logits => 1.0 / (1.0 + (-value).exp()),
                    Ending::Probabilities => value,
                    Ending::LogProbabilities => value.exp(),
                };
                probabilities.set(row, 0, 1.0 - p);
                probabilities.set(row, 1, p);
            }
            return Ok(probabilities);
        }
        Ok(match ending {
            Ending::Probabilities => output.clone(),
            Ending::LogProbabilities => {
                Matrix::from_fn(output.rows(), output.cols(), |r, c| output.get(r, c).exp())
            }
            Ending::Logits => {
                let mut probabilities = Matrix::zeros(output.rows(), output.cols());
                softmax_rows(&mut probabilities, output, Par::current());
                probabilities
            }
        })
    }

    fn ending(&self) -> Ending {
        match self.layers().last().map(|layer| layer.name()) {
            Some("Softmax" | "Sigmoid") => Ending::Probabilities,
            Some("LogSoftmax") => Ending::LogProbabilities,
            _ => Ending::Logits,
        }
    }
}
