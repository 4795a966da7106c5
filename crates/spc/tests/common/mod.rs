//! Builders shared by the chart tests.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use mom_spc::{
    Baseline, Chart, ChartDefinition, ChartKind, ControlLimits, Input, Sample, SampleValue,
    Subgrouping,
};

/// The first sample's time.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

/// `i` minutes after `t0`.
pub fn at(i: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(i)
}

/// Explicit limits centered on 0 with σ = 1.
pub fn unit_limits() -> ControlLimits {
    ControlLimits {
        center: 0.0,
        lower: -3.0,
        upper: 3.0,
        dispersion_center: None,
        dispersion_lower: None,
        dispersion_upper: None,
    }
}

/// A definition.
pub fn definition(kind: ChartKind, subgroup: Subgrouping, baseline: Baseline) -> ChartDefinition {
    ChartDefinition {
        kind,
        subgroup,
        baseline,
        spec_lower: None,
        spec_upper: None,
    }
}

/// A variable sample at minute `i`.
pub fn var(i: i64, v: f64) -> Input {
    Input::Sample(Sample {
        id: format!("s{i}").into(),
        at: at(i),
        value: SampleValue::Variable(v),
    })
}

/// An attribute sample at minute `i`.
pub fn attr(i: i64, n: u32, count: u32) -> Input {
    Input::Sample(Sample {
        id: format!("a{i}").into(),
        at: at(i),
        value: SampleValue::Attribute { n, count },
    })
}

/// An I-MR chart with explicit limits CL 0, σ 1, fed `values` one a minute.
pub fn individuals(values: &[f64]) -> Chart {
    let mut chart = Chart::new("C-1");
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: definition(
                ChartKind::IMr,
                Subgrouping::Size(1),
                Baseline::Limits(unit_limits()),
            ),
        })
        .unwrap();
    for (i, v) in values.iter().enumerate() {
        chart.apply(var(i as i64, *v)).unwrap();
    }
    chart
}

/// The primary rules that fire anywhere.
pub fn primary_rules(chart: &Chart) -> Vec<u8> {
    let mut r: Vec<u8> = chart
        .violations()
        .filter(|v| v.part == mom_spc::Part::Primary)
        .map(|v| v.rule.0)
        .collect();
    r.sort_unstable();
    r.dedup();
    r
}
