//! Given/when/then tests of the asset: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;

use super::*;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Rejected, Versioned};

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn day(days: i64) -> DateTime<Utc> {
    t(0) + Duration::days(days)
}

fn id(value: &str) -> AssetId {
    AssetId::new(value).unwrap()
}

fn plan_id(value: &str) -> PlanId {
    PlanId::new(value).unwrap()
}

fn unit() -> AssetId {
    id("filler-1")
}

fn parent(value: &str, found: Option<(AssetLevel, bool)>) -> ParentRef {
    ParentRef {
        id: id(value),
        found,
    }
}

fn registered(asset: &str, level: AssetLevel, parent: Option<&str>) -> AssetEvent {
    AssetEvent::AssetRegistered {
        asset: id(asset),
        level,
        name: format!("{asset} name"),
        parent: parent.map(id),
        at: t(0),
    }
}

fn work_unit() -> AssetEvent {
    registered("filler-1", AssetLevel::WorkUnit, Some("line-1"))
}

fn plan(name: &str, trigger: Trigger) -> AssetEvent {
    AssetEvent::MaintenancePlanDefined {
        work_unit: unit(),
        plan: plan_id(name),
        trigger,
        description: Description::new(format!("{name} work")).unwrap(),
        at: t(0),
    }
}

fn usage(cycles: u64, run_time: u64, totals: (u64, u64), minute: i64) -> AssetEvent {
    AssetEvent::UsageRecorded {
        work_unit: unit(),
        cycles: Cycles(cycles),
        run_time_ms: Millis(run_time),
        total_cycles: Cycles(totals.0),
        total_run_time_ms: Millis(totals.1),
        at: t(minute),
    }
}

fn due(name: &str, occurrence: u32, trigger: Trigger, at: DateTime<Utc>) -> [AssetEvent; 2] {
    [
        AssetEvent::MaintenancePlanDue {
            work_unit: unit(),
            plan: plan_id(name),
            occurrence,
            trigger,
            at,
        },
        AssetEvent::PlanWorkOrderRaised {
            work_unit: unit(),
            plan: plan_id(name),
            occurrence,
            work_order: WorkOrderId::for_plan_occurrence(&unit(), &plan_id(name), occurrence),
            at,
        },
    ]
}

fn record_usage(cycles: u64, run_time: u64, minute: i64) -> AssetCommand {
    AssetCommand::RecordUsage {
        cycles: Cycles(cycles),
        run_time: Millis(run_time),
        at: t(minute),
    }
}

fn define(name: &str, trigger: Trigger) -> AssetCommand {
    AssetCommand::DefinePlan {
        plan: plan_id(name),
        trigger,
        description: Description::new("lubricate").unwrap(),
        at: t(0),
    }
}

fn given(events: Vec<AssetEvent>) -> Asset {
    let mut asset = Asset::default();
    for event in events {
        asset.evolve(event.into());
    }
    asset
}

fn when(
    given_events: Vec<AssetEvent>,
    command: AssetCommand,
) -> Result<Vec<AssetEvent>, Rejected<AssetError>> {
    given(given_events)
        .decide(command.into())
        .map(|events| events.into_iter().map(|recorded| recorded.event).collect())
}

fn rejected(given_events: Vec<AssetEvent>, command: AssetCommand) -> AssetError {
    match when(given_events, command).unwrap_err() {
        Rejected::Domain(err) => err,
        other => panic!("expected a rejection by the rules, got {other:?}"),
    }
}

const CYCLES_100: Trigger = Trigger::Cycles { cycles: 100 };

// Registration.

#[test]
fn register_enterprise_without_parent() {
    let events = when(
        vec![],
        AssetCommand::Register {
            asset: id("acme"),
            level: AssetLevel::Enterprise,
            name: "Acme".to_owned(),
            parent: None,
            at: t(0),
        },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![AssetEvent::AssetRegistered {
            asset: id("acme"),
            level: AssetLevel::Enterprise,
            name: "Acme".to_owned(),
            parent: None,
            at: t(0),
        }]
    );
}

#[test]
fn register_work_unit_under_a_work_center_through_the_aggregate_impl() {
    TestFramework::<Asset>::with(())
        .given_no_previous_events()
        .when(
            AssetCommand::Register {
                asset: unit(),
                level: AssetLevel::WorkUnit,
                name: "filler-1 name".to_owned(),
                parent: Some(parent("line-1", Some((AssetLevel::WorkCenter, false)))),
                at: t(0),
            }
            .into(),
        )
        .then_expect_events(vec![work_unit().into()]);
}

fn register(level: AssetLevel, name: &str, parent: Option<ParentRef>) -> AssetCommand {
    AssetCommand::Register {
        asset: id("x-1"),
        level,
        name: name.to_owned(),
        parent,
        at: t(0),
    }
}

#[test]
fn register_rejects_a_blank_name() {
    let err = rejected(vec![], register(AssetLevel::Enterprise, " ", None));
    assert_eq!(err, AssetError::EmptyName);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn register_rejects_an_enterprise_with_a_parent() {
    let err = rejected(
        vec![],
        register(
            AssetLevel::Enterprise,
            "x",
            Some(parent("acme", Some((AssetLevel::Enterprise, false)))),
        ),
    );
    assert_eq!(err, AssetError::EnterpriseWithParent { parent: id("acme") });
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn register_rejects_a_site_without_parent() {
    let err = rejected(vec![], register(AssetLevel::Site, "x", None));
    assert_eq!(
        err.to_string(),
        "an asset of level site needs a parent of level enterprise"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn register_rejects_an_unknown_parent_as_not_found() {
    let err = rejected(
        vec![],
        register(AssetLevel::Area, "x", Some(parent("plant-9", None))),
    );
    assert_eq!(
        err,
        AssetError::ParentNotFound {
            parent: id("plant-9")
        }
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn register_rejects_a_parent_of_the_wrong_level() {
    let err = rejected(
        vec![],
        register(
            AssetLevel::WorkUnit,
            "x",
            Some(parent("plant-1", Some((AssetLevel::Site, false)))),
        ),
    );
    assert_eq!(
        err.to_string(),
        "parent plant-1 is of level site, but an asset of level work unit needs a parent of level work center"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn register_rejects_a_retired_parent() {
    let err = rejected(
        vec![],
        register(
            AssetLevel::Site,
            "x",
            Some(parent("acme", Some((AssetLevel::Enterprise, true)))),
        ),
    );
    assert_eq!(err, AssetError::ParentRetired { parent: id("acme") });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn register_twice_is_rejected() {
    let err = rejected(
        vec![work_unit()],
        register(AssetLevel::Enterprise, "x", None),
    );
    assert_eq!(err, AssetError::AlreadyRegistered { asset: unit() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn commands_before_registration_are_not_found() {
    for command in [
        AssetCommand::Retire {
            reason: Reason::new("scrapped").unwrap(),
            at: t(1),
        },
        record_usage(1, 0, 1),
        AssetCommand::CheckPlans { at: t(1) },
        define("lube", CYCLES_100),
    ] {
        let err = rejected(vec![], command);
        assert_eq!(err, AssetError::NotRegistered);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

// Move and retire.

#[test]
fn move_to_another_work_center_emits_moved() {
    let events = when(
        vec![work_unit()],
        AssetCommand::Move {
            parent: parent("line-2", Some((AssetLevel::WorkCenter, false))),
            at: t(5),
        },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![AssetEvent::AssetMoved {
            asset: unit(),
            from_parent: id("line-1"),
            to_parent: id("line-2"),
            at: t(5),
        }]
    );
    let mut asset = given(vec![work_unit()]);
    asset.evolve(events[0].clone().into());
    assert_eq!(
        asset.state().as_ref().unwrap().parent(),
        Some(&id("line-2"))
    );
}

#[test]
fn move_checks_the_new_parent() {
    let err = rejected(
        vec![work_unit()],
        AssetCommand::Move {
            parent: parent("area-1", Some((AssetLevel::Area, false))),
            at: t(5),
        },
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(
        vec![work_unit()],
        AssetCommand::Move {
            parent: parent("line-9", None),
            at: t(5),
        },
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn move_to_the_current_parent_is_rejected() {
    let err = rejected(
        vec![work_unit()],
        AssetCommand::Move {
            parent: parent("line-1", Some((AssetLevel::WorkCenter, false))),
            at: t(5),
        },
    );
    assert_eq!(
        err,
        AssetError::AlreadyUnderParent {
            parent: id("line-1")
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn an_enterprise_cannot_move() {
    let err = rejected(
        vec![registered("acme", AssetLevel::Enterprise, None)],
        AssetCommand::Move {
            parent: parent("other", Some((AssetLevel::Enterprise, false))),
            at: t(5),
        },
    );
    assert_eq!(err, AssetError::EnterpriseCannotMove);
}

#[test]
fn a_retired_asset_rejects_every_command() {
    let retire = AssetCommand::Retire {
        reason: Reason::new("scrapped").unwrap(),
        at: t(9),
    };
    let events = when(vec![work_unit()], retire.clone()).unwrap();
    assert_eq!(
        events,
        vec![AssetEvent::AssetRetired {
            asset: unit(),
            reason: Reason::new("scrapped").unwrap(),
            at: t(9),
        }]
    );
    let history = vec![work_unit(), events[0].clone()];
    for command in [
        retire,
        record_usage(1, 0, 10),
        define("lube", CYCLES_100),
        AssetCommand::CheckPlans { at: t(10) },
    ] {
        let err = rejected(history.clone(), command);
        assert_eq!(err, AssetError::Retired);
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }
}

// Plans.

#[test]
fn define_plan_on_a_work_unit() {
    let events = when(vec![work_unit()], define("lube", CYCLES_100)).unwrap();
    assert_eq!(
        events,
        vec![AssetEvent::MaintenancePlanDefined {
            work_unit: unit(),
            plan: plan_id("lube"),
            trigger: CYCLES_100,
            description: Description::new("lubricate").unwrap(),
            at: t(0),
        }]
    );
}

#[test]
fn define_plan_is_only_for_work_units() {
    let err = rejected(
        vec![registered("line-1", AssetLevel::WorkCenter, Some("area-1"))],
        define("lube", CYCLES_100),
    );
    assert_eq!(
        err,
        AssetError::NotAWorkUnit {
            level: AssetLevel::WorkCenter
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn define_plan_rejects_zero_and_out_of_range_intervals() {
    let err = rejected(
        vec![work_unit()],
        define("lube", Trigger::Cycles { cycles: 0 }),
    );
    assert_eq!(err, AssetError::ZeroInterval);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(
        vec![work_unit()],
        define(
            "lube",
            Trigger::CalendarDays {
                days: MAX_CALENDAR_DAYS + 1,
            },
        ),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(
        vec![work_unit()],
        define(
            "lube",
            Trigger::RunHours {
                hours: MAX_RUN_HOURS + 1,
            },
        ),
    );
    assert_eq!(
        err,
        AssetError::IntervalOutOfRange {
            every: MAX_RUN_HOURS + 1,
            max: MAX_RUN_HOURS
        }
    );
}

#[test]
fn define_plan_twice_is_rejected() {
    let err = rejected(
        vec![work_unit(), plan("lube", CYCLES_100)],
        define("lube", CYCLES_100),
    );
    assert_eq!(
        err,
        AssetError::PlanAlreadyDefined {
            plan: plan_id("lube")
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Usage.

#[test]
fn record_usage_adds_to_the_meters() {
    let events = when(
        vec![work_unit(), usage(10, 1_000, (10, 1_000), 1)],
        record_usage(5, 500, 2),
    )
    .unwrap();
    assert_eq!(events, vec![usage(5, 500, (15, 1_500), 2)]);
}

#[test]
fn record_usage_rejects_nothing_and_overflow() {
    let err = rejected(vec![work_unit()], record_usage(0, 0, 1));
    assert_eq!(err, AssetError::EmptyUsage);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(
        vec![work_unit(), usage(u64::MAX, 0, (u64::MAX, 0), 1)],
        record_usage(1, 0, 2),
    );
    assert_eq!(err, AssetError::UsageOverflow);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn record_usage_is_only_for_work_units() {
    let err = rejected(
        vec![registered("line-1", AssetLevel::WorkCenter, Some("area-1"))],
        record_usage(1, 0, 1),
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn a_cycles_plan_becomes_due_and_raises_its_work_order_when_the_interval_is_reached() {
    let history = vec![
        work_unit(),
        plan("lube", CYCLES_100),
        usage(60, 0, (60, 0), 1),
    ];
    assert_eq!(
        when(history.clone(), record_usage(39, 0, 2)).unwrap(),
        vec![usage(39, 0, (99, 0), 2)]
    );
    let mut expected = vec![usage(40, 0, (100, 0), 2)];
    expected.extend(due("lube", 1, CYCLES_100, t(2)));
    assert_eq!(when(history, record_usage(40, 0, 2)).unwrap(), expected);
}

#[test]
fn usage_plans_count_from_their_definition_and_from_their_last_due() {
    let mut history = vec![
        work_unit(),
        usage(500, 0, (500, 0), 1),
        plan("lube", CYCLES_100),
        usage(100, 0, (600, 0), 2),
    ];
    history.extend(due("lube", 1, CYCLES_100, t(2)));
    let asset = given(history.clone());
    let state = asset.state().as_ref().unwrap();
    assert_eq!(
        state.plans()[&plan_id("lube")].remaining(state.cycles(), state.run_time()),
        100
    );
    assert_eq!(
        when(history.clone(), record_usage(99, 0, 3)).unwrap(),
        vec![usage(99, 0, (699, 0), 3)]
    );
    let mut expected = vec![usage(100, 0, (700, 0), 3)];
    expected.extend(due("lube", 2, CYCLES_100, t(3)));
    assert_eq!(when(history, record_usage(100, 0, 3)).unwrap(), expected);
}

#[test]
fn a_run_hours_plan_becomes_due_on_run_time() {
    let trigger = Trigger::RunHours { hours: 2 };
    let history = vec![work_unit(), plan("inspect", trigger)];
    let two_hours = 2 * Millis::HOUR;
    assert_eq!(
        when(history.clone(), record_usage(0, two_hours - 1, 1))
            .unwrap()
            .len(),
        1
    );
    let mut expected = vec![usage(0, two_hours, (0, two_hours), 1)];
    expected.extend(due("inspect", 1, trigger, t(1)));
    assert_eq!(
        when(history, record_usage(0, two_hours, 1)).unwrap(),
        expected
    );
}

#[test]
fn a_calendar_plan_becomes_due_once_its_date_passed() {
    let trigger = Trigger::CalendarDays { days: 7 };
    let history = vec![work_unit(), plan("weekly", trigger)];
    assert_eq!(
        when(
            history.clone(),
            AssetCommand::CheckPlans {
                at: day(7) - Duration::seconds(1)
            }
        )
        .unwrap(),
        vec![]
    );
    let events = when(history, AssetCommand::CheckPlans { at: day(7) }).unwrap();
    assert_eq!(events, due("weekly", 1, trigger, day(7)).to_vec());
}

#[test]
fn an_overdue_calendar_plan_is_due_once_and_its_next_date_moves_past_the_check() {
    let trigger = Trigger::CalendarDays { days: 7 };
    let mut history = vec![work_unit(), plan("weekly", trigger)];
    history.extend(due("weekly", 1, trigger, day(30)));
    let asset = given(history.clone());
    let plan = &asset.state().as_ref().unwrap().plans()[&plan_id("weekly")];
    assert_eq!(plan.next_due(), Some(day(35)));
    assert_eq!(plan.occurrences(), 1);
    assert_eq!(
        when(history.clone(), AssetCommand::CheckPlans { at: day(34) }).unwrap(),
        vec![]
    );
    assert_eq!(
        when(history, AssetCommand::CheckPlans { at: day(35) }).unwrap(),
        due("weekly", 2, trigger, day(35)).to_vec()
    );
}

#[test]
fn usage_records_also_check_calendar_plans() {
    let trigger = Trigger::CalendarDays { days: 1 };
    let history = vec![work_unit(), plan("daily", trigger)];
    let mut expected = vec![AssetEvent::UsageRecorded {
        work_unit: unit(),
        cycles: Cycles(1),
        run_time_ms: Millis(0),
        total_cycles: Cycles(1),
        total_run_time_ms: Millis(0),
        at: day(1),
    }];
    expected.extend(due("daily", 1, trigger, day(1)));
    let events = given(history)
        .decide(
            AssetCommand::RecordUsage {
                cycles: Cycles(1),
                run_time: Millis(0),
                at: day(1),
            }
            .into(),
        )
        .unwrap();
    assert_eq!(
        events.into_iter().map(|r| r.event).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn raised_work_orders_name_the_last_occurrence_of_each_plan() {
    let mut history = vec![
        work_unit(),
        plan("lube", CYCLES_100),
        usage(100, 0, (100, 0), 1),
    ];
    history.extend(due("lube", 1, CYCLES_100, t(1)));
    let asset = given(history);
    let raised = asset.state().as_ref().unwrap().raised_work_orders();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].plan, plan_id("lube"));
    assert_eq!(raised[0].occurrence, 1);
    assert_eq!(
        raised[0].work_order,
        WorkOrderId::for_plan_occurrence(&unit(), &plan_id("lube"), 1)
    );
    assert_eq!(raised[0].at, t(1));
}

// Guards.

#[test]
fn a_stale_expected_version_is_a_conflict() {
    let err = given(vec![work_unit()])
        .decide(Versioned::expecting(record_usage(1, 0, 1), 0))
        .unwrap_err();
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "asset",
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(given(vec![work_unit()])
        .decide(Versioned::expecting(record_usage(1, 0, 1), 1))
        .is_ok());
}

#[test]
fn a_repeated_idempotency_key_answers_the_original_version_and_decides_nothing() {
    let key = IdempotencyKey::new("evt-1").unwrap();
    let mut asset = given(vec![work_unit(), plan("lube", CYCLES_100)]);
    let command = Versioned::from(record_usage(100, 0, 1)).keyed(key.clone());
    let events = asset.decide(command.clone()).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].idempotency_key, None);
    assert_eq!(events[2].idempotency_key, Some(key));
    for event in events {
        asset.evolve(event);
    }
    assert_eq!(asset.version(), 5);
    // The key answers even when the version guard would no longer hold.
    let again = Versioned {
        expected_version: Some(2),
        ..command
    };
    let err = asset.decide(again).unwrap_err();
    assert_eq!(err, Rejected::Replayed { version: 5 });
    assert_eq!(err.replayed_version(), Some(5));
}

#[test]
fn asset_snapshot_round_trips_through_json() {
    let mut history = vec![
        work_unit(),
        plan("lube", CYCLES_100),
        usage(100, 0, (100, 0), 1),
    ];
    history.extend(due("lube", 1, CYCLES_100, t(1)));
    let asset = given(history);
    let json = serde_json::to_string(&asset).unwrap();
    let back: Asset = serde_json::from_str(&json).unwrap();
    assert_eq!(back, asset);
}

// Properties.

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a reference model: a cycles plan becomes due exactly when the cycles since its
        /// definition or last due reach the interval, and each due raises one work order.
        #[test]
        fn a_cycles_plan_is_due_exactly_when_its_interval_is_reached(
            every in 1_u64..300,
            records in proptest::collection::vec(1_u64..500, 1..40),
        ) {
            let trigger = Trigger::Cycles { cycles: every };
            let mut asset = given(vec![work_unit(), plan("lube", trigger)]);
            let (mut total, mut baseline, mut occurrences) = (0_u64, 0_u64, 0_u32);
            for (minute, cycles) in records.into_iter().enumerate() {
                let events = asset
                    .decide(record_usage(cycles, 0, minute as i64).into())
                    .unwrap();
                total += cycles;
                let expected_due = total - baseline >= every;
                let dues = events
                    .iter()
                    .filter(|e| matches!(e.event, AssetEvent::MaintenancePlanDue { .. }))
                    .count();
                let raises = events
                    .iter()
                    .filter(|e| matches!(e.event, AssetEvent::PlanWorkOrderRaised { .. }))
                    .count();
                prop_assert_eq!(dues, usize::from(expected_due));
                prop_assert_eq!(raises, dues);
                if expected_due {
                    baseline = total;
                    occurrences += 1;
                }
                for event in events {
                    asset.evolve(event);
                }
                let state = asset.state().as_ref().unwrap();
                let plan = &state.plans()[&plan_id("lube")];
                prop_assert_eq!(plan.occurrences(), occurrences);
                prop_assert_eq!(plan.raised(), occurrences);
                prop_assert_eq!(plan.remaining(state.cycles(), state.run_time()), every - (total - baseline));
            }
        }
    }
}

#[test]
fn the_next_calendar_due_date_is_computed_in_one_step_however_far_ahead() {
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
    };
    let due = at("2026-01-01T00:00:00Z");
    assert_eq!(next_after(due, 7, at("2025-12-01T00:00:00Z")), Some(due));
    assert_eq!(next_after(due, 7, due), Some(at("2026-01-08T00:00:00Z")));
    assert_eq!(
        next_after(due, 7, at("2026-01-09T00:00:00Z")),
        Some(at("2026-01-15T00:00:00Z"))
    );
    assert_eq!(
        next_after(at("1971-01-01T00:00:00Z"), 1, at("9999-01-01T00:00:00Z")),
        Some(at("9999-01-02T00:00:00Z"))
    );
    assert_eq!(next_after(due, 0, due), None);
}
