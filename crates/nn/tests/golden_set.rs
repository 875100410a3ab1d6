//! Golden values for the layers and losses beyond the lesson's (activations, `Dropout`,
//! `BatchNorm1d`, `LayerNorm`, Huber, binary cross-entropies, NLL, hinge, label smoothing, class weights,
//! sum reduction), against PyTorch 2.15. The script below made every number (run it with
//! `python3`); each test names the entry of the script it checks.
//!
//! Tolerance: `|got − want| ≤ 1e-5 · max(|want|, 1)` unless a test says otherwise.
//!
//! ```python
//! # Prints golden values for percept-nn's new layers and losses (tests/golden_set.rs).
//! import torch
//! torch.set_default_dtype(torch.float64)
//! def t(a): return torch.tensor(a, dtype=torch.float32).double().requires_grad_()
//! def f32(v): return [str(float(torch.tensor(x, dtype=torch.float32))) for x in v.detach().reshape(-1).tolist()]
//! X = [[0.5, -1.2, 2.3, 0.1], [-0.7, 0.4, -2.9, 1.6], [1.9, 2.8, -0.3, -1.1], [-2.2, 0.05, 0.9, -0.6], [0.3, -1.7, 1.4, 2.6]]
//! G = [[1.0, -0.5, 0.3, 0.8], [0.2, 0.7, -1.1, -0.6], [-0.4, 0.9, 0.6, 0.1], [1.5, -0.8, 0.05, -1.2], [-0.3, 0.1, 2.0, 0.4]]
//! nn = torch.nn
//! layers = {
//!   "leaky_relu": lambda: nn.LeakyReLU(0.1),
//!   "elu": lambda: nn.ELU(0.5),
//!   "gelu": lambda: nn.GELU(),
//!   "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
//!   "softplus": lambda: nn.Softplus(beta=2.0, threshold=3.0),
//!   "silu": lambda: nn.SiLU(),
//!   "log_softmax": lambda: nn.LogSoftmax(dim=1),
//! }
//! for name, make in layers.items():
//!     x = t(X); g = t(G)
//!     y = make()(x); y.backward(g)
//!     print("LAYER", name); print("y", ",".join(f32(y))); print("dx", ",".join(f32(x.grad)))
//! # BatchNorm1d: training step then evaluation
//! bn = nn.BatchNorm1d(4).double()
//! with torch.no_grad():
//!     bn.weight.copy_(torch.tensor([1.5, -0.5, 0.8, 1.0])); bn.bias.copy_(torch.tensor([0.1, 0.2, -0.3, 0.0]))
//! x = t(X); g = t(G)
//! y = bn(x); y.backward(g)
//! print("BN train"); print("y", ",".join(f32(y))); print("dx", ",".join(f32(x.grad)))
//! print("dw", ",".join(f32(bn.weight.grad))); print("db", ",".join(f32(bn.bias.grad)))
//! print("rm", ",".join(f32(bn.running_mean))); print("rv", ",".join(f32(bn.running_var)))
//! bn.eval(); bn.zero_grad(); x = t(X)
//! y = bn(x); y.backward(t(G))
//! print("BN eval"); print("y", ",".join(f32(y))); print("dx", ",".join(f32(x.grad)))
//! print("dw", ",".join(f32(bn.weight.grad))); print("db", ",".join(f32(bn.bias.grad)))
//! # LayerNorm: one forward and backward pass (the same in training and evaluation)
//! ln = nn.LayerNorm(4).double()
//! with torch.no_grad():
//!     ln.weight.copy_(torch.tensor([1.5, -0.5, 0.8, 1.0])); ln.bias.copy_(torch.tensor([0.1, 0.2, -0.3, 0.0]))
//! x = t(X); g = t(G)
//! y = ln(x); y.backward(g)
//! print("LN"); print("y", ",".join(f32(y))); print("dx", ",".join(f32(x.grad)))
//! print("dw", ",".join(f32(ln.weight.grad))); print("db", ",".join(f32(ln.bias.grad)))
//! # losses
//! P = [[0.5, -1.2, 2.3], [-0.7, 0.4, -2.9], [1.9, 2.8, -0.3], [-2.2, 0.05, 0.9], [0.3, -1.7, 1.4]]
//! T = [[0.1, -1.0, 3.0], [-0.2, 0.5, -1.0], [1.0, 3.0, 0.6], [-2.5, -0.4, 1.5], [0.2, -1.7, 0.4]]
//! PROB = [[0.2, 0.7, 0.9], [0.5, 0.1, 0.35], [0.95, 0.6, 0.05], [0.3, 0.8, 0.45], [0.15, 0.55, 0.99]]
//! BT = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.25, 0.0, 1.0]]
//! C = [2, 0, 1, 2, 1]
//! LOG_P = [[-1.2, -0.5, -2.3], [-0.3, -1.9, -2.2], [-0.9, -0.8, -1.6], [-2.5, -1.1, -0.4], [-0.7, -0.6, -3.1]]
//! F = torch.nn.functional
//! cw = torch.tensor([1.0, 2.0, 0.5])
//! losses = {
//!   "huber": (lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=1.0), P),
//!   "huber_half": (lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=0.5), P),
//!   "huber_sum": (lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=1.0, reduction="sum"), P),
//!   "bce": (lambda p: F.binary_cross_entropy(p, torch.tensor(BT, dtype=torch.float32).double()), PROB),
//!   "bce_logits": (lambda p: F.binary_cross_entropy_with_logits(p, torch.tensor(BT, dtype=torch.float32).double()), P),
//!   "nll": (lambda p: F.nll_loss(p, torch.tensor(C)), LOG_P),
//!   "hinge": (lambda p: F.multi_margin_loss(p, torch.tensor(C), margin=1.0), P),
//!   "hinge_margin": (lambda p: F.multi_margin_loss(p, torch.tensor(C), margin=2.5), P),
//!   "ce_smoothing": (lambda p: F.cross_entropy(p, torch.tensor(C), label_smoothing=0.1), P),
//!   "ce_weights": (lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double()), P),
//!   "ce_weights_smoothing": (lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double(), label_smoothing=0.2), P),
//!   "ce_weights_smoothing_sum": (lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double(), label_smoothing=0.2, reduction="sum"), P),
//!   "mse_sum": (lambda p: F.mse_loss(p, torch.tensor(T, dtype=torch.float32).double(), reduction="sum"), P),
//! }
//! for name, (fn, inp) in losses.items():
//!     p = t(inp); l = fn(p); l.backward()
//!     print("LOSS", name); print("l", str(float(torch.tensor(float(l), dtype=torch.float32)))); print("dp", ",".join(f32(p.grad)))
//! ```

use percept_linalg::Matrix;
use percept_nn::*;

const X: [f32; 20] = [
    0.5, -1.2, 2.3, 0.1, -0.7, 0.4, -2.9, 1.6, 1.9, 2.8, -0.3, -1.1, -2.2, 0.05, 0.9, -0.6, 0.3, -1.7, 1.4,
    2.6,
];
const G: [f32; 20] = [
    1.0, -0.5, 0.3, 0.8, 0.2, 0.7, -1.1, -0.6, -0.4, 0.9, 0.6, 0.1, 1.5, -0.8, 0.05, -1.2, -0.3, 0.1, 2.0,
    0.4,
];

#[track_caller]
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let allowed = 1e-5 * w.abs().max(1.0);
        assert!((g - w).abs() <= allowed, "{what}: element {i}: got {g}, want {w}");
    }
}

/// Forward in `mode` on the script's `X`, backward with its `G`: output and input gradient.
fn run(layer: &mut dyn Layer, mode: Mode) -> (Matrix, Matrix) {
    let x = Matrix::from_vec(5, 4, X.to_vec());
    let g = Matrix::from_vec(5, 4, G.to_vec());
    let mut y = Matrix::filled(5, 4, f32::NAN);
    layer.forward(&x, &mut y, mode);
    let mut dx = Matrix::filled(5, 4, f32::NAN);
    layer.backward(&x, &y, &g, Some(&mut dx));
    (y, dx)
}

const P: [[f32; 3]; 5] =
    [[0.5, -1.2, 2.3], [-0.7, 0.4, -2.9], [1.9, 2.8, -0.3], [-2.2, 0.05, 0.9], [0.3, -1.7, 1.4]];
const T: [[f32; 3]; 5] =
    [[0.1, -1.0, 3.0], [-0.2, 0.5, -1.0], [1.0, 3.0, 0.6], [-2.5, -0.4, 1.5], [0.2, -1.7, 0.4]];
const PROB: [[f32; 3]; 5] =
    [[0.2, 0.7, 0.9], [0.5, 0.1, 0.35], [0.95, 0.6, 0.05], [0.3, 0.8, 0.45], [0.15, 0.55, 0.99]];
const BT: [[f32; 3]; 5] =
    [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.25, 0.0, 1.0]];
const LOG_P: [[f32; 3]; 5] =
    [[-1.2, -0.5, -2.3], [-0.3, -1.9, -2.2], [-0.9, -0.8, -1.6], [-2.5, -1.1, -0.4], [-0.7, -0.6, -3.1]];
const CLASSES: [usize; 5] = [2, 0, 1, 2, 1];

/// The loss and its gradient (through `forward_backward`, checked against `forward` and
/// `backward` separately).
fn run_loss(loss: &mut dyn Loss, prediction: &[[f32; 3]; 5], targets: Targets<'_>) -> (f32, Matrix) {
    let prediction = Matrix::from_rows(prediction);
    let value = loss.forward(&prediction, targets).expect("targets fit");
    let mut grad = Matrix::filled(5, 3, f32::NAN);
    loss.backward(&prediction, targets, &mut grad).expect("targets fit");
    let mut fused = Matrix::default();
    let fused_value = loss.forward_backward(&prediction, targets, &mut fused).expect("targets fit");
    assert_eq!((fused_value, &fused), (value, &grad), "{}: forward_backward", loss.name());
    (value, grad)
}

// Python: layers["leaky_relu"] = nn.LeakyReLU(0.1)
#[test]
fn leaky_relu_matches_pytorch() {
    let (y, dx) = run(&mut LeakyReLU::new(0.1), Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.5,
            -0.120000005,
            2.3,
            0.1,
            -0.07,
            0.4,
            -0.29000002,
            1.6,
            1.9,
            2.8,
            -0.030000001,
            -0.11,
            -0.22,
            0.05,
            0.9,
            -0.060000002,
            0.3,
            -0.17,
            1.4,
            2.6,
        ],
        "leaky_relu output",
    );
    assert_close(
        dx.as_slice(),
        &[
            1.0,
            -0.05,
            0.3,
            0.8,
            0.02,
            0.7,
            -0.11,
            -0.6,
            -0.4,
            0.9,
            0.060000002,
            0.01,
            0.15,
            -0.8,
            0.05,
            -0.120000005,
            -0.3,
            0.01,
            2.0,
            0.4,
        ],
        "leaky_relu input gradient",
    );
}

// Python: layers["elu"] = nn.ELU(0.5)
#[test]
fn elu_matches_pytorch() {
    let (y, dx) = run(&mut ELU::new(0.5), Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.5,
            -0.3494029,
            2.3,
            0.1,
            -0.25170735,
            0.4,
            -0.4724884,
            1.6,
            1.9,
            2.8,
            -0.1295909,
            -0.33356446,
            -0.44459844,
            0.05,
            0.9,
            -0.2255942,
            0.3,
            -0.40865824,
            1.4,
            2.6,
        ],
        "elu output",
    );
    assert_close(
        dx.as_slice(),
        &[
            1.0,
            -0.07529855,
            0.3,
            0.8,
            0.049658533,
            0.7,
            -0.030262768,
            -0.6,
            -0.4,
            0.9,
            0.22224547,
            0.016643554,
            0.08310237,
            -0.8,
            0.05,
            -0.329287,
            -0.3,
            0.009134176,
            2.0,
            0.4,
        ],
        "elu input gradient",
    );
}

// Python: layers["gelu"] = nn.GELU()
#[test]
fn gelu_matches_pytorch() {
    let (y, dx) = run(&mut GELU::new(), Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.34573123,
            -0.13808359,
            2.2753346,
            0.053982783,
            -0.16937456,
            0.2621687,
            -0.005410857,
            1.5123211,
            1.8454385,
            2.7928455,
            -0.11462658,
            -0.14923267,
            -0.030587582,
            0.02599694,
            0.73434585,
            -0.16455187,
            0.18537344,
            -0.07576128,
            1.2869407,
            2.5878808,
        ],
        "gelu output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.8674951,
            0.0589768,
            0.31632844,
            0.4636185,
            0.004677181,
            0.56191087,
            0.01693618,
            -0.6736044,
            -0.4383814,
            0.9176473,
            0.16060334,
            -0.010397134,
            -0.09621098,
            -0.43188882,
            0.05277083,
            -0.08918201,
            -0.21969834,
            -0.011531796,
            2.2577236,
            0.4122618,
        ],
        "gelu input gradient",
    );
}

// Python: layers["gelu_tanh"] = nn.GELU(approximate="tanh")
#[test]
fn gelu_tanh_matches_pytorch() {
    let (y, dx) = run(&mut GELU::tanh(), Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.345714,
            -0.13829723,
            2.275673,
            0.053982753,
            -0.16942987,
            0.26216117,
            -0.0049666646,
            1.5121369,
            1.8454512,
            2.793311,
            -0.11462908,
            -0.14941895,
            -0.03032147,
            0.025996938,
            0.7342285,
            -0.1645848,
            0.18537094,
            -0.0758941,
            1.286708,
            2.588346,
        ],
        "gelu_tanh output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.8673699,
            0.05886307,
            0.3165268,
            0.46361744,
            0.0047285575,
            0.56186116,
            0.01663807,
            -0.6738603,
            -0.43871272,
            0.9175126,
            0.16062273,
            -0.010365947,
            -0.09737842,
            -0.43188867,
            0.05275336,
            -0.08941015,
            -0.21968865,
            -0.011591463,
            2.257844,
            0.41232795,
        ],
        "gelu_tanh input gradient",
    );
}

// Python: layers["softplus"] = nn.Softplus(beta=2.0, threshold=3.0)
#[test]
fn softplus_matches_pytorch() {
    let (y, dx) = run(&mut Softplus { beta: 2.0, threshold: 3.0 }, Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.6566308,
            0.043418072,
            2.3,
            0.39906943,
            0.110208705,
            0.5855503,
            0.0015114902,
            1.6,
            1.9,
            2.8,
            0.21874397,
            0.05254166,
            0.0061012916,
            0.37219834,
            0.97648877,
            0.13164122,
            0.518744,
            0.016414234,
            1.4295164,
            2.6,
        ],
        "softplus output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.7310586,
            -0.041586343,
            0.3,
            0.4398672,
            0.039563224,
            0.48298213,
            -0.0033202574,
            -0.6,
            -0.4,
            0.9,
            0.21260622,
            0.009975049,
            0.01819265,
            -0.41998336,
            0.042907447,
            -0.27777025,
            -0.1936969,
            0.0032295461,
            1.8853517,
            0.4,
        ],
        "softplus input gradient",
    );
}

// Python: layers["silu"] = nn.SiLU()
#[test]
fn silu_matches_pytorch() {
    let (y, dx) = run(&mut SiLU, Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.31122968,
            -0.27777025,
            2.0904171,
            0.05249792,
            -0.23226856,
            0.23947507,
            -0.15124533,
            1.3312294,
            1.6527939,
            2.6394923,
            -0.12766725,
            -0.27471387,
            -0.21945107,
            0.02562487,
            0.63985455,
            -0.21260622,
            0.17233276,
            -0.26259094,
            1.1230574,
            2.42024,
        ],
        "silu output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.7399612,
            -0.009000938,
            0.32980862,
            0.43993345,
            0.035322644,
            0.48635435,
            0.10032416,
            -0.6333843,
            -0.4339736,
            0.9845843,
            0.211332,
            0.004363302,
            -0.14671536,
            -0.41999167,
            0.044794988,
            -0.26048777,
            -0.19433402,
            -0.006756451,
            2.0486856,
            0.43927726,
        ],
        "silu input gradient",
    );
}

// Python: layers["log_softmax"] = nn.LogSoftmax(dim=1)
#[test]
fn log_softmax_matches_pytorch() {
    let (y, dx) = run(&mut LogSoftmax, Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            -2.0671983,
            -3.7671983,
            -0.2671983,
            -2.4671981,
            -2.645405,
            -1.5454051,
            -4.845405,
            -0.3454051,
            -1.2865274,
            -0.38652745,
            -3.4865274,
            -4.2865276,
            -3.6280334,
            -1.3780333,
            -0.5280333,
            -2.0280333,
            -2.6471448,
            -4.647145,
            -1.5471448,
            -0.34714484,
        ],
        "log_softmax output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.7975363,
            -0.53698677,
            -0.924834,
            0.6642845,
            0.25678128,
            0.8705804,
            -1.0937085,
            -0.03365318,
            -0.73147404,
            0.08470548,
            0.56327164,
            0.08349688,
            1.5119557,
            -0.68656677,
            0.31539372,
            -1.1407827,
            -0.45587713,
            0.07890433,
            1.5317193,
            -1.1547465,
        ],
        "log_softmax input gradient",
    );
}

// Python: the LayerNorm section of the script (weight [1.5, -0.5, 0.8, 1.0], bias
// [0.1, 0.2, -0.3, 0.0])
#[test]
fn layer_norm_matches_pytorch_in_both_modes() {
    for mode in [Mode::Train, Mode::Eval] {
        let mut ln = LayerNorm::new(4);
        ln.set_affine(&[1.5, -0.5, 0.8, 1.0], &[0.1, 0.2, -0.3, 0.0]);
        let (y, dx) = run(&mut ln, mode);
        assert_close(
            y.as_slice(),
            &[
                0.18987401,
                0.84908986,
                0.89831966,
                -0.25963593,
                -0.17160672,
                -0.041428216,
                -1.5071411,
                1.207141,
                1.1184331,
                -0.4236916,
                -0.8684278,
                -1.2158039,
                -2.1953614,
                -0.025683027,
                0.6599785,
                -0.121098205,
                -0.23187256,
                0.9427625,
                0.07928298,
                1.2326696,
            ],
            "output",
        );
        assert_close(
            dx.as_slice(),
            &[
                0.6420929,
                -0.37898818,
                -0.34069198,
                0.07758729,
                0.42232618,
                -0.008088727,
                -0.21369891,
                -0.20053855,
                -0.15129478,
                0.071909346,
                0.21679021,
                -0.13740478,
                0.619454,
                0.32923812,
                0.5180652,
                -1.4667573,
                -0.47167262,
                0.06599113,
                0.66756624,
                -0.26188475,
            ],
            "input gradient",
        );
        assert_close(
            ln.weight_grad().as_slice(),
            &[-2.4768674, 1.6000888, 2.6910741, -0.4151881],
            "weight gradient",
        );
        assert_close(ln.bias_grad().as_slice(), &[2.0, 0.39999995, 1.85, -0.50000006], "bias gradient");
    }
}

// Python: the BatchNorm1d section of the script (weight [1.5, -0.5, 0.8, 1.0], bias
// [0.1, 0.2, -0.3, 0.0]; one training step, then evaluation)
#[test]
fn batch_norm_matches_pytorch_in_training_and_evaluation() {
    let mut bn = BatchNorm1d::new(4);
    bn.set_affine(&[1.5, -0.5, 0.8, 1.0], &[0.1, 0.2, -0.3, 0.0]);
    let (y, dx) = run(&mut bn, Mode::Train);
    assert_close(
        y.as_slice(),
        &[
            0.69481534,
            0.6047288,
            0.5986644,
            -0.30393234,
            -0.62699646,
            0.09483424,
            -1.7147291,
            0.7815404,
            2.236929,
            -0.6700075,
            -0.55803233,
            -1.1723106,
            -2.2792614,
            0.20637368,
            -0.02417231,
            -0.8104863,
            0.47451335,
            0.76407087,
            0.19826937,
            1.5051888,
        ],
        "train output",
    );
    assert_close(
        dx.as_slice(),
        &[
            0.8989077,
            0.08085991,
            -0.36613896,
            0.68407047,
            -0.51119304,
            -0.17056653,
            -0.12660682,
            -0.44613326,
            -0.026164286,
            -0.037811633,
            0.19851047,
            0.2711932,
            0.2596535,
            0.27880457,
            -0.24518359,
            -0.7085818,
            -0.6212039,
            -0.15128632,
            0.5394189,
            0.19945137,
        ],
        "train input gradient",
    );
    assert_close(
        bn.weight_grad().as_slice(),
        &[-2.724401, 2.0153582, 3.3516402, 0.74535793],
        "train weight gradient",
    );
    assert_close(bn.bias_grad().as_slice(), &[2.0, 0.39999995, 1.85, -0.50000006], "train bias gradient");
    assert_close(bn.running_mean(), &[-0.004000001, 0.0069999974, 0.027999995, 0.051999997], "running mean");
    assert_close(bn.running_var(), &[1.1318, 1.2077, 1.3042, 1.1387], "running variance");
    let (y, dx) = run(&mut bn, Mode::Eval);
    assert_close(
        y.as_slice(),
        &[
            0.8106161,
            0.7491563,
            1.2915655,
            0.04498158,
            -0.881327,
            0.021194352,
            -2.3511024,
            1.4506558,
            2.7845497,
            -1.0707484,
            -0.5297683,
            -1.0795579,
            -2.9962559,
            0.18043602,
            0.31084734,
            -0.61099976,
            0.5286256,
            0.9766444,
            0.66110384,
            2.3877718,
        ],
        "eval output",
    );
    assert_close(
        dx.as_slice(),
        &[
            1.4099525,
            0.2274881,
            0.21015392,
            0.749693,
            0.2819905,
            -0.31848332,
            -0.7705644,
            -0.56226975,
            -0.563981,
            -0.40947857,
            0.42030784,
            0.09371162,
            2.1149287,
            0.36398095,
            0.035025652,
            -1.1245395,
            -0.4229858,
            -0.04549762,
            1.4010261,
            0.3748465,
        ],
        "eval input gradient",
    );
    assert_close(
        bn.weight_grad().as_slice(),
        &[-3.5549605, 2.9002001, 5.6857142, 0.74594444],
        "eval weight gradient",
    );
    assert_close(bn.bias_grad().as_slice(), &[2.0, 0.39999995, 1.85, -0.50000006], "eval bias gradient");
    assert_close(
        bn.running_mean(),
        &[-0.004000001, 0.0069999974, 0.027999995, 0.051999997],
        "evaluation leaves the running mean",
    );
}

// Python: losses["huber"] = lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=1.0)
#[test]
fn loss_huber_matches_pytorch() {
    let t = Matrix::from_rows(&T);
    let (value, grad) = run_loss(&mut Huber::new(1.0), &P, Targets::Values(&t));
    assert_close(&[value], &[0.23575], "huber value");
    assert_close(
        grad.as_slice(),
        &[
            0.026666667,
            -0.013333336,
            -0.04666667,
            -0.03333333,
            -0.0066666664,
            -0.06666667,
            0.06,
            -0.013333336,
            -0.060000002,
            0.019999998,
            0.030000001,
            -0.040000003,
            0.0066666673,
            0.0,
            0.06666666,
        ],
        "huber gradient",
    );
}

// Python: losses["huber_half"] = lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=0.5)
#[test]
fn loss_huber_half_matches_pytorch() {
    let t = Matrix::from_rows(&T);
    let (value, grad) = run_loss(&mut Huber::new(0.5), &P, Targets::Values(&t));
    assert_close(&[value], &[0.17675], "huber_half value");
    assert_close(
        grad.as_slice(),
        &[
            0.026666667,
            -0.013333336,
            -0.033333335,
            -0.03333333,
            -0.0066666664,
            -0.033333335,
            0.033333335,
            -0.013333336,
            -0.033333335,
            0.019999998,
            0.030000001,
            -0.033333335,
            0.0066666673,
            0.0,
            0.033333335,
        ],
        "huber_half gradient",
    );
}

// Python: losses["huber_sum"] = lambda p: F.huber_loss(p, torch.tensor(T, dtype=torch.float32).double(), delta=1.0, reduction="sum")
#[test]
fn loss_huber_sum_matches_pytorch() {
    let t = Matrix::from_rows(&T);
    let (value, grad) = run_loss(&mut Sum(Huber::new(1.0)), &P, Targets::Values(&t));
    assert_close(&[value], &[3.53625], "huber_sum value");
    assert_close(
        grad.as_slice(),
        &[
            0.4,
            -0.20000005,
            -0.70000005,
            -0.5,
            -0.099999994,
            -1.0,
            0.9,
            -0.20000005,
            -0.90000004,
            0.29999995,
            0.45000002,
            -0.6,
            0.10000001,
            0.0,
            1.0,
        ],
        "huber_sum gradient",
    );
}

// Python: losses["bce"] = lambda p: F.binary_cross_entropy(p, torch.tensor(BT, dtype=torch.float32).double())
#[test]
fn loss_bce_matches_pytorch() {
    let bt = Matrix::from_rows(&BT);
    let (value, grad) = run_loss(&mut BinaryCrossEntropy, &PROB, Targets::Values(&bt));
    assert_close(&[value], &[0.36131895], "bce value");
    assert_close(
        grad.as_slice(),
        &[
            0.083333336,
            -0.0952381,
            -0.074074075,
            -0.13333334,
            0.074074075,
            -0.043956045,
            -0.07017544,
            -0.111111104,
            0.07017544,
            0.0952381,
            -0.083333336,
            0.12121212,
            -0.05228758,
            0.14814815,
            -0.06734007,
        ],
        "bce gradient",
    );
}

// Python: losses["bce_logits"] = lambda p: F.binary_cross_entropy_with_logits(p, torch.tensor(BT, dtype=torch.float32).double())
#[test]
fn loss_bce_logits_matches_pytorch() {
    let bt = Matrix::from_rows(&BT);
    let (value, grad) = run_loss(&mut BinaryCrossEntropyWithLogits, &P, Targets::Values(&bt));
    assert_close(&[value], &[0.66584665], "bce_logits value");
    assert_close(
        grad.as_slice(),
        &[
            0.04149729,
            -0.051234987,
            -0.0060748644,
            -0.04454585,
            0.03991251,
            -0.02985643,
            -0.008673899,
            -0.0038216119,
            0.0283705,
            0.0066500325,
            -0.032500174,
            0.047396634,
            0.021629501,
            0.010297684,
            -0.013187741,
        ],
        "bce_logits gradient",
    );
}

// Python: losses["nll"] = lambda p: F.nll_loss(p, torch.tensor(C))
#[test]
fn loss_nll_matches_pytorch() {
    let (value, grad) = run_loss(&mut NllLoss, &LOG_P, Targets::Classes(&CLASSES));
    assert_close(&[value], &[0.88], "nll value");
    assert_close(
        grad.as_slice(),
        &[0.0, 0.0, -0.2, -0.2, 0.0, 0.0, 0.0, -0.2, 0.0, 0.0, 0.0, -0.2, 0.0, -0.2, 0.0],
        "nll gradient",
    );
}

// Python: losses["hinge"] = lambda p: F.multi_margin_loss(p, torch.tensor(C), margin=1.0)
#[test]
fn loss_hinge_matches_pytorch() {
    let (value, grad) = run_loss(&mut Hinge::new(1.0), &P, Targets::Classes(&CLASSES));
    assert_close(&[value], &[0.63], "hinge value");
    assert_close(
        grad.as_slice(),
        &[
            0.0,
            0.0,
            0.0,
            -0.06666667,
            0.06666667,
            0.0,
            0.06666667,
            -0.06666667,
            0.0,
            0.0,
            0.06666667,
            -0.06666667,
            0.06666667,
            -0.13333334,
            0.06666667,
        ],
        "hinge gradient",
    );
}

// Python: losses["hinge_margin"] = lambda p: F.multi_margin_loss(p, torch.tensor(C), margin=2.5)
#[test]
fn loss_hinge_margin_matches_pytorch() {
    let (value, grad) = run_loss(&mut Hinge::new(2.5), &P, Targets::Classes(&CLASSES));
    assert_close(&[value], &[1.1966667], "hinge_margin value");
    assert_close(
        grad.as_slice(),
        &[
            0.06666667,
            0.0,
            -0.06666667,
            -0.13333334,
            0.06666667,
            0.06666667,
            0.06666667,
            -0.06666667,
            0.0,
            0.0,
            0.06666667,
            -0.06666667,
            0.06666667,
            -0.13333334,
            0.06666667,
        ],
        "hinge_margin gradient",
    );
}

// Python: losses["ce_smoothing"] = lambda p: F.cross_entropy(p, torch.tensor(C), label_smoothing=0.1)
#[test]
fn loss_ce_smoothing_matches_pytorch() {
    let (value, grad) =
        run_loss(&mut SoftmaxCrossEntropy::new().label_smoothing(0.1), &P, Targets::Classes(&CLASSES));
    assert_close(&[value], &[1.2163436], "ce_smoothing value");
    assert_close(
        grad.as_slice(),
        &[
            0.020986937,
            -0.0016148093,
            -0.019372126,
            -0.13806362,
            0.13934493,
            -0.0012812972,
            0.049349368,
            -0.048889454,
            -0.000459913,
            -0.00054778066,
            0.05138771,
            -0.05083993,
            0.041648332,
            -0.18012795,
            0.1384796,
        ],
        "ce_smoothing gradient",
    );
}

// Python: losses["ce_weights"] = lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double())
#[test]
fn loss_ce_weights_matches_pytorch() {
    let (value, grad) = run_loss(
        &mut SoftmaxCrossEntropy::new().class_weights(vec![1.0, 2.0, 0.5]),
        &P,
        Targets::Classes(&CLASSES),
    );
    assert_close(&[value], &[1.547315], "ce_weights value");
    assert_close(
        grad.as_slice(),
        &[
            0.011522334,
            0.0021049406,
            -0.013627275,
            -0.12616414,
            0.121676326,
            0.004487808,
            0.09336006,
            -0.103704646,
            0.010344589,
            0.0025495358,
            0.024189323,
            -0.02673886,
            0.080525,
            -0.32243547,
            0.24191046,
        ],
        "ce_weights gradient",
    );
}

// Python: losses["ce_weights_smoothing"] = lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double(), label_smoothing=0.2)
#[test]
fn loss_ce_weights_smoothing_matches_pytorch() {
    let (value, grad) = run_loss(
        &mut SoftmaxCrossEntropy::new().class_weights(vec![1.0, 2.0, 0.5]).label_smoothing(0.2),
        &P,
        Targets::Classes(&CLASSES),
    );
    assert_close(&[value], &[1.5890392], "ce_weights_smoothing value");
    assert_close(
        grad.as_slice(),
        &[
            0.0034838459,
            -0.019555964,
            0.016072119,
            -0.10259183,
            0.103509985,
            -0.0009181541,
            0.07446894,
            -0.078395925,
            0.003926985,
            -0.007881699,
            0.008417588,
            -0.00053588883,
            0.062703475,
            -0.27889916,
            0.2161957,
        ],
        "ce_weights_smoothing gradient",
    );
}

// Python: losses["ce_weights_smoothing_sum"] = lambda p: F.cross_entropy(p, torch.tensor(C), weight=cw.double(), label_smoothing=0.2, reduction="sum")
#[test]
fn loss_ce_weights_smoothing_sum_matches_pytorch() {
    let (value, grad) = run_loss(
        &mut Sum(SoftmaxCrossEntropy::new().class_weights(vec![1.0, 2.0, 0.5]).label_smoothing(0.2)),
        &P,
        Targets::Classes(&CLASSES),
    );
    assert_close(&[value], &[9.534235], "ce_weights_smoothing_sum value");
    assert_close(
        grad.as_slice(),
        &[
            0.020903075,
            -0.11733578,
            0.09643271,
            -0.615551,
            0.6210599,
            -0.0055089244,
            0.44681364,
            -0.47037557,
            0.023561908,
            -0.047290195,
            0.050505526,
            -0.0032153327,
            0.37622082,
            -1.673395,
            1.2971742,
        ],
        "ce_weights_smoothing_sum gradient",
    );
}

// Python: losses["mse_sum"] = lambda p: F.mse_loss(p, torch.tensor(T, dtype=torch.float32).double(), reduction="sum")
#[test]
fn loss_mse_sum_matches_pytorch() {
    let t = Matrix::from_rows(&T);
    let (value, grad) = run_loss(&mut Sum(Mse), &P, Targets::Values(&t));
    assert_close(&[value], &[7.8825006], "mse_sum value");
    assert_close(
        grad.as_slice(),
        &[
            0.8,
            -0.4000001,
            -1.4000001,
            -1.0,
            -0.19999999,
            -3.8000002,
            1.8,
            -0.4000001,
            -1.8000001,
            0.5999999,
            0.90000004,
            -1.2,
            0.20000002,
            0.0,
            2.0,
        ],
        "mse_sum gradient",
    );
}
