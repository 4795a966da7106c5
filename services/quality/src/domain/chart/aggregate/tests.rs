//! Given/when/then tests of the control chart: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, Millis, Recorded};

use super::*;
use crate::domain::chart::definition::{
    ControlLimits, DispersionLimits, MAX_BASELINE, MAX_WINDOW, MIN_BASELINE, MIN_WINDOW,
};
use crate::domain::ids::{CharacteristicName, OperationNumber, ParameterName, ProductId};

type ChartTest = TestFramework<ControlChart>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn chart_id() -> ChartId {
    ChartId::new("PUMP-100-10-bore").unwrap()
}

fn bore() -> ChartSource {
    ChartSource::Characteristic {
        product: ProductId::new("PUMP-100").unwrap(),
        operation: OperationNumber(10),
        characteristic: CharacteristicName::new("bore").unwrap(),
    }
}

fn melt() -> ChartSource {
    ChartSource::Parameter {
        work_unit: None,
        parameter: ParameterName::new("melt temperature").unwrap(),
    }
}

fn limits() -> ControlLimits {
    ControlLimits {
        center: 10.0,
        lower: 9.7,
        upper: 10.3,
        dispersion: Some(DispersionLimits {
            center: 0.1,
            lower: 0.0,
            upper: 0.33,
        }),
    }
}

fn define_with(
    source: ChartSource,
    kind: ChartKind,
    subgroup: Subgroup,
    baseline: Baseline,
) -> ChartCommand {
    ChartCommand::Define {
        chart: chart_id(),
        source,
        kind,
        subgroup,
        baseline,
        spec_lower: Some(9.5),
        spec_upper: Some(10.5),
        ncr_rules: vec![1, 2],
        description: Some(Text::new("bore diameter after boring").unwrap()),
        at: t(0),
    }
}

fn define() -> ChartCommand {
    define_with(
        bore(),
        ChartKind::XbarR,
        Subgroup::Size(5),
        Baseline::Subgroups(25),
    )
}

fn defined() -> Recorded<ChartEvent> {
    defined_as(ChartKind::XbarR, Subgroup::Size(5))
}

fn defined_as(kind: ChartKind, subgroup: Subgroup) -> Recorded<ChartEvent> {
    ChartEvent::ControlChartDefined {
        chart_id: chart_id(),
        source: bore(),
        kind,
        subgroup,
        baseline: Baseline::Subgroups(25),
        spec_lower: Some(9.5),
        spec_upper: Some(10.5),
        ncr_rules: vec![1, 2],
        description: Some(Text::new("bore diameter after boring").unwrap()),
        at: t(0),
    }
    .into()
}

fn point(minute: i64, value: f64) -> ChartPoint {
    ChartPoint {
        subgroup_start: t(minute),
        value,
    }
}

fn violation(rule: u32, part: ChartPart, points: Vec<ChartPoint>) -> ChartCommand {
    let last = points.last().map_or(t(0), |p| p.subgroup_start);
    ChartCommand::RecordViolation {
        violation: ViolationId::new(violation_id("PUMP-100-10-bore", part, rule, last)).unwrap(),
        rule,
        part,
        points,
        description: Some(Text::new("one point beyond 3 sigma").unwrap()),
        at: last,
    }
}

fn violated(rule: u32, part: ChartPart, points: Vec<ChartPoint>) -> Recorded<ChartEvent> {
    let ChartCommand::RecordViolation {
        violation,
        rule,
        part,
        points,
        description,
        at,
    } = violation(rule, part, points)
    else {
        unreachable!("violation() makes a RecordViolation")
    };
    ChartEvent::ControlRuleViolated {
        chart_id: chart_id(),
        rule,
        part,
        points,
        violation_id: violation,
        description,
        at,
    }
    .into()
}

fn rejected(given: Vec<Recorded<ChartEvent>>, command: ChartCommand) -> ChartError {
    ChartTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects the command, not a guard")
}

fn facts(given: Vec<Recorded<ChartEvent>>, command: ChartCommand) -> Vec<ChartEvent> {
    ChartTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|event| event.event)
        .collect()
}

/// Asserts that `command` on an undefined chart is refused as `INVALID_ARGUMENT` with a message
/// naming `field`.
fn refused_naming(command: ChartCommand, field: &str) {
    let err = rejected(vec![], command);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains(field), "{err} names {field}");
}

#[test]
fn define_records_the_chart() {
    ChartTest::with(())
        .given_no_previous_events()
        .when(define().into())
        .then_expect_events(vec![defined()]);
}

#[test]
fn every_kind_takes_its_subgroup_sizes() {
    let ok = [
        (ChartKind::IMr, 1),
        (ChartKind::XbarR, 2),
        (ChartKind::XbarR, 25),
        (ChartKind::XbarS, 2),
        (ChartKind::XbarS, 100),
        (ChartKind::P, 1),
        (ChartKind::Np, 1),
        (ChartKind::C, 1),
        (ChartKind::U, 1),
    ];
    for (kind, size) in ok {
        let command = define_with(bore(), kind, Subgroup::Size(size), Baseline::Subgroups(20));
        assert_eq!(facts(vec![], command).len(), 1, "{kind} of {size}");
    }
    let refused = [
        (ChartKind::IMr, 2),
        (ChartKind::IMr, 0),
        (ChartKind::XbarR, 1),
        (ChartKind::XbarR, 26),
        (ChartKind::XbarS, 1),
        (ChartKind::XbarS, 101),
        (ChartKind::P, 5),
        (ChartKind::U, 0),
    ];
    for (kind, size) in refused {
        let command = define_with(bore(), kind, Subgroup::Size(size), Baseline::Subgroups(20));
        refused_naming(command, "subgroup.size");
    }
}

#[test]
fn a_window_is_one_second_to_31_days_and_not_for_individuals() {
    for kind in [
        ChartKind::XbarR,
        ChartKind::XbarS,
        ChartKind::P,
        ChartKind::U,
    ] {
        for window in [MIN_WINDOW, MAX_WINDOW] {
            let command = define_with(
                bore(),
                kind,
                Subgroup::Window(window),
                Baseline::Subgroups(20),
            );
            assert_eq!(facts(vec![], command).len(), 1);
        }
    }
    for window in [Millis(999), Millis(MAX_WINDOW.0 + 1), Millis(0)] {
        let command = define_with(
            bore(),
            ChartKind::XbarR,
            Subgroup::Window(window),
            Baseline::Subgroups(20),
        );
        refused_naming(command, "subgroup.window_ms");
    }
    let individuals = define_with(
        bore(),
        ChartKind::IMr,
        Subgroup::Window(Millis(60_000)),
        Baseline::Subgroups(20),
    );
    refused_naming(individuals, "subgroup.window_ms");
}

#[test]
fn a_baseline_takes_2_to_1000_subgroups() {
    for n in [MIN_BASELINE, MAX_BASELINE] {
        let command = define_with(
            bore(),
            ChartKind::IMr,
            Subgroup::Size(1),
            Baseline::Subgroups(n),
        );
        assert_eq!(facts(vec![], command).len(), 1);
    }
    for n in [0, 1, 1001] {
        let command = define_with(
            bore(),
            ChartKind::IMr,
            Subgroup::Size(1),
            Baseline::Subgroups(n),
        );
        refused_naming(command, "baseline.subgroups");
    }
}

#[test]
fn explicit_limits_must_be_finite_and_ordered() {
    let with = |limits: ControlLimits| {
        define_with(
            bore(),
            ChartKind::XbarR,
            Subgroup::Size(5),
            Baseline::Limits(limits),
        )
    };
    assert_eq!(facts(vec![], with(limits())).len(), 1);
    let no_dispersion = ControlLimits {
        dispersion: None,
        ..limits()
    };
    assert_eq!(facts(vec![], with(no_dispersion)).len(), 1);
    refused_naming(
        with(ControlLimits {
            upper: f64::INFINITY,
            ..limits()
        }),
        "baseline.limits.upper",
    );
    refused_naming(
        with(ControlLimits {
            center: f64::NAN,
            ..limits()
        }),
        "baseline.limits.center",
    );
    refused_naming(
        with(ControlLimits {
            lower: 10.5,
            ..limits()
        }),
        "baseline.limits.lower",
    );
    refused_naming(
        with(ControlLimits {
            lower: 10.0,
            center: 10.0,
            upper: 10.0,
            ..limits()
        }),
        "baseline.limits.lower",
    );
    refused_naming(
        with(ControlLimits {
            dispersion: Some(DispersionLimits {
                center: 0.5,
                lower: 0.0,
                upper: 0.33,
            }),
            ..limits()
        }),
        "baseline.limits.dispersion_lower",
    );
}

#[test]
fn an_attribute_chart_has_no_dispersion_limits() {
    let command = define_with(
        bore(),
        ChartKind::P,
        Subgroup::Size(1),
        Baseline::Limits(limits()),
    );
    refused_naming(command, "baseline.limits.dispersion_center");
}

#[test]
fn spec_limits_must_be_finite_and_ordered() {
    let with = |lower: Option<f64>, upper: Option<f64>| {
        let mut command = define();
        if let ChartCommand::Define {
            spec_lower,
            spec_upper,
            ..
        } = &mut command
        {
            *spec_lower = lower;
            *spec_upper = upper;
        }
        command
    };
    assert_eq!(facts(vec![], with(None, None)).len(), 1);
    assert_eq!(facts(vec![], with(Some(1.0), None)).len(), 1);
    refused_naming(with(Some(f64::NEG_INFINITY), None), "spec_lower");
    refused_naming(with(None, Some(f64::NAN)), "spec_upper");
    refused_naming(with(Some(10.5), Some(9.5)), "spec_lower");
    refused_naming(with(Some(10.0), Some(10.0)), "spec_lower");
}

#[test]
fn ncr_rules_are_1_to_8_without_repeats() {
    let with = |rules: Vec<u32>| {
        let mut command = define();
        if let ChartCommand::Define { ncr_rules, .. } = &mut command {
            *ncr_rules = rules;
        }
        command
    };
    assert_eq!(facts(vec![], with(vec![])).len(), 1);
    assert_eq!(facts(vec![], with((1..=8).collect())).len(), 1);
    refused_naming(with(vec![0]), "ncr_rules[0]");
    refused_naming(with(vec![1, 9]), "ncr_rules[1]");
    refused_naming(with(vec![1, 5, 1]), "ncr_rules[2]");
}

#[test]
fn a_parameter_source_is_only_for_variables_charts() {
    for kind in [ChartKind::IMr, ChartKind::XbarR, ChartKind::XbarS] {
        let size = if kind == ChartKind::IMr { 1 } else { 5 };
        let command = define_with(melt(), kind, Subgroup::Size(size), Baseline::Subgroups(20));
        assert_eq!(facts(vec![], command).len(), 1);
    }
    for kind in [ChartKind::P, ChartKind::Np, ChartKind::C, ChartKind::U] {
        let command = define_with(melt(), kind, Subgroup::Size(1), Baseline::Subgroups(20));
        refused_naming(command, "parameter");
    }
}

#[test]
fn redefining_a_chart_is_a_failed_precondition() {
    let err = rejected(vec![defined()], define());
    assert_eq!(err, ChartError::AlreadyDefined { chart: chart_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn commands_on_an_undefined_chart_are_not_found() {
    let set = ChartCommand::SetLimits {
        limits: limits(),
        from: t(60),
        reason: Text::new("new tool").unwrap(),
        at: t(30),
    };
    assert_eq!(rejected(vec![], set), ChartError::NotFound);
    let err = rejected(
        vec![],
        violation(1, ChartPart::Primary, vec![point(5, 11.0)]),
    );
    assert_eq!(err, ChartError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn set_limits_records_them_from_a_time_with_a_reason() {
    let set = ChartCommand::SetLimits {
        limits: limits(),
        from: t(60),
        reason: Text::new("new tool").unwrap(),
        at: t(30),
    };
    assert_eq!(
        facts(vec![defined()], set),
        vec![ChartEvent::ControlLimitsSet {
            chart_id: chart_id(),
            limits: limits(),
            from: t(60),
            reason: Text::new("new tool").unwrap(),
            at: t(30),
        }]
    );
}

#[test]
fn set_limits_are_checked_like_a_baseline() {
    let set = |limits: ControlLimits| ChartCommand::SetLimits {
        limits,
        from: t(60),
        reason: Text::new("new tool").unwrap(),
        at: t(30),
    };
    let err = rejected(
        vec![defined()],
        set(ControlLimits {
            upper: 9.0,
            ..limits()
        }),
    );
    assert!(err.to_string().contains("field limits.lower"), "{err}");
    let err = rejected(
        vec![defined_as(ChartKind::C, Subgroup::Size(1))],
        set(limits()),
    );
    assert!(
        err.to_string().contains("field limits.dispersion_center"),
        "{err}"
    );
}

#[test]
fn recompute_records_the_request_and_checks_its_size() {
    let recompute = |subgroups: u32| ChartCommand::RecomputeLimits {
        from: t(120),
        subgroups,
        reason: Text::new("process improved after CAPA").unwrap(),
        at: t(100),
    };
    assert_eq!(
        facts(vec![defined()], recompute(30)),
        vec![ChartEvent::ControlLimitsRecomputeRequested {
            chart_id: chart_id(),
            from: t(120),
            subgroups: 30,
            reason: Text::new("process improved after CAPA").unwrap(),
            at: t(100),
        }]
    );
    for n in [1, 1001] {
        let err = rejected(vec![defined()], recompute(n));
        assert!(err.to_string().starts_with("field subgroups"), "{err}");
    }
}

#[test]
fn a_violation_is_recorded_once() {
    let points = vec![point(5, 10.1), point(6, 10.25), point(7, 10.27)];
    let command = violation(5, ChartPart::Primary, points.clone());
    assert_eq!(
        facts(vec![defined()], command.clone()),
        vec![violated(5, ChartPart::Primary, points.clone()).event]
    );
    // The same violation again (a watcher's redelivery without its key) records nothing.
    assert_eq!(
        facts(
            vec![defined(), violated(5, ChartPart::Primary, points)],
            command
        ),
        vec![]
    );
}

#[test]
fn a_violation_is_checked_against_the_chart_and_its_id() {
    let given = || vec![defined()];
    let err = rejected(
        given(),
        violation(9, ChartPart::Primary, vec![point(5, 11.0)]),
    );
    assert!(err.to_string().starts_with("field rule"), "{err}");
    let err = rejected(
        vec![defined_as(ChartKind::P, Subgroup::Size(1))],
        violation(1, ChartPart::Dispersion, vec![point(5, 0.4)]),
    );
    assert_eq!(
        err,
        ChartError::DispersionPartOnAttributes { kind: ChartKind::P }
    );
    let err = rejected(given(), violation(1, ChartPart::Primary, vec![]));
    assert_eq!(err, ChartError::NoPoints);
    let sixteen = (0..16).map(|m| point(m, 10.0)).collect();
    let err = rejected(given(), violation(7, ChartPart::Primary, sixteen));
    assert_eq!(err, ChartError::TooManyPoints { len: 16 });
    let err = rejected(
        given(),
        violation(5, ChartPart::Primary, vec![point(6, 10.3), point(5, 10.3)]),
    );
    assert_eq!(err, ChartError::PointsOrder { index: 1 });
    let err = rejected(
        given(),
        violation(1, ChartPart::Primary, vec![point(5, f64::INFINITY)]),
    );
    assert!(
        err.to_string().starts_with("field points[0].value"),
        "{err}"
    );
    let mut late = violation(1, ChartPart::Primary, vec![point(5, 11.0)]);
    if let ChartCommand::RecordViolation { at, .. } = &mut late {
        *at = t(6);
    }
    assert!(rejected(given(), late).to_string().starts_with("field at"));
    let mut wrong_id = violation(1, ChartPart::Primary, vec![point(5, 11.0)]);
    if let ChartCommand::RecordViolation { violation, .. } = &mut wrong_id {
        *violation =
            ViolationId::new("PUMP-100-10-bore/primary/2/2026-03-02T06:05:00.000Z").unwrap();
    }
    let err = rejected(given(), wrong_id);
    assert!(err.to_string().starts_with("field violation_id"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn the_violation_id_follows_the_contract() {
    assert_eq!(
        violation_id("PUMP-100-10-bore", ChartPart::Dispersion, 1, t(5)),
        "PUMP-100-10-bore/dispersion/1/2026-03-02T06:05:00.000Z"
    );
}

#[test]
fn the_state_keeps_the_newest_violations_and_every_id() {
    let mut chart = ControlChart::default();
    chart.evolve(defined());
    let total = KEPT_VIOLATIONS + 5;
    for minute in 0..total {
        chart.evolve(violated(
            1,
            ChartPart::Primary,
            vec![point(minute as i64, 11.0)],
        ));
    }
    let state = chart.state().as_ref().unwrap();
    assert_eq!(state.violations_total(), total as u64);
    let recent: Vec<_> = state.recent_violations().collect();
    assert_eq!(recent.len(), KEPT_VIOLATIONS);
    assert_eq!(recent[0].at, t(total as i64 - 1), "newest first");
    // The oldest violation left the list but is still recognised.
    let again = violation(1, ChartPart::Primary, vec![point(0, 11.0)]);
    assert_eq!(state.decide(again), Ok(vec![]));
}

#[test]
fn limit_changes_are_counted() {
    let mut chart = ControlChart::default();
    chart.evolve(defined());
    chart.evolve(
        ChartEvent::ControlLimitsRecomputeRequested {
            chart_id: chart_id(),
            from: t(120),
            subgroups: 30,
            reason: Text::new("after CAPA").unwrap(),
            at: t(100),
        }
        .into(),
    );
    let state = chart.state().as_ref().unwrap();
    assert_eq!(state.limit_changes(), 1);
    assert_eq!(state.ncr_rules(), &[1, 2]);
    assert_eq!(state.definition(), defined().event);
}

#[test]
fn a_limit_change_from_is_planned_and_every_at_happened() {
    use mom_domain::{TimeRole, Timed};
    let set = ChartCommand::SetLimits {
        limits: limits(),
        from: t(600),
        reason: Text::new("next shift").unwrap(),
        at: t(30),
    };
    let times: Vec<_> = set
        .times()
        .iter()
        .map(|time| (time.field, time.role))
        .collect();
    assert_eq!(
        times,
        vec![("at", TimeRole::Happened), ("from", TimeRole::Planned)]
    );
    let recorded = violation(1, ChartPart::Primary, vec![point(5, 11.0)]);
    let times: Vec<_> = recorded
        .times()
        .iter()
        .map(|time| (time.field, time.role))
        .collect();
    assert_eq!(times, vec![("at", TimeRole::Happened)]);
    assert_eq!(define().times().len(), 1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever violations arrive, in whatever order and however often repeated, each id is
        /// recorded once and the total counts the distinct ones.
        #[test]
        fn each_violation_id_is_recorded_once(
            found in proptest::collection::vec((0_i64..40, 1_u32..=8), 0..80)
        ) {
            let mut chart = ControlChart::default();
            chart.evolve(defined());
            let mut distinct = std::collections::BTreeSet::new();
            for (minute, rule) in found {
                let state = chart.state().as_ref().unwrap().clone();
                let events = state
                    .decide(violation(rule, ChartPart::Primary, vec![point(minute, 11.0)]))
                    .unwrap();
                let new = distinct.insert((minute, rule));
                prop_assert_eq!(events.len(), usize::from(new));
                for event in events {
                    chart.evolve(event.into());
                }
            }
            let state = chart.state().as_ref().unwrap();
            prop_assert_eq!(state.violations_total(), distinct.len() as u64);
            prop_assert_eq!(state.recent_violations().count(), distinct.len());
        }
    }
}
