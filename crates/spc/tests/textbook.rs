//! Limits and capability against textbook examples (Montgomery, *Introduction to Statistical
//! Quality Control*): the piston-ring X̄-R chart (Table 6.3) and the orange-juice-can p chart
//! (Example 7.1), and hand-computed I-MR, c and u charts.
#![allow(clippy::unwrap_used)]

mod common;

use common::{attr, definition, var};
use mom_spc::{capability, Baseline, Chart, ChartDefinition, ChartKind, Input, Subgrouping};

/// Inside diameters of forged piston rings, 25 samples of 5 (Montgomery Table 6.3).
const PISTON_RINGS: [f64; 125] = [
    74.030, 74.002, 74.019, 73.992, 74.008, 73.995, 73.992, 74.001, 74.011, 74.004, 73.998, 74.024,
    74.021, 74.005, 74.002, 74.002, 73.996, 73.993, 74.015, 74.009, 73.992, 74.007, 74.015, 73.989,
    74.014, 74.009, 73.994, 73.997, 73.985, 73.993, 73.995, 74.006, 73.994, 74.000, 74.005, 73.985,
    74.003, 73.993, 74.015, 73.988, 74.008, 73.995, 74.009, 74.005, 74.004, 73.998, 74.000, 73.990,
    74.007, 73.995, 73.994, 73.998, 73.994, 73.995, 73.990, 74.004, 74.000, 74.007, 74.000, 73.996,
    73.983, 74.002, 73.998, 73.997, 74.012, 74.006, 73.967, 73.994, 74.000, 73.984, 74.012, 74.014,
    73.998, 73.999, 74.007, 74.000, 73.984, 74.005, 73.998, 73.996, 73.994, 74.012, 73.986, 74.005,
    74.007, 74.006, 74.010, 74.018, 74.003, 74.000, 73.984, 74.002, 74.003, 74.005, 73.997, 74.000,
    74.010, 74.013, 74.020, 74.003, 73.982, 74.001, 74.015, 74.005, 73.996, 74.004, 73.999, 73.990,
    74.006, 74.009, 74.010, 73.989, 73.990, 74.009, 74.014, 74.015, 74.008, 73.993, 74.000, 74.010,
    73.982, 73.984, 73.995, 74.017, 74.013,
];

fn chart(def: ChartDefinition, inputs: Vec<Input>) -> Chart {
    let mut c = Chart::new("T");
    c.apply(Input::Defined {
        seq: 1,
        definition: def,
    })
    .unwrap();
    for i in inputs {
        c.apply(i).unwrap();
    }
    c
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn piston_ring_xbar_r_limits_match_montgomery() {
    let mut def = definition(
        ChartKind::XbarR,
        Subgrouping::Size(5),
        Baseline::Subgroups(25),
    );
    def.spec_lower = Some(73.95);
    def.spec_upper = Some(74.05);
    let c = chart(
        def,
        PISTON_RINGS
            .iter()
            .enumerate()
            .map(|(i, v)| var(i as i64, *v))
            .collect(),
    );
    assert_eq!(c.points().len(), 25);
    let l = c.points()[0].limits.unwrap();
    let r = c.points()[0].dispersion_limits.unwrap();
    // Hand-computed: X̄̄ = 74.001256, R̄ = 0.02284, A2 = 0.577, D4 = 2.114.
    assert!(close(l.center, 74.001256, 1e-9));
    assert!(close(r.center, 0.02284, 1e-9));
    assert!(close(
        l.upper,
        74.001256 + 3.0 / (2.326 * 5f64.sqrt()) * 0.02284,
        1e-9
    ));
    // Montgomery's rounded figures: UCL 74.014, LCL 73.988, R chart 0 .. 0.049 (from R̄ = 0.023).
    assert!(close(l.upper, 74.014, 5e-4));
    assert!(close(l.lower, 73.988, 5e-4));
    assert_eq!(r.lower, 0.0);
    assert!(close(r.upper, 2.114 * 0.02284, 2e-5));
    assert_eq!(c.violations().count(), 0, "the phase I data are in control");
    // Capability (Montgomery §8.3): σ̂ = R̄/d2 = 0.0098, Cp ≈ 1.68 with σ̂ rounded to 0.0099.
    let cap = capability(&c).unwrap();
    assert_eq!(cap.count, 125);
    let sigma = 0.02284 / 2.326;
    assert!(close(cap.sigma_within.unwrap(), sigma, 1e-9));
    assert!(close(cap.cp.unwrap(), 0.1 / (6.0 * sigma), 1e-9));
    assert!(close(cap.cp.unwrap(), 1.68, 0.02));
    let mean = 74.001256;
    assert!(close(cap.mean.unwrap(), mean, 1e-9));
    assert!(close(
        cap.cpk.unwrap(),
        (74.05 - mean) / (3.0 * sigma),
        1e-9
    ));
    assert!(close(cap.sigma_overall.unwrap(), 0.010133706, 1e-8));
    assert!(close(cap.pp.unwrap(), 0.1 / (6.0 * 0.010133706), 1e-6));
}

#[test]
fn orange_juice_p_chart_matches_montgomery() {
    let d = [
        12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24, 15, 9,
        12, 7, 13, 9, 6,
    ];
    let c = chart(
        definition(ChartKind::P, Subgrouping::Size(1), Baseline::Subgroups(30)),
        d.iter()
            .enumerate()
            .map(|(i, x)| attr(i as i64, 50, *x))
            .collect(),
    );
    let l = c.points()[0].limits.unwrap();
    assert!(close(l.center, 0.2313, 1e-4));
    assert!(close(l.upper, 0.4102, 1e-4));
    assert!(close(l.lower, 0.0524, 1e-4));
    // Samples 15 and 23 are beyond the upper limit (Montgomery's out-of-control points).
    let beyond: Vec<usize> = c
        .violations()
        .filter(|v| v.rule.0 == 1)
        .map(|v| v.last_index + 1)
        .collect();
    assert_eq!(beyond, vec![15, 23]);
    assert!(
        capability(&c).is_none(),
        "no capability for attribute charts"
    );
}

#[test]
fn individuals_and_moving_range_by_hand() {
    let y = [2.0, 4.0, 6.0, 4.0, 2.0, 4.0, 6.0, 4.0];
    let mut def = definition(ChartKind::IMr, Subgrouping::Size(1), Baseline::Subgroups(8));
    def.spec_upper = Some(10.0);
    let c = chart(
        def,
        y.iter()
            .enumerate()
            .map(|(i, v)| var(i as i64, *v))
            .collect(),
    );
    let l = c.points()[0].limits.unwrap();
    // CL 4, MR̄ 2, σ = 2/1.128 = 1.7730, limits 4 ± 5.3191.
    assert!(close(l.center, 4.0, 1e-12));
    assert!(close(l.upper, 4.0 + 3.0 * 2.0 / 1.128, 1e-12));
    assert!(close(l.lower, 4.0 - 3.0 * 2.0 / 1.128, 1e-12));
    assert!(c.points()[0].dispersion.is_none());
    let mr = c.points()[1].dispersion_limits.unwrap();
    assert!(close(mr.center, 2.0, 1e-12));
    assert!(close(mr.upper, 2.0 * (1.0 + 3.0 * 0.853 / 1.128), 1e-12));
    let cap = capability(&c).unwrap();
    assert!(cap.cp.is_none(), "one-sided: no Cp");
    assert!(close(cap.cpk.unwrap(), 6.0 / (3.0 * 2.0 / 1.128), 1e-12));
    assert!(cap.pp.is_none());
    assert!(cap.ppk.is_some());
}

#[test]
fn c_and_u_charts_by_hand() {
    let c = chart(
        definition(ChartKind::C, Subgrouping::Size(1), Baseline::Subgroups(4)),
        [(10, 4), (10, 9), (10, 1), (10, 6)]
            .iter()
            .enumerate()
            .map(|(i, (n, x))| attr(i as i64, *n, *x))
            .collect(),
    );
    let l = c.points()[0].limits.unwrap();
    assert!(close(l.center, 5.0, 1e-12));
    assert!(close(l.upper, 5.0 + 3.0 * 5f64.sqrt(), 1e-12));
    assert_eq!(l.lower, 0.0);
    let u = chart(
        definition(ChartKind::U, Subgrouping::Size(1), Baseline::Subgroups(3)),
        [(100, 2), (150, 3), (50, 1)]
            .iter()
            .enumerate()
            .map(|(i, (n, x))| attr(i as i64, *n, *x))
            .collect(),
    );
    // ū = 6/300 = 0.02; limits per point from its own n.
    let p1 = u.points()[1].limits.unwrap();
    assert!(close(p1.center, 0.02, 1e-12));
    assert!(close(
        p1.upper,
        0.02 + 3.0 * (0.02f64 / 150.0).sqrt(),
        1e-12
    ));
    assert!(close(
        u.points()[2].limits.unwrap().upper,
        0.02 + 3.0 * (0.02f64 / 50.0).sqrt(),
        1e-12
    ));
}

#[test]
fn capability_is_absent_not_nan_for_one_sample_or_zero_sigma() {
    let mut def = definition(ChartKind::IMr, Subgrouping::Size(1), Baseline::Subgroups(2));
    def.spec_lower = Some(0.0);
    def.spec_upper = Some(10.0);
    let one = chart(def, vec![var(0, 5.0)]);
    let cap = capability(&one).unwrap();
    assert_eq!(
        (cap.count, cap.cp, cap.cpk, cap.pp, cap.ppk),
        (1, None, None, None, None)
    );
    let flat = chart(def, vec![var(0, 5.0), var(1, 5.0), var(2, 5.0)]);
    let cap = capability(&flat).unwrap();
    assert_eq!(cap.count, 3);
    assert_eq!((cap.sigma_within, cap.cp, cap.pp), (None, None, None));
}

#[test]
fn a_recompute_applies_from_its_start_once_its_subgroups_exist() {
    use mom_spc::{LimitChange, LimitEvent};
    let mut c = chart(
        definition(ChartKind::IMr, Subgrouping::Size(1), Baseline::Subgroups(4)),
        [1.0, 2.0, 1.0, 2.0]
            .iter()
            .enumerate()
            .map(|(i, v)| var(i as i64, *v))
            .collect(),
    );
    c.apply(Input::Limits(LimitEvent {
        seq: 2,
        from: common::at(4),
        change: LimitChange::Recompute(3),
    }))
    .unwrap();
    c.apply(var(4, 10.0)).unwrap();
    c.apply(var(5, 12.0)).unwrap();
    // Two of three recompute subgroups: the first limits go on applying.
    assert_eq!(c.points()[5].limits, c.points()[0].limits);
    c.apply(var(6, 11.0)).unwrap();
    let l = c.points()[4].limits.unwrap();
    assert!(close(l.center, 11.0, 1e-12));
    assert_eq!(
        c.points()[0].limits.unwrap().center,
        1.5,
        "earlier points keep theirs"
    );
}
