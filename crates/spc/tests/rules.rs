//! Each Nelson rule with a series that just triggers it and one that just does not.
#![allow(clippy::unwrap_used)]

mod common;

use common::{at, definition, individuals, primary_rules, unit_limits, var};
use mom_spc::{
    Baseline, Chart, ChartKind, ControlLimits, Input, LimitChange, LimitEvent, Part, Subgrouping,
};

fn fires(values: &[f64], rule: u8) -> bool {
    primary_rules(&individuals(values)).contains(&rule)
}

fn alternating(n: usize, a: f64) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { a } else { -a }).collect()
}

#[test]
fn rule_1_fires_just_beyond_three_sigma() {
    assert!(fires(&[0.0, 3.01], 1));
    assert!(fires(&[0.0, -3.01], 1));
}

#[test]
fn rule_1_does_not_fire_on_the_limit() {
    assert!(!fires(&[0.0, 3.0, -3.0], 1));
}

#[test]
fn rule_2_fires_on_nine_on_one_side() {
    let mut v = vec![-0.5];
    v.extend([0.5; 9]);
    assert!(fires(&v, 2));
}

#[test]
fn rule_2_does_not_fire_on_eight_on_one_side_or_a_point_on_the_center() {
    let mut v = vec![-0.5];
    v.extend([0.5; 8]);
    assert!(!fires(&v, 2));
    let mut w = vec![0.5; 4];
    w.push(0.0);
    w.extend([0.5; 4]);
    assert!(!fires(&w, 2));
}

#[test]
fn rule_3_fires_on_six_steadily_increasing_or_decreasing() {
    assert!(fires(&[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5], 3));
    assert!(fires(&[1.5, 1.0, 0.5, 0.0, -0.5, -1.0], 3));
}

#[test]
fn rule_3_does_not_fire_on_five_or_on_a_tie() {
    assert!(!fires(&[1.0, -0.5, 0.0, 0.5, 1.0, 1.5], 3));
    assert!(!fires(&[-1.0, -0.5, 0.0, 0.5, 1.0, 1.0], 3));
}

#[test]
fn rule_4_fires_on_fourteen_alternating() {
    assert!(fires(&alternating(14, 0.2), 4));
}

#[test]
fn rule_4_does_not_fire_on_thirteen_alternating_or_a_flat_step() {
    assert!(!fires(&alternating(13, 0.2), 4));
    let mut v = alternating(14, 0.2);
    v[13] = v[12];
    assert!(!fires(&v, 4));
}

#[test]
fn rule_5_fires_on_two_of_three_beyond_two_sigma() {
    assert!(fires(&[0.0, 2.5, 0.0, 2.5], 5));
    assert!(fires(&[0.0, -2.5, -2.1], 5));
}

#[test]
fn rule_5_does_not_fire_on_one_of_three_opposite_sides_or_on_two_sigma() {
    assert!(!fires(&[0.0, 2.5, 0.0, 0.0, 2.5], 5));
    assert!(!fires(&[0.0, 2.5, -2.5], 5));
    assert!(!fires(&[0.0, 2.5, 2.0], 5));
}

#[test]
fn rule_6_fires_on_four_of_five_beyond_one_sigma() {
    assert!(fires(&[1.5, 1.5, 0.0, 1.5, 1.5], 6));
}

#[test]
fn rule_6_does_not_fire_on_three_of_five() {
    assert!(!fires(&[1.5, 1.5, 0.0, 0.0, 1.5], 6));
    assert!(!fires(&[1.5, 1.5, 0.0, 1.5, 1.0], 6));
}

#[test]
fn rule_7_fires_on_fifteen_within_one_sigma() {
    assert!(fires(&[0.5; 15], 7));
}

#[test]
fn rule_7_does_not_fire_on_fourteen_or_a_point_on_one_sigma() {
    let mut v = vec![1.5];
    v.extend([0.5; 14]);
    assert!(!fires(&v, 7));
    let mut w = vec![0.5; 15];
    w[7] = -1.0;
    assert!(!fires(&w, 7));
}

#[test]
fn rule_8_fires_on_eight_beyond_one_sigma_either_side() {
    assert!(fires(&alternating(8, 1.5), 8));
}

#[test]
fn rule_8_does_not_fire_on_seven_or_a_point_on_one_sigma() {
    let mut v = alternating(8, 1.5);
    v[0] = 0.0;
    assert!(!fires(&v, 8));
    let mut w = alternating(8, 1.5);
    w[7] = -1.0;
    assert!(!fires(&w, 8));
}

#[test]
fn a_violation_names_its_points_oldest_first_and_its_id() {
    let chart = individuals(&[0.0, 2.5, 0.0, 2.5]);
    let v = chart.violations().find(|v| v.rule.0 == 5).unwrap();
    assert_eq!(v.part, Part::Primary);
    assert_eq!(v.points, vec![(at(1), 2.5), (at(2), 0.0), (at(3), 2.5)]);
    assert_eq!(v.id, "C-1/primary/5/2026-03-02T06:03:00.000Z");
    assert_eq!(v.at, at(3));
    assert_eq!(chart.points()[3].flags, 1 << 4);
}

#[test]
fn points_without_limits_are_not_evaluated() {
    let mut chart = Chart::new("C-2");
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: definition(
                ChartKind::IMr,
                Subgrouping::Size(1),
                Baseline::Subgroups(20),
            ),
        })
        .unwrap();
    for i in 0..19 {
        chart
            .apply(var(i, if i == 10 { 100.0 } else { 0.5 }))
            .unwrap();
    }
    assert!(chart.points().iter().all(|p| p.limits.is_none()));
    assert_eq!(chart.violations().count(), 0);
    chart.apply(var(19, 0.4)).unwrap();
    assert!(chart.points().iter().all(|p| p.limits.is_some()));
}

#[test]
fn a_pattern_never_spans_two_limit_segments() {
    let mut chart = individuals(&[0.5; 8]);
    chart
        .apply(Input::Limits(LimitEvent {
            seq: 2,
            from: at(5),
            change: LimitChange::Set(ControlLimits {
                center: 0.1,
                ..unit_limits()
            }),
        }))
        .unwrap();
    for i in 8..12 {
        chart.apply(var(i, 0.5)).unwrap();
    }
    // 12 points above both centers, but at most 7 under the second limits and 5 under the first.
    assert!(!primary_rules(&chart).contains(&2));
    chart.apply(var(12, 0.5)).unwrap();
    chart.apply(var(13, 0.5)).unwrap();
    assert!(primary_rules(&chart).contains(&2));
}

#[test]
fn dispersion_rules_use_the_dispersion_limits() {
    let mut chart = Chart::new("C-3");
    let limits = ControlLimits {
        center: 10.0,
        lower: 7.0,
        upper: 13.0,
        dispersion_center: Some(1.0),
        dispersion_lower: Some(-5.0),
        dispersion_upper: Some(2.0),
    };
    chart
        .apply(Input::Defined {
            seq: 1,
            definition: definition(
                ChartKind::XbarR,
                Subgrouping::Size(2),
                Baseline::Limits(limits),
            ),
        })
        .unwrap();
    for (i, v) in [10.0, 10.5, 10.0, 13.0].iter().enumerate() {
        chart.apply(var(i as i64, *v)).unwrap();
    }
    let p = &chart.points()[1];
    assert_eq!(p.dispersion, Some(3.0));
    assert_eq!(p.dispersion_limits.unwrap().lower, 0.0, "clamped at 0");
    let v: Vec<_> = chart.violations().map(|v| (v.part, v.rule.0)).collect();
    assert_eq!(v, vec![(Part::Dispersion, 1)]);
    assert_eq!(chart.points()[1].dispersion_flags, 1);
}
