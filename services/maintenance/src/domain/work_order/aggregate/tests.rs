//! Given/when/then tests of the work order: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;

use super::*;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Rejected, Versioned};

use crate::domain::ids::PlanId;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn order_id() -> WorkOrderId {
    "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap()
}

fn unit() -> AssetId {
    AssetId::new("filler-1").unwrap()
}

fn mode() -> FailureMode {
    FailureMode::new("bearing_seized").unwrap()
}

fn cola() -> ProductId {
    ProductId::new("cola").unwrap()
}

fn equipment(found: Option<(AssetLevel, bool)>) -> Equipment {
    Equipment { id: unit(), found }
}

fn active_unit() -> Equipment {
    equipment(Some((AssetLevel::WorkUnit, false)))
}

fn report(failure_start: i64, at: i64, equipment: Equipment) -> WorkOrderCommand {
    WorkOrderCommand::ReportBreakdown {
        work_order: order_id(),
        equipment,
        failure_mode: mode(),
        failure_start: t(failure_start),
        product: Some(cola()),
        description: None,
        at: t(at),
    }
}

fn reported() -> WorkOrderEvent {
    WorkOrderEvent::BreakdownReported {
        work_order: order_id(),
        work_unit: unit(),
        failure_mode: mode(),
        failure_start: t(10),
        product: Some(cola()),
        description: None,
        at: t(12),
    }
}

fn plan_occurrence() -> PlanOccurrence {
    PlanOccurrence {
        plan: PlanId::new("lube").unwrap(),
        occurrence: 3,
    }
}

fn preventive() -> WorkOrderEvent {
    WorkOrderEvent::PreventiveWorkRequested {
        work_order: order_id(),
        work_unit: unit(),
        plan: Some(plan_occurrence()),
        description: None,
        at: t(0),
    }
}

fn started(minute: i64) -> WorkOrderEvent {
    WorkOrderEvent::WorkStarted {
        work_unit: unit(),
        at: t(minute),
    }
}

fn scheduled(from: i64, until: i64, at: i64) -> WorkOrderEvent {
    WorkOrderEvent::WorkOrderScheduled {
        work_unit: unit(),
        from: t(from),
        until: t(until),
        at: t(at),
    }
}

fn schedule(from: i64, until: i64, at: i64) -> WorkOrderCommand {
    WorkOrderCommand::Schedule {
        from: t(from),
        until: t(until),
        at: t(at),
    }
}

fn cancel(at: i64) -> WorkOrderCommand {
    WorkOrderCommand::Cancel {
        reason: Reason::new("false alarm").unwrap(),
        at: t(at),
    }
}

fn given(events: Vec<WorkOrderEvent>) -> WorkOrder {
    let mut order = WorkOrder::default();
    for event in events {
        order.evolve(event.into());
    }
    order
}

fn when(
    given_events: Vec<WorkOrderEvent>,
    command: WorkOrderCommand,
) -> Result<Vec<WorkOrderEvent>, Rejected<WorkOrderError>> {
    given(given_events)
        .decide(command.into())
        .map(|events| events.into_iter().map(|recorded| recorded.event).collect())
}

fn rejected(given_events: Vec<WorkOrderEvent>, command: WorkOrderCommand) -> WorkOrderError {
    match when(given_events, command).unwrap_err() {
        Rejected::Domain(err) => err,
        other => panic!("expected a rejection by the rules, got {other:?}"),
    }
}

// Requests.

#[test]
fn report_breakdown_requests_a_corrective_order() {
    TestFramework::<WorkOrder>::with(())
        .given_no_previous_events()
        .when(report(10, 12, active_unit()).into())
        .then_expect_events(vec![reported().into()]);
    let order = given(vec![reported()]);
    let state = order.state().as_ref().unwrap();
    assert_eq!(state.status(), WorkOrderStatus::Requested);
    assert!(matches!(state.kind(), WorkOrderKind::Corrective { .. }));
}

#[test]
fn report_breakdown_rejects_a_failure_that_starts_after_the_report() {
    let err = rejected(vec![], report(13, 12, active_unit()));
    assert_eq!(
        err,
        WorkOrderError::FailureStartsAfterReport {
            failure_start: t(13),
            at: t(12)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn new_orders_need_a_registered_active_work_unit() {
    let err = rejected(vec![], report(10, 12, equipment(None)));
    assert_eq!(err, WorkOrderError::UnknownWorkUnit { work_unit: unit() });
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = rejected(
        vec![],
        report(10, 12, equipment(Some((AssetLevel::Area, false)))),
    );
    assert_eq!(
        err.to_string(),
        "asset filler-1 is of level area, not a work unit"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![],
        WorkOrderCommand::RequestPreventive {
            work_order: order_id(),
            equipment: equipment(Some((AssetLevel::WorkUnit, true))),
            plan: None,
            description: None,
            at: t(0),
        },
    );
    assert_eq!(err, WorkOrderError::WorkUnitRetired { work_unit: unit() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn request_preventive_work_from_a_plan() {
    let events = when(
        vec![],
        WorkOrderCommand::RequestPreventive {
            work_order: order_id(),
            equipment: active_unit(),
            plan: Some(plan_occurrence()),
            description: None,
            at: t(0),
        },
    )
    .unwrap();
    assert_eq!(events, vec![preventive()]);
}

#[test]
fn a_second_request_on_the_same_id_is_rejected() {
    let err = rejected(vec![reported()], report(10, 12, active_unit()));
    assert_eq!(
        err,
        WorkOrderError::AlreadyExists {
            work_order: order_id()
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn commands_on_a_missing_order_are_not_found() {
    for command in [
        schedule(0, 10, 0),
        WorkOrderCommand::Start { at: t(1) },
        WorkOrderCommand::Complete { at: t(1) },
        cancel(1),
    ] {
        let err = rejected(vec![], command);
        assert_eq!(err, WorkOrderError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

// Scheduling.

#[test]
fn a_preventive_window_announced_in_advance_is_a_planned_shutdown() {
    let events = when(vec![preventive()], schedule(60, 120, 30)).unwrap();
    assert_eq!(
        events,
        vec![WorkOrderEvent::PmWindowScheduled {
            work_unit: unit(),
            plan: Some(PlanId::new("lube").unwrap()),
            from: t(60),
            until: t(120),
            reason: Reason::new("preventive maintenance plan lube").unwrap(),
            at: t(30),
        }]
    );
    let order = given(vec![preventive(), events[0].clone()]);
    assert_eq!(
        order.state().as_ref().unwrap().status(),
        WorkOrderStatus::Scheduled
    );
    assert_eq!(
        order.state().as_ref().unwrap().window(),
        Some((t(60), t(120)))
    );
}

#[test]
fn a_preventive_window_announced_late_is_a_plain_schedule() {
    let events = when(vec![preventive()], schedule(60, 120, 61)).unwrap();
    assert_eq!(events, vec![scheduled(60, 120, 61)]);
}

#[test]
fn a_corrective_order_schedules_without_planned_shutdown() {
    let events = when(vec![reported()], schedule(20, 40, 15)).unwrap();
    assert_eq!(events, vec![scheduled(20, 40, 15)]);
}

#[test]
fn schedule_rejects_a_window_that_ends_before_it_starts() {
    for until in [59, 60] {
        let err = rejected(vec![preventive()], schedule(60, until, 0));
        assert_eq!(
            err,
            WorkOrderError::EmptyWindow {
                from: t(60),
                until: t(until)
            }
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn schedule_is_only_for_requested_orders() {
    let err = rejected(vec![preventive(), scheduled(1, 2, 0)], schedule(3, 4, 0));
    assert_eq!(
        err.to_string(),
        "work order is scheduled; cannot schedule it"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Work.

#[test]
fn work_starts_from_requested_or_scheduled() {
    assert_eq!(
        when(vec![reported()], WorkOrderCommand::Start { at: t(15) }).unwrap(),
        vec![started(15)]
    );
    assert_eq!(
        when(
            vec![preventive(), scheduled(60, 120, 0)],
            WorkOrderCommand::Start { at: t(61) }
        )
        .unwrap(),
        vec![started(61)]
    );
    let err = rejected(
        vec![reported(), started(15)],
        WorkOrderCommand::Start { at: t(16) },
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn a_repair_cannot_start_before_the_failure() {
    let err = rejected(vec![reported()], WorkOrderCommand::Start { at: t(9) });
    assert_eq!(
        err,
        WorkOrderError::RepairBeforeFailure {
            failure_start: t(10),
            at: t(9)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn completing_a_corrective_order_emits_the_failure_interval() {
    let events = when(
        vec![reported(), started(15)],
        WorkOrderCommand::Complete { at: t(45) },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![WorkOrderEvent::BreakdownRepaired {
            work_unit: unit(),
            failure_mode: mode(),
            product: Some(cola()),
            failure_start: t(10),
            repair_start: t(15),
            repair_end: t(45),
        }]
    );
    assert_eq!(events[0].event_time(), t(45));
    let order = given(vec![reported(), started(15), events[0].clone()]);
    assert_eq!(
        order.state().as_ref().unwrap().status(),
        WorkOrderStatus::Done
    );
    assert_eq!(order.state().as_ref().unwrap().completed(), Some(t(45)));
}

#[test]
fn completing_a_preventive_order_emits_its_completion() {
    let events = when(
        vec![preventive(), started(60)],
        WorkOrderCommand::Complete { at: t(90) },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![WorkOrderEvent::PreventiveWorkCompleted {
            work_unit: unit(),
            plan: Some(PlanId::new("lube").unwrap()),
            started: t(60),
            at: t(90),
        }]
    );
}

#[test]
fn complete_needs_work_in_progress_and_an_end_after_the_start() {
    let err = rejected(vec![reported()], WorkOrderCommand::Complete { at: t(45) });
    assert_eq!(
        err.to_string(),
        "work order is requested; cannot complete it"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![reported(), started(15)],
        WorkOrderCommand::Complete { at: t(14) },
    );
    assert_eq!(
        err,
        WorkOrderError::EndsBeforeStart {
            started: t(15),
            at: t(14)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

// Cancel.

#[test]
fn cancel_before_work_started() {
    for history in [vec![reported()], vec![preventive(), scheduled(60, 120, 0)]] {
        let events = when(history.clone(), cancel(20)).unwrap();
        assert_eq!(
            events,
            vec![WorkOrderEvent::WorkOrderCancelled {
                work_unit: unit(),
                reason: Reason::new("false alarm").unwrap(),
                at: t(20),
            }]
        );
        let mut all = history;
        all.push(events[0].clone());
        assert_eq!(
            given(all).state().as_ref().unwrap().status(),
            WorkOrderStatus::Cancelled
        );
    }
}

#[test]
fn cancel_is_rejected_once_work_started_or_ended() {
    let done = WorkOrderEvent::BreakdownRepaired {
        work_unit: unit(),
        failure_mode: mode(),
        product: None,
        failure_start: t(10),
        repair_start: t(15),
        repair_end: t(45),
    };
    for history in [
        vec![reported(), started(15)],
        vec![reported(), started(15), done],
    ] {
        let err = rejected(history, cancel(50));
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }
    let cancelled = WorkOrderEvent::WorkOrderCancelled {
        work_unit: unit(),
        reason: Reason::new("x").unwrap(),
        at: t(13),
    };
    let err = rejected(
        vec![reported(), cancelled],
        WorkOrderCommand::Start { at: t(14) },
    );
    assert_eq!(err.to_string(), "work order is cancelled; cannot start it");
}

// Guards.

#[test]
fn a_stale_expected_version_is_a_conflict() {
    let err = given(vec![reported()])
        .decide(Versioned::expecting(
            WorkOrderCommand::Start { at: t(15) },
            0,
        ))
        .unwrap_err();
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "work order",
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[test]
fn a_repeated_idempotency_key_answers_the_original_version() {
    let key = IdempotencyKey::new("start-1").unwrap();
    let mut order = given(vec![reported()]);
    let command = Versioned::from(WorkOrderCommand::Start { at: t(15) }).keyed(key);
    for event in order.decide(command.clone()).unwrap() {
        order.evolve(event);
    }
    assert_eq!(order.version(), 2);
    let err = order.decide(command).unwrap_err();
    assert_eq!(err, Rejected::Replayed { version: 2 });
    assert_eq!(err.replayed_version(), Some(2));
}

#[test]
fn work_order_snapshot_round_trips_through_json() {
    let order = given(vec![reported(), started(15)]);
    let json = serde_json::to_string(&order).unwrap();
    let back: WorkOrder = serde_json::from_str(&json).unwrap();
    assert_eq!(back, order);
}
