//! Golden values: forward outputs and gradients of every layer and loss, and of a small
//! model, against PyTorch.
//!
//! Golden numbers come from PyTorch, with the script that made them in a comment above each
//! test (run it with `python3`; it prints the numbers pasted below it). In every script `t`
//! rounds the literal values to f32, exactly as the Rust sees them, and computes in float64;
//! `show` prints each tensor rounded to f32 in shortest form.
//!
//! Tolerance: `|got − want| ≤ 1e-5 · max(|want|, 1)` (relative 1e-5, absolute floor 1e-5),
//! everywhere unless a test says otherwise.

use percept_linalg::Matrix;
use percept_nn::{
    CrossEntropy, Layer, Linear, Loss, Mae, Mode, Mse, NnError, Parameters, ReLU, Sequential, Sigmoid,
    Softmax, SoftmaxCrossEntropy, Tanh, Targets,
};

/// Tolerance used everywhere: relative 1e-5 with an absolute floor of 1e-5.
const TOL: f32 = 1e-5;

/// Asserts `|got[i] − want[i]| ≤ rel · max(|want[i]|, 1)` for every element.
#[track_caller]
fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let allowed = rel * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= allowed,
            "{what}: element {i}: got {g}, want {w} (difference {:e}, allowed {allowed:e})",
            (g - w).abs()
        );
    }
}

/// The transpose of `m`. PyTorch stores a linear layer's weight as `[out, in]`; percept as
/// `[in, out]` (see `Linear`), so weights go in transposed and their gradients come back
/// transposed for comparison with PyTorch's numbers.
fn transposed(m: &Matrix) -> Matrix {
    Matrix::from_fn(m.cols(), m.rows(), |r, c| m.get(c, r))
}

/// A PyTorch `[out, in]` weight, given row by row, in percept's `[in, out]` layout.
fn torch_weight(out_features: usize, in_features: usize, values: Vec<f32>) -> Matrix {
    transposed(&Matrix::from_vec(out_features, in_features, values))
}

/// Runs `layer` forward on `x` and backward with `output_grad`; returns the output and the
/// input gradient. Both buffers start as NaN so that every element must be written.
fn run_layer(layer: &mut dyn Layer, x: &Matrix, output_grad: &Matrix) -> (Matrix, Matrix) {
    let mut y = Matrix::filled(output_grad.rows(), output_grad.cols(), f32::NAN);
    layer.forward(x, &mut y, Mode::Train);
    assert_eq!(y.shape(), output_grad.shape(), "{} output shape", layer.name());
    let mut dx = Matrix::filled(x.rows(), x.cols(), f32::NAN);
    layer.backward(x, &y, output_grad, Some(&mut dx));
    assert_eq!(dx.shape(), x.shape(), "{} input gradient shape", layer.name());
    (y, dx)
}

/// Returns the loss and its gradient with respect to `prediction` (which starts as NaN).
fn run_loss(
    loss: &mut dyn Loss,
    prediction: &Matrix,
    targets: Targets<'_>,
) -> Result<(f32, Matrix), NnError> {
    let value = loss.forward(prediction, targets)?;
    let mut grad = Matrix::filled(prediction.rows(), prediction.cols(), f32::NAN);
    loss.backward(prediction, targets, &mut grad)?;
    assert_eq!(grad.shape(), prediction.shape(), "{} gradient shape", loss.name());
    Ok((value, grad))
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3, 0.1], [-0.7, 0.4, -2.9, 1.6], [1.9, 2.8, -0.3, -1.1],
//        [-2.2, 0.05, 0.9, -0.6], [0.3, -1.7, 1.4, 2.6]])
// w = t([[0.2, -0.5, 0.7, 1.1], [-0.9, 0.3, 0.25, -0.4], [0.6, 0.8, -1.3, 0.15]])
// b = t([[0.1, -0.2, 0.35]])
// g = t([[1.0, -0.5, 0.3], [0.2, 0.7, -1.1], [-0.4, 0.9, 0.6], [1.5, -0.8, 0.05],
//        [-0.3, 0.1, 2.0]])
// y = torch.nn.functional.linear(x, w, b.reshape(3))
// y.backward(g)
// show(x=x, w=w, b=b, g=g, y=y, dx=x.grad, dw=w.grad, db=b.grad)
#[test]
fn linear_matches_pytorch() {
    let weight = torch_weight(3, 4, vec![0.2, -0.5, 0.7, 1.1, -0.9, 0.3, 0.25, -0.4, 0.6, 0.8, -1.3, 0.15]);
    let bias = Matrix::from_vec(1, 3, vec![0.1, -0.2, 0.35]);
    let mut layer = Linear::from_parameters(weight, bias);
    let x = Matrix::from_vec(
        5,
        4,
        vec![
            0.5, -1.2, 2.3, 0.1, -0.7, 0.4, -2.9, 1.6, 1.9, 2.8, -0.3, -1.1, -2.2, 0.05, 0.9, -0.6, 0.3,
            -1.7, 1.4, 2.6,
        ],
    );
    let output_grad = Matrix::from_vec(
        5,
        3,
        vec![1.0, -0.5, 0.3, 0.2, 0.7, -1.1, -0.4, 0.9, 0.6, 1.5, -0.8, 0.05, -0.3, 0.1, 2.0],
    );
    let (y, dx) = run_layer(&mut layer, &x, &output_grad);
    assert_close(
        y.as_slice(),
        &[
            2.52,
            -0.47500002,
            -3.2849998,
            -0.51,
            -0.81500006,
            4.26,
            -2.34,
            -0.7049999,
            3.955,
            -0.39500007,
            2.26,
            -2.19,
            4.85,
            -1.6700001,
            -2.26,
        ],
        TOL,
        "Linear output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.83,
            -0.41,
            0.18499999,
            1.345,
            -1.25,
            -0.77000004,
            1.745,
            -0.225,
            -0.5299999,
            0.95000005,
            -0.835,
            -0.71,
            1.05,
            -0.95,
            0.78499997,
            1.9775001,
            1.0500001,
            1.7800001,
            -2.7849998,
            -0.07000001,
        ],
        TOL,
        "Linear input gradient",
    );
    assert_eq!(layer.weight_grad().shape(), [4, 3]);
    assert_close(
        transposed(layer.weight_grad()).as_slice(),
        &[-3.79, -1.655, 2.77, -0.82, 2.76, 3.1899998, -4.03, 0.82, 2.55, -2.5175002, 6.545, 2.7799997],
        TOL,
        "Linear weight gradient",
    );
    assert_eq!(layer.bias_grad().shape(), [1, 3]);
    assert_close(layer.bias_grad().as_slice(), &[2.0, 0.39999995, 1.85], TOL, "Linear bias gradient");
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3, -0.1, 1.7], [-2.8, 0.3, -0.6, 3.0, 0.05], [1.1, -0.4, -2.2, 0.9, -1.5],
//        [-0.25, 2.6, 0.8, -3.0, 0.15]])
// g = t([[0.7, -0.3, 1.2, 0.4, -1.1], [0.6, -0.9, 0.2, 1.5, -0.5], [-0.8, 0.1, 0.3, -1.4, 0.9],
//        [1.3, -0.7, 0.45, 0.2, -0.6]])
// y = torch.relu(x)
// y.backward(g)
// show(x=x, g=g, y=y, dx=x.grad)
#[test]
fn relu_matches_pytorch() {
    let x = Matrix::from_vec(
        4,
        5,
        vec![
            0.5, -1.2, 2.3, -0.1, 1.7, -2.8, 0.3, -0.6, 3.0, 0.05, 1.1, -0.4, -2.2, 0.9, -1.5, -0.25, 2.6,
            0.8, -3.0, 0.15,
        ],
    );
    let output_grad = Matrix::from_vec(
        4,
        5,
        vec![
            0.7, -0.3, 1.2, 0.4, -1.1, 0.6, -0.9, 0.2, 1.5, -0.5, -0.8, 0.1, 0.3, -1.4, 0.9, 1.3, -0.7, 0.45,
            0.2, -0.6,
        ],
    );
    let (y, dx) = run_layer(&mut ReLU, &x, &output_grad);
    assert_close(
        y.as_slice(),
        &[
            0.5, 0.0, 2.3, 0.0, 1.7, 0.0, 0.3, 0.0, 3.0, 0.05, 1.1, 0.0, 0.0, 0.9, 0.0, 0.0, 2.6, 0.8, 0.0,
            0.15,
        ],
        TOL,
        "ReLU output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.7, 0.0, 1.2, 0.0, -1.1, 0.0, -0.9, 0.0, 1.5, -0.5, -0.8, 0.0, 0.0, -1.4, 0.0, 0.0, -0.7, 0.45,
            0.0, -0.6,
        ],
        TOL,
        "ReLU input gradient",
    );
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3, -0.1], [-2.8, 0.3, -0.6, 3.0], [1.1, -0.04, -2.2, 0.9]])
// g = t([[0.7, -0.3, 1.2, 0.4], [0.6, -0.9, 0.2, 1.5], [-0.8, 0.1, 0.3, -1.4]])
// y = torch.tanh(x)
// y.backward(g)
// show(x=x, g=g, y=y, dx=x.grad)
#[test]
fn tanh_matches_pytorch() {
    let x = Matrix::from_vec(3, 4, vec![0.5, -1.2, 2.3, -0.1, -2.8, 0.3, -0.6, 3.0, 1.1, -0.04, -2.2, 0.9]);
    let output_grad =
        Matrix::from_vec(3, 4, vec![0.7, -0.3, 1.2, 0.4, 0.6, -0.9, 0.2, 1.5, -0.8, 0.1, 0.3, -1.4]);
    let (y, dx) = run_layer(&mut Tanh, &x, &output_grad);
    assert_close(
        y.as_slice(),
        &[
            0.46211717,
            -0.83365464,
            0.9800964,
            -0.099667996,
            -0.9926315,
            0.29131263,
            -0.5370496,
            0.9950548,
            0.800499,
            -0.03997868,
            -0.9757431,
            0.71629786,
        ],
        TOL,
        "Tanh output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.5505134,
            -0.091506,
            0.047293272,
            0.39602652,
            0.0088096,
            -0.82362324,
            0.14231555,
            0.014799056,
            -0.28736106,
            0.09984017,
            0.014377602,
            -0.6816843,
        ],
        TOL,
        "Tanh input gradient",
    );
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3, -0.1, 1.7, -3.0], [-2.8, 0.3, -0.6, 3.0, 0.05, 1.4],
//        [1.1, -0.4, -2.2, 0.9, -1.5, 0.2], [-0.25, 2.6, 0.8, -1.9, 0.15, -0.7]])
// g = t([[0.7, -0.3, 1.2, 0.4, -1.1, 0.5], [0.6, -0.9, 0.2, 1.5, -0.5, -0.2],
//        [-0.8, 0.1, 0.3, -1.4, 0.9, 1.0], [1.3, -0.7, 0.45, 0.2, -0.6, 0.35]])
// y = torch.sigmoid(x)
// y.backward(g)
// show(x=x, g=g, y=y, dx=x.grad)
#[test]
fn sigmoid_matches_pytorch() {
    let x = Matrix::from_vec(
        4,
        6,
        vec![
            0.5, -1.2, 2.3, -0.1, 1.7, -3.0, -2.8, 0.3, -0.6, 3.0, 0.05, 1.4, 1.1, -0.4, -2.2, 0.9, -1.5,
            0.2, -0.25, 2.6, 0.8, -1.9, 0.15, -0.7,
        ],
    );
    let output_grad = Matrix::from_vec(
        4,
        6,
        vec![
            0.7, -0.3, 1.2, 0.4, -1.1, 0.5, 0.6, -0.9, 0.2, 1.5, -0.5, -0.2, -0.8, 0.1, 0.3, -1.4, 0.9, 1.0,
            1.3, -0.7, 0.45, 0.2, -0.6, 0.35,
        ],
    );
    let (y, dx) = run_layer(&mut Sigmoid, &x, &output_grad);
    assert_close(
        y.as_slice(),
        &[
            0.62245935,
            0.2314752,
            0.908877,
            0.47502083,
            0.84553474,
            0.047425874,
            0.05732418,
            0.5744425,
            0.35434368,
            0.95257413,
            0.5124974,
            0.80218387,
            0.7502601,
            0.40131235,
            0.09975048,
            0.7109495,
            0.18242553,
            0.549834,
            0.4378235,
            0.9308616,
            0.6899745,
            0.13010848,
            0.53742987,
            0.33181223,
        ],
        TOL,
        "Sigmoid output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.16450259,
            -0.053368334,
            0.09938349,
            0.099750414,
            -0.14366633,
            0.02258833,
            0.03242287,
            -0.22001247,
            0.045756847,
            0.06776499,
            -0.12492191,
            -0.03173698,
            -0.1498959,
            0.024026075,
            0.026940098,
            -0.2877004,
            0.1342318,
            0.24751657,
            0.3199743,
            -0.04505081,
            0.09625936,
            0.022636052,
            -0.14915942,
            0.0775995,
        ],
        TOL,
        "Sigmoid input gradient",
    );
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3, -0.1, 1.7], [-2.8, 0.3, -0.6, 3.0, 0.05],
//        [1.1, -0.4, -2.2, 0.9, -1.5]])
// g = t([[0.7, -0.3, 1.2, 0.4, -1.1], [0.6, -0.9, 0.2, 1.5, -0.5], [-0.8, 0.1, 0.3, -1.4, 0.9]])
// y = torch.softmax(x, dim=1)
// y.backward(g)
// show(x=x, g=g, y=y, dx=x.grad)
#[test]
fn softmax_matches_pytorch() {
    let x = Matrix::from_vec(
        3,
        5,
        vec![0.5, -1.2, 2.3, -0.1, 1.7, -2.8, 0.3, -0.6, 3.0, 0.05, 1.1, -0.4, -2.2, 0.9, -1.5],
    );
    let output_grad = Matrix::from_vec(
        3,
        5,
        vec![0.7, -0.3, 1.2, 0.4, -1.1, 0.6, -0.9, 0.2, 1.5, -0.5, -0.8, 0.1, 0.3, -1.4, 0.9],
    );
    let (y, dx) = run_layer(&mut Softmax, &x, &output_grad);
    assert_close(
        y.as_slice(),
        &[
            0.09007987,
            0.016456107,
            0.54495144,
            0.049436882,
            0.29907572,
            0.0026328934,
            0.05844484,
            0.023761896,
            0.8696435,
            0.045516886,
            0.4644644,
            0.10363601,
            0.017130917,
            0.38027126,
            0.034497432,
        ],
        TOL,
        "Softmax output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.026767027,
            -0.011566212,
            0.43440682,
            -0.00014100735,
            -0.44946662,
            -0.001673042,
            -0.12480535,
            -0.024603983,
            0.23007414,
            -0.078991756,
            0.026660576,
            0.099221185,
            0.019827334,
            -0.2063349,
            0.06062581,
        ],
        TOL,
        "Softmax input gradient",
    );
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// p = t([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8], [0.3, 0.45, 0.25], [0.6, 0.3, 0.1]])
// y = torch.tensor([0, 2, 2, 1])
// loss = torch.nn.NLLLoss()(torch.log(p), y)
// loss.backward()
// show(p=p, loss=loss, dp=p.grad)
#[test]
fn cross_entropy_matches_pytorch_nll_of_log() -> Result<(), NnError> {
    let prediction =
        Matrix::from_vec(4, 3, vec![0.7, 0.2, 0.1, 0.05, 0.15, 0.8, 0.3, 0.45, 0.25, 0.6, 0.3, 0.1]);
    let (value, grad) = run_loss(&mut CrossEntropy, &prediction, Targets::Classes(&[0, 2, 2, 1]))?;
    assert_close(&[value], &[0.7925214], TOL, "CrossEntropy value");
    assert_close(
        grad.as_slice(),
        &[-0.35714287, 0.0, 0.0, 0.0, 0.0, -0.3125, 0.0, 0.0, -1.0, 0.0, -0.8333333, 0.0],
        TOL,
        "CrossEntropy gradient",
    );
    Ok(())
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// p = t([[0.5, -1.2, 2.3, -0.1], [-2.8, 0.3, -0.6, 3.0], [1.1, -0.4, -2.2, 0.9],
//        [-0.25, 2.6, 0.8, -1.9], [0.15, 0.1, -0.7, 1.4]])
// y = torch.tensor([2, 3, 0, 2, 1])
// loss = torch.nn.CrossEntropyLoss()(p, y)
// loss.backward()
// show(p=p, loss=loss, dp=p.grad)
#[test]
fn softmax_cross_entropy_matches_pytorch() -> Result<(), NnError> {
    let prediction = Matrix::from_vec(
        5,
        4,
        vec![
            0.5, -1.2, 2.3, -0.1, -2.8, 0.3, -0.6, 3.0, 1.1, -0.4, -2.2, 0.9, -0.25, 2.6, 0.8, -1.9, 0.15,
            0.1, -0.7, 1.4,
        ],
    );
    let (value, grad) =
        run_loss(&mut SoftmaxCrossEntropy::new(), &prediction, Targets::Classes(&[2, 3, 0, 2, 1]))?;
    assert_close(&[value], &[0.98134017], TOL, "SoftmaxCrossEntropy value");
    assert_close(
        grad.as_slice(),
        &[
            0.025703168,
            0.004695545,
            -0.04450491,
            0.014106197,
            0.0005516899,
            0.012246384,
            0.0049790083,
            -0.017777083,
            -0.103788055,
            0.021467786,
            0.003548601,
            0.07877167,
            0.009373178,
            0.16204143,
            -0.17321473,
            0.0018001179,
            0.03407743,
            -0.16758455,
            0.014565202,
            0.11894191,
        ],
        TOL,
        "SoftmaxCrossEntropy gradient",
    );
    Ok(())
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// p = t([[0.5, -1.2, 2.3], [-2.8, 0.3, -0.6], [1.1, -0.4, -2.2], [0.9, 2.6, -0.15]])
// v = t([[0.3, -1.0, 1.5], [-2.0, 0.8, -0.1], [1.6, 0.2, -2.9], [1.2, 1.7, 0.4]])
// loss = torch.nn.MSELoss()(p, v)
// loss.backward()
// show(p=p, v=v, loss=loss, dp=p.grad)
#[test]
fn mse_with_values_matches_pytorch() -> Result<(), NnError> {
    let prediction =
        Matrix::from_vec(4, 3, vec![0.5, -1.2, 2.3, -2.8, 0.3, -0.6, 1.1, -0.4, -2.2, 0.9, 2.6, -0.15]);
    let values = Matrix::from_vec(4, 3, vec![0.3, -1.0, 1.5, -2.0, 0.8, -0.1, 1.6, 0.2, -2.9, 1.2, 1.7, 0.4]);
    let (value, grad) = run_loss(&mut Mse, &prediction, Targets::Values(&values))?;
    assert_close(&[value], &[0.34687498], TOL, "Mse value");
    assert_close(
        grad.as_slice(),
        &[
            0.03333333,
            -0.033333343,
            0.13333333,
            -0.13333333,
            -0.083333336,
            -0.083333336,
            -0.083333336,
            -0.1,
            0.116666675,
            -0.050000012,
            0.14999998,
            -0.09166667,
        ],
        TOL,
        "Mse gradient",
    );
    Ok(())
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// p = t([[0.5, -1.2, 2.3], [-2.8, 0.3, -0.6], [1.1, -0.4, -2.2], [0.9, 2.6, -0.15]])
// v = t([[0.3, -1.0, 1.5], [-2.0, 0.8, -0.1], [1.6, 0.2, -2.9], [1.2, 1.7, 0.4]])
// loss = torch.nn.L1Loss()(p, v)
// loss.backward()
// show(p=p, v=v, loss=loss, dp=p.grad)
#[test]
fn mae_with_values_matches_pytorch() -> Result<(), NnError> {
    let prediction =
        Matrix::from_vec(4, 3, vec![0.5, -1.2, 2.3, -2.8, 0.3, -0.6, 1.1, -0.4, -2.2, 0.9, 2.6, -0.15]);
    let values = Matrix::from_vec(4, 3, vec![0.3, -1.0, 1.5, -2.0, 0.8, -0.1, 1.6, 0.2, -2.9, 1.2, 1.7, 0.4]);
    let (value, grad) = run_loss(&mut Mae, &prediction, Targets::Values(&values))?;
    assert_close(&[value], &[0.54583335], TOL, "Mae value");
    assert_close(
        grad.as_slice(),
        &[
            0.083333336,
            -0.083333336,
            0.083333336,
            -0.083333336,
            -0.083333336,
            -0.083333336,
            -0.083333336,
            -0.083333336,
            0.083333336,
            -0.083333336,
            0.083333336,
            -0.083333336,
        ],
        TOL,
        "Mae gradient",
    );
    Ok(())
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// p = t([[0.5, -1.2, 2.3, 0.1], [-2.8, 0.3, -0.6, 0.9], [1.1, -0.4, 0.7, -2.2]])
// y = torch.tensor([2, 1, 3])
// loss = torch.nn.MSELoss()(p, torch.nn.functional.one_hot(y, 4).double())
// loss.backward()
// show(p=p, loss=loss, dp=p.grad)
#[test]
fn mse_with_classes_matches_pytorch_one_hot() -> Result<(), NnError> {
    let prediction =
        Matrix::from_vec(3, 4, vec![0.5, -1.2, 2.3, 0.1, -2.8, 0.3, -0.6, 0.9, 1.1, -0.4, 0.7, -2.2]);
    let (value, grad) = run_loss(&mut Mse, &prediction, Targets::Classes(&[2, 1, 3]))?;
    assert_close(&[value], &[2.0825], TOL, "Mse value");
    assert_close(
        grad.as_slice(),
        &[
            0.083333336,
            -0.2,
            0.21666665,
            0.016666668,
            -0.46666667,
            -0.11666667,
            -0.1,
            0.14999999,
            0.18333334,
            -0.06666667,
            0.11666667,
            -0.53333336,
        ],
        TOL,
        "Mse gradient",
    );
    Ok(())
}

// Python (PyTorch) that made the numbers below:
// import torch
// def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
// def show(**kw):
//     for k, v in kw.items(): print(k, ", ".join(map(str, v.detach().float().numpy().ravel())))
// x = t([[0.5, -1.2, 2.3], [-0.7, 0.4, -2.9], [1.9, 2.8, -0.3], [-2.2, 0.05, 0.9]])
// y = torch.tensor([1, 0, 1, 0])
// nn = torch.nn
// model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
// values = [[[0.2, -0.5, 0.7], [1.1, -0.9, 0.3], [0.25, -0.4, 0.6], [0.8, -1.3, 0.15]],
//           [0.1, -0.2, 0.35, -0.05],
//           [[0.6, -0.7, 1.2, 0.3], [-0.9, 0.4, -0.5, 1.0]],
//           [0.15, -0.25]]
// with torch.no_grad():
//     for param, v in zip(model.parameters(), values):
//         param.copy_(t(v))
// logits = model(x)
// loss = nn.CrossEntropyLoss()(logits, y)
// loss.backward()
// (w1, b1), (w2, b2) = (model[0].weight, model[0].bias), (model[2].weight, model[2].bias)
// show(x=x, w1=w1, b1=b1, w2=w2, b2=b2, logits=logits, loss=loss)
// show(dw1=w1.grad, db1=b1.grad, dw2=w2.grad, db2=b2.grad)
#[test]
fn model_gradients_match_pytorch_sequential() -> Result<(), NnError> {
    let mut model = Sequential::new();
    model
        .add(Linear::from_parameters(
            torch_weight(4, 3, vec![0.2, -0.5, 0.7, 1.1, -0.9, 0.3, 0.25, -0.4, 0.6, 0.8, -1.3, 0.15]),
            Matrix::from_vec(1, 4, vec![0.1, -0.2, 0.35, -0.05]),
        ))?
        .add(Tanh)?
        .add(Linear::from_parameters(
            torch_weight(2, 4, vec![0.6, -0.7, 1.2, 0.3, -0.9, 0.4, -0.5, 1.0]),
            Matrix::from_vec(1, 2, vec![0.15, -0.25]),
        ))?;
    assert_eq!(model.layers().len(), 3);
    let x = Matrix::from_vec(4, 3, vec![0.5, -1.2, 2.3, -0.7, 0.4, -2.9, 1.9, 2.8, -0.3, -2.2, 0.05, 0.9]);
    let labels = [1, 0, 1, 0];
    let mut loss = SoftmaxCrossEntropy::new();

    let logits = model.forward(&x, Mode::Train)?.clone();
    assert_close(
        logits.as_slice(),
        &[1.5314697, -0.25943068, -1.1553298, -0.20630217, -0.72838706, -0.52218276, 1.0831785, -1.9714545],
        TOL,
        "model logits",
    );
    let (value, grad) = run_loss(&mut loss, &logits, Targets::Classes(&labels))?;
    assert_close(&[value], &[0.96571064], TOL, "model loss");
    model.backward(&grad)?;

    let mut grads = Vec::new();
    // Weights come back in PyTorch's [out, in] layout for the comparison.
    model.visit_parameters(&mut |p| {
        let grad = if p.name == "weight" { transposed(p.grad) } else { p.grad.clone() };
        grads.push((p.name, grad.shape(), grad.as_slice().to_vec()))
    });
    let want: [(&str, [usize; 2], &[f32]); 4] = [
        (
            "weight",
            [4, 3],
            &[
                0.15706049,
                0.14366676,
                0.024791898,
                -0.15934013,
                -0.19431679,
                -0.034622334,
                0.3617663,
                0.39789507,
                0.07523425,
                -0.026357187,
                0.005661878,
                -0.07166113,
            ],
        ),
        ("bias", [1, 4], &[0.040734526, -0.0797137, 0.112933524, 0.011056539]),
        (
            "weight",
            [2, 4],
            &[
                0.29337692,
                0.32590905,
                0.3263366,
                0.27579427,
                -0.29337692,
                -0.32590905,
                -0.3263366,
                -0.27579427,
            ],
        ),
        ("bias", [1, 2], &[0.13493274, -0.13493274]),
    ];
    assert_eq!(grads.len(), want.len(), "number of parameters");
    for (i, ((name, shape, got), (want_name, want_shape, want))) in grads.iter().zip(want).enumerate() {
        assert_eq!((*name, *shape), (want_name, want_shape), "parameter {i}");
        assert_close(got, want, TOL, &format!("parameter {i} ({name}) gradient"));
    }
    Ok(())
}
