//! Given/when/then tests of the production order: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::DomainEvent;
use mom_domain::{DomainError, ErrorKind, EventType, Recorded, Rejected, Versioned};
use uuid::Uuid;

use super::*;

type OrderTest = TestFramework<ProductionOrder>;

fn order_id() -> OrderId {
    OrderId::new(Uuid::from_u128(0x0191_e1b4_7c1a_7000_8000_0000_0000_0001))
}

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn op(n: u32) -> OperationNumber {
    OperationNumber(n)
}

fn wu(id: &str) -> WorkUnitId {
    WorkUnitId::new(id).unwrap()
}

fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn step(n: u32, name: &str, units: &[&str]) -> RoutingOperation {
    RoutingOperation {
        operation: op(n),
        name: name.to_owned(),
        eligible_work_units: units.iter().map(|u| wu(u)).collect(),
    }
}

fn routing() -> Vec<RoutingOperation> {
    vec![
        step(10, "mix", &["mixer-1", "mixer-2"]),
        step(20, "fill", &["filler-1"]),
        step(30, "pack", &["packer-1"]),
    ]
}

fn create_command(quantity: u64, routing: Vec<RoutingOperation>) -> Versioned<OrderCommand> {
    OrderCommand::Create {
        order: order_id(),
        product: ProductId::new("cola-330ml").unwrap(),
        quantity: Units(quantity),
        routing,
        priority: Priority::default(),
        due: None,
        at: t(0),
    }
    .into()
}

fn created() -> OrderEvent {
    OrderEvent::OrderCreated {
        order_id: order_id(),
        product: ProductId::new("cola-330ml").unwrap(),
        quantity: Units(1000),
        routing: routing(),
        priority: Priority::default(),
        due: None,
        at: t(0),
    }
}

fn released() -> OrderEvent {
    OrderEvent::OrderReleased { at: t(1) }
}

fn started(n: u32, unit: &str) -> OrderEvent {
    OrderEvent::OperationStarted {
        operation: op(n),
        work_unit: wu(unit),
        recipe: None,
        counted: false,
        at: t(2),
    }
}

fn completed_op(n: u32) -> OrderEvent {
    OrderEvent::OperationCompleted {
        operation: op(n),
        at: t(3),
    }
}

fn reported(n: u32, unit: &str, good: u64, scrap: u64) -> OrderEvent {
    OrderEvent::QuantityReported {
        operation: op(n),
        work_unit: wu(unit),
        good: Units(good),
        scrap: Units(scrap),
        at: t(3),
        scrap_reason: None,
        scrap_reason_code: None,
    }
}

fn held() -> OrderEvent {
    OrderEvent::OrderHeld {
        reason: reason("waiting for material"),
        at: t(4),
    }
}

/// Events of an order whose operations 10 and 20 are done and 30 is running on packer-1.
fn last_operation_running() -> Vec<OrderEvent> {
    vec![
        created(),
        released(),
        started(10, "mixer-1"),
        reported(10, "mixer-1", 1000, 5),
        completed_op(10),
        started(20, "filler-1"),
        reported(20, "filler-1", 990, 10),
        completed_op(20),
        started(30, "packer-1"),
    ]
}

fn start(n: u32, unit: &str) -> Versioned<OrderCommand> {
    OrderCommand::StartOperation {
        operation: op(n),
        work_unit: wu(unit),
        recipe: None,
        unit: StartingUnit::Unregistered,
        at: t(2),
    }
    .into()
}

fn report(n: u32, good: u64, scrap: u64) -> Versioned<OrderCommand> {
    OrderCommand::ReportQuantity {
        operation: op(n),
        good: Units(good),
        scrap: Units(scrap),
        scrap_reason: None,
        at: t(3),
    }
    .into()
}

fn complete_op(n: u32) -> Versioned<OrderCommand> {
    OrderCommand::CompleteOperation {
        operation: op(n),
        at: t(3),
    }
    .into()
}

/// Returns the events as stored without idempotency keys.
fn recorded(events: Vec<OrderEvent>) -> Vec<Recorded<OrderEvent>> {
    events.into_iter().map(Recorded::new).collect()
}

fn rejected(given: Vec<OrderEvent>, command: Versioned<OrderCommand>) -> Rejected<OrderError> {
    OrderTest::with(())
        .given(recorded(given))
        .when(command)
        .inspect_result()
        .expect_err("command must be rejected")
}

// Create.

#[test]
fn create_records_the_order_with_its_routing() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(1000, routing()))
        .then_expect_events(recorded(vec![created()]));
}

#[test]
fn create_rejects_zero_quantity() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(0, routing()))
        .then_expect_error(Rejected::Domain(OrderError::ZeroQuantity));
}

#[test]
fn create_rejects_an_empty_routing() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(10, vec![]))
        .then_expect_error(Rejected::Domain(OrderError::EmptyRouting));
}

#[test]
fn create_rejects_duplicate_operation_numbers() {
    let routing = vec![
        step(10, "mix", &["mixer-1"]),
        step(10, "fill", &["filler-1"]),
    ];
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(10, routing))
        .then_expect_error_message("operation 10 appears more than once in the routing");
}

#[test]
fn create_rejects_operation_number_zero() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(10, vec![step(0, "mix", &["mixer-1"])]))
        .then_expect_error(Rejected::Domain(OrderError::ZeroOperationNumber));
}

#[test]
fn create_rejects_an_unnamed_operation() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(10, vec![step(10, " ", &["mixer-1"])]))
        .then_expect_error(Rejected::Domain(OrderError::UnnamedOperation {
            operation: op(10),
        }));
}

#[test]
fn create_rejects_an_operation_without_eligible_work_units() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(10, vec![step(10, "mix", &[])]))
        .then_expect_error_message("operation 10 lists no eligible work units");
}

#[test]
fn create_rejects_a_work_unit_listed_twice_for_one_operation() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(create_command(
            10,
            vec![step(10, "mix", &["mixer-1", "mixer-1"])],
        ))
        .then_expect_error(Rejected::Domain(OrderError::DuplicateEligibleWorkUnit {
            operation: op(10),
            work_unit: wu("mixer-1"),
        }));
}

#[test]
fn create_twice_is_rejected() {
    let err = rejected(vec![created()], create_command(1000, routing()));
    assert_eq!(
        err.to_string(),
        format!("order {} already exists", order_id())
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn validation_errors_are_invalid_arguments() {
    let err = rejected(vec![], create_command(0, routing()));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

// Commands before creation.

#[test]
fn commands_on_a_missing_order_are_not_found() {
    let err = rejected(vec![], OrderCommand::Release { at: t(1) }.into());
    assert_eq!(err, Rejected::Domain(OrderError::NotFound));
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// Expected version.

#[test]
fn matching_expected_version_is_accepted() {
    OrderTest::with(())
        .given(recorded(vec![created()]))
        .when(Versioned::expecting(OrderCommand::Release { at: t(1) }, 1))
        .then_expect_events(recorded(vec![released()]));
}

#[test]
fn stale_expected_version_is_a_conflict() {
    let err = rejected(
        vec![created(), released()],
        Versioned::expecting(
            OrderCommand::Hold {
                reason: reason("qa"),
                at: t(4),
            },
            1,
        ),
    );
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "order",
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "order is at version 2, not the expected version 1; reload it and retry"
    );
}

#[test]
fn expected_version_zero_guards_creation() {
    OrderTest::with(())
        .given_no_previous_events()
        .when(Versioned::expecting(
            create_command(1000, routing()).command,
            0,
        ))
        .then_expect_events(recorded(vec![created()]));
}

// Release.

#[test]
fn release_releases_a_created_order() {
    OrderTest::with(())
        .given(recorded(vec![created()]))
        .when(OrderCommand::Release { at: t(1) }.into())
        .then_expect_events(recorded(vec![released()]));
}

#[test]
fn release_twice_is_rejected() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(OrderCommand::Release { at: t(1) }.into())
        .then_expect_error(Rejected::Domain(OrderError::AlreadyReleased));
}

// Start operation.

#[test]
fn start_operation_starts_the_first_operation_of_a_released_order() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(start(10, "mixer-2"))
        .then_expect_events(recorded(vec![started(10, "mixer-2")]));
}

#[test]
fn start_operation_requires_a_released_order() {
    let err = rejected(vec![created()], start(10, "mixer-1"));
    assert_eq!(
        err.to_string(),
        "order is created; release it before starting operations"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn start_operation_waits_for_the_previous_operation_and_names_it() {
    let err = rejected(
        vec![created(), released(), started(10, "mixer-1")],
        start(20, "filler-1"),
    );
    assert_eq!(
        err.to_string(),
        "operation 20 cannot start: the previous operation 10 is running"
    );
}

#[test]
fn start_operation_names_a_pending_previous_operation() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(start(30, "packer-1"))
        .then_expect_error(Rejected::Domain(OrderError::PreviousOperationOpen {
            operation: op(30),
            previous: op(20),
            status: OperationStatus::Pending,
        }));
}

#[test]
fn start_operation_after_the_previous_one_is_done() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            completed_op(10),
        ]))
        .when(start(20, "filler-1"))
        .then_expect_events(recorded(vec![started(20, "filler-1")]));
}

#[test]
fn start_operation_rejects_an_ineligible_work_unit_and_lists_the_eligible_ones() {
    let err = rejected(vec![created(), released()], start(10, "filler-1"));
    assert_eq!(
        err.to_string(),
        "work unit filler-1 is not eligible for operation 10 (eligible: mixer-1, mixer-2)"
    );
    // Eligibility depends on the order's routing, not on the request alone.
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn start_operation_rejects_an_operation_outside_the_routing() {
    let err = rejected(vec![created(), released()], start(40, "mixer-1"));
    assert_eq!(
        err.to_string(),
        "operation 40 is not in the routing (operations: 10, 20, 30)"
    );
}

#[test]
fn start_operation_rejects_a_running_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
        ]))
        .when(start(10, "mixer-2"))
        .then_expect_error_message("operation 10 is already running on work unit mixer-1");
}

#[test]
fn start_operation_rejects_a_done_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            completed_op(10),
        ]))
        .when(start(10, "mixer-1"))
        .then_expect_error(Rejected::Domain(OrderError::OperationAlreadyDone {
            operation: op(10),
        }));
}

// Report quantity.

#[test]
fn report_quantity_records_good_and_scrap_on_the_running_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
        ]))
        .when(report(10, 500, 3))
        .then_expect_events(recorded(vec![reported(10, "mixer-1", 500, 3)]));
}

#[test]
fn report_quantity_records_the_scrap_reason_and_its_catalogue_code() {
    let code = crate::domain::ReasonCode::parse("burr").unwrap();
    let command = OrderCommand::ReportQuantity {
        operation: op(10),
        good: Units(500),
        scrap: Units(3),
        scrap_reason: Some((Reason::new("Burrs").unwrap(), Some(code.clone()))),
        at: t(3),
    };
    let OrderEvent::QuantityReported {
        operation,
        work_unit,
        good,
        scrap,
        at,
        ..
    } = reported(10, "mixer-1", 500, 3)
    else {
        unreachable!("reported gives QuantityReported");
    };
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
        ]))
        .when(command.into())
        .then_expect_events(recorded(vec![OrderEvent::QuantityReported {
            operation,
            work_unit,
            good,
            scrap,
            at,
            scrap_reason: Some(Reason::new("Burrs").unwrap()),
            scrap_reason_code: Some(code),
        }]));
}
#[test]
fn report_quantity_rejects_an_operation_that_is_not_running() {
    let err = rejected(vec![created(), released()], report(10, 5, 0));
    assert_eq!(err.to_string(), "operation 10 is pending, not running");
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn report_quantity_rejects_a_done_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            completed_op(10),
        ]))
        .when(report(10, 1, 0))
        .then_expect_error(Rejected::Domain(OrderError::OperationNotRunning {
            operation: op(10),
            status: OperationStatus::Done,
        }));
}

#[test]
fn report_quantity_rejects_nothing_to_report() {
    let err = rejected(
        vec![created(), released(), started(10, "mixer-1")],
        report(10, 0, 0),
    );
    assert_eq!(err, Rejected::Domain(OrderError::NothingReported));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn report_quantity_rejects_totals_that_would_overflow() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            reported(10, "mixer-1", u64::MAX, 0),
        ]))
        .when(report(10, 1, 0))
        .then_expect_error(Rejected::Domain(OrderError::QuantityOverflow {
            operation: op(10),
        }));
}

#[test]
fn report_quantity_rejects_an_unknown_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
        ]))
        .when(report(15, 1, 0))
        .then_expect_error(Rejected::Domain(OrderError::UnknownOperation {
            operation: op(15),
            routing: vec![op(10), op(20), op(30)],
        }));
}

// Complete operation.

#[test]
fn complete_operation_finishes_the_running_operation() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
        ]))
        .when(complete_op(10))
        .then_expect_events(recorded(vec![completed_op(10)]));
}

#[test]
fn complete_operation_rejects_a_pending_operation() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(complete_op(10))
        .then_expect_error_message("operation 10 is pending, not running");
}

// Hold and resume.

#[test]
fn hold_puts_an_active_order_on_hold() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(
            OrderCommand::Hold {
                reason: reason("waiting for material"),
                at: t(4),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![held()]));
}

#[test]
fn hold_rejects_an_order_already_on_hold() {
    OrderTest::with(())
        .given(recorded(vec![created(), released(), held()]))
        .when(
            OrderCommand::Hold {
                reason: reason("again"),
                at: t(5),
            }
            .into(),
        )
        .then_expect_error(Rejected::Domain(OrderError::OnHold {
            reason: reason("waiting for material"),
        }));
}

#[test]
fn a_held_order_rejects_everything_but_resume_and_cancel() {
    let given = vec![created(), released(), started(10, "mixer-1"), held()];
    let commands: Vec<Versioned<OrderCommand>> = vec![
        OrderCommand::Release { at: t(5) }.into(),
        start(20, "filler-1"),
        report(10, 1, 0),
        complete_op(10),
        OrderCommand::Complete { at: t(5) }.into(),
    ];
    for command in commands {
        let err = rejected(given.clone(), command);
        assert_eq!(
            err.to_string(),
            "order is on hold (waiting for material); only resume and cancel are allowed"
        );
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }
}

#[test]
fn resume_lifts_the_hold_and_work_continues() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            held(),
        ]))
        .when(OrderCommand::Resume { at: t(6) }.into())
        .then_expect_events(recorded(vec![OrderEvent::OrderResumed { at: t(6) }]));
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            started(10, "mixer-1"),
            held(),
            OrderEvent::OrderResumed { at: t(6) },
        ]))
        .when(report(10, 7, 0))
        .then_expect_events(recorded(vec![reported(10, "mixer-1", 7, 0)]));
}

#[test]
fn resume_rejects_an_order_that_is_not_on_hold() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(OrderCommand::Resume { at: t(6) }.into())
        .then_expect_error(Rejected::Domain(OrderError::NotOnHold));
}

// Complete order.

#[test]
fn complete_order_sums_good_of_the_last_operation_and_all_scrap() {
    let mut given = last_operation_running();
    given.push(reported(30, "packer-1", 980, 2));
    given.push(completed_op(30));
    OrderTest::with(())
        .given(recorded(given))
        .when(OrderCommand::Complete { at: t(9) }.into())
        .then_expect_events(recorded(vec![OrderEvent::OrderCompleted {
            good: Units(980),
            scrap: Units(17),
            at: t(9),
        }]));
}

#[test]
fn complete_order_names_the_operations_still_open() {
    let err = rejected(
        vec![
            created(),
            released(),
            started(10, "mixer-1"),
            completed_op(10),
            started(20, "filler-1"),
        ],
        OrderCommand::Complete { at: t(9) }.into(),
    );
    assert_eq!(
        err.to_string(),
        "order cannot complete: operations 20, 30 are not done"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Cancel.

#[test]
fn cancel_cancels_an_order_even_on_hold() {
    OrderTest::with(())
        .given(recorded(vec![created(), released(), held()]))
        .when(
            OrderCommand::Cancel {
                reason: reason("customer withdrew"),
                at: t(7),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![OrderEvent::OrderCancelled {
            reason: reason("customer withdrew"),
            at: t(7),
        }]));
}

// Closed orders.

#[test]
fn a_cancelled_order_accepts_nothing() {
    let cancelled = OrderEvent::OrderCancelled {
        reason: reason("customer withdrew"),
        at: t(7),
    };
    let commands: Vec<Versioned<OrderCommand>> = vec![
        OrderCommand::Release { at: t(8) }.into(),
        OrderCommand::Resume { at: t(8) }.into(),
        OrderCommand::Cancel {
            reason: reason("again"),
            at: t(8),
        }
        .into(),
        start(10, "mixer-1"),
    ];
    for command in commands {
        let err = rejected(vec![created(), cancelled.clone()], command);
        assert_eq!(
            err.to_string(),
            "order is cancelled; it accepts no further commands"
        );
    }
}

#[test]
fn a_completed_order_accepts_nothing() {
    let mut given = last_operation_running();
    given.push(completed_op(30));
    given.push(OrderEvent::OrderCompleted {
        good: Units(990),
        scrap: Units(15),
        at: t(9),
    });
    OrderTest::with(())
        .given(recorded(given))
        .when(
            OrderCommand::Hold {
                reason: reason("late"),
                at: t(10),
            }
            .into(),
        )
        .then_expect_error(Rejected::Domain(OrderError::Closed {
            status: OrderStatus::Completed,
        }));
}

// Fold.

#[test]
fn evolve_tracks_status_operations_and_version() {
    let order = ProductionOrder::from_events(last_operation_running());
    assert_eq!(order.version(), 9);
    let state = order.state().as_ref().unwrap();
    assert_eq!(state.status(), OrderStatus::InProgress);
    let statuses: Vec<_> = state.operations().iter().map(Operation::status).collect();
    assert_eq!(
        statuses,
        vec![
            OperationStatus::Done,
            OperationStatus::Done,
            OperationStatus::Running
        ]
    );
    assert_eq!(state.operations()[1].good(), Units(990));
    assert_eq!(state.operations()[2].work_unit(), Some(&wu("packer-1")));
    assert_eq!(state.scrap(), Units(15));
}

#[test]
fn handle_applies_the_events_it_writes() {
    let mut order = ProductionOrder::default();
    let events = order.decide(create_command(1000, routing())).unwrap();
    for event in events {
        order.evolve(event);
    }
    assert_eq!(order.version(), 1);
    assert_eq!(
        order.state().as_ref().map(OrderState::status),
        Some(OrderStatus::Created)
    );
}

#[test]
fn events_round_trip_through_json_with_their_type_names() {
    let mut events = last_operation_running();
    events.push(held());
    events.push(OrderEvent::OrderResumed { at: t(6) });
    events.push(OrderEvent::OrderCompleted {
        good: Units(1),
        scrap: Units(2),
        at: t(9),
    });
    events.push(OrderEvent::OrderCancelled {
        reason: reason("x"),
        at: t(9),
    });
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get(event.type_name()).is_some(), "{json}");
        let back: OrderEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let stored = Recorded::new(event);
        assert!(OrderEvent::TYPES.contains(&stored.event_type().as_str()));
        assert_eq!(stored.event_version(), "1");
    }
}

#[test]
fn snapshot_state_round_trips_through_json() {
    let mut order = ProductionOrder::from_events(last_operation_running());
    order.evolve(Recorded::new(held()));
    let json = serde_json::to_string(&order).unwrap();
    let back: ProductionOrder = serde_json::from_str(&json).unwrap();
    assert_eq!(back, order);
}

#[test]
fn events_stored_bare_by_the_old_code_load_and_fold() {
    // As the code before the kernel stored them: `serde_json::to_value(&OrderEvent)`, no wrapper
    // and no key.
    let stored = [
        r#"{"OrderCreated":{"order_id":"0191e1b4-7c1a-7000-8000-000000000001","product":"cola-330ml","quantity":1000,"routing":[{"operation":10,"name":"mix","eligible_work_units":["mixer-1","mixer-2"]},{"operation":20,"name":"fill","eligible_work_units":["filler-1"]},{"operation":30,"name":"pack","eligible_work_units":["packer-1"]}],"at":"2026-03-02T06:00:00Z"}}"#,
        r#"{"OrderReleased":{"at":"2026-03-02T06:01:00Z"}}"#,
    ];
    let events: Vec<Recorded<OrderEvent>> = stored
        .iter()
        .map(|json| serde_json::from_str(json).unwrap())
        .collect();
    assert_eq!(events, recorded(vec![created(), released()]));
    let mut order = ProductionOrder::default();
    for event in events {
        order.evolve(event);
    }
    assert_eq!(order.version(), 2);
    assert_eq!(
        order.state().as_ref().map(OrderState::status),
        Some(OrderStatus::Released)
    );
}

// Dispatching (docs/dispatching.md).

mod dispatching;
