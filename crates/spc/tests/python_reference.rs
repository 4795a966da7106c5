//! Control limits and capability against an independent implementation in Python (numpy and
//! scipy: c4 from the gamma function, d2 and d3 by numerical integration) on a few hundred
//! random series. Needs `python3` with numpy and scipy (scripts/test installs them); a missing
//! interpreter or package fails the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Duration;
use common::t0;
use mom_spc::{
    capability, Baseline, Chart, ChartDefinition, ChartKind, Input, PartLimits, Sample,
    SampleValue, Subgrouping,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const SERIES: usize = 300;
const WINDOW_MS: u64 = 3_600_000;

struct Series {
    kind: ChartKind,
    /// Variables: values per subgroup; attributes: one (units, count) per subgroup.
    groups: Vec<Vec<f64>>,
    baseline: u32,
    spec: (Option<f64>, Option<f64>),
}

fn random_series(rng: &mut StdRng) -> Series {
    let kinds = [
        ChartKind::IMr,
        ChartKind::XbarR,
        ChartKind::XbarS,
        ChartKind::P,
        ChartKind::Np,
        ChartKind::C,
        ChartKind::U,
    ];
    let kind = kinds[rng.random_range(0..kinds.len())];
    let m = rng.random_range(5..40);
    let baseline = rng.random_range(2..=m) as u32;
    let mean = rng.random_range(-50.0..50.0);
    let sd = rng.random_range(0.1..5.0);
    // Vary the subgroup size for some X̄ series (one subgroup per time window), up to 40 so the
    // integrated d2 / d3 beyond the table are checked too.
    let fixed = rng.random_bool(0.5);
    let base_n = match kind {
        ChartKind::IMr => 1,
        ChartKind::XbarR => rng.random_range(2..=40),
        _ => rng.random_range(2..=100),
    };
    let groups = (0..m)
        .map(|_| {
            if kind.is_variables() {
                let n = if fixed || kind == ChartKind::IMr {
                    base_n
                } else {
                    rng.random_range(2..=base_n.max(2))
                };
                (0..n)
                    .map(|_| {
                        // Sum of uniforms: roughly normal, enough for limits.
                        let u: f64 = (0..6).map(|_| rng.random_range(-1.0..1.0)).sum();
                        mean + sd * u
                    })
                    .collect()
            } else {
                let n = rng.random_range(20..500);
                let count = rng.random_range(0..n / 3);
                vec![f64::from(n), f64::from(count)]
            }
        })
        .collect();
    let spec = match rng.random_range(0..3) {
        0 => (Some(mean - 4.0 * sd), Some(mean + 5.0 * sd)),
        1 => (None, Some(mean + 3.0 * sd)),
        _ => (Some(mean - 3.0 * sd), None),
    };
    Series {
        kind,
        groups,
        baseline,
        spec,
    }
}

fn run_engine(s: &Series) -> Chart {
    let mut chart = Chart::new("PY");
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: ChartDefinition {
                kind: s.kind,
                subgroup: Subgrouping::WindowMs(WINDOW_MS),
                baseline: Baseline::Subgroups(s.baseline),
                spec_lower: s.spec.0,
                spec_upper: s.spec.1,
            },
        })
        .unwrap();
    for (g, values) in s.groups.iter().enumerate() {
        let hour = t0() + Duration::hours(g as i64);
        if s.kind.is_variables() {
            for (k, v) in values.iter().enumerate() {
                chart
                    .apply(Input::Sample(Sample {
                        id: format!("{g}-{k}").into(),
                        at: hour + Duration::seconds(k as i64),
                        value: SampleValue::Variable(*v),
                    }))
                    .unwrap();
            }
        } else {
            chart
                .apply(Input::Sample(Sample {
                    id: format!("{g}").into(),
                    at: hour,
                    value: SampleValue::Attribute {
                        n: values[0] as u32,
                        count: values[1] as u32,
                    },
                }))
                .unwrap();
        }
    }
    chart
}

fn close(a: f64, b: f64) -> bool {
    // The engine's d2 / d3 up to n = 25 are the published three-decimal values; the reference
    // integrates them, so allow the table's rounding.
    (a - b).abs() <= 2e-3 * a.abs().max(b.abs()).max(1e-3)
}

fn check_limits(ctx: &str, got: Option<PartLimits>, want: &Value) {
    match (got, want.as_array()) {
        (None, None) => {}
        (Some(l), Some(w)) => {
            let w: Vec<f64> = w.iter().map(|x| x.as_f64().unwrap()).collect();
            // The half widths carry the constants, compared apart from the center (which can be
            // near 0 while they are not).
            for (name, a, b) in [
                ("center", l.center, w[0]),
                ("center - lower", l.center - l.lower, w[0] - w[1]),
                ("upper - center", l.upper - l.center, w[2] - w[0]),
            ] {
                assert!(close(a, b), "{ctx} {name}: engine {a}, reference {b}");
            }
        }
        (g, w) => panic!("{ctx}: engine {g:?}, reference {w:?}"),
    }
}

fn check_opt(ctx: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(a), Some(b)) => assert!(close(a, b), "{ctx}: engine {a}, reference {b}"),
        (g, w) => panic!("{ctx}: engine {g:?}, reference {w:?}"),
    }
}

#[test]
fn limits_and_capability_agree_with_numpy_and_scipy() {
    let probe = Command::new("python3")
        .args(["-c", "import numpy, scipy"])
        .status()
        .expect("python3 is needed for this test (scripts/test installs numpy and scipy)");
    assert!(
        probe.success(),
        "python3 cannot import numpy and scipy: run `python3 -m pip install numpy scipy` (scripts/test does)"
    );
    let mut rng = StdRng::seed_from_u64(21);
    let series: Vec<Series> = (0..SERIES).map(|_| random_series(&mut rng)).collect();
    let input = Value::Array(
        series
            .iter()
            .map(|s| {
                json!({
                    "kind": s.kind.as_str(),
                    "groups": s.groups,
                    "baseline": s.baseline,
                    "spec_lower": s.spec.0,
                    "spec_upper": s.spec.1,
                })
            })
            .collect(),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/spc_reference.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the python reference failed");
    let reference: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut compared = 0;
    for (k, (s, want)) in series.iter().zip(&reference).enumerate() {
        let chart = run_engine(s);
        let points = want["points"].as_array().unwrap();
        assert_eq!(chart.points().len(), points.len(), "series {k}");
        for (i, (p, w)) in chart.points().iter().zip(points).enumerate() {
            let ctx = format!("series {k} ({}) point {i} n {}", s.kind.as_str(), p.n);
            check_limits(&ctx, p.limits, &w["primary"]);
            check_limits(
                &format!("{ctx} dispersion"),
                p.dispersion_limits,
                &w["dispersion"],
            );
            compared += 1;
        }
        let cap = capability(&chart);
        if let Some(c) = cap {
            let w = &want["capability"];
            let ctx = format!("series {k} ({}) capability", s.kind.as_str());
            assert_eq!(c.count, w["count"].as_u64().unwrap(), "{ctx}");
            check_opt(&format!("{ctx} mean"), c.mean, &w["mean"]);
            check_opt(
                &format!("{ctx} sigma_within"),
                c.sigma_within,
                &w["sigma_within"],
            );
            check_opt(
                &format!("{ctx} sigma_overall"),
                c.sigma_overall,
                &w["sigma_overall"],
            );
            check_opt(&format!("{ctx} cp"), c.cp, &w["cp"]);
            check_opt(&format!("{ctx} cpk"), c.cpk, &w["cpk"]);
            check_opt(&format!("{ctx} pp"), c.pp, &w["pp"]);
            check_opt(&format!("{ctx} ppk"), c.ppk, &w["ppk"]);
        } else {
            assert!(want["capability"].is_null(), "series {k}");
        }
    }
    assert!(compared > 3_000, "compared {compared} points");
}
