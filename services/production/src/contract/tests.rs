#![allow(clippy::unwrap_used)]

use chrono::TimeZone;
use mom_domain::{DomainError, ErrorKind, EventType, IdempotencyKey, Versioned};
use mom_proto::time::from_timestamp;
use tonic::{Code, Status};
use uuid::Uuid;

use super::*;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
}

fn ts(minute: u32) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(minute)))
}

const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

fn order() -> OrderId {
    ORDER.parse().unwrap()
}

fn wu(id: &str) -> WorkUnitId {
    WorkUnitId::new(id).unwrap()
}

fn product_id(id: &str) -> ProductId {
    ProductId::new(id).unwrap()
}

fn why(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn step(operation: u32, units: &[&str]) -> pb::RoutingOperation {
    pb::RoutingOperation {
        operation,
        name: format!("op {operation}"),
        eligible_work_units: units.iter().map(|u| (*u).to_owned()).collect(),
    }
}

fn order_events() -> Vec<OrderEvent> {
    vec![
        OrderEvent::OrderCreated {
            order_id: order(),
            product: product_id("cola"),
            quantity: Units(100),
            routing: vec![RoutingOperation {
                operation: OperationNumber(10),
                name: "fill".to_owned(),
                eligible_work_units: vec![wu("filler-1"), wu("filler-2")],
            }],
            priority: crate::domain::Priority::default(),
            due: None,
            at: t(0),
        },
        OrderEvent::OrderReleased { at: t(1) },
        OrderEvent::OperationStarted {
            operation: OperationNumber(10),
            work_unit: wu("filler-1"),
            recipe: None,
            counted: false,
            at: t(2),
        },
        OrderEvent::QuantityReported {
            operation: OperationNumber(10),
            work_unit: wu("filler-1"),
            good: Units(90),
            scrap: Units(3),
            at: t(3),
            scrap_reason: Some(why("Burr")),
            scrap_reason_code: Some(crate::domain::ReasonCode::parse("burr").unwrap()),
        },
        OrderEvent::OperationCompleted {
            operation: OperationNumber(10),
            at: t(4),
        },
        OrderEvent::OrderHeld {
            reason: why("qa"),
            at: t(5),
        },
        OrderEvent::OrderResumed { at: t(6) },
        OrderEvent::OrderCompleted {
            good: Units(90),
            scrap: Units(3),
            at: t(7),
        },
        OrderEvent::OrderCancelled {
            reason: why("withdrawn"),
            at: t(8),
        },
        OrderEvent::OrderPlanningChanged {
            priority: crate::domain::Priority::new(2).unwrap(),
            due: Some(t(59)),
            at: t(9),
        },
        OrderEvent::OrderSequenced {
            work_center: crate::domain::WorkCenterId::new("site1.line1").unwrap(),
            position: 3,
            at: t(9),
        },
        OrderEvent::OperationDispatched {
            operation: OperationNumber(10),
            work_unit: wu("filler-1"),
            at: t(9),
        },
        OrderEvent::OperationRedispatched {
            operation: OperationNumber(10),
            from_work_unit: wu("filler-1"),
            work_unit: wu("filler-2"),
            reason: why("filler-1 down"),
            at: t(9),
        },
        OrderEvent::OperationCounted {
            operation: OperationNumber(10),
            work_unit: wu("filler-2"),
            total: Units(12),
            count_sequence: 7,
            at: t(9),
        },
    ]
}

fn work_unit_events() -> Vec<WorkUnitEvent> {
    vec![
        WorkUnitEvent::WorkUnitRegistered {
            work_unit: wu("filler-1"),
            name: "Filler 1".to_owned(),
            micro_stop_threshold_ms: Millis(300_000),
            startup_window_ms: Millis(600_000),
            at: t(0),
        },
        WorkUnitEvent::IdealCycleTimeSet {
            product: product_id("cola"),
            ideal_cycle_time_ms: Millis(500),
            at: t(1),
        },
        WorkUnitEvent::WorkUnitRunning {
            product: None,
            at: t(2),
        },
        WorkUnitEvent::WorkUnitStopped {
            reason: Some(why("jam")),
            at: t(3),
            reason_code: Some(crate::domain::ReasonCode::parse("Jam").unwrap()),
        },
        WorkUnitEvent::SetupStarted {
            next_product: Some(product_id("fanta")),
            at: t(4),
        },
        WorkUnitEvent::SetupEnded {
            product: product_id("fanta"),
            at: t(5),
        },
        WorkUnitEvent::PlannedShutdownScheduled {
            from: t(30),
            until: t(45),
            reason: why("break"),
        },
        WorkUnitEvent::UnitsCounted {
            product: Some(product_id("fanta")),
            total: Units(12),
            at: t(6),
        },
        WorkUnitEvent::WorkUnitDisconnected {
            reason: Some(why("NDEATH edge node filler-1")),
            at: t(7),
        },
        WorkUnitEvent::RecipeDownloaded {
            work_unit: wu("filler-1"),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            parameters: vec![crate::domain::RecipeParameter {
                name: crate::domain::ParameterName::new("temp").unwrap(),
                unit: "degC".to_owned(),
                setpoint: 200.0,
                lower: 190.0,
                upper: 210.0,
                warn_lower: Some(195.0),
                warn_upper: None,
                hold_on_deviation: true,
            }],
            at: t(9),
        },
        WorkUnitEvent::RecipeUnloaded {
            work_unit: wu("filler-1"),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            at: t(13),
        },
        WorkUnitEvent::ParameterRecorded {
            work_unit: wu("filler-1"),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            parameter: crate::domain::ParameterName::new("temp").unwrap(),
            unit: "degC".to_owned(),
            value: 211.0,
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            status: crate::domain::ParameterStatus::Deviation,
            at: t(10),
        },
        WorkUnitEvent::ParameterDeviated {
            work_unit: wu("filler-1"),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            parameter: crate::domain::ParameterName::new("temp").unwrap(),
            unit: "degC".to_owned(),
            value: 211.0,
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            hold_order: true,
            at: t(10),
        },
        WorkUnitEvent::ParameterOverridden {
            work_unit: wu("filler-1"),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            parameter: crate::domain::ParameterName::new("temp").unwrap(),
            old_setpoint: 200.0,
            new_setpoint: 198.0,
            reason: why("cold batch"),
            at: t(11),
        },
        WorkUnitEvent::OperationLinked {
            work_unit: wu("filler-1"),
            order_id: order(),
            operation: OperationNumber(10),
            product: product_id("cola"),
            at: t(13),
        },
        WorkUnitEvent::OperationUnlinked {
            work_unit: wu("filler-1"),
            order_id: order(),
            operation: OperationNumber(10),
            at: t(14),
        },
        WorkUnitEvent::DefaultIdealCycleTimeSet {
            ideal_cycle_time_ms: Millis(400),
            at: t(12),
        },
    ]
}

// Events.

#[test]
fn every_order_event_maps_to_the_oneof_case_of_its_type() {
    let events = order_events();
    let types: Vec<&str> = events.iter().map(OrderEvent::type_name).collect();
    assert_eq!(types, OrderEvent::TYPES, "the sample covers every variant");
    for event in &events {
        assert_eq!(event_type(&order_event_to_proto(event)), event.type_name());
    }
}

#[test]
fn every_work_unit_event_maps_to_the_oneof_case_of_its_type() {
    let events = work_unit_events();
    let types: Vec<&str> = events.iter().map(WorkUnitEvent::type_name).collect();
    assert_eq!(
        types,
        WorkUnitEvent::TYPES,
        "the sample covers every variant"
    );
    for event in &events {
        assert_eq!(
            event_type(&work_unit_event_to_proto(event)),
            event.type_name()
        );
    }
}

#[test]
fn event_types_list_every_order_and_work_unit_event_once() {
    let all: BTreeSet<&str> = OrderEvent::TYPES
        .iter()
        .chain(WorkUnitEvent::TYPES)
        .chain(crate::domain::RecipeEvent::TYPES)
        .chain(crate::domain::ReasonCatalogueEvent::TYPES)
        .chain(crate::domain::PlantCalendarEvent::TYPES)
        .copied()
        .collect();
    let unique: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(unique, all);
    assert_eq!(unique.len(), EVENT_TYPES.len(), "no type listed twice");
}

#[test]
fn order_created_carries_id_routing_and_time() {
    let Event::OrderCreated(created) = order_event_to_proto(&order_events()[0]) else {
        panic!("expected OrderCreated");
    };
    assert_eq!(created.order_id, ORDER);
    assert_eq!(created.quantity, 100);
    let mut fill = step(10, &["filler-1", "filler-2"]);
    fill.name = "fill".to_owned();
    assert_eq!(created.routing, vec![fill]);
    assert_eq!(from_timestamp(created.at.as_ref(), "at"), Ok(t(0)));
}

#[test]
fn absent_optional_values_become_empty_strings() {
    let Event::WorkUnitRunning(running) = work_unit_event_to_proto(&work_unit_events()[2]) else {
        panic!("expected WorkUnitRunning");
    };
    assert_eq!(running.product, "");
}

#[test]
fn work_unit_disconnected_maps_its_reason_and_time() {
    let Event::WorkUnitDisconnected(lost) = work_unit_event_to_proto(&work_unit_events()[8]) else {
        panic!("expected WorkUnitDisconnected");
    };
    assert_eq!(lost.reason, "NDEATH edge node filler-1");
    assert_eq!(from_timestamp(lost.at.as_ref(), "at"), Ok(t(7)));
    let Event::WorkUnitDisconnected(bare) =
        work_unit_event_to_proto(&WorkUnitEvent::WorkUnitDisconnected {
            reason: None,
            at: t(7),
        })
    else {
        panic!("expected WorkUnitDisconnected");
    };
    assert_eq!(bare.reason, "");
}

#[test]
fn planned_shutdown_maps_its_window() {
    let Event::PlannedShutdownScheduled(shutdown) =
        work_unit_event_to_proto(&work_unit_events()[6])
    else {
        panic!("expected PlannedShutdownScheduled");
    };
    assert_eq!(from_timestamp(shutdown.from.as_ref(), "from"), Ok(t(30)));
    assert_eq!(from_timestamp(shutdown.until.as_ref(), "until"), Ok(t(45)));
    assert_eq!(shutdown.reason, "break");
}

// Requests.

fn create_request() -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        context: None,
        order_id: ORDER.to_owned(),
        product: "cola".to_owned(),
        quantity: 100,
        routing: vec![step(10, &["mixer-1"]), step(20, &["filler-1", "filler-2"])],
        at: ts(0),
        ..Default::default()
    }
}

#[test]
fn create_order_maps_every_field() {
    let parsed = create_order(create_request(), OrderId::generate).unwrap();
    assert_eq!(parsed.id, order());
    assert_eq!(parsed.command.expected_version, None);
    assert_eq!(
        parsed.caller,
        Caller {
            actor: ANONYMOUS.to_owned(),
            correlation_id: None,
            causation_id: None,
        }
    );
    let OrderCommand::Create {
        order: id,
        product,
        quantity,
        routing,
        at,
        ..
    } = parsed.command.command
    else {
        panic!("expected Create");
    };
    assert_eq!(
        (id, product, quantity, at),
        (order(), product_id("cola"), Units(100), t(0))
    );
    assert_eq!(routing.len(), 2);
    assert_eq!(
        routing[1].eligible_work_units,
        vec![wu("filler-1"), wu("filler-2")]
    );
}

#[test]
fn create_order_without_id_takes_the_generated_one() {
    let generated = OrderId::new(Uuid::from_u128(7));
    let req = pb::CreateOrderRequest {
        order_id: String::new(),
        ..create_request()
    };
    let parsed = create_order(req, || generated).unwrap();
    assert_eq!(parsed.id, generated);
    assert!(matches!(
        parsed.command.command,
        OrderCommand::Create { order, .. } if order == generated
    ));
}

#[test]
fn create_order_rejects_a_malformed_order_id() {
    let req = pb::CreateOrderRequest {
        order_id: "order-1".to_owned(),
        ..create_request()
    };
    let err = create_order(req, OrderId::generate).unwrap_err();
    assert_eq!(err.field(), "order_id");
    assert_eq!(
        err.to_string(),
        "field order_id is invalid: \"order-1\" is not a uuid"
    );
    assert_eq!(Status::from(err).code(), Code::InvalidArgument);
}

#[test]
fn create_order_rejects_an_empty_routing() {
    let req = pb::CreateOrderRequest {
        routing: vec![],
        ..create_request()
    };
    let err = create_order(req, OrderId::generate).unwrap_err();
    assert_eq!(err.to_string(), "field routing must not be empty");
}

#[test]
fn create_order_names_the_bad_eligible_work_unit() {
    let req = pb::CreateOrderRequest {
        routing: vec![step(10, &["mixer-1"]), step(20, &["filler-1", "filler 2"])],
        ..create_request()
    };
    let err = create_order(req, OrderId::generate).unwrap_err();
    assert_eq!(err.field(), "routing[1].eligible_work_units[1]");
}

#[test]
fn create_order_names_routing_steps_without_units_name_or_number() {
    let cases = [
        (step(10, &[]), "routing[0].eligible_work_units"),
        (
            pb::RoutingOperation {
                name: String::new(),
                ..step(10, &["mixer-1"])
            },
            "routing[0].name",
        ),
        (step(0, &["mixer-1"]), "routing[0].operation"),
    ];
    for (bad, field) in cases {
        let req = pb::CreateOrderRequest {
            routing: vec![bad],
            ..create_request()
        };
        assert_eq!(
            create_order(req, OrderId::generate).unwrap_err().field(),
            field
        );
    }
}

#[test]
fn create_order_requires_product_and_at() {
    let req = pb::CreateOrderRequest {
        product: String::new(),
        ..create_request()
    };
    assert_eq!(
        create_order(req, OrderId::generate)
            .unwrap_err()
            .to_string(),
        "field product is required"
    );
    let req = pb::CreateOrderRequest {
        at: None,
        ..create_request()
    };
    assert_eq!(
        create_order(req, OrderId::generate)
            .unwrap_err()
            .to_string(),
        "field at is required"
    );
}

#[test]
fn out_of_range_timestamps_are_rejected() {
    let req = pb::OrderCommandRequest {
        context: None,
        order_id: ORDER.to_owned(),
        at: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: -5,
        }),
    };
    assert_eq!(
        release_order(req).unwrap_err(),
        RequestError::BadTimestamp {
            field: "at".to_owned()
        }
    );
}

#[test]
fn command_context_gives_actor_correlation_causation_and_expected_version() {
    let correlation = Uuid::from_u128(42);
    let causation = Uuid::from_u128(43);
    let req = pb::OrderCommandRequest {
        context: Some(pb::CommandContext {
            actor: "alice".to_owned(),
            expected_version: Some(3),
            correlation_id: correlation.to_string(),
            causation_id: causation.to_string(),
            idempotency_key: "release-1".to_owned(),
            signature: None,
        }),
        order_id: ORDER.to_owned(),
        at: ts(1),
    };
    let parsed = release_order(req).unwrap();
    assert_eq!(
        parsed.command,
        Versioned::expecting(OrderCommand::Release { at: t(1) }, 3)
            .keyed(IdempotencyKey::new("release-1").unwrap())
    );
    assert_eq!(
        parsed.caller,
        Caller {
            actor: "alice".to_owned(),
            correlation_id: Some(correlation),
            causation_id: Some(causation),
        }
    );
}

#[test]
fn every_command_takes_the_idempotency_key_and_names_a_malformed_one() {
    let key = |value: &str| {
        Some(pb::CommandContext {
            idempotency_key: value.to_owned(),
            ..Default::default()
        })
    };
    let count = |context| pb::ReportCountRequest {
        context,
        work_unit: "f1".to_owned(),
        product: String::new(),
        total: 3,
        at: ts(5),
    };
    let parsed = report_count(count(key("plc-7:count:1"))).unwrap();
    assert_eq!(
        parsed.command.idempotency_key,
        IdempotencyKey::new("plc-7:count:1").ok()
    );
    assert_eq!(
        report_count(count(None)).unwrap().command.idempotency_key,
        None
    );
    for bad in ["  ".to_owned(), "k".repeat(257)] {
        let err = report_count(count(key(&bad))).unwrap_err();
        assert_eq!(err.field(), "context.idempotency_key");
        assert_eq!(Status::from(err).code(), Code::InvalidArgument);
    }
    let create = create_order(
        pb::CreateOrderRequest {
            context: key("create-1"),
            ..create_request()
        },
        OrderId::generate,
    )
    .unwrap();
    assert_eq!(
        create.command.idempotency_key,
        IdempotencyKey::new("create-1").ok()
    );
}

#[test]
fn malformed_correlation_id_is_rejected() {
    let req = pb::OrderCommandRequest {
        context: Some(pb::CommandContext {
            correlation_id: "abc".to_owned(),
            ..Default::default()
        }),
        order_id: ORDER.to_owned(),
        at: ts(1),
    };
    assert_eq!(
        release_order(req).unwrap_err().field(),
        "context.correlation_id"
    );
}

#[test]
fn order_commands_map_to_their_variants() {
    let req = || pb::OrderCommandRequest {
        context: None,
        order_id: ORDER.to_owned(),
        at: ts(1),
    };
    assert_eq!(
        resume_order(req()).unwrap().command.command,
        OrderCommand::Resume { at: t(1) }
    );
    assert_eq!(
        complete_order(req()).unwrap().command.command,
        OrderCommand::Complete { at: t(1) }
    );
    let reason_req = |reason: &str| pb::ReasonRequest {
        context: None,
        order_id: ORDER.to_owned(),
        reason: reason.to_owned(),
        at: ts(2),
    };
    assert_eq!(
        hold_order(reason_req("qa")).unwrap().command.command,
        OrderCommand::Hold {
            reason: why("qa"),
            at: t(2)
        }
    );
    assert_eq!(
        cancel_order(reason_req("gone")).unwrap().command.command,
        OrderCommand::Cancel {
            reason: why("gone"),
            at: t(2)
        }
    );
    assert_eq!(
        hold_order(reason_req("")).unwrap_err().to_string(),
        "field reason is required"
    );
    let missing_id = pb::OrderCommandRequest {
        order_id: String::new(),
        ..req()
    };
    assert_eq!(
        release_order(missing_id).unwrap_err().to_string(),
        "field order_id is required"
    );
}

#[test]
fn start_and_complete_operation_map_their_fields() {
    let start = start_operation(pb::StartOperationRequest {
        context: None,
        order_id: ORDER.to_owned(),
        operation: 20,
        work_unit: "filler-1".to_owned(),
        at: ts(3),
    })
    .unwrap();
    assert_eq!(
        start.command.command,
        OrderCommand::StartOperation {
            operation: OperationNumber(20),
            work_unit: wu("filler-1"),
            recipe: None,
            unit: crate::domain::StartingUnit::Unregistered,
            at: t(3)
        }
    );
    let bad_unit = start_operation(pb::StartOperationRequest {
        context: None,
        order_id: ORDER.to_owned(),
        operation: 20,
        work_unit: "filler/1".to_owned(),
        at: ts(3),
    })
    .unwrap_err();
    assert_eq!(bad_unit.field(), "work_unit");
    let complete = complete_operation(pb::CompleteOperationRequest {
        context: None,
        order_id: ORDER.to_owned(),
        operation: 0,
        at: ts(3),
    })
    .unwrap_err();
    assert_eq!(complete.to_string(), "field operation is required");
}

#[test]
fn report_quantity_rejects_negative_good_and_scrap() {
    let req = |good: i64, scrap: i64| pb::ReportQuantityRequest {
        context: None,
        order_id: ORDER.to_owned(),
        operation: 10,
        good,
        scrap,
        at: ts(4),
        scrap_reason: String::new(),
    };
    assert_eq!(
        report_quantity(req(-1, 0)).unwrap_err().to_string(),
        "field good must not be negative, got -1"
    );
    assert_eq!(report_quantity(req(5, -2)).unwrap_err().field(), "scrap");
    assert_eq!(
        report_quantity(req(5, 2)).unwrap().command.command,
        OrderCommand::ReportQuantity {
            operation: OperationNumber(10),
            good: Units(5),
            scrap: Units(2),
            scrap_reason: None,
            at: t(4)
        }
    );
    let with_reason = pb::ReportQuantityRequest {
        scrap_reason: "Burr".to_owned(),
        ..req(5, 2)
    };
    assert_eq!(
        report_quantity(with_reason).unwrap().command.command,
        OrderCommand::ReportQuantity {
            operation: OperationNumber(10),
            good: Units(5),
            scrap: Units(2),
            scrap_reason: Some((why("Burr"), None)),
            at: t(4)
        }
    );
}

#[test]
fn register_work_unit_leaves_zero_settings_to_the_domain_defaults() {
    let req = pb::RegisterWorkUnitRequest {
        context: None,
        work_unit: "site1.area2.line3.filler".to_owned(),
        name: "Filler".to_owned(),
        micro_stop_threshold_ms: 0,
        startup_window_ms: 120_000,
        at: ts(0),
    };
    let parsed = register_work_unit(req).unwrap();
    assert_eq!(parsed.id, wu("site1.area2.line3.filler"));
    assert_eq!(
        parsed.command.command,
        WorkUnitCommand::Register {
            work_unit: wu("site1.area2.line3.filler"),
            name: "Filler".to_owned(),
            micro_stop_threshold: None,
            startup_window: Some(Millis(120_000)),
            at: t(0)
        }
    );
}

#[test]
fn work_unit_requests_reject_bad_equipment_ids() {
    let err = report_running(pb::ReportRunningRequest {
        context: None,
        work_unit: "line 3".to_owned(),
        product: String::new(),
        at: ts(1),
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field work_unit is invalid: character ' ' is not allowed \
         (use A-Z, a-z, 0-9, '.', '_', ':' and '-')"
    );
    let missing = get_work_unit(&pb::GetWorkUnitRequest {
        work_unit: String::new(),
    })
    .unwrap_err();
    assert_eq!(missing.to_string(), "field work_unit is required");
}

#[test]
fn work_unit_commands_map_optional_fields_to_none() {
    let running = report_running(pb::ReportRunningRequest {
        context: None,
        work_unit: "f1".to_owned(),
        product: String::new(),
        at: ts(1),
    })
    .unwrap();
    assert_eq!(
        running.command.command,
        WorkUnitCommand::ReportRunning {
            product: None,
            at: t(1)
        }
    );
    let stopped = report_stopped(pb::ReportStoppedRequest {
        context: None,
        work_unit: "f1".to_owned(),
        reason: String::new(),
        at: ts(2),
    })
    .unwrap();
    assert_eq!(
        stopped.command.command,
        WorkUnitCommand::ReportStopped {
            reason: None,
            code: None,
            at: t(2)
        }
    );
    let setup = start_setup(pb::StartSetupRequest {
        context: None,
        work_unit: "f1".to_owned(),
        next_product: "fanta".to_owned(),
        at: ts(3),
    })
    .unwrap();
    assert_eq!(
        setup.command.command,
        WorkUnitCommand::StartSetup {
            next_product: Some(product_id("fanta")),
            at: t(3)
        }
    );
}

#[test]
fn report_disconnected_maps_an_optional_reason_and_requires_unit_and_time() {
    let req = |reason: String| pb::ReportDisconnectedRequest {
        context: None,
        work_unit: "f1".to_owned(),
        reason,
        at: ts(4),
    };
    assert_eq!(
        report_disconnected(req(String::new()))
            .unwrap()
            .command
            .command,
        WorkUnitCommand::ReportDisconnected {
            reason: None,
            at: t(4)
        }
    );
    let parsed = report_disconnected(req("NDEATH edge node f1".to_owned())).unwrap();
    assert_eq!(parsed.id, wu("f1"));
    assert_eq!(
        parsed.command.command,
        WorkUnitCommand::ReportDisconnected {
            reason: Some(why("NDEATH edge node f1")),
            at: t(4)
        }
    );
    let long = report_disconnected(req("x".repeat(513))).unwrap_err();
    assert_eq!(long.field(), "reason");
    assert_eq!(Status::from(long).code(), Code::InvalidArgument);
    let no_time = pb::ReportDisconnectedRequest {
        at: None,
        ..req(String::new())
    };
    assert_eq!(
        report_disconnected(no_time).unwrap_err().to_string(),
        "field at is required"
    );
    let no_unit = pb::ReportDisconnectedRequest {
        work_unit: String::new(),
        ..req(String::new())
    };
    assert_eq!(
        report_disconnected(no_unit).unwrap_err().field(),
        "work_unit"
    );
}

#[test]
fn end_setup_and_ideal_cycle_time_require_a_product() {
    let end = end_setup(pb::EndSetupRequest {
        context: None,
        work_unit: "f1".to_owned(),
        product: String::new(),
        at: ts(3),
    })
    .unwrap_err();
    assert_eq!(end.field(), "product");
    let cycle = set_ideal_cycle_time(pb::SetIdealCycleTimeRequest {
        context: None,
        work_unit: "f1".to_owned(),
        product: "cola".to_owned(),
        ideal_cycle_time_ms: 500,
        at: ts(3),
    })
    .unwrap();
    assert_eq!(
        cycle.command.command,
        WorkUnitCommand::SetIdealCycleTime {
            product: product_id("cola"),
            ideal_cycle_time: Millis(500),
            at: t(3)
        }
    );
}

#[test]
fn planned_shutdown_requires_both_ends_and_a_reason() {
    let req = || pb::SchedulePlannedShutdownRequest {
        context: None,
        work_unit: "f1".to_owned(),
        from: ts(30),
        until: ts(45),
        reason: "break".to_owned(),
    };
    let parsed = schedule_planned_shutdown(req()).unwrap();
    assert_eq!(mom_domain::Timed::at(&parsed.command.command), t(30));
    let no_until = pb::SchedulePlannedShutdownRequest {
        until: None,
        ..req()
    };
    assert_eq!(
        schedule_planned_shutdown(no_until).unwrap_err().to_string(),
        "field until is required"
    );
    let no_reason = pb::SchedulePlannedShutdownRequest {
        reason: String::new(),
        ..req()
    };
    assert_eq!(
        schedule_planned_shutdown(no_reason).unwrap_err().field(),
        "reason"
    );
}

#[test]
fn report_count_rejects_a_negative_total() {
    let req = |total: i64| pb::ReportCountRequest {
        context: None,
        work_unit: "f1".to_owned(),
        product: String::new(),
        total,
        at: ts(5),
    };
    assert_eq!(
        report_count(req(-3)).unwrap_err(),
        RequestError::Negative {
            field: "total".to_owned(),
            value: -3
        }
    );
    assert_eq!(
        report_count(req(3)).unwrap().command.command,
        WorkUnitCommand::ReportCount {
            total: Units(3),
            product: None,
            at: t(5)
        }
    );
}

// Replies.

fn fold_order(events: Vec<OrderEvent>) -> ProductionOrder {
    ProductionOrder::from_events(events)
}

fn fold_unit(events: Vec<WorkUnitEvent>) -> WorkUnit {
    WorkUnit::from_events(events)
}

#[test]
fn order_reply_shows_hold_progress_and_version() {
    let events: Vec<OrderEvent> = order_events().into_iter().take(6).collect();
    let reply = order_reply(&fold_order(events)).unwrap();
    assert_eq!(reply.order_id, ORDER);
    assert_eq!(reply.status(), pb::OrderStatus::OnHold);
    assert_eq!(reply.version, 6);
    assert_eq!(
        reply.operations,
        vec![pb::OperationProgress {
            operation: 10,
            name: "fill".to_owned(),
            status: pb::OperationStatus::Done.into(),
            work_unit: "filler-1".to_owned(),
            good: 90,
            scrap: 3,
            ..Default::default()
        }]
    );
}

#[test]
fn order_reply_of_a_cancelled_order_is_cancelled() {
    let mut events: Vec<OrderEvent> = order_events().into_iter().take(6).collect();
    events.push(order_events()[8].clone());
    let reply = order_reply(&fold_order(events)).unwrap();
    assert_eq!(reply.status(), pb::OrderStatus::Cancelled);
}

#[test]
fn order_reply_of_a_missing_order_is_not_found() {
    let err = order_reply(&ProductionOrder::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn work_unit_reply_lists_products_with_counts_and_cycle_times() {
    let events: Vec<WorkUnitEvent> = work_unit_events().into_iter().take(8).collect();
    let reply = work_unit_reply(&fold_unit(events)).unwrap();
    assert_eq!(reply.work_unit, "filler-1");
    assert_eq!(reply.state(), pb::WorkUnitState::Stopped);
    assert_eq!(reply.stop_reason, "");
    assert_eq!(reply.current_product, "fanta");
    assert_eq!(reply.total_count, 12);
    assert_eq!(reply.micro_stop_threshold_ms, 300_000);
    assert_eq!(reply.startup_window_ms, 600_000);
    assert_eq!(reply.version, 8);
    assert_eq!(
        reply.products,
        vec![
            pb::ProductCount {
                product: "cola".to_owned(),
                total: 0,
                ideal_cycle_time_ms: 500
            },
            pb::ProductCount {
                product: "fanta".to_owned(),
                total: 12,
                ideal_cycle_time_ms: 0
            },
        ]
    );
}

#[test]
fn work_unit_reply_shows_the_stop_reason_while_stopped() {
    let events: Vec<WorkUnitEvent> = work_unit_events().into_iter().take(4).collect();
    let reply = work_unit_reply(&fold_unit(events)).unwrap();
    assert_eq!(reply.state(), pb::WorkUnitState::Stopped);
    assert_eq!(reply.stop_reason, "jam");
}

#[test]
fn work_unit_reply_shows_unknown_and_what_was_lost_while_disconnected() {
    // The first nine sample events are the machine's; the recipe events after them do not
    // change its state.
    let reply = work_unit_reply(&fold_unit(work_unit_events())).unwrap();
    assert_eq!(reply.state(), pb::WorkUnitState::Unknown);
    assert_eq!(reply.stop_reason, "NDEATH edge node filler-1");
    assert_eq!(reply.total_count, 12);
    // The link events after them do not change its state either.
    assert_eq!(reply.version, work_unit_events().len() as u64);
}

#[test]
fn work_unit_reply_of_an_unregistered_unit_is_not_found() {
    let err = work_unit_reply(&WorkUnit::default()).unwrap_err();
    assert_eq!(err, WorkUnitError::NotRegistered);
}

#[test]
fn command_reply_carries_id_and_version() {
    assert_eq!(
        command_reply(&order(), 4),
        pb::CommandReply {
            aggregate_id: ORDER.to_owned(),
            version: 4
        }
    );
}

#[test]
fn every_recipe_event_maps_to_the_oneof_case_of_its_type() {
    use crate::domain::{ParameterName, RecipeEvent, RecipeId, RecipeParameter};
    let recipe = RecipeId::new("SKU-A/20").unwrap();
    let events = vec![
        RecipeEvent::RecipeDefined {
            recipe: recipe.clone(),
            product: product_id("SKU-A"),
            operation: OperationNumber(20),
            name: "Moulding".to_owned(),
            equipment_class: None,
            at: t(0),
        },
        RecipeEvent::RecipeVersionDrafted {
            recipe: recipe.clone(),
            version: 1,
            parameters: vec![RecipeParameter {
                name: ParameterName::new("temp").unwrap(),
                unit: String::new(),
                setpoint: 1.0,
                lower: 0.0,
                upper: 2.0,
                warn_lower: None,
                warn_upper: None,
                hold_on_deviation: false,
            }],
            note: "first".to_owned(),
            at: t(1),
        },
        RecipeEvent::RecipeVersionApproved {
            recipe: recipe.clone(),
            version: 1,
            at: t(2),
        },
        RecipeEvent::RecipeVersionSuperseded {
            recipe: recipe.clone(),
            version: 1,
            by_version: 2,
            at: t(3),
        },
        RecipeEvent::RecipeVersionRetired {
            recipe,
            version: 1,
            reason: why("obsolete"),
            at: t(4),
        },
    ];
    let types: Vec<&str> = events.iter().map(RecipeEvent::type_name).collect();
    assert_eq!(types, RecipeEvent::TYPES, "the sample covers every variant");
    for event in &events {
        assert_eq!(event_type(&recipe_event_to_proto(event)), event.type_name());
    }
}

#[test]
fn override_parameter_requires_a_reason_and_a_finite_setpoint() {
    let request = |reason: &str, setpoint: f64| pb::OverrideParameterRequest {
        context: None,
        work_unit: "filler-1".to_owned(),
        parameter: "temp".to_owned(),
        setpoint,
        reason: reason.to_owned(),
        at: ts(3),
    };
    let err = override_parameter(request("", 1.0)).unwrap_err();
    assert_eq!(err.field(), "reason");
    assert!(err.to_string().starts_with("field reason"), "{err}");
    assert_eq!(
        override_parameter(request("  ", 1.0)).unwrap_err().field(),
        "reason"
    );
    assert_eq!(
        override_parameter(request("cold", f64::NAN))
            .unwrap_err()
            .field(),
        "setpoint"
    );
    assert!(override_parameter(request("cold", 1.0)).is_ok());
}

#[test]
fn draft_recipe_version_names_the_parameter_field_at_fault() {
    let parameter = |name: &str| pb::RecipeParameter {
        name: name.to_owned(),
        setpoint: 1.0,
        lower: 0.0,
        upper: 2.0,
        ..Default::default()
    };
    let err = draft_recipe_version(pb::DraftRecipeVersionRequest {
        context: None,
        recipe: "SKU-A/20".to_owned(),
        parameters: vec![parameter("a"), parameter("b"), parameter("")],
        note: String::new(),
        at: ts(1),
    })
    .unwrap_err();
    assert_eq!(err.field(), "parameters[2].name");
    let err = draft_recipe_version(pb::DraftRecipeVersionRequest {
        context: None,
        recipe: "SKU-A".to_owned(),
        parameters: vec![parameter("a")],
        note: String::new(),
        at: ts(1),
    })
    .unwrap_err();
    assert_eq!(err.field(), "recipe");
}
