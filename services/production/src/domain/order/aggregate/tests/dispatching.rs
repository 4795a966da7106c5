//! Given/when/then tests of dispatching: priority and due date, sequence, dispatch and
//! re-dispatch, the product check on start and the work unit's counts.

use super::*;
use crate::domain::order::commands::DueChange;

fn planning(priority: Option<u32>, due: DueChange) -> Versioned<OrderCommand> {
    OrderCommand::ChangePlanning {
        priority: priority.and_then(Priority::new),
        due,
        at: t(5),
    }
    .into()
}

fn dispatch(n: u32, unit: &str) -> Versioned<OrderCommand> {
    OrderCommand::Dispatch {
        operation: op(n),
        work_unit: wu(unit),
        at: t(2),
    }
    .into()
}

fn dispatched(n: u32, unit: &str) -> OrderEvent {
    OrderEvent::OperationDispatched {
        operation: op(n),
        work_unit: wu(unit),
        at: t(2),
    }
}

fn redispatch(n: u32, unit: &str) -> Versioned<OrderCommand> {
    OrderCommand::Redispatch {
        operation: op(n),
        work_unit: wu(unit),
        reason: reason("mixer-1 is down"),
        at: t(2),
    }
    .into()
}

fn sequence(center: &str, position: u32) -> Versioned<OrderCommand> {
    OrderCommand::Sequence {
        work_center: WorkCenterId::new(center).unwrap(),
        position,
        at: t(2),
    }
    .into()
}

fn start_on(n: u32, unit: &str, current_product: Option<&str>) -> Versioned<OrderCommand> {
    OrderCommand::StartOperation {
        operation: op(n),
        work_unit: wu(unit),
        recipe: None,
        unit: StartingUnit::Registered {
            current_product: current_product.map(|p| ProductId::new(p).unwrap()),
        },
        at: t(2),
    }
    .into()
}

fn counted_start(n: u32, unit: &str) -> OrderEvent {
    OrderEvent::OperationStarted {
        operation: op(n),
        work_unit: wu(unit),
        recipe: None,
        counted: true,
        at: t(2),
    }
}

fn count(n: u32, unit: &str, total: u64, sequence: u64) -> Versioned<OrderCommand> {
    OrderCommand::RecordCount {
        operation: op(n),
        work_unit: wu(unit),
        total: Units(total),
        count_sequence: sequence,
        at: t(3),
    }
    .into()
}

#[test]
fn create_records_priority_and_due_date() {
    let command = OrderCommand::Create {
        order: order_id(),
        product: ProductId::new("cola-330ml").unwrap(),
        quantity: Units(1000),
        routing: routing(),
        priority: Priority::new(2).unwrap(),
        due: Some(t(600)),
        at: t(0),
    };
    let OrderEvent::OrderCreated { priority, due, .. } = OrderTest::with(())
        .given_no_previous_events()
        .when(command.into())
        .inspect_result()
        .unwrap()
        .remove(0)
        .event
    else {
        panic!("expected OrderCreated");
    };
    assert_eq!((priority.get(), due), (2, Some(t(600))));
}

#[test]
fn change_planning_records_priority_and_due_date_as_they_are_now() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(planning(Some(1), DueChange::Set(t(480))))
        .then_expect_events(recorded(vec![OrderEvent::OrderPlanningChanged {
            priority: Priority::new(1).unwrap(),
            due: Some(t(480)),
            at: t(5),
        }]));
}

#[test]
fn change_planning_to_what_it_is_stores_nothing() {
    OrderTest::with(())
        .given(recorded(vec![created()]))
        .when(planning(Some(5), DueChange::Clear))
        .then_expect_events(vec![]);
}

#[test]
fn sequence_puts_a_released_order_in_a_work_center_queue() {
    let routing = vec![step(
        10,
        "fill",
        &["site1.line1.filler-1", "site1.line2.filler-2"],
    )];
    let created = OrderEvent::OrderCreated {
        order_id: order_id(),
        product: ProductId::new("cola-330ml").unwrap(),
        quantity: Units(10),
        routing,
        priority: Priority::default(),
        due: None,
        at: t(0),
    };
    OrderTest::with(())
        .given(recorded(vec![created.clone(), released()]))
        .when(sequence("site1.line2", 3))
        .then_expect_events(recorded(vec![OrderEvent::OrderSequenced {
            work_center: WorkCenterId::new("site1.line2").unwrap(),
            position: 3,
            at: t(2),
        }]));
    let err = rejected(
        vec![created.clone(), released()],
        sequence("site1.line9", 3),
    );
    assert_eq!(
        err.to_string(),
        "work center site1.line9 runs no open operation of the order (work centers: site1.line1, site1.line2)"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![created.clone(), released()],
        sequence("site1.line1", 0),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(vec![created], sequence("site1.line1", 1));
    assert_eq!(
        err.to_string(),
        "order is created; release it before starting operations"
    );
}

#[test]
fn dispatch_sends_a_pending_operation_to_an_eligible_unit() {
    OrderTest::with(())
        .given(recorded(vec![created(), released()]))
        .when(dispatch(10, "mixer-2"))
        .then_expect_events(recorded(vec![dispatched(10, "mixer-2")]));
}

#[test]
fn dispatch_refuses_an_unreleased_held_or_ineligible_order() {
    let err = rejected(vec![created()], dispatch(10, "mixer-1"));
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(vec![created(), released(), held()], dispatch(10, "mixer-1"));
    assert!(err.to_string().contains("on hold"), "{err}");
    let err = rejected(vec![created(), released()], dispatch(10, "filler-1"));
    assert_eq!(
        err.to_string(),
        "work unit filler-1 is not eligible for operation 10 (eligible: mixer-1, mixer-2)"
    );
    let cancelled = OrderEvent::OrderCancelled {
        reason: reason("no demand"),
        at: t(3),
    };
    let err = rejected(
        vec![created(), released(), cancelled],
        dispatch(10, "mixer-1"),
    );
    assert_eq!(
        err.to_string(),
        "order is cancelled; it accepts no further commands"
    );
}

#[test]
fn dispatch_of_a_dispatched_operation_asks_for_a_redispatch() {
    let given = vec![created(), released(), dispatched(10, "mixer-1")];
    let err = rejected(given.clone(), dispatch(10, "mixer-2"));
    assert_eq!(
        err.to_string(),
        "operation 10 is already dispatched to work unit mixer-1; re-dispatch it to move it"
    );
    OrderTest::with(())
        .given(recorded(given))
        .when(dispatch(10, "mixer-1"))
        .then_expect_events(vec![]);
}

#[test]
fn redispatch_moves_a_dispatched_operation_with_its_reason() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            dispatched(10, "mixer-1"),
        ]))
        .when(redispatch(10, "mixer-2"))
        .then_expect_events(recorded(vec![OrderEvent::OperationRedispatched {
            operation: op(10),
            from_work_unit: wu("mixer-1"),
            work_unit: wu("mixer-2"),
            reason: reason("mixer-1 is down"),
            at: t(2),
        }]));
}

#[test]
fn redispatch_refuses_undispatched_started_and_same_unit() {
    let err = rejected(vec![created(), released()], redispatch(10, "mixer-2"));
    assert_eq!(
        err.to_string(),
        "operation 10 is not dispatched; dispatch it first"
    );
    let err = rejected(
        vec![created(), released(), dispatched(10, "mixer-1")],
        redispatch(10, "mixer-1"),
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![
            created(),
            released(),
            dispatched(10, "mixer-1"),
            started(10, "mixer-1"),
        ],
        redispatch(10, "mixer-2"),
    );
    assert_eq!(
        err.to_string(),
        "operation 10 is already running on work unit mixer-1"
    );
}

#[test]
fn start_on_another_unit_than_the_dispatched_one_is_refused() {
    let err = rejected(
        vec![created(), released(), dispatched(10, "mixer-1")],
        start(10, "mixer-2"),
    );
    assert_eq!(
        err.to_string(),
        "operation 10 is dispatched to work unit mixer-1, not mixer-2; re-dispatch it first"
    );
}

#[test]
fn start_on_a_unit_set_up_for_another_product_is_refused_naming_both() {
    let err = rejected(
        vec![created(), released()],
        start_on(10, "mixer-1", Some("lemonade-1l")),
    );
    assert_eq!(
        err.to_string(),
        "work unit mixer-1 is set up for product lemonade-1l, the order makes cola-330ml; set the unit up for cola-330ml first"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn start_on_a_registered_unit_of_the_product_or_none_is_counted() {
    for current in [Some("cola-330ml"), None] {
        OrderTest::with(())
            .given(recorded(vec![
                created(),
                released(),
                dispatched(10, "mixer-1"),
            ]))
            .when(start_on(10, "mixer-1", current))
            .then_expect_events(recorded(vec![counted_start(10, "mixer-1")]));
    }
}

#[test]
fn counts_are_the_running_operations_good_pieces() {
    let given = vec![created(), released(), counted_start(10, "mixer-1")];
    OrderTest::with(())
        .given(recorded(given.clone()))
        .when(count(10, "mixer-1", 40, 7))
        .then_expect_events(recorded(vec![OrderEvent::OperationCounted {
            operation: op(10),
            work_unit: wu("mixer-1"),
            total: Units(40),
            count_sequence: 7,
            at: t(3),
        }]));
    let mut order = ProductionOrder::from_events(given);
    order.evolve(Recorded::new(OrderEvent::OperationCounted {
        operation: op(10),
        work_unit: wu("mixer-1"),
        total: Units(40),
        count_sequence: 7,
        at: t(3),
    }));
    let state = order.state().as_ref().unwrap();
    assert_eq!(state.operations()[0].good(), Units(40));
    assert!(state.operations()[0].counted());
}

#[test]
fn a_count_from_another_unit_or_a_pending_operation_is_refused() {
    let err = rejected(
        vec![created(), released(), counted_start(10, "mixer-1")],
        count(10, "mixer-2", 5, 3),
    );
    assert_eq!(
        err.to_string(),
        "operation 10 runs on work unit mixer-1, not mixer-2"
    );
    let err = rejected(vec![created(), released()], count(10, "mixer-1", 5, 3));
    assert_eq!(err.to_string(), "operation 10 is pending, not running");
}

#[test]
fn a_held_order_still_takes_its_units_counts() {
    OrderTest::with(())
        .given(recorded(vec![
            created(),
            released(),
            counted_start(10, "mixer-1"),
            held(),
        ]))
        .when(count(10, "mixer-1", 5, 9))
        .then_expect_events(recorded(vec![OrderEvent::OperationCounted {
            operation: op(10),
            work_unit: wu("mixer-1"),
            total: Units(5),
            count_sequence: 9,
            at: t(3),
        }]));
}

#[test]
fn good_by_hand_is_refused_for_a_counted_operation() {
    let err = rejected(
        vec![created(), released(), counted_start(10, "mixer-1")],
        report(10, 5, 0),
    );
    assert_eq!(
        err.to_string(),
        "operation 10 runs on work unit mixer-1, whose counts are its good pieces; report only scrap by hand"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn scrap_by_hand_on_a_counted_operation_is_taken_out_of_the_counted_pieces() {
    let given = vec![
        created(),
        released(),
        counted_start(10, "mixer-1"),
        OrderEvent::OperationCounted {
            operation: op(10),
            work_unit: wu("mixer-1"),
            total: Units(100),
            count_sequence: 4,
            at: t(3),
        },
    ];
    OrderTest::with(())
        .given(recorded(given.clone()))
        .when(report(10, 0, 7))
        .then_expect_events(recorded(vec![reported(10, "mixer-1", 0, 7)]));
    let mut order = ProductionOrder::from_events(given);
    order.evolve(Recorded::new(reported(10, "mixer-1", 0, 7)));
    let op10 = &order.state().as_ref().unwrap().operations()[0];
    assert_eq!((op10.good(), op10.scrap()), (Units(93), Units(7)));
}

#[test]
fn work_centers_are_the_parents_of_open_operations_units() {
    let order = ProductionOrder::from_events(vec![created()]);
    let centers: Vec<String> = order
        .state()
        .as_ref()
        .unwrap()
        .work_centers()
        .iter()
        .map(ToString::to_string)
        .collect();
    // Units without a `.` stand alone: each is its own work center.
    assert_eq!(centers, ["filler-1", "mixer-1", "mixer-2", "packer-1"]);
}
