//! `exp`, `e^x − 1`, `tanh`, the logistic sigmoid, softplus, the normal distribution and GELU in `f32` without
//! branches or library calls, so that loops over a batch vectorize (the C library's `tanhf`
//! and `expf` are one call per value: a tanh network trained at half the speed of a ReLU one,
//! and GELU, computed through `f64` `erf`, at 0.6 times its speed).
//!
//! Accuracy against `f64`, over every 97th `f32` of the useful range: `exp` and `tanh` within
//! 1 unit in the last place, the sigmoid and `e^x − 1` within 2, softplus within 3, GELU's tanh form within 4, the normal
//! distribution function and the exact GELU within 7 (the tests below allow one more). NaN
//! stays NaN; infinities and overflow saturate as the exact functions do.

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two (Cody and Waite): the high part has few bits, so `n · LN2_HI` is exact
/// for the `n` that occur, and the low part carries the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding then subtracting 1.5 · 2²³ rounds an `f32` of magnitude below 2²² to an integer (in
/// the default rounding mode), and leaves that integer in the low bits of the sum.
const ROUND: f32 = 12_582_912.0;
/// Inputs are clamped to `[EXP_MIN, EXP_MAX]`: above, `e^x` would overflow the exponent
/// trick (the result is then `e^88`, 1.65e38; callers here saturate long before); below,
/// the result is at most the smallest normal number.
const EXP_MAX: f32 = 88.0;
const EXP_MIN: f32 = -87.33;

/// `e^x`: `x = n ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by its Taylor polynomial of degree 7
/// (remainder below 6e-9 there), times `2^n` built from its exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let clamped = x.clamp(EXP_MIN, EXP_MAX);
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let p = ((((((1.0 / 5040.0 * r + 1.0 / 720.0) * r + 1.0 / 120.0) * r + 1.0 / 24.0) * r + 1.0 / 6.0) * r
        + 0.5)
        * r
        + 1.0)
        * r
        + 1.0;
    // `shifted`'s low bits hold n + 2²² (its exponent is that of 1.5 · 2²³).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let value = p * scale;
    if x.is_nan() { x } else { value }
}

/// `tanh x`: its Taylor series up to `x¹⁹` for `|x| < 0.55`, else `1 − 2 / (e^{2|x|} + 1)`
/// with the sign of `x`. Both are computed and one is picked, without a branch.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let x2 = x * x;
    // Coefficients of x³, x⁵, …, x¹⁹ (the tangent numbers over their factorials).
    let poly = ((((((((-443_861_162.0 / 1_856_156_927_625.0 * x2 + 6_404_582.0 / 10_854_718_875.0)
        * x2
        - 929_569.0 / 638_512_875.0)
        * x2
        + 21_844.0 / 6_081_075.0)
        * x2
        - 1_382.0 / 155_925.0)
        * x2
        + 62.0 / 2_835.0)
        * x2
        - 17.0 / 315.0)
        * x2
        + 2.0 / 15.0)
        * x2
        - 1.0 / 3.0)
        * x2;
    // `copysign`: for −0, `x + x · poly` would give +0.
    let small = (x + x * poly).copysign(x);
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.55 { small } else { large }
}

/// The logistic sigmoid `1 / (1 + e^(−x))`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Below this magnitude [`exp_m1`] sums its Taylor series: `e^x − 1` from `exp` would lose
/// leading bits to cancellation (4 units in the last place at 0.4).
const EXP_M1_SERIES: f32 = 0.7;

/// `e^x − 1`, accurate near 0: the Taylor series to `x⁹` for `|x| < 0.7` (remainder below
/// 8e-9 of the result), else `exp(x) − 1`. Both are computed and one is picked. Below −87.3,
/// −1.
#[inline(always)]
pub fn exp_m1(x: f32) -> f32 {
    // x + x² (1/2! + x/3! + … + x⁷/9!), by Horner's rule from the highest power.
    let mut tail = 1.0 / 362_880.0;
    for c in [1.0 / 40_320.0, 1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5] {
        tail = tail * x + c;
    }
    let series = tail * x * x + x;
    let direct = exp(x) - 1.0;
    if x.abs() < EXP_M1_SERIES { series } else { direct }
}

/// `ln 2`.
const LN_2: f32 = std::f32::consts::LN_2;
/// `√2 − 1`: [`ln_1p_unit`] halves `1 + v` above it.
const SQRT_2_MINUS_1: f32 = 0.414_213_57;

/// `ln(1 + v)` for `v` in `[0, 1]`: `2 atanh(s)` with `s = v / (2 + v)`, or, above `√2 − 1`,
/// `ln 2 + 2 atanh(s)` with `s = (v − 1) / (v + 3)` (the same for `(1 + v) / 2`, written in
/// `v` so that nothing is lost forming `1 + v`); `|s| ≤ 0.172`, and the odd series of atanh to
/// `s¹¹` leaves a remainder below 6e-10 of the result.
#[inline(always)]
fn ln_1p_unit(v: f32) -> f32 {
    let halved = v > SQRT_2_MINUS_1;
    let s = if halved { (v - 1.0) / (v + 3.0) } else { v / (2.0 + v) };
    let s2 = s * s;
    let series =
        (((((1.0 / 11.0 * s2 + 1.0 / 9.0) * s2 + 1.0 / 7.0) * s2 + 1.0 / 5.0) * s2 + 1.0 / 3.0) * s2) * s + s;
    let atanh2 = series + series;
    if halved { LN_2 + atanh2 } else { atanh2 }
}

/// `ln(1 + e^x)` (softplus), as `max(x, 0) + ln(1 + e^−|x|)`: no overflow for large `x`, and
/// `e^x` to its last bits for very negative `x` (down to −87.3, below which the result stays
/// at the smallest normal number, as [`exp`]'s does).
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let value = x.max(0.0) + ln_1p_unit(exp(-x.abs()));
    if x.is_nan() { x } else { value }
}

/// `1 / √2`.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `2 / √π`, the slope of erf at 0 (the fit below found it to every bit of an `f32`).
const FRAC_2_SQRT_PI: f32 = std::f32::consts::FRAC_2_SQRT_PI;
/// `1 / √(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
/// Beyond this `|x|`, `Φ(x)` is taken as 0 or 1 and `φ(x)` as 0: `Φ(−13)` is 6e-39, below
/// the smallest normal `f32`.
const CDF_SATURATED: f32 = 13.0;
/// Where the two forms of the error function meet: `erf(t) = t · P(t²)` below, the scaled
/// complement `e^{t²} erfc(t)` as a polynomial in `1 / (1 + 0.4 t)` above.
const ERF_SPLIT: f32 = 0.6;
/// `erf(t) / t` as a polynomial in `t²` on `[0, 0.6]`, lowest degree first; relative error
/// 1.1e-10 before rounding to `f32`. Fitted by least squares reweighted toward the largest
/// relative error (toward minimax), against `scipy.special.erf`:
/// `t = linspace(1e-6, 0.6, 20000); fit(erf(t) / t, basis t², degree 5)`.
const ERF_SMALL: [f32; 6] =
    [FRAC_2_SQRT_PI, -0.376_126_38, 0.112_837_18, -0.026_857_397, 0.005_176_516_7, -0.000_734_687_5];
/// `erfcx(t) = e^{t²} erfc(t)` as a polynomial in `s = 1 / (1 + 0.4 t)` on `[0.6, 9.6]`,
/// lowest degree first; relative error 1.5e-9 before rounding to `f32`, 3.6e-7 evaluated in
/// `f32`. Fitted as `ERF_SMALL`, against `scipy.special.erfcx`:
/// `u = linspace(0.6, 9.6, 20000); fit(erfcx(u), basis 1 / (1 + 0.4 u), degree 9)`.
const ERFCX: [f32; 10] = [
    2.247_128_1e-6,
    0.225_631_49,
    0.225_999_34,
    0.206_864_88,
    0.168_040_51,
    0.153_037_95,
    -0.039_439_343,
    0.215_981_23,
    -0.215_429_87,
    0.059_325_647,
];

/// `c[0] + c[1] x + c[2] x² + …` by Horner's rule.
#[inline(always)]
fn polynomial<const N: usize>(c: &[f32; N], x: f32) -> f32 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// `e^{−v}` for `v = hi + lo` given in `f64` (`v ≥ 0`): the `f32` exponential of the rounded
/// `hi`, corrected by `e^{−lo} ≈ 1 − lo` for the part rounding dropped. Rounding `v` to
/// `f32` first would cost `v · 2⁻²⁴` of relative accuracy: 5 units in the last place at
/// `v = 80`.
#[inline(always)]
fn exp_neg_f64(v: f64) -> f32 {
    let hi = v as f32;
    let lo = (v - hi as f64) as f32;
    exp(-hi) * (1.0 - lo)
}

/// `(Φ(x), φ(x))`: the standard normal distribution function `Φ(x) = ½ (1 + erf(x / √2))`
/// and its density `φ(x) = e^{−x²/2} / √(2π)`.
///
/// `Φ` keeps its relative accuracy in the lower tail (`Φ(−10)` is 7.6e-24, not 0), where a
/// computation as `½ (1 + erf)` would cancel: there it is `½ erfc(|x| / √2)`, from the
/// density's exponential and a polynomial for the scaled complement `e^{t²} erfc(t)`.
#[inline(always)]
pub fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let a = x.abs();
    // x² in f64 is exact (24-bit significands).
    let a64 = a as f64;
    let gauss = exp_neg_f64(0.5 * a64 * a64);
    let pdf = FRAC_1_SQRT_2PI * gauss;
    let t = a * FRAC_1_SQRT_2;
    let half_erf = 0.5 * t * polynomial(&ERF_SMALL, t * t);
    // ½ erfc(t) = ½ e^{−t²} erfcx(t), and e^{−t²} = e^{−x²/2}.
    let half_erfc = 0.5 * gauss * polynomial(&ERFCX, 1.0 / (1.0 + 0.4 * t));
    let (lower, upper) =
        if t < ERF_SPLIT { (0.5 - half_erf, 0.5 + half_erf) } else { (half_erfc, 1.0 - half_erfc) };
    let cdf = if x < 0.0 { lower } else { upper };
    let (cdf, pdf) = if a > CDF_SATURATED { (if x < 0.0 { 0.0 } else { 1.0 }, 0.0) } else { (cdf, pdf) };
    if x.is_nan() { (x, x) } else { (cdf, pdf) }
}

/// GELU (exact form) and its derivative: `(x Φ(x), Φ(x) + x φ(x))`.
#[inline(always)]
pub fn gelu(x: f32) -> (f32, f32) {
    let (cdf, pdf) = normal_cdf_pdf(x);
    if x.abs() > CDF_SATURATED {
        // The limits, also at ±∞ (where x · 0 would be NaN).
        if x < 0.0 { (0.0, 0.0) } else { (x, 1.0) }
    } else {
        (x * cdf, cdf + x * pdf)
    }
}

/// `√(2/π)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic term of the tanh form.
const TANH_CUBIC: f64 = 0.044_715;

/// GELU's tanh form and its derivative: `y = ½ x (1 + tanh z)` with `z = √(2/π) (x + 0.044715
/// x³)`, computed as `y = x σ(2z)` (the same function: `1 + tanh z = 2 σ(2z)`), which does
/// not cancel for negative `x`; `dy/dx = σ + x σ (1 − σ) · 2 dz/dx`. `2z` is formed in `f64`
/// (see `exp_neg_f64`).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> (f32, f32) {
    let x64 = x as f64;
    let two_z = 2.0 * SQRT_2_OVER_PI * (x64 + TANH_CUBIC * x64 * x64 * x64);
    // σ(2z) and 1 − σ(2z) are 1 / (1 + e) and e / (1 + e) with e = e^{−|2z|} ≤ 1, in the
    // order the sign of z gives: each keeps its relative accuracy in its tail (1 − σ taken
    // by subtraction would not).
    let e = exp_neg_f64(two_z.abs());
    let (near_one, tail) = (1.0 / (1.0 + e), e / (1.0 + e));
    let (sigma, one_minus_sigma) = if two_z >= 0.0 { (near_one, tail) } else { (tail, near_one) };
    let slope = (2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * x64 * x64)) as f32;
    let dy = sigma + x * sigma * one_minus_sigma * slope;
    // Beyond 10, σ(2z) is below the smallest normal f32 (or 1 within rounding).
    let (y, dy) = if x.abs() > 10.0 { if x < 0.0 { (0.0, 0.0) } else { (x, 1.0) } } else { (x * sigma, dy) };
    if x.is_nan() { (x, x) } else { (y, dy) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f32`s in order as integers: consecutive values have consecutive keys.
    fn key(v: f32) -> i64 {
        let b = v.to_bits() as i64;
        if b < 0x8000_0000 { b } else { 0x8000_0000 - b }
    }

    fn from_key(k: i64) -> f32 {
        f32::from_bits(if k >= 0 { k as u32 } else { (0x8000_0000 - k) as u32 })
    }

    /// Distance in units in the last place between `got` and the exactly rounded `want`.
    fn ulps(got: f32, want: f64) -> u32 {
        (key(got) - key(want as f32)).unsigned_abs() as u32
    }

    /// Every 97th `f32` in `[lo, hi]` (about a million values for a span of a few units).
    fn sweep(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        (key(lo)..=key(hi)).step_by(97).map(from_key)
    }

    fn worst(f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64, lo: f32, hi: f32) -> (u32, f32) {
        sweep(lo, hi).map(|x| (ulps(f(x), exact(x as f64)), x)).max_by_key(|&(u, _)| u).unwrap()
    }

    #[test]
    fn exp_is_within_2_ulps() {
        for (lo, hi) in [(-87.0, -20.0), (-20.0, -1.0), (-1.0, 1.0), (1.0, 20.0), (20.0, 88.0)] {
            let (u, x) = worst(exp, f64::exp, lo, hi);
            assert!(u <= 2, "exp({x}) is {u} ulps off");
        }
    }

    #[test]
    fn tanh_is_within_2_ulps_and_sigmoid_within_3() {
        for (lo, hi) in [(-12.0, -1.0), (-1.0, -0.01), (-0.01, 0.01), (0.01, 1.0), (1.0, 12.0)] {
            let (u, x) = worst(tanh, f64::tanh, lo, hi);
            assert!(u <= 2, "tanh({x}) is {u} ulps off");
        }
        let exact_sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        for (lo, hi) in [(-80.0, -10.0), (-10.0, -1.0), (-1.0, 1.0), (1.0, 10.0), (10.0, 20.0)] {
            let (u, x) = worst(sigmoid, exact_sigmoid, lo, hi);
            assert!(u <= 3, "sigmoid({x}) is {u} ulps off");
        }
    }

    /// `Φ(x)` in `f64`, from the complementary error function in the lower tail.
    fn exact_cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
    }

    fn exact_pdf(x: f64) -> f64 {
        (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }

    /// The largest error of `f` against the sum of the two `f64` terms `terms(x)`, and where,
    /// in units of `2⁻²³ ·` the sum of the terms' magnitudes: the rounding of each term
    /// counts at its size, however much the sum cancels (GELU's derivative crosses 0 near
    /// x = −0.75).
    fn worst_of_sum(
        f: impl Fn(f32) -> f32,
        terms: impl Fn(f64) -> (f64, f64),
        lo: f32,
        hi: f32,
    ) -> (f64, f32) {
        sweep(lo, hi)
            .map(|x| {
                let (a, b) = terms(x as f64);
                ((f(x) as f64 - (a + b)).abs() / ((a.abs() + b.abs()) * f32::EPSILON as f64), x)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
    }

    #[test]
    fn normal_cdf_and_gelu_are_within_8_ulps() {
        for (lo, hi) in [(-12.9, -5.0), (-5.0, -0.85), (-0.85, 0.85), (0.85, 5.0), (5.0, 12.9)] {
            let (u, x) = worst(|x| normal_cdf_pdf(x).0, exact_cdf, lo, hi);
            assert!(u <= 8, "Φ({x}) is {u} ulps off");
            let (u, x) = worst(|x| normal_cdf_pdf(x).1, exact_pdf, lo, hi);
            assert!(u <= 4, "φ({x}) is {u} ulps off");
            let (u, x) = worst(|x| gelu(x).0, |x| x * exact_cdf(x), lo, hi);
            assert!(u <= 8, "gelu({x}) is {u} ulps off");
            let (e, x) = worst_of_sum(|x| gelu(x).1, |x| (exact_cdf(x), x * exact_pdf(x)), lo, hi);
            assert!(e <= 4.0, "gelu'({x}) is {e} units off");
        }
    }

    #[test]
    fn gelu_tanh_is_within_5_ulps() {
        // ½ (1 + tanh z) as 1 / (1 + e^{−2z}): in f64 too, 1 + tanh z cancels to 0 for
        // z < −19. Returns y, then the derivative's two terms.
        let exact = |x: f64| {
            let z = 0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x);
            let sigma = 1.0 / (1.0 + (-2.0 * z).exp());
            let slope = 2.0 * 0.797_884_560_802_865_4 * (1.0 + 3.0 * 0.044715 * x * x);
            (x * sigma, sigma, x * sigma * (1.0 - sigma) * slope)
        };
        // Below −9.6, y is below 1e-35: compared in the next test.
        for (lo, hi) in [(-9.6, -3.0), (-3.0, -0.5), (-0.5, 0.5), (0.5, 3.0), (3.0, 10.0)] {
            let (u, x) = worst(|x| gelu_tanh(x).0, |x| exact(x).0, lo, hi);
            assert!(u <= 5, "gelu_tanh({x}) is {u} ulps off");
            let (e, x) = worst_of_sum(|x| gelu_tanh(x).1, |x| (exact(x).1, exact(x).2), lo, hi);
            assert!(e <= 4.0, "gelu_tanh'({x}) is {e} units off");
        }
    }

    #[test]
    fn gelu_special_values() {
        for f in [gelu, gelu_tanh] {
            assert!(f(f32::NAN).0.is_nan() && f(f32::NAN).1.is_nan());
            assert_eq!(f(0.0), (0.0, 0.5));
            assert_eq!(f(f32::INFINITY), (f32::INFINITY, 1.0));
            assert_eq!(f(f32::NEG_INFINITY).1, 0.0);
            assert_eq!(f(1e30), (1e30, 1.0));
            let (y, dy) = f(-30.0);
            assert!(y.abs() < 1e-35 && dy.abs() < 1e-35, "{y} {dy}");
        }
        // Below −9.6 the tanh form is below 1e-35 (the sweep stops there).
        let (y, dy) = gelu_tanh(-9.9);
        assert!(y.abs() < 1e-35 && dy.abs() < 1e-33, "{y} {dy}");
        assert_eq!(normal_cdf_pdf(f32::NEG_INFINITY), (0.0, 0.0));
        assert_eq!(normal_cdf_pdf(-20.0), (0.0, 0.0));
        // The lower tail keeps its relative accuracy: Φ(−10) = 7.619853e-24.
        assert!((normal_cdf_pdf(-10.0).0 / 7.619_853e-24 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn exp_m1_is_within_3_ulps_and_softplus_within_4() {
        for (lo, hi) in [(-87.0, -5.0), (-5.0, -0.7), (-0.7, -1e-6), (1e-6, 0.7), (0.7, 5.0), (5.0, 88.0)] {
            let (u, x) = worst(exp_m1, f64::exp_m1, lo, hi);
            assert!(u <= 3, "exp_m1({x}) is {u} ulps off");
        }
        let exact_softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        // Below −87, e^x (and softplus) are below the smallest normal number.
        for (lo, hi) in [(-87.0, -10.0), (-10.0, -0.5), (-0.5, 0.5), (0.5, 10.0), (10.0, 1e6)] {
            let (u, x) = worst(softplus, exact_softplus, lo, hi);
            assert!(u <= 4, "softplus({x}) is {u} ulps off");
        }
    }

    #[test]
    fn exp_m1_and_softplus_special_values() {
        assert!(exp_m1(f32::NAN).is_nan() && softplus(f32::NAN).is_nan());
        assert_eq!((exp_m1(0.0), exp_m1(f32::NEG_INFINITY), exp_m1(-100.0)), (0.0, -1.0, -1.0));
        assert_eq!((exp_m1(1e-10), exp_m1(-1e-30)), (1e-10, -1e-30));
        assert_eq!(
            (softplus(0.0), softplus(1e30), softplus(f32::INFINITY)),
            (std::f32::consts::LN_2, 1e30, f32::INFINITY)
        );
        // Below −87.3, e^x stops at the smallest normal number (as `exp` does).
        assert!(softplus(f32::NEG_INFINITY) >= 0.0 && softplus(-100.0) <= f32::MIN_POSITIVE * 1.01);
    }

    #[test]
    fn special_values() {
        assert!(exp(f32::NAN).is_nan() && tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), exp(-87.33));
        assert!(exp(-87.33) <= f32::MIN_POSITIVE * 1.01);
        assert!(exp(1000.0) > 1e38 && exp(1000.0).is_finite());
        assert_eq!((tanh(0.0).to_bits(), tanh(-0.0).to_bits()), (0.0f32.to_bits(), (-0.0f32).to_bits()));
        assert_eq!(
            (tanh(30.0), tanh(-30.0), tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)),
            (1.0, -1.0, 1.0, -1.0)
        );
        assert_eq!((sigmoid(0.0), sigmoid(100.0), sigmoid(f32::INFINITY)), (0.5, 1.0, 1.0));
        assert!(sigmoid(-100.0) < 1e-38 && sigmoid(-100.0) >= 0.0 && sigmoid(f32::NEG_INFINITY) >= 0.0);
        // Tiny inputs: tanh x = x and sigmoid x = 1/2 + x/4 to the last bit.
        assert_eq!(tanh(1e-20), 1e-20);
        assert_eq!(sigmoid(1e-9), 0.5);
    }
}
