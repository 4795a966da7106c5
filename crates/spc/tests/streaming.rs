//! What the streaming chart reports after each change, and its bounds.
#![allow(clippy::unwrap_used)]

mod common;

use common::{definition, individuals, var};
use mom_spc::{
    Baseline, Chart, ChartError, ChartKind, Input, Sample, SampleValue, Subgrouping,
    MAX_SAMPLES_PER_CHART,
};

#[test]
fn a_tail_sample_changes_only_the_new_point() {
    let mut chart = individuals(&[0.1, -0.2, 0.3, 0.0, 0.2]);
    let change = chart.apply(var(5, 0.1)).unwrap();
    assert_eq!(change.points_changed, vec![5]);
    assert_eq!((change.points_len_before, change.points_len), (5, 6));
    assert!(change.new_violations.is_empty() && change.cleared_violations.is_empty());
}

#[test]
fn a_repeated_sample_id_is_a_duplicate_and_changes_nothing() {
    let mut chart = individuals(&[0.1, 0.2]);
    let change = chart.apply(var(1, 5.0)).unwrap();
    assert!(change.duplicate && change.is_empty());
    assert_eq!(chart.points()[1].value, 0.2);
}

#[test]
fn a_late_sample_that_breaks_a_pattern_reports_the_violation_cleared() {
    // Nine points above the center at minutes 0, 2, …, 16: rule 2 completes at the ninth.
    let mut chart = Chart::new("C-1");
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: definition(
                ChartKind::IMr,
                Subgrouping::Size(1),
                Baseline::Limits(common::unit_limits()),
            ),
        })
        .unwrap();
    for i in 0..9 {
        chart.apply(var(2 * i, 0.5)).unwrap();
    }
    assert_eq!(chart.violations().filter(|v| v.rule.0 == 2).count(), 1);
    // A late point below the center in the middle of the run.
    let change = chart.apply(var(9, -0.5)).unwrap();
    assert_eq!(change.cleared_violations.len(), 1);
    assert_eq!(change.cleared_violations[0].rule.0, 2);
    assert!(change.new_violations.is_empty());
    assert_eq!(
        change.points_changed.first(),
        Some(&5),
        "from the late point on"
    );
}

#[test]
fn a_full_chart_refuses_the_next_sample_and_stays_as_it_was() {
    let mut chart = Chart::new("C-big");
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: definition(
                ChartKind::XbarR,
                Subgrouping::Size(5),
                Baseline::Subgroups(20),
            ),
        })
        .unwrap();
    for i in 0..MAX_SAMPLES_PER_CHART {
        chart.apply(var(i as i64, (i % 7) as f64)).unwrap();
    }
    let points = chart.points().len();
    let refused = chart.apply(var(MAX_SAMPLES_PER_CHART as i64, 1.0));
    assert!(
        matches!(refused, Err(ChartError::Full { limit, .. }) if limit == MAX_SAMPLES_PER_CHART)
    );
    assert_eq!(chart.sample_count(), MAX_SAMPLES_PER_CHART);
    assert_eq!(chart.points().len(), points);
}

#[test]
fn unusable_samples_are_refused_with_their_reason() {
    let mut chart = individuals(&[]);
    let sample = |id: &str, value| {
        Input::Sample(Sample {
            id: id.into(),
            at: common::at(0),
            value,
        })
    };
    assert!(matches!(
        chart.apply(sample("nan", SampleValue::Variable(f64::NAN))),
        Err(ChartError::NotFinite { .. })
    ));
    assert!(matches!(
        chart.apply(sample("a", SampleValue::Attribute { n: 10, count: 1 })),
        Err(ChartError::WrongKind { .. })
    ));
    assert!(matches!(
        chart.apply(sample("z", SampleValue::Attribute { n: 0, count: 0 })),
        Err(ChartError::NoUnits { .. })
    ));
    assert_eq!(chart.sample_count(), 0);
}
