//! Given/when/then tests of the work unit: one or more per command and per rejection, and a
//! property test of the counts.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;
use cqrs_es::DomainEvent;
use mom_domain::{
    CommandTime, DomainError, ErrorKind, EventType, IdempotencyKey, Recorded, Rejected, Timed,
    Versioned,
};
use proptest::prelude::*;

use super::*;

type UnitTest = TestFramework<WorkUnit>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn unit_id() -> WorkUnitId {
    WorkUnitId::new("site1.area2.line3.filler").unwrap()
}

fn product(id: &str) -> ProductId {
    ProductId::new(id).unwrap()
}

fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn register(
    name: &str,
    micro_stop_threshold: Option<Millis>,
    startup_window: Option<Millis>,
) -> Versioned<WorkUnitCommand> {
    WorkUnitCommand::Register {
        work_unit: unit_id(),
        name: name.to_owned(),
        micro_stop_threshold,
        startup_window,
        at: t(0),
    }
    .into()
}

fn registered() -> WorkUnitEvent {
    WorkUnitEvent::WorkUnitRegistered {
        work_unit: unit_id(),
        name: "Filler 3".to_owned(),
        micro_stop_threshold_ms: Millis(300_000),
        startup_window_ms: Millis(600_000),
        at: t(0),
    }
}

fn running(minute: i64, made: Option<&str>) -> WorkUnitEvent {
    WorkUnitEvent::WorkUnitRunning {
        product: made.map(product),
        at: t(minute),
    }
}

fn stopped(minute: i64, why: Option<&str>) -> WorkUnitEvent {
    WorkUnitEvent::WorkUnitStopped {
        reason: why.map(reason),
        at: t(minute),
        reason_code: None,
    }
}

fn disconnected(minute: i64, why: Option<&str>) -> WorkUnitEvent {
    WorkUnitEvent::WorkUnitDisconnected {
        reason: why.map(reason),
        at: t(minute),
    }
}

fn report_disconnected(minute: i64, why: Option<&str>) -> WorkUnitCommand {
    WorkUnitCommand::ReportDisconnected {
        reason: why.map(reason),
        at: t(minute),
    }
}

fn setup_started(minute: i64) -> WorkUnitEvent {
    WorkUnitEvent::SetupStarted {
        next_product: Some(product("cola-500ml")),
        at: t(minute),
    }
}

/// Returns the events as stored without idempotency keys.
fn recorded(events: Vec<WorkUnitEvent>) -> Vec<Recorded<WorkUnitEvent>> {
    events.into_iter().map(Recorded::new).collect()
}

/// Returns the rule that rejects `command` after `given`.
fn rejected(given: Vec<WorkUnitEvent>, command: WorkUnitCommand) -> WorkUnitError {
    UnitTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects it")
}

fn accepted(given: Vec<WorkUnitEvent>, command: WorkUnitCommand) -> Vec<WorkUnitEvent> {
    UnitTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|recorded| recorded.event)
        .collect()
}

fn fold(events: Vec<WorkUnitEvent>) -> WorkUnit {
    WorkUnit::from_events(events)
}

// Register.

#[test]
fn register_applies_default_threshold_and_window() {
    UnitTest::with(())
        .given_no_previous_events()
        .when(register("Filler 3", None, None))
        .then_expect_events(recorded(vec![registered()]));
}

#[test]
fn register_keeps_explicit_threshold_and_window() {
    let events = accepted(
        vec![],
        register("Filler 3", Some(Millis(120_000)), Some(Millis(60_000))).command,
    );
    assert_eq!(
        events,
        vec![WorkUnitEvent::WorkUnitRegistered {
            work_unit: unit_id(),
            name: "Filler 3".to_owned(),
            micro_stop_threshold_ms: Millis(120_000),
            startup_window_ms: Millis(60_000),
            at: t(0),
        }]
    );
}

#[test]
fn register_rejects_an_empty_name() {
    let err = rejected(vec![], register("  ", None, None).command);
    assert_eq!(err, WorkUnitError::EmptyName);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn register_rejects_zero_threshold_or_window() {
    assert_eq!(
        rejected(vec![], register("F", Some(Millis(0)), None).command),
        WorkUnitError::ZeroMicroStopThreshold
    );
    assert_eq!(
        rejected(vec![], register("F", None, Some(Millis(0))).command),
        WorkUnitError::ZeroStartupWindow
    );
}

#[test]
fn register_twice_is_rejected() {
    let err = rejected(vec![registered()], register("Filler 3", None, None).command);
    assert_eq!(
        err.to_string(),
        "work unit site1.area2.line3.filler is already registered"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Unregistered work units and versions.

#[test]
fn commands_on_an_unregistered_work_unit_are_not_found() {
    let err = rejected(
        vec![],
        WorkUnitCommand::ReportRunning {
            product: None,
            at: t(1),
        },
    );
    assert_eq!(err, WorkUnitError::NotRegistered);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "work unit is not registered");
}

#[test]
fn stale_expected_version_is_a_conflict() {
    let err = UnitTest::with(())
        .given(recorded(vec![registered(), running(1, None)]))
        .when(Versioned::expecting(
            WorkUnitCommand::ReportStopped {
                reason: None,
                code: None,
                at: t(2),
            },
            1,
        ))
        .inspect_result()
        .expect_err("stale version");
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "work unit",
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "work unit is at version 2, not the expected version 1; reload it and retry"
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[test]
fn matching_expected_version_is_accepted() {
    UnitTest::with(())
        .given(recorded(vec![registered()]))
        .when(Versioned::expecting(
            WorkUnitCommand::ReportRunning {
                product: None,
                at: t(1),
            },
            1,
        ))
        .then_expect_events(recorded(vec![running(1, None)]));
}

// Ideal cycle time.

#[test]
fn set_ideal_cycle_time_records_it_per_product() {
    let event = WorkUnitEvent::IdealCycleTimeSet {
        product: product("cola-330ml"),
        ideal_cycle_time_ms: Millis(500),
        at: t(1),
    };
    UnitTest::with(())
        .given(recorded(vec![registered()]))
        .when(
            WorkUnitCommand::SetIdealCycleTime {
                product: product("cola-330ml"),
                ideal_cycle_time: Millis(500),
                at: t(1),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![event.clone()]));
    let unit = fold(vec![registered(), event]);
    assert_eq!(
        unit.state()
            .as_ref()
            .unwrap()
            .ideal_cycle_times()
            .get(&product("cola-330ml")),
        Some(&Millis(500))
    );
}

#[test]
fn set_ideal_cycle_time_rejects_zero() {
    let err = rejected(
        vec![registered()],
        WorkUnitCommand::SetIdealCycleTime {
            product: product("cola-330ml"),
            ideal_cycle_time: Millis(0),
            at: t(1),
        },
    );
    assert_eq!(
        err.to_string(),
        "ideal cycle time of product cola-330ml must be greater than zero"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

// Running.

#[test]
fn report_running_starts_a_stopped_unit_and_sets_the_current_product() {
    UnitTest::with(())
        .given(recorded(vec![registered()]))
        .when(
            WorkUnitCommand::ReportRunning {
                product: Some(product("cola-330ml")),
                at: t(1),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![running(1, Some("cola-330ml"))]));
    let unit = fold(vec![registered(), running(1, Some("cola-330ml"))]);
    let state = unit.state().as_ref().unwrap();
    assert_eq!(state.machine(), &MachineState::Running { since: t(1) });
    assert_eq!(state.current_product(), Some(&product("cola-330ml")));
}

#[test]
fn report_running_without_product_keeps_the_current_product() {
    let unit = fold(vec![
        registered(),
        running(1, Some("cola-330ml")),
        stopped(2, None),
        running(3, None),
    ]);
    assert_eq!(
        unit.state().as_ref().unwrap().current_product(),
        Some(&product("cola-330ml"))
    );
}

#[test]
fn report_running_while_running_is_rejected() {
    let err = rejected(
        vec![registered(), running(1, None)],
        WorkUnitCommand::ReportRunning {
            product: None,
            at: t(2),
        },
    );
    assert_eq!(
        err.to_string(),
        "work unit is already running (since 2026-03-02 06:01:00 UTC)"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn report_running_during_setup_is_rejected() {
    let err = rejected(
        vec![registered(), setup_started(1)],
        WorkUnitCommand::ReportRunning {
            product: None,
            at: t(2),
        },
    );
    assert_eq!(err, WorkUnitError::SetupInProgress { since: t(1) });
}

// Stopped.

#[test]
fn report_stopped_stops_a_running_unit_with_its_reason() {
    UnitTest::with(())
        .given(recorded(vec![registered(), running(1, None)]))
        .when(
            WorkUnitCommand::ReportStopped {
                reason: Some(reason("jam")),
                code: None,
                at: t(2),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![stopped(2, Some("jam"))]));
}

#[test]
fn report_stopped_while_stopped_with_a_new_reason_updates_the_reason_of_the_same_stop() {
    let given = vec![registered(), running(1, None), stopped(2, None)];
    let events = accepted(
        given.clone(),
        WorkUnitCommand::ReportStopped {
            reason: Some(reason("jam")),
            code: None,
            at: t(3),
        },
    );
    assert_eq!(events, vec![stopped(3, Some("jam"))]);
    let mut all = given;
    all.extend(events);
    assert_eq!(
        fold(all).state().as_ref().unwrap().machine(),
        &MachineState::Stopped {
            reason: Some(reason("jam")),
            since: t(2)
        }
    );
}

#[test]
fn report_stopped_while_stopped_with_the_same_or_no_reason_changes_nothing() {
    let given = vec![registered(), running(1, None), stopped(2, Some("jam"))];
    for why in [Some(reason("jam")), None] {
        let events = accepted(
            given.clone(),
            WorkUnitCommand::ReportStopped {
                reason: why,
                code: None,
                at: t(3),
            },
        );
        assert_eq!(events, vec![]);
    }
}

#[test]
fn report_stopped_during_setup_changes_nothing() {
    let events = accepted(
        vec![registered(), setup_started(1)],
        WorkUnitCommand::ReportStopped {
            reason: Some(reason("jam")),
            code: None,
            at: t(2),
        },
    );
    assert_eq!(events, vec![]);
}

// Disconnected.

#[test]
fn report_disconnected_makes_the_state_unknown_from_running_stopped_or_setup() {
    for given in [
        vec![registered(), running(1, None)],
        vec![registered(), running(1, None), stopped(2, Some("jam"))],
        vec![registered(), setup_started(1)],
    ] {
        UnitTest::with(())
            .given(recorded(given.clone()))
            .when(report_disconnected(5, Some("NDEATH edge node press-1")).into())
            .then_expect_events(recorded(vec![disconnected(
                5,
                Some("NDEATH edge node press-1"),
            )]));
        let mut all = given;
        all.push(disconnected(5, Some("NDEATH edge node press-1")));
        assert_eq!(
            fold(all).state().as_ref().unwrap().machine(),
            &MachineState::Unknown {
                reason: Some(reason("NDEATH edge node press-1")),
                since: t(5)
            }
        );
    }
}

#[test]
fn report_disconnected_without_a_reason_is_accepted() {
    let events = accepted(
        vec![registered(), running(1, None)],
        report_disconnected(2, None),
    );
    assert_eq!(events, vec![disconnected(2, None)]);
}

#[test]
fn report_disconnected_while_unknown_changes_nothing() {
    // A node's death certificate and its devices' arrive one after the other.
    let given = vec![
        registered(),
        running(1, None),
        disconnected(2, Some("NDEATH edge node press-1")),
    ];
    for why in [
        None,
        Some("DDEATH device press-1"),
        Some("NDEATH edge node press-1"),
    ] {
        assert_eq!(accepted(given.clone(), report_disconnected(3, why)), vec![]);
    }
    assert_eq!(
        fold(given).state().as_ref().unwrap().machine(),
        &MachineState::Unknown {
            reason: Some(reason("NDEATH edge node press-1")),
            since: t(2)
        }
    );
}

#[test]
fn running_stopped_or_setup_start_end_the_unknown_state() {
    let given = vec![
        registered(),
        running(1, Some("cola-330ml")),
        disconnected(2, None),
    ];
    let cases = [
        (
            WorkUnitCommand::ReportRunning {
                product: None,
                at: t(9),
            },
            running(9, None),
            MachineState::Running { since: t(9) },
        ),
        (
            WorkUnitCommand::ReportStopped {
                reason: None,
                code: None,
                at: t(9),
            },
            stopped(9, None),
            MachineState::Stopped {
                reason: None,
                since: t(9),
            },
        ),
        (
            WorkUnitCommand::StartSetup {
                next_product: Some(product("cola-500ml")),
                at: t(9),
            },
            setup_started(9),
            MachineState::Setup {
                next_product: Some(product("cola-500ml")),
                since: t(9),
            },
        ),
    ];
    for (command, event, machine) in cases {
        let events = accepted(given.clone(), command);
        assert_eq!(events, vec![event]);
        let mut all = given.clone();
        all.extend(events);
        let unit = fold(all);
        let state = unit.state().as_ref().unwrap();
        assert_eq!(state.machine(), &machine);
        assert_eq!(state.current_product(), Some(&product("cola-330ml")));
    }
}

#[test]
fn end_setup_while_unknown_is_rejected() {
    let err = rejected(
        vec![registered(), setup_started(1), disconnected(2, None)],
        WorkUnitCommand::EndSetup {
            product: product("cola-500ml"),
            at: t(3),
        },
    );
    assert_eq!(err, WorkUnitError::SetupNotStarted);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn counts_while_unknown_are_accepted() {
    // A count buffered at the edge during the outage and forwarded after the reconnect.
    let events = accepted(
        vec![
            registered(),
            running(1, Some("cola-330ml")),
            disconnected(2, None),
        ],
        WorkUnitCommand::ReportCount {
            total: Units(40),
            product: None,
            at: t(3),
        },
    );
    assert_eq!(
        events,
        vec![WorkUnitEvent::UnitsCounted {
            product: Some(product("cola-330ml")),
            total: Units(40),
            at: t(3),
        }]
    );
}

#[test]
fn report_disconnected_carries_its_time_to_the_time_policy() {
    let command = report_disconnected(7, None);
    assert_eq!(command.at(), t(7));
    assert_eq!(command.times(), vec![CommandTime::happened("at", t(7))]);
    assert!(command.span().is_none());
    assert_eq!(disconnected(7, None).event_time(), t(7));
}

#[test]
fn report_disconnected_keeps_the_expected_version_and_idempotency_key() {
    let err = UnitTest::with(())
        .given(recorded(vec![registered(), running(1, None)]))
        .when(Versioned::expecting(report_disconnected(2, None), 1))
        .inspect_result()
        .expect_err("stale version");
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "work unit",
            expected: 1,
            actual: 2
        }
    );
    let key = IdempotencyKey::new("edge-1:ndeath:7").unwrap();
    let command = Versioned::from(report_disconnected(2, None)).keyed(key.clone());
    let mut unit = fold(vec![registered(), running(1, None)]);
    for event in unit.decide(command.clone()).unwrap() {
        unit.evolve(event);
    }
    assert_eq!(unit.decide(command), Err(Rejected::Replayed { version: 3 }));
    assert_eq!(unit.version_of(&key), Some(3));
}

// Setup.

#[test]
fn start_setup_from_running_or_stopped() {
    for given in [
        vec![registered()],
        vec![registered(), running(0, Some("cola-330ml"))],
    ] {
        let events = accepted(
            given,
            WorkUnitCommand::StartSetup {
                next_product: Some(product("cola-500ml")),
                at: t(1),
            },
        );
        assert_eq!(events, vec![setup_started(1)]);
    }
}

#[test]
fn start_setup_while_one_runs_is_rejected() {
    let err = rejected(
        vec![registered(), setup_started(1)],
        WorkUnitCommand::StartSetup {
            next_product: None,
            at: t(2),
        },
    );
    assert_eq!(
        err.to_string(),
        "a setup is already running since 2026-03-02 06:01:00 UTC"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn end_setup_sets_the_product_and_leaves_the_unit_stopped() {
    let ended = WorkUnitEvent::SetupEnded {
        product: product("cola-500ml"),
        at: t(20),
    };
    UnitTest::with(())
        .given(recorded(vec![
            registered(),
            running(0, Some("cola-330ml")),
            setup_started(1),
        ]))
        .when(
            WorkUnitCommand::EndSetup {
                product: product("cola-500ml"),
                at: t(20),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![ended.clone()]));
    let unit = fold(vec![
        registered(),
        running(0, Some("cola-330ml")),
        setup_started(1),
        ended,
    ]);
    let state = unit.state().as_ref().unwrap();
    assert_eq!(state.current_product(), Some(&product("cola-500ml")));
    assert_eq!(
        state.machine(),
        &MachineState::Stopped {
            reason: None,
            since: t(20)
        }
    );
}

#[test]
fn end_setup_that_did_not_start_is_rejected() {
    let err = rejected(
        vec![registered(), running(1, None)],
        WorkUnitCommand::EndSetup {
            product: product("cola-500ml"),
            at: t(2),
        },
    );
    assert_eq!(err, WorkUnitError::SetupNotStarted);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Planned shutdown.

#[test]
fn schedule_planned_shutdown_records_the_window_in_any_state() {
    let event = WorkUnitEvent::PlannedShutdownScheduled {
        from: t(240),
        until: t(270),
        reason: reason("lunch break"),
    };
    for given in [
        vec![registered()],
        vec![registered(), running(1, None)],
        vec![registered(), setup_started(1)],
    ] {
        let events = accepted(
            given,
            WorkUnitCommand::SchedulePlannedShutdown {
                from: t(240),
                until: t(270),
                reason: reason("lunch break"),
            },
        );
        assert_eq!(events, vec![event.clone()]);
        assert_eq!(event.event_time(), t(240));
    }
}

#[test]
fn scheduling_the_same_window_again_does_nothing() {
    let scheduled = WorkUnitEvent::PlannedShutdownScheduled {
        from: t(240),
        until: t(270),
        reason: reason("pm window"),
    };
    let again = WorkUnitCommand::SchedulePlannedShutdown {
        from: t(240),
        until: t(270),
        reason: reason("pm window"),
    };
    assert_eq!(
        accepted(vec![registered(), scheduled.clone()], again),
        vec![]
    );
    // Another window, or the same window for another reason, is a new fact.
    let later = WorkUnitCommand::SchedulePlannedShutdown {
        from: t(300),
        until: t(330),
        reason: reason("pm window"),
    };
    assert_eq!(accepted(vec![registered(), scheduled], later).len(), 1);
}

#[test]
fn schedule_planned_shutdown_rejects_until_not_after_from() {
    for until in [t(240), t(239)] {
        let err = rejected(
            vec![registered()],
            WorkUnitCommand::SchedulePlannedShutdown {
                from: t(240),
                until,
                reason: reason("lunch break"),
            },
        );
        assert_eq!(
            err,
            WorkUnitError::EmptyShutdown {
                from: t(240),
                until
            }
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}

// Counts.

#[test]
fn report_count_defaults_to_the_current_product() {
    UnitTest::with(())
        .given(recorded(vec![registered(), running(1, Some("cola-330ml"))]))
        .when(
            WorkUnitCommand::ReportCount {
                total: Units(12),
                product: None,
                at: t(2),
            }
            .into(),
        )
        .then_expect_events(recorded(vec![WorkUnitEvent::UnitsCounted {
            product: Some(product("cola-330ml")),
            total: Units(12),
            at: t(2),
        }]));
}

#[test]
fn report_count_names_its_own_product_in_any_state() {
    let events = accepted(
        vec![registered(), setup_started(1)],
        WorkUnitCommand::ReportCount {
            total: Units(3),
            product: Some(product("cola-500ml")),
            at: t(2),
        },
    );
    assert_eq!(
        events,
        vec![WorkUnitEvent::UnitsCounted {
            product: Some(product("cola-500ml")),
            total: Units(3),
            at: t(2),
        }]
    );
}

#[test]
fn report_count_without_any_product_is_rejected() {
    let err = rejected(
        vec![registered(), running(1, None)],
        WorkUnitCommand::ReportCount {
            total: Units(3),
            product: None,
            at: t(2),
        },
    );
    assert_eq!(err, WorkUnitError::NoCurrentProduct);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn a_count_without_any_product_uses_the_default_ideal_cycle_time() {
    let default = WorkUnitEvent::DefaultIdealCycleTimeSet {
        ideal_cycle_time_ms: Millis(1_500),
        at: t(1),
    };
    let count = WorkUnitCommand::ReportCount {
        total: Units(3),
        product: None,
        at: t(2),
    };
    assert_eq!(
        accepted(vec![registered(), default.clone(), running(1, None)], count),
        vec![WorkUnitEvent::UnitsCounted {
            product: None,
            total: Units(3),
            at: t(2),
        }]
    );
    let unit = fold(vec![
        registered(),
        default.clone(),
        WorkUnitEvent::UnitsCounted {
            product: None,
            total: Units(3),
            at: t(2),
        },
    ]);
    let state = unit.state().as_ref().unwrap();
    assert_eq!(state.default_ideal_cycle_time(), Some(Millis(1_500)));
    assert_eq!(state.total(), Units(3));
    assert!(state.counts().is_empty(), "no product to count under");
    // Setting the same default again stores nothing; zero is refused.
    let set = |ms| WorkUnitCommand::SetDefaultIdealCycleTime {
        ideal_cycle_time: Millis(ms),
        at: t(3),
    };
    assert_eq!(
        accepted(vec![registered(), default.clone()], set(1_500)),
        vec![]
    );
    assert_eq!(
        rejected(vec![registered()], set(0)),
        WorkUnitError::ZeroDefaultCycleTime
    );
}

#[test]
fn a_stop_keeps_the_catalogue_code_the_api_resolved() {
    let code = crate::domain::ReasonCode::parse("Jam").unwrap();
    let events = accepted(
        vec![registered(), running(1, None)],
        WorkUnitCommand::ReportStopped {
            reason: Some(reason("Jammed")),
            code: Some(code.clone()),
            at: t(2),
        },
    );
    assert_eq!(
        events,
        vec![WorkUnitEvent::WorkUnitStopped {
            reason: Some(reason("Jammed")),
            at: t(2),
            reason_code: Some(code),
        }]
    );
}

#[test]
fn report_count_rejects_zero() {
    let err = rejected(
        vec![registered(), running(1, Some("cola-330ml"))],
        WorkUnitCommand::ReportCount {
            total: Units(0),
            product: None,
            at: t(2),
        },
    );
    assert_eq!(err, WorkUnitError::ZeroCount);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn report_count_rejects_totals_that_would_overflow() {
    let err = rejected(
        vec![
            registered(),
            WorkUnitEvent::UnitsCounted {
                product: Some(product("a")),
                total: Units(u64::MAX),
                at: t(1),
            },
        ],
        WorkUnitCommand::ReportCount {
            total: Units(1),
            product: Some(product("b")),
            at: t(2),
        },
    );
    assert_eq!(err, WorkUnitError::CountOverflow);
}

// Events.

#[test]
fn events_round_trip_through_json_with_their_type_names() {
    let events = vec![
        registered(),
        WorkUnitEvent::IdealCycleTimeSet {
            product: product("p"),
            ideal_cycle_time_ms: Millis(500),
            at: t(1),
        },
        running(1, Some("p")),
        stopped(2, Some("jam")),
        setup_started(3),
        WorkUnitEvent::SetupEnded {
            product: product("p"),
            at: t(4),
        },
        WorkUnitEvent::PlannedShutdownScheduled {
            from: t(5),
            until: t(6),
            reason: reason("break"),
        },
        WorkUnitEvent::UnitsCounted {
            product: Some(product("p")),
            total: Units(1),
            at: t(7),
        },
        disconnected(8, Some("NDEATH edge node press-1")),
        WorkUnitEvent::RecipeDownloaded {
            work_unit: unit_id(),
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
            work_unit: unit_id(),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            at: t(13),
        },
        WorkUnitEvent::ParameterRecorded {
            work_unit: unit_id(),
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
            work_unit: unit_id(),
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
            work_unit: unit_id(),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            recipe: crate::domain::RecipeId::new("p/20").unwrap(),
            version: 1,
            parameter: crate::domain::ParameterName::new("temp").unwrap(),
            old_setpoint: 200.0,
            new_setpoint: 198.0,
            reason: reason("cold batch"),
            at: t(11),
        },
        WorkUnitEvent::OperationLinked {
            work_unit: unit_id(),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            product: product("p"),
            at: t(12),
        },
        WorkUnitEvent::OperationUnlinked {
            work_unit: unit_id(),
            order_id: "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap(),
            operation: crate::domain::OperationNumber(20),
            at: t(13),
        },
        WorkUnitEvent::DefaultIdealCycleTimeSet {
            ideal_cycle_time_ms: Millis(1_000),
            at: t(14),
        },
    ];
    let mut seen: Vec<String> = Vec::new();
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get(event.type_name()).is_some(), "{json}");
        let back: WorkUnitEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let stored = Recorded::new(event);
        assert_eq!(stored.event_version(), "1");
        seen.push(stored.event_type());
    }
    assert_eq!(seen, WorkUnitEvent::TYPES);
}

#[test]
fn snapshot_state_round_trips_through_json() {
    let unit = fold(vec![
        registered(),
        running(1, Some("cola-330ml")),
        WorkUnitEvent::UnitsCounted {
            product: Some(product("cola-330ml")),
            total: Units(10),
            at: t(2),
        },
    ]);
    let json = serde_json::to_string(&unit).unwrap();
    let back: WorkUnit = serde_json::from_str(&json).unwrap();
    assert_eq!(back, unit);
    let unknown = fold(vec![registered(), disconnected(1, Some("DDEATH press-1"))]);
    let json = serde_json::to_string(&unknown).unwrap();
    let back: WorkUnit = serde_json::from_str(&json).unwrap();
    assert_eq!(back, unknown);
}

// Stored forms and idempotency keys.

#[test]
fn events_stored_bare_by_the_old_code_load_and_fold() {
    // As the code before the kernel stored them: `serde_json::to_value(&WorkUnitEvent)`, no
    // wrapper and no key.
    let stored = [
        r#"{"WorkUnitRegistered":{"work_unit":"site1.area2.line3.filler","name":"Filler 3","micro_stop_threshold_ms":300000,"startup_window_ms":600000,"at":"2026-03-02T06:00:00Z"}}"#,
        r#"{"UnitsCounted":{"product":"cola-330ml","total":12,"at":"2026-03-02T06:02:00Z"}}"#,
    ];
    let events: Vec<Recorded<WorkUnitEvent>> = stored
        .iter()
        .map(|json| serde_json::from_str(json).unwrap())
        .collect();
    assert_eq!(
        events,
        recorded(vec![
            registered(),
            WorkUnitEvent::UnitsCounted {
                product: Some(product("cola-330ml")),
                total: Units(12),
                at: t(2),
            },
        ])
    );
    let mut unit = WorkUnit::default();
    for event in events {
        unit.evolve(event);
    }
    let state = unit.state().as_ref().unwrap();
    assert_eq!(state.total(), Units(12));
    assert_eq!(state.counts().get(&product("cola-330ml")), Some(&Units(12)));
    assert_eq!(unit.version(), 2);
    assert!(unit.keys().is_empty());
}

#[test]
fn snapshot_stored_before_idempotency_keys_loads_without_keys() {
    let unit = fold(vec![registered(), running(1, Some("cola-330ml"))]);
    // The old aggregate's snapshot: `{state, version}` with the same state.
    let old = serde_json::json!({
        "state": serde_json::to_value(unit.state()).unwrap(),
        "version": 2,
    });
    let back: WorkUnit = serde_json::from_value(old).unwrap();
    assert_eq!(back, unit);
}

#[test]
fn a_repeated_key_stores_nothing_and_names_the_version_of_the_first_count() {
    let key = IdempotencyKey::new("plc-7:count:1").unwrap();
    let count = Versioned::from(WorkUnitCommand::ReportCount {
        total: Units(5),
        product: None,
        at: t(2),
    })
    .keyed(key.clone());
    let mut unit = fold(vec![registered(), running(1, Some("cola-330ml"))]);
    let events = unit.decide(count.clone()).unwrap();
    assert_eq!(events.last().unwrap().idempotency_key, Some(key.clone()));
    let stored = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(stored["idempotency_key"], "plc-7:count:1");
    assert!(stored["event"].get("UnitsCounted").is_some(), "{stored}");
    for event in events {
        unit.evolve(event);
    }
    assert_eq!(unit.decide(count), Err(Rejected::Replayed { version: 3 }));
    assert_eq!(unit.version_of(&key), Some(3));
    assert_eq!(unit.state().as_ref().unwrap().total(), Units(5));
}

proptest! {
    #[test]
    fn random_valid_count_sequences_sum_per_product_and_in_total(
        counts in proptest::collection::vec((0usize..3, 1u64..10_000, any::<bool>()), 0..60)
    ) {
        let products = [product("a"), product("b"), product("c")];
        let mut unit = fold(vec![registered(), running(0, Some("a"))]);
        let mut current = 0usize;
        let mut expected = [0u64; 3];
        for (minute, (index, total, named)) in (1i64..).zip(counts) {
            // Either name the product (it does not become current) or switch the running product
            // through a stop and restart and count against the current one.
            let command = if named {
                expected[index] += total;
                WorkUnitCommand::ReportCount {
                    total: Units(total),
                    product: Some(products[index].clone()),
                    at: t(minute),
                }
            } else {
                if index != current {
                    for command in [
                        WorkUnitCommand::ReportStopped { reason: None, code: None, at: t(minute) },
                        WorkUnitCommand::ReportRunning {
                            product: Some(products[index].clone()),
                            at: t(minute),
                        },
                    ] {
                        for event in unit.decide(command.into()).unwrap() {
                            unit.evolve(event);
                        }
                    }
                    current = index;
                }
                expected[current] += total;
                WorkUnitCommand::ReportCount { total: Units(total), product: None, at: t(minute) }
            };
            for event in unit.decide(command.into()).unwrap() {
                unit.evolve(event);
            }
        }
        let state = unit.state().as_ref().unwrap();
        prop_assert_eq!(state.total(), Units(expected.iter().sum()));
        for (index, id) in products.iter().enumerate() {
            let counted = state.counts().get(id).copied().unwrap_or_default();
            prop_assert_eq!(counted, Units(expected[index]));
        }
    }
}

// Recipes: download, parameter reports, overrides, unload.

mod recipes {
    use super::*;
    use crate::domain::recipe::{ParameterName, ParameterStatus, RecipeId, RecipeParameter};
    use crate::domain::{OperationNumber, OrderId};

    fn order() -> OrderId {
        "0191e1b4-7c1a-7000-8000-000000000001".parse().unwrap()
    }

    fn recipe() -> RecipeId {
        RecipeId::new("SKU-A/20").unwrap()
    }

    fn name(text: &str) -> ParameterName {
        ParameterName::new(text).unwrap()
    }

    fn temperature(hold: bool) -> RecipeParameter {
        RecipeParameter {
            name: name("temp"),
            unit: "degC".to_owned(),
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            warn_lower: Some(195.0),
            warn_upper: Some(205.0),
            hold_on_deviation: hold,
        }
    }

    fn download(version: u32) -> WorkUnitCommand {
        WorkUnitCommand::DownloadRecipe {
            order_id: order(),
            operation: OperationNumber(20),
            recipe: recipe(),
            version,
            parameters: vec![temperature(true)],
            at: t(1),
        }
    }

    fn downloaded(version: u32) -> WorkUnitEvent {
        WorkUnitEvent::RecipeDownloaded {
            work_unit: unit_id(),
            order_id: order(),
            operation: OperationNumber(20),
            recipe: recipe(),
            version,
            parameters: vec![temperature(true)],
            at: t(1),
        }
    }

    fn report(value: f64) -> WorkUnitCommand {
        WorkUnitCommand::ReportParameter {
            parameter: name("temp"),
            value,
            at: t(2),
        }
    }

    fn override_to(setpoint: f64) -> WorkUnitCommand {
        WorkUnitCommand::OverrideParameter {
            parameter: name("temp"),
            setpoint,
            reason: reason("material batch runs cold"),
            at: t(3),
        }
    }

    fn recorded_status(events: &[WorkUnitEvent]) -> Option<ParameterStatus> {
        events.iter().find_map(|event| match event {
            WorkUnitEvent::ParameterRecorded { status, .. } => Some(*status),
            _ => None,
        })
    }

    #[test]
    fn download_binds_the_version_and_the_same_download_again_changes_nothing() {
        assert_eq!(
            accepted(vec![registered()], download(1)),
            vec![downloaded(1)]
        );
        assert_eq!(
            accepted(vec![registered(), downloaded(1)], download(1)),
            vec![]
        );
        let unit = fold(vec![registered(), downloaded(1)]);
        let bound = unit.state().as_ref().unwrap().recipe().unwrap();
        assert_eq!((bound.recipe.clone(), bound.version), (recipe(), 1));
    }

    #[test]
    fn a_value_within_the_band_is_recorded_within() {
        let events = accepted(vec![registered(), downloaded(1)], report(201.0));
        assert_eq!(events.len(), 1);
        assert_eq!(recorded_status(&events), Some(ParameterStatus::Within));
        let WorkUnitEvent::ParameterRecorded {
            order_id,
            setpoint,
            lower,
            upper,
            version,
            ..
        } = &events[0]
        else {
            panic!("expected ParameterRecorded, got {events:?}");
        };
        assert_eq!(
            (*order_id, *setpoint, *lower, *upper, *version),
            (order(), 200.0, 190.0, 210.0, 1)
        );
    }

    #[test]
    fn a_value_outside_the_warning_band_but_within_limits_is_a_warning_without_deviation() {
        let events = accepted(vec![registered(), downloaded(1)], report(207.0));
        assert_eq!(events.len(), 1);
        assert_eq!(recorded_status(&events), Some(ParameterStatus::Warning));
    }

    #[test]
    fn a_value_outside_the_limits_is_a_deviation_that_asks_for_a_hold() {
        let events = accepted(vec![registered(), downloaded(1)], report(211.5));
        assert_eq!(recorded_status(&events), Some(ParameterStatus::Deviation));
        assert!(matches!(
            &events[1],
            WorkUnitEvent::ParameterDeviated {
                hold_order: true,
                value,
                ..
            } if *value == 211.5
        ));
        let mut no_hold = downloaded(1);
        if let WorkUnitEvent::RecipeDownloaded { parameters, .. } = &mut no_hold {
            parameters[0].hold_on_deviation = false;
        }
        let events = accepted(vec![registered(), no_hold], report(100.0));
        assert!(matches!(
            &events[1],
            WorkUnitEvent::ParameterDeviated {
                hold_order: false,
                ..
            }
        ));
    }

    #[test]
    fn an_unknown_parameter_is_an_invalid_argument_naming_it() {
        let err = rejected(
            vec![registered(), downloaded(1)],
            WorkUnitCommand::ReportParameter {
                parameter: name("pressure"),
                value: 1.0,
                at: t(2),
            },
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            err.to_string(),
            "parameter pressure is not in recipe SKU-A/20 version 1"
        );
    }

    #[test]
    fn reports_and_overrides_without_a_bound_recipe_are_failed_preconditions() {
        let err = rejected(vec![registered()], report(200.0));
        assert_eq!(err, WorkUnitError::NoRecipeBound);
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        let unloaded = WorkUnitEvent::RecipeUnloaded {
            work_unit: unit_id(),
            order_id: order(),
            operation: OperationNumber(20),
            recipe: recipe(),
            version: 1,
            at: t(5),
        };
        assert_eq!(
            rejected(
                vec![registered(), downloaded(1), unloaded],
                override_to(201.0)
            ),
            WorkUnitError::NoRecipeBound
        );
    }

    #[test]
    fn an_override_records_old_and_new_setpoint_and_later_checks_use_it() {
        let given = vec![registered(), downloaded(1)];
        let events = accepted(given.clone(), override_to(196.0));
        let WorkUnitEvent::ParameterOverridden {
            old_setpoint,
            new_setpoint,
            reason: why,
            ..
        } = &events[0]
        else {
            panic!("expected ParameterOverridden, got {events:?}");
        };
        assert_eq!((*old_setpoint, *new_setpoint), (200.0, 196.0));
        assert_eq!(why, &reason("material batch runs cold"));
        let mut all = given;
        all.extend(events);
        let recorded = accepted(all, report(197.0));
        assert!(matches!(
            &recorded[0],
            WorkUnitEvent::ParameterRecorded { setpoint, .. } if *setpoint == 196.0
        ));
    }

    #[test]
    fn an_override_outside_the_limits_is_rejected() {
        let err = rejected(vec![registered(), downloaded(1)], override_to(215.0));
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            err.to_string(),
            "setpoint 215 of parameter temp is outside its limits [190, 210]"
        );
    }

    #[test]
    fn a_later_download_replaces_the_binding_until_then_the_old_version_checks() {
        // Version 2 was approved meanwhile (tighter limits); the running unit still checks
        // against version 1 until the next download.
        let given = vec![registered(), downloaded(1)];
        let events = accepted(given.clone(), report(209.0));
        assert!(matches!(
            &events[0],
            WorkUnitEvent::ParameterRecorded { version: 1, .. }
        ));
        let mut v2 = downloaded(2);
        if let WorkUnitEvent::RecipeDownloaded { parameters, .. } = &mut v2 {
            parameters[0].upper = 205.0;
            parameters[0].warn_upper = None;
        }
        let mut all = given;
        all.push(v2);
        let events = accepted(all, report(209.0));
        assert_eq!(recorded_status(&events), Some(ParameterStatus::Deviation));
    }

    #[test]
    fn unload_ends_only_the_binding_of_that_order_operation() {
        let given = vec![registered(), downloaded(1)];
        let events = accepted(
            given.clone(),
            WorkUnitCommand::UnloadRecipe {
                order_id: order(),
                operation: OperationNumber(20),
                at: t(9),
            },
        );
        assert!(matches!(
            &events[0],
            WorkUnitEvent::RecipeUnloaded { version: 1, .. }
        ));
        let other = accepted(
            given,
            WorkUnitCommand::UnloadRecipe {
                order_id: order(),
                operation: OperationNumber(30),
                at: t(9),
            },
        );
        assert_eq!(other, vec![]);
    }

    #[test]
    fn a_retried_keyed_download_is_a_replay() {
        let key = IdempotencyKey::new("recipe-download:o:20:3").unwrap();
        let result = UnitTest::with(())
            .given(vec![
                Recorded::new(registered()),
                Recorded {
                    event: downloaded(1),
                    idempotency_key: Some(key.clone()),
                },
            ])
            .when(Versioned::new(download(1), None).keyed(key))
            .inspect_result();
        assert!(matches!(result, Err(Rejected::Replayed { .. })));
    }
}

/// The link to the order operation running on the unit (docs/dispatching.md).
mod link;
