//! Contract tests: every event maps to its oneof case and back to its type name, requests map to
//! commands or name the offending field, replies show the aggregate state.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use mom_domain::{
    DomainError, ErrorKind, EventType, IdempotencyKey, Recorded, Versioned, ANONYMOUS,
};
use mom_proto::time::to_timestamp;
use prost::Message;

use super::*;
use crate::domain::{
    Asset, AssetCommand, AssetEvent, AssetId, AssetLevel, Cycles, Description, Equipment,
    FailureMode, Millis, ParentRef, PlanId, PlanOccurrence, ProductId, Reason, Trigger, WorkOrder,
    WorkOrderCommand, WorkOrderError, WorkOrderEvent, WorkOrderId,
};

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
}

fn ts(minute: u32) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(minute)))
}

const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

fn order() -> WorkOrderId {
    ORDER.parse().unwrap()
}

fn asset(id: &str) -> AssetId {
    AssetId::new(id).unwrap()
}

fn plan(id: &str) -> PlanId {
    PlanId::new(id).unwrap()
}

fn asset_events() -> Vec<AssetEvent> {
    vec![
        AssetEvent::AssetRegistered {
            asset: asset("filler-1"),
            level: AssetLevel::WorkUnit,
            name: "Filler".to_owned(),
            parent: Some(asset("line-1")),
            at: t(0),
        },
        AssetEvent::AssetMoved {
            asset: asset("filler-1"),
            from_parent: asset("line-1"),
            to_parent: asset("line-2"),
            at: t(1),
        },
        AssetEvent::AssetRetired {
            asset: asset("filler-1"),
            reason: Reason::new("scrapped").unwrap(),
            at: t(2),
        },
        AssetEvent::MaintenancePlanDefined {
            work_unit: asset("filler-1"),
            plan: plan("lube"),
            trigger: Trigger::RunHours { hours: 500 },
            description: Description::new("lubricate").unwrap(),
            at: t(3),
        },
        AssetEvent::UsageRecorded {
            work_unit: asset("filler-1"),
            cycles: Cycles(5),
            run_time_ms: Millis(60_000),
            total_cycles: Cycles(15),
            total_run_time_ms: Millis(120_000),
            at: t(4),
        },
        AssetEvent::MaintenancePlanDue {
            work_unit: asset("filler-1"),
            plan: plan("lube"),
            occurrence: 2,
            trigger: Trigger::Cycles { cycles: 10 },
            at: t(5),
        },
        AssetEvent::PlanWorkOrderRaised {
            work_unit: asset("filler-1"),
            plan: plan("lube"),
            occurrence: 2,
            work_order: order(),
            at: t(5),
        },
    ]
}

fn work_order_events() -> Vec<WorkOrderEvent> {
    vec![
        WorkOrderEvent::BreakdownReported {
            work_order: order(),
            work_unit: asset("filler-1"),
            failure_mode: FailureMode::new("jam").unwrap(),
            failure_start: t(10),
            product: Some(ProductId::new("cola").unwrap()),
            description: None,
            at: t(11),
        },
        WorkOrderEvent::PreventiveWorkRequested {
            work_order: order(),
            work_unit: asset("filler-1"),
            plan: Some(PlanOccurrence {
                plan: plan("lube"),
                occurrence: 2,
            }),
            description: Some(Description::new("lubricate").unwrap()),
            at: t(11),
        },
        WorkOrderEvent::WorkOrderScheduled {
            work_unit: asset("filler-1"),
            from: t(20),
            until: t(30),
            at: t(12),
        },
        WorkOrderEvent::PmWindowScheduled {
            work_unit: asset("filler-1"),
            plan: Some(plan("lube")),
            from: t(20),
            until: t(30),
            reason: Reason::new("preventive maintenance plan lube").unwrap(),
            at: t(12),
        },
        WorkOrderEvent::WorkStarted {
            work_unit: asset("filler-1"),
            at: t(13),
        },
        WorkOrderEvent::BreakdownRepaired {
            work_unit: asset("filler-1"),
            failure_mode: FailureMode::new("jam").unwrap(),
            product: None,
            failure_start: t(10),
            repair_start: t(13),
            repair_end: t(40),
        },
        WorkOrderEvent::PreventiveWorkCompleted {
            work_unit: asset("filler-1"),
            plan: None,
            started: t(13),
            at: t(40),
        },
        WorkOrderEvent::WorkOrderCancelled {
            work_unit: asset("filler-1"),
            reason: Reason::new("false alarm").unwrap(),
            at: t(12),
        },
    ]
}

#[test]
fn every_event_maps_to_its_oneof_case() {
    let mut names = Vec::new();
    for event in asset_events() {
        let case = asset_event_to_proto(&event);
        assert_eq!(event_type(&case), event.type_name());
        names.push(event.type_name());
    }
    for event in work_order_events() {
        let case = work_order_event_to_proto(&event);
        assert_eq!(event_type(&case), event.type_name());
        names.push(event.type_name());
    }
    assert_eq!(names, EVENT_TYPES);
    let types: Vec<&str> = AssetEvent::TYPES
        .iter()
        .chain(WorkOrderEvent::TYPES)
        .copied()
        .collect();
    assert_eq!(types, EVENT_TYPES);
}

#[test]
fn every_event_round_trips_through_the_envelope() {
    let (assets, orders) = (asset_events(), work_order_events());
    let cases = assets
        .iter()
        .map(asset_event_to_proto)
        .chain(orders.iter().map(work_order_event_to_proto));
    for case in cases {
        let envelope = pb::MaintenanceEvent {
            metadata: None,
            event: Some(case.clone()),
        };
        let decoded = pb::MaintenanceEvent::decode(envelope.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.event, Some(case));
    }
}

#[test]
fn every_event_carries_its_time_and_work_unit() {
    for event in work_order_events() {
        let Event::BreakdownRepaired(repaired) = work_order_event_to_proto(&event) else {
            continue;
        };
        assert_eq!(repaired.failure_start, ts(10));
        assert_eq!(repaired.repair_start, ts(13));
        assert_eq!(repaired.repair_end, ts(40));
        assert_eq!(repaired.at, ts(40));
        assert_eq!(repaired.work_unit, "filler-1");
        assert_eq!(repaired.failure_mode, "jam");
    }
    let Event::BreakdownReported(reported) = work_order_event_to_proto(&work_order_events()[0])
    else {
        panic!("breakdown reported maps to its case");
    };
    assert_eq!(reported.product, "cola");
    assert_eq!(reported.at, ts(11));
    let Event::PmWindowScheduled(window) = work_order_event_to_proto(&work_order_events()[3])
    else {
        panic!("pm window maps to its case");
    };
    assert_eq!((window.from, window.until), (ts(20), ts(30)));
    assert_eq!(window.plan, "lube");
}

#[test]
fn stored_events_are_named_by_their_proto_message() {
    let json = serde_json::to_value(Recorded::from(work_order_events()[4].clone())).unwrap();
    assert!(json["event"].get("WorkStarted").is_some());
}

#[test]
fn events_stored_by_the_old_code_still_load() {
    // Written by the service before the kernel: `{"event": …, "idempotency_key": …}`, the key
    // on a command's last event only.
    let keyed = r#"{"event":{"UsageRecorded":{"work_unit":"filler-1","cycles":5,"run_time_ms":60000,"total_cycles":15,"total_run_time_ms":120000,"at":"2026-03-02T06:04:00Z"}},"idempotency_key":"count-7"}"#;
    let recorded: Recorded<AssetEvent> = serde_json::from_str(keyed).unwrap();
    assert_eq!(recorded.event, asset_events()[4]);
    assert_eq!(
        recorded.idempotency_key,
        Some(IdempotencyKey::new("count-7").unwrap())
    );
    let plain = r#"{"event":{"WorkStarted":{"work_unit":"filler-1","at":"2026-03-02T06:13:00Z"}}}"#;
    let recorded: Recorded<WorkOrderEvent> = serde_json::from_str(plain).unwrap();
    assert_eq!(recorded, Recorded::new(work_order_events()[4].clone()));
    // And the current code stores the same form.
    assert_eq!(serde_json::to_string(&recorded).unwrap(), plain);
}

#[test]
fn snapshots_stored_by_the_old_code_are_replayed_instead() {
    // The old aggregate kept its keys in `idempotency`, a field the kernel's stream does not know;
    // such a snapshot fails to load, so the store folds the events and finds the keys again.
    let asset = r#"{"state":{"id":"filler-1","level":"WorkUnit","name":"Filler","parent":"line-1","retired":null,"cycles":15,"run_time":120000,"plans":{}},"version":2,"idempotency":{"entries":[["count-7",2]]}}"#;
    assert!(serde_json::from_str::<Asset>(asset).is_err());
    // Only the old key log stops it: the state itself is in the current form.
    let without_keys = asset.replace(r#","idempotency":{"entries":[["count-7",2]]}"#, "");
    let loaded: Asset = serde_json::from_str(&without_keys).unwrap();
    assert_eq!((loaded.version(), loaded.keys().len()), (2, 0));
    let order = format!(
        r#"{{"state":{{"id":"{ORDER}","work_unit":"filler-1","kind":{{"Preventive":{{"plan":null}}}},"description":null,"status":"Requested","requested_at":"2026-03-02T06:00:00Z","window":null,"started":null,"completed":null,"cancelled":null}},"version":1,"idempotency":{{"entries":[["andon-1",1]]}}}}"#
    );
    assert!(serde_json::from_str::<WorkOrder>(&order).is_err());
    let without_keys = order.replace(r#","idempotency":{"entries":[["andon-1",1]]}"#, "");
    assert!(serde_json::from_str::<WorkOrder>(&without_keys).is_ok());
    // A snapshot the current code writes loads.
    let mut stream = Asset::default();
    stream.evolve(Recorded {
        event: asset_events()[0].clone(),
        idempotency_key: Some(IdempotencyKey::new("count-7").unwrap()),
    });
    let json = serde_json::to_string(&stream).unwrap();
    assert_eq!(serde_json::from_str::<Asset>(&json).unwrap(), stream);
}

// Requests.

fn context(key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "alice".to_owned(),
        expected_version: Some(3),
        correlation_id: uuid::Uuid::from_u128(7).to_string(),
        idempotency_key: key.to_owned(),
        causation_id: uuid::Uuid::from_u128(8).to_string(),
        signature: None,
    })
}

#[test]
fn command_context_gives_caller_expected_version_and_idempotency_key() {
    let parsed = start_work(pb::WorkOrderCommandRequest {
        context: context("evt-9"),
        work_order: ORDER.to_owned(),
        at: ts(1),
    })
    .unwrap();
    assert_eq!(
        parsed.command,
        Versioned::expecting(WorkOrderCommand::Start { at: t(1) }, 3)
            .keyed(IdempotencyKey::new("evt-9").unwrap())
    );
    assert_eq!(parsed.caller.actor, "alice");
    assert_eq!(parsed.caller.correlation_id, Some(uuid::Uuid::from_u128(7)));
    assert_eq!(parsed.caller.causation_id, Some(uuid::Uuid::from_u128(8)));
    let anonymous = start_work(pb::WorkOrderCommandRequest {
        context: None,
        work_order: ORDER.to_owned(),
        at: ts(1),
    })
    .unwrap();
    assert_eq!(anonymous.caller.actor, ANONYMOUS);
    assert_eq!(anonymous.command.idempotency_key, None);
}

#[test]
fn malformed_context_fields_are_named() {
    let req = |context| pb::WorkOrderCommandRequest {
        context: Some(context),
        work_order: ORDER.to_owned(),
        at: ts(1),
    };
    let err = start_work(req(pb::CommandContext {
        correlation_id: "abc".to_owned(),
        ..Default::default()
    }))
    .unwrap_err();
    assert_eq!(err.field(), "context.correlation_id");
    let err = start_work(req(pb::CommandContext {
        idempotency_key: "x".repeat(257),
        ..Default::default()
    }))
    .unwrap_err();
    assert_eq!(err.field(), "context.idempotency_key");
    let err = start_work(req(pb::CommandContext {
        causation_id: "evt".to_owned(),
        ..Default::default()
    }))
    .unwrap_err();
    assert_eq!(err.field(), "context.causation_id");
}

#[test]
fn register_asset_maps_level_and_parent() {
    let req = |level: i32, parent: &str| pb::RegisterAssetRequest {
        context: None,
        asset: "filler-1".to_owned(),
        level,
        name: "Filler".to_owned(),
        parent: parent.to_owned(),
        at: ts(0),
    };
    let parsed = register_asset(req(pb::AssetLevel::WorkUnit.into(), "line-1")).unwrap();
    assert_eq!(parsed.id, asset("filler-1"));
    assert_eq!(
        parsed.command.command,
        AssetCommand::Register {
            asset: asset("filler-1"),
            level: AssetLevel::WorkUnit,
            name: "Filler".to_owned(),
            parent: Some(ParentRef {
                id: asset("line-1"),
                found: None
            }),
            at: t(0),
        }
    );
    assert_eq!(
        register_asset(req(0, "")).unwrap_err().to_string(),
        "field level is required"
    );
    assert_eq!(
        register_asset(req(42, "")).unwrap_err().to_string(),
        "field level has unknown value 42"
    );
    assert_eq!(register_asset(req(1, "a b")).unwrap_err().field(), "parent");
}

#[test]
fn define_plan_maps_trigger_and_rejects_bad_fields() {
    let req = |trigger: pb::PlanTrigger, every: i64, plan: &str| pb::DefinePlanRequest {
        context: None,
        work_unit: "filler-1".to_owned(),
        plan: plan.to_owned(),
        trigger: trigger.into(),
        every,
        description: "lubricate".to_owned(),
        at: ts(0),
    };
    assert_eq!(
        define_plan(req(pb::PlanTrigger::CalendarDays, 7, "weekly"))
            .unwrap()
            .command
            .command,
        AssetCommand::DefinePlan {
            plan: plan("weekly"),
            trigger: Trigger::CalendarDays { days: 7 },
            description: Description::new("lubricate").unwrap(),
            at: t(0),
        }
    );
    assert_eq!(
        define_plan(req(pb::PlanTrigger::Cycles, -1, "p"))
            .unwrap_err()
            .to_string(),
        "field every must not be negative, got -1"
    );
    assert_eq!(
        define_plan(req(pb::PlanTrigger::Unspecified, 1, "p"))
            .unwrap_err()
            .field(),
        "trigger"
    );
    assert_eq!(
        define_plan(req(pb::PlanTrigger::RunHours, 1, ""))
            .unwrap_err()
            .to_string(),
        "field plan is required"
    );
    let no_description = pb::DefinePlanRequest {
        description: String::new(),
        ..req(pb::PlanTrigger::Cycles, 1, "p")
    };
    assert_eq!(
        define_plan(no_description).unwrap_err().field(),
        "description"
    );
}

#[test]
fn record_usage_rejects_negative_values() {
    let req = |cycles: i64, run_time_ms: i64| pb::RecordUsageRequest {
        context: None,
        work_unit: "filler-1".to_owned(),
        cycles,
        run_time_ms,
        at: ts(1),
    };
    assert_eq!(
        record_usage(req(-3, 0)).unwrap_err(),
        RequestError::Negative {
            field: "cycles".to_owned(),
            value: -3
        }
    );
    assert_eq!(record_usage(req(0, -1)).unwrap_err().field(), "run_time_ms");
    assert_eq!(
        record_usage(req(3, 100)).unwrap().command.command,
        AssetCommand::RecordUsage {
            cycles: Cycles(3),
            run_time: Millis(100),
            at: t(1)
        }
    );
}

#[test]
fn report_breakdown_maps_its_fields_and_generates_an_id_when_empty() {
    let req = || pb::ReportBreakdownRequest {
        context: None,
        work_order: String::new(),
        work_unit: "filler-1".to_owned(),
        failure_mode: "jam".to_owned(),
        failure_start: ts(10),
        product: String::new(),
        description: String::new(),
        at: ts(11),
    };
    let parsed = report_breakdown(req(), order).unwrap();
    assert_eq!(parsed.id, order());
    assert_eq!(
        parsed.command.command,
        WorkOrderCommand::ReportBreakdown {
            work_order: order(),
            equipment: Equipment {
                id: asset("filler-1"),
                found: None
            },
            failure_mode: FailureMode::new("jam").unwrap(),
            failure_start: t(10),
            product: None,
            description: None,
            at: t(11),
        }
    );
    for (request, field) in [
        (
            pb::ReportBreakdownRequest {
                failure_start: None,
                ..req()
            },
            "failure_start",
        ),
        (
            pb::ReportBreakdownRequest {
                failure_mode: String::new(),
                ..req()
            },
            "failure_mode",
        ),
        (
            pb::ReportBreakdownRequest {
                work_unit: String::new(),
                ..req()
            },
            "work_unit",
        ),
        (
            pb::ReportBreakdownRequest {
                work_order: "nope".to_owned(),
                ..req()
            },
            "work_order",
        ),
        (
            pb::ReportBreakdownRequest {
                at: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..req()
            },
            "at",
        ),
    ] {
        assert_eq!(report_breakdown(request, order).unwrap_err().field(), field);
    }
}

#[test]
fn work_order_requests_map_to_their_commands() {
    let scheduled = schedule_work_order(pb::ScheduleWorkOrderRequest {
        context: None,
        work_order: ORDER.to_owned(),
        from: ts(20),
        until: ts(30),
        at: ts(5),
    })
    .unwrap();
    assert_eq!(
        scheduled.command.command,
        WorkOrderCommand::Schedule {
            from: t(20),
            until: t(30),
            at: t(5)
        }
    );
    let cancelled = cancel_work_order(pb::CancelWorkOrderRequest {
        context: None,
        work_order: ORDER.to_owned(),
        reason: String::new(),
        at: ts(5),
    })
    .unwrap_err();
    assert_eq!(cancelled.to_string(), "field reason is required");
    let complete = complete_work(pb::WorkOrderCommandRequest {
        context: None,
        work_order: ORDER.to_owned(),
        at: ts(9),
    })
    .unwrap();
    assert_eq!(
        complete.command.command,
        WorkOrderCommand::Complete { at: t(9) }
    );
    let preventive = request_preventive_work(
        pb::RequestPreventiveWorkRequest {
            context: None,
            work_order: String::new(),
            work_unit: "filler-1".to_owned(),
            description: "belts".to_owned(),
            at: ts(1),
        },
        order,
    )
    .unwrap();
    assert!(matches!(
        preventive.command.command,
        WorkOrderCommand::RequestPreventive { plan: None, .. }
    ));
    assert_eq!(
        get_work_order(&pb::GetWorkOrderRequest {
            work_order: String::new()
        })
        .unwrap_err()
        .to_string(),
        "field work_order is required"
    );
}

// Replies.

#[test]
fn asset_reply_shows_meters_and_plans() {
    let mut asset_aggregate = Asset::default();
    for event in asset_events() {
        if matches!(event, AssetEvent::AssetRetired { .. }) {
            continue;
        }
        asset_aggregate.evolve(event.into());
    }
    let reply = asset_reply(&asset_aggregate).unwrap();
    assert_eq!(reply.asset, "filler-1");
    assert_eq!(reply.level(), pb::AssetLevel::WorkUnit);
    assert_eq!(reply.parent, "line-2");
    assert!(!reply.retired);
    assert_eq!(reply.total_cycles, 15);
    assert_eq!(reply.total_run_time_ms, 120_000);
    assert_eq!(reply.version, 6);
    assert_eq!(reply.plans.len(), 1);
    assert_eq!(reply.plans[0].plan, "lube");
    assert_eq!(reply.plans[0].trigger(), pb::PlanTrigger::RunHours);
    assert_eq!(reply.plans[0].occurrences, 2);
    assert_eq!(reply.plans[0].remaining, 500 * Millis::HOUR);
}

#[test]
fn missing_aggregates_reply_not_found() {
    assert_eq!(
        asset_reply(&Asset::default()).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        work_order_reply(&WorkOrder::default()).unwrap_err(),
        WorkOrderError::NotFound
    );
}

#[test]
fn work_order_reply_shows_kind_status_and_times() {
    let mut order_aggregate = WorkOrder::default();
    for event in [
        work_order_events()[0].clone(),
        work_order_events()[4].clone(),
    ] {
        order_aggregate.evolve(event.into());
    }
    let reply = work_order_reply(&order_aggregate).unwrap();
    assert_eq!(reply.work_order, ORDER);
    assert_eq!(reply.kind(), pb::WorkOrderKind::Corrective);
    assert_eq!(reply.status(), pb::WorkOrderStatus::InProgress);
    assert_eq!(reply.failure_mode, "jam");
    assert_eq!(reply.failure_start, ts(10));
    assert_eq!(reply.started, ts(13));
    assert_eq!(reply.version, 2);
}

#[test]
fn command_reply_carries_id_version_and_raised_orders() {
    assert_eq!(
        command_reply(&asset("filler-1"), 4, &[order()]),
        pb::CommandReply {
            aggregate_id: "filler-1".to_owned(),
            version: 4,
            raised_work_orders: vec![ORDER.to_owned()],
        }
    );
}
