//! Contract tests of control charts: requests map to commands and name the offending field,
//! events map to their proto messages, state and stored history map to the reply.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use mom_domain::{Millis, Stream};
use mom_proto::time::to_timestamp;

use super::*;
use crate::domain::{ChartState, OperationNumber};

/// A change that makes a request invalid.
type Spoil<R> = fn(&mut R);

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
}

fn ts(minute: u32) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(minute)))
}

fn chart() -> ChartId {
    ChartId::new("PUMP-100-10-bore").unwrap()
}

fn limits() -> ControlLimits {
    ControlLimits {
        center: 10.0,
        lower: 9.7,
        upper: 10.3,
        dispersion: Some(DispersionLimits {
            center: 0.1,
            lower: 0.0,
            upper: 0.3,
        }),
    }
}

fn pb_limits() -> pb::ControlLimits {
    pb::ControlLimits {
        center: 10.0,
        lower: 9.7,
        upper: 10.3,
        dispersion_center: Some(0.1),
        dispersion_lower: Some(0.0),
        dispersion_upper: Some(0.3),
    }
}

/// One event of every type, in proto order.
pub(crate) fn chart_events() -> Vec<ChartEvent> {
    vec![
        ChartEvent::ControlChartDefined {
            chart_id: chart(),
            source: ChartSource::Characteristic {
                product: ProductId::new("PUMP-100").unwrap(),
                operation: OperationNumber(10),
                characteristic: CharacteristicName::new("bore").unwrap(),
            },
            kind: ChartKind::XbarR,
            subgroup: Subgroup::Size(5),
            baseline: Baseline::Subgroups(25),
            spec_lower: Some(9.5),
            spec_upper: None,
            ncr_rules: vec![1, 5],
            description: None,
            at: t(0),
        },
        ChartEvent::ControlLimitsSet {
            chart_id: chart(),
            limits: limits(),
            from: t(30),
            reason: Text::new("new tool").unwrap(),
            at: t(10),
        },
        ChartEvent::ControlLimitsRecomputeRequested {
            chart_id: chart(),
            from: t(40),
            subgroups: 20,
            reason: Text::new("after CAPA").unwrap(),
            at: t(35),
        },
        ChartEvent::ControlRuleViolated {
            chart_id: chart(),
            rule: 1,
            part: ChartPart::Dispersion,
            points: vec![ChartPoint {
                subgroup_start: t(45),
                value: 0.42,
            }],
            violation_id: ViolationId::new(
                "PUMP-100-10-bore/dispersion/1/2026-03-02T06:45:00.000Z",
            )
            .unwrap(),
            description: Some(Text::new("range beyond UCL").unwrap()),
            at: t(45),
        },
    ]
}

fn define_request() -> pb::DefineControlChartRequest {
    pb::DefineControlChartRequest {
        context: None,
        chart_id: "PUMP-100-10-bore".to_owned(),
        source: Some(pb::define_control_chart_request::Source::Parameter(
            pb::ParameterSource {
                work_unit: "press-7".to_owned(),
                parameter: "melt temperature".to_owned(),
            },
        )),
        kind: pb::ChartKind::XbarS.into(),
        subgroup: Some(pb::define_control_chart_request::Subgroup::WindowMs(
            3_600_000,
        )),
        baseline: Some(pb::define_control_chart_request::Baseline::Limits(
            pb_limits(),
        )),
        spec_lower: None,
        spec_upper: Some(230.0),
        ncr_rules: vec![1, 2, 3],
        description: "melt temperature, hourly".to_owned(),
        at: ts(0),
    }
}

#[test]
fn define_maps_every_field() {
    let parsed = define_control_chart(define_request()).unwrap();
    assert_eq!(parsed.id, chart());
    assert_eq!(
        parsed.command.command,
        ChartCommand::Define {
            chart: chart(),
            source: ChartSource::Parameter {
                work_unit: Some(WorkUnitId::new("press-7").unwrap()),
                parameter: ParameterName::new("melt temperature").unwrap(),
            },
            kind: ChartKind::XbarS,
            subgroup: Subgroup::Window(Millis(3_600_000)),
            baseline: Baseline::Limits(limits()),
            spec_lower: None,
            spec_upper: Some(230.0),
            ncr_rules: vec![1, 2, 3],
            description: Some(Text::new("melt temperature, hourly").unwrap()),
            at: t(0),
        }
    );
}

#[test]
fn an_empty_work_unit_means_any() {
    let mut req = define_request();
    req.source = Some(pb::define_control_chart_request::Source::Parameter(
        pb::ParameterSource {
            work_unit: String::new(),
            parameter: "melt temperature".to_owned(),
        },
    ));
    let parsed = define_control_chart(req).unwrap();
    let ChartCommand::Define { source, .. } = parsed.command.command else {
        panic!("a definition")
    };
    assert_eq!(
        source,
        ChartSource::Parameter {
            work_unit: None,
            parameter: ParameterName::new("melt temperature").unwrap(),
        }
    );
}

#[test]
fn define_names_the_bad_field() {
    let cases: Vec<(Spoil<pb::DefineControlChartRequest>, &str)> = vec![
        (|r| r.chart_id = String::new(), "chart_id"),
        (|r| r.chart_id = "pump 100".to_owned(), "chart_id"),
        (|r| r.chart_id = "x".repeat(129), "chart_id"),
        (|r| r.source = None, "source"),
        (
            |r| {
                r.source = Some(pb::define_control_chart_request::Source::Characteristic(
                    pb::CharacteristicSource {
                        product: "PUMP-100".to_owned(),
                        operation: 0,
                        characteristic: "bore".to_owned(),
                    },
                ))
            },
            "characteristic.operation",
        ),
        (
            |r| {
                r.source = Some(pb::define_control_chart_request::Source::Characteristic(
                    pb::CharacteristicSource {
                        product: String::new(),
                        operation: 10,
                        characteristic: "bore".to_owned(),
                    },
                ))
            },
            "characteristic.product",
        ),
        (
            |r| {
                r.source = Some(pb::define_control_chart_request::Source::Parameter(
                    pb::ParameterSource {
                        work_unit: "press 7".to_owned(),
                        parameter: "melt".to_owned(),
                    },
                ))
            },
            "parameter.work_unit",
        ),
        (|r| r.kind = 0, "kind"),
        (|r| r.kind = 42, "kind"),
        (|r| r.subgroup = None, "subgroup"),
        (|r| r.baseline = None, "baseline"),
        (
            |r| {
                let mut limits = pb_limits();
                limits.dispersion_lower = None;
                r.baseline = Some(pb::define_control_chart_request::Baseline::Limits(limits));
            },
            "baseline.limits.dispersion_lower",
        ),
        (|r| r.description = "x".repeat(513), "description"),
        (|r| r.at = None, "at"),
    ];
    for (spoil, field) in cases {
        let mut req = define_request();
        spoil(&mut req);
        let err = define_control_chart(req).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
}

#[test]
fn limit_commands_map_and_name_their_fields() {
    let set = pb::SetControlLimitsRequest {
        context: None,
        chart_id: "PUMP-100-10-bore".to_owned(),
        limits: Some(pb_limits()),
        from: ts(30),
        reason: "new tool".to_owned(),
        at: ts(10),
    };
    assert_eq!(
        set_control_limits(set.clone()).unwrap().command.command,
        ChartCommand::SetLimits {
            limits: limits(),
            from: t(30),
            reason: Text::new("new tool").unwrap(),
            at: t(10),
        }
    );
    for (spoil, field) in [
        (
            (|r| r.limits = None) as fn(&mut pb::SetControlLimitsRequest),
            "limits",
        ),
        (|r| r.from = None, "from"),
        (|r| r.reason = String::new(), "reason"),
        (
            |r| {
                let mut limits = pb_limits();
                limits.dispersion_center = None;
                r.limits = Some(limits);
            },
            "limits.dispersion_center",
        ),
    ] {
        let mut req = set.clone();
        spoil(&mut req);
        assert_eq!(set_control_limits(req).unwrap_err().field(), field);
    }
    let recompute = pb::RecomputeControlLimitsRequest {
        context: None,
        chart_id: "PUMP-100-10-bore".to_owned(),
        from: ts(40),
        subgroups: 20,
        reason: "after CAPA".to_owned(),
        at: ts(35),
    };
    assert_eq!(
        recompute_control_limits(recompute.clone())
            .unwrap()
            .command
            .command,
        ChartCommand::RecomputeLimits {
            from: t(40),
            subgroups: 20,
            reason: Text::new("after CAPA").unwrap(),
            at: t(35),
        }
    );
    let mut no_reason = recompute;
    no_reason.reason = "  ".to_owned();
    assert_eq!(
        recompute_control_limits(no_reason).unwrap_err().field(),
        "reason"
    );
}

fn violation_request() -> pb::RecordRuleViolationRequest {
    pb::RecordRuleViolationRequest {
        context: Some(pb::CommandContext {
            idempotency_key: "PUMP-100-10-bore/dispersion/1/2026-03-02T06:45:00.000Z".to_owned(),
            ..Default::default()
        }),
        chart_id: "PUMP-100-10-bore".to_owned(),
        rule: 1,
        part: pb::ChartPart::Dispersion.into(),
        points: vec![pb::ChartPoint {
            subgroup_start: ts(45),
            value: 0.42,
        }],
        violation_id: "PUMP-100-10-bore/dispersion/1/2026-03-02T06:45:00.000Z".to_owned(),
        description: "range beyond UCL".to_owned(),
        at: ts(45),
    }
}

#[test]
fn record_violation_maps_every_field_and_its_key() {
    let parsed = record_rule_violation(violation_request()).unwrap();
    let ChartEvent::ControlRuleViolated {
        rule,
        part,
        points,
        violation_id,
        description,
        at,
        ..
    } = chart_events().pop().unwrap()
    else {
        panic!("the last sample is a violation")
    };
    assert_eq!(
        parsed.command.command,
        ChartCommand::RecordViolation {
            violation: violation_id.clone(),
            rule,
            part,
            points,
            description,
            at,
        }
    );
    assert_eq!(
        parsed.command.idempotency_key.unwrap().as_str(),
        violation_id.as_str()
    );
}

#[test]
fn record_violation_names_the_bad_field() {
    let cases: Vec<(Spoil<pb::RecordRuleViolationRequest>, &str)> = vec![
        (|r| r.part = 0, "part"),
        (|r| r.part = 7, "part"),
        (|r| r.violation_id = String::new(), "violation_id"),
        (|r| r.violation_id = "v".repeat(257), "violation_id"),
        (
            |r| r.points[0].subgroup_start = None,
            "points[0].subgroup_start",
        ),
        (
            |r| r.points = vec![pb::ChartPoint::default(); 1001],
            "points",
        ),
        (|r| r.description = "\u{7}".to_owned(), "description"),
        (|r| r.at = None, "at"),
    ];
    for (spoil, field) in cases {
        let mut req = violation_request();
        spoil(&mut req);
        let err = record_rule_violation(req).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
}

#[test]
fn events_carry_every_field_to_proto() {
    let events = chart_events();
    let Event::ControlChartDefined(defined) = chart_event_to_proto(&events[0]) else {
        panic!("a definition")
    };
    assert_eq!(defined.chart_id, "PUMP-100-10-bore");
    assert_eq!(defined.kind, pb::ChartKind::XbarR as i32);
    assert_eq!(
        defined.source,
        Some(pb::control_chart_defined::Source::Characteristic(
            pb::CharacteristicSource {
                product: "PUMP-100".to_owned(),
                operation: 10,
                characteristic: "bore".to_owned(),
            }
        ))
    );
    assert_eq!(
        defined.subgroup,
        Some(pb::control_chart_defined::Subgroup::Size(5))
    );
    assert_eq!(
        defined.baseline,
        Some(pb::control_chart_defined::Baseline::Subgroups(25))
    );
    assert_eq!((defined.spec_lower, defined.spec_upper), (Some(9.5), None));
    assert_eq!(defined.ncr_rules, vec![1, 5]);
    assert_eq!(defined.description, "");
    let Event::ControlLimitsSet(set) = chart_event_to_proto(&events[1]) else {
        panic!("limits set")
    };
    assert_eq!(set.limits, Some(pb_limits()));
    assert_eq!((set.from, set.at), (ts(30), ts(10)));
    let Event::ControlRuleViolated(violated) = chart_event_to_proto(&events[3]) else {
        panic!("a violation")
    };
    assert_eq!(violated.part, pb::ChartPart::Dispersion as i32);
    assert_eq!(
        violated.points,
        vec![pb::ChartPoint {
            subgroup_start: ts(45),
            value: 0.42
        }]
    );
    assert_eq!(violated.at, ts(45));
}

#[test]
fn the_reply_shows_definition_history_with_authors_and_violations() {
    let events = chart_events();
    let chart: ControlChart = Stream::<Option<ChartState>>::from_events(events.clone());
    let history = vec![
        LimitChange {
            event: events[2].clone(),
            by: "qe-2".to_owned(),
            on_behalf_of: String::new(),
            sequence: 3,
        },
        LimitChange {
            event: events[1].clone(),
            by: "qe-1".to_owned(),
            on_behalf_of: String::new(),
            sequence: 2,
        },
        LimitChange {
            event: events[0].clone(),
            by: "processes".to_owned(),
            on_behalf_of: "planner".to_owned(),
            sequence: 1,
        },
    ];
    let reply = control_chart_reply(&chart, history).unwrap();
    assert_eq!(reply.chart_id, "PUMP-100-10-bore");
    assert_eq!(reply.version, 4);
    assert_eq!(reply.defined_by, "processes");
    let Event::ControlChartDefined(defined) = chart_event_to_proto(&events[0]) else {
        panic!("a definition")
    };
    assert_eq!(reply.definition, Some(defined));
    let who: Vec<(&str, u64)> = reply
        .limit_history
        .iter()
        .map(|change| (change.by.as_str(), change.sequence))
        .collect();
    assert_eq!(who, vec![("qe-1", 2), ("qe-2", 3)], "oldest first");
    assert!(matches!(
        reply.limit_history[0].change,
        Some(pb::control_limits_change::Change::Set(_))
    ));
    assert_eq!(reply.violations.len(), 1);
    assert_eq!(reply.violations_total, 1);
    assert_eq!(
        control_chart_reply(&ControlChart::default(), vec![]),
        Err(ChartError::NotFound)
    );
}
