//! Given/when/then tests of the inspection: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Recorded, Rejected, Versioned};

use super::*;
use crate::domain::ids::UnitOfMeasure;
use crate::domain::spec::{Spec, ValueError};

type InspectionTest = TestFramework<Inspection>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn inspection_id() -> InspectionId {
    "0191e1b4-7c1a-7000-8000-0000000000b1".parse().unwrap()
}

fn plan_id() -> PlanId {
    "0191e1b4-7c1a-7000-8000-0000000000a1".parse().unwrap()
}

fn name(value: &str) -> CharacteristicName {
    CharacteristicName::new(value).unwrap()
}

fn press() -> WorkUnitId {
    WorkUnitId::new("site1.line1.press-7").unwrap()
}

fn lot(value: &str) -> LotId {
    LotId::new(value).unwrap()
}

fn characteristics() -> Vec<Characteristic> {
    vec![
        Characteristic {
            name: name("diameter"),
            spec: Spec::Variable {
                unit: UnitOfMeasure::new("mm").unwrap(),
                lower_limit: Some(9.9),
                upper_limit: Some(10.1),
                nominal: Some(10.0),
            },
        },
        Characteristic {
            name: name("seal"),
            spec: Spec::Attribute,
        },
    ]
}

fn snapshot(retired: bool) -> PlanSnapshot {
    PlanSnapshot {
        plan: plan_id(),
        revision: 2,
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        characteristics: characteristics(),
        sample_size: Units(5),
        open_ncr_on_failure: false,
        retired,
    }
}

fn made(work_unit: bool, lot_id: Option<&str>, produced_at: Option<i64>) -> UnitsMade {
    UnitsMade {
        work_unit: work_unit.then(press),
        lot: lot_id.map(lot),
        produced_at: produced_at.map(t),
    }
}

fn start(units_made: UnitsMade) -> InspectionCommand {
    InspectionCommand::Start {
        inspection: inspection_id(),
        plan: snapshot(false),
        made: units_made,
        at: t(60),
    }
}

/// Started at minute 60 with press-7 as default equipment, no default lot or time.
fn started() -> Recorded<InspectionEvent> {
    InspectionEvent::InspectionStarted {
        inspection_id: inspection_id(),
        plan_id: plan_id(),
        plan_revision: 2,
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        characteristics: characteristics(),
        sample_size: Units(5),
        work_unit: Some(press()),
        lot: None,
        produced_at: None,
        open_ncr_on_failure: false,
        at: t(60),
    }
    .into()
}

fn values(diameter: f64, seal: bool) -> Vec<(CharacteristicName, Value)> {
    vec![
        (name("diameter"), Value::Measured(diameter)),
        (name("seal"), Value::Passed(seal)),
    ]
}

fn record(
    quantity: u64,
    values: Vec<(CharacteristicName, Value)>,
    units: UnitsMade,
) -> InspectionCommand {
    InspectionCommand::RecordResult {
        quantity: Units(quantity),
        values,
        made: units,
        at: t(70),
    }
}

fn recorded(quantity: u64, rejected: u64, lot_id: Option<&str>) -> Recorded<InspectionEvent> {
    InspectionEvent::InspectionResultRecorded {
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        work_unit: Some(press()),
        lot: lot_id.map(lot),
        produced_at: Some(t(5)),
        quantity: Units(quantity),
        rejected: Units(rejected),
        measurements: vec![],
        at: t(70),
    }
    .into()
}

fn rejected(given: Vec<Recorded<InspectionEvent>>, command: InspectionCommand) -> InspectionError {
    InspectionTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects the command, not a guard")
}

fn accepted(
    given: Vec<Recorded<InspectionEvent>>,
    command: InspectionCommand,
) -> Vec<InspectionEvent> {
    InspectionTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|event| event.event)
        .collect()
}

fn fold(events: Vec<Recorded<InspectionEvent>>) -> Inspection {
    let mut inspection = Inspection::default();
    for event in events {
        inspection.evolve(event);
    }
    inspection
}

// Start.

#[test]
fn start_copies_the_plan_revision_and_the_defaults() {
    InspectionTest::with(())
        .given_no_previous_events()
        .when(start(made(true, None, None)).into())
        .then_expect_events(vec![started()]);
    let inspection = fold(vec![started()]);
    let state = inspection.state().as_ref().unwrap();
    assert_eq!(state.plan(), (plan_id(), 2));
    assert_eq!(state.status(), InspectionStatus::InProgress);
}

#[test]
fn start_against_a_retired_plan_is_a_failed_precondition() {
    let command = InspectionCommand::Start {
        inspection: inspection_id(),
        plan: snapshot(true),
        made: UnitsMade::default(),
        at: t(60),
    };
    let err = rejected(vec![], command);
    assert_eq!(err, InspectionError::PlanRetired { plan: plan_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn start_rejects_units_made_after_the_inspection_or_without_equipment() {
    let err = rejected(vec![], start(made(true, None, Some(61))));
    assert_eq!(
        err,
        InspectionError::ProducedAfterInspection {
            produced_at: t(61),
            at: t(60)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        rejected(vec![], start(made(false, None, Some(5)))),
        InspectionError::ProducedAtWithoutWorkUnit
    );
}

#[test]
fn start_twice_is_a_failed_precondition() {
    let err = rejected(vec![started()], start(UnitsMade::default()));
    assert_eq!(
        err,
        InspectionError::AlreadyStarted {
            inspection: inspection_id()
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn commands_before_the_start_are_not_found() {
    let err = rejected(vec![], InspectionCommand::Complete { at: t(80) });
    assert_eq!(err, InspectionError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// Record result.

#[test]
fn conforming_result_rejects_nothing_and_keeps_where_and_when_units_were_made() {
    let events = accepted(
        vec![started()],
        record(3, values(10.05, true), made(false, Some("LOT-1"), Some(5))),
    );
    let InspectionEvent::InspectionResultRecorded {
        work_unit,
        lot: result_lot,
        produced_at,
        quantity,
        rejected: rejects,
        measurements,
        ..
    } = &events[0]
    else {
        panic!("expected a result: {events:?}");
    };
    // The equipment comes from the inspection's defaults, the lot and time from the result.
    assert_eq!(work_unit, &Some(press()));
    assert_eq!(result_lot, &Some(lot("LOT-1")));
    assert_eq!(produced_at, &Some(t(5)));
    assert_eq!((*quantity, *rejects), (Units(3), Units::ZERO));
    assert!(measurements.iter().all(|m| m.conforming));
    assert_eq!(measurements[0].characteristic, name("diameter"));
}

#[test]
fn out_of_spec_value_rejects_every_unit_of_the_result() {
    let events = accepted(
        vec![started()],
        record(2, values(10.3, true), made(false, None, Some(5))),
    );
    let InspectionEvent::InspectionResultRecorded {
        rejected: rejects,
        measurements,
        ..
    } = &events[0]
    else {
        panic!("expected a result: {events:?}");
    };
    assert_eq!(*rejects, Units(2));
    assert_eq!(
        measurements
            .iter()
            .map(|m| m.conforming)
            .collect::<Vec<_>>(),
        vec![false, true]
    );
    let failed_check = accepted(
        vec![started()],
        record(1, values(10.0, false), made(false, None, Some(5))),
    );
    assert!(matches!(
        &failed_check[0],
        InspectionEvent::InspectionResultRecorded { rejected, .. } if *rejected == Units(1)
    ));
}

#[test]
fn result_must_name_its_units_by_lot_or_by_equipment_and_time() {
    let err = rejected(
        vec![started()],
        record(1, values(10.0, true), UnitsMade::default()),
    );
    assert_eq!(err, InspectionError::UnitsNotNamed);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        rejected(
            vec![started()],
            record(1, values(10.0, true), made(false, None, Some(71)))
        ),
        InspectionError::ProducedAfterInspection {
            produced_at: t(71),
            at: t(70)
        }
    );
}

#[test]
fn result_rejects_zero_quantity_and_overflow() {
    assert_eq!(
        rejected(
            vec![started()],
            record(0, values(10.0, true), made(false, Some("L"), None))
        ),
        InspectionError::ZeroQuantity
    );
    assert_eq!(
        rejected(
            vec![started(), recorded(u64::MAX, 0, Some("L"))],
            record(1, values(10.0, true), made(false, Some("L"), None))
        ),
        InspectionError::QuantityOverflow
    );
}

#[test]
fn result_needs_exactly_one_judgeable_value_per_characteristic() {
    let units = || made(false, Some("L"), None);
    let mut unknown = values(10.0, true);
    unknown.push((name("colour"), Value::Passed(true)));
    assert_eq!(
        rejected(vec![started()], record(1, unknown, units())),
        InspectionError::UnknownCharacteristic {
            name: name("colour")
        }
    );
    let mut twice = values(10.0, true);
    twice.push((name("seal"), Value::Passed(false)));
    assert_eq!(
        rejected(vec![started()], record(1, twice, units())),
        InspectionError::DuplicateValue { name: name("seal") }
    );
    let missing = vec![(name("seal"), Value::Passed(true))];
    assert_eq!(
        rejected(vec![started()], record(1, missing, units())),
        InspectionError::MissingValue {
            name: name("diameter")
        }
    );
    let wrong_kind = vec![
        (name("diameter"), Value::Passed(true)),
        (name("seal"), Value::Passed(true)),
    ];
    let err = rejected(vec![started()], record(1, wrong_kind, units()));
    assert_eq!(
        err,
        InspectionError::BadValue {
            name: name("diameter"),
            source: ValueError::WrongKind {
                expected: "a measured value"
            }
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "characteristic diameter expects a measured value"
    );
    assert_eq!(
        rejected(vec![started()], record(1, values(f64::NAN, true), units())),
        InspectionError::BadValue {
            name: name("diameter"),
            source: ValueError::NotFinite
        }
    );
}

#[test]
fn result_before_the_start_is_invalid() {
    let command = InspectionCommand::RecordResult {
        quantity: Units(1),
        values: values(10.0, true),
        made: made(false, Some("L"), None),
        at: t(59),
    };
    assert_eq!(
        rejected(vec![started()], command),
        InspectionError::BeforeStart {
            at: t(59),
            started_at: t(60)
        }
    );
}

#[test]
fn results_add_up_and_remember_the_lots_of_rejects() {
    let inspection = fold(vec![
        started(),
        recorded(3, 0, Some("LOT-1")),
        recorded(2, 2, Some("LOT-2")),
        recorded(1, 1, None),
    ]);
    let state = inspection.state().as_ref().unwrap();
    assert_eq!((state.inspected(), state.rejected()), (Units(6), Units(3)));
    assert_eq!(
        state.rejected_lots().iter().cloned().collect::<Vec<_>>(),
        vec![lot("LOT-2")]
    );
}

// Complete.

#[test]
fn complete_before_the_sample_is_inspected_is_a_failed_precondition() {
    let err = rejected(
        vec![started(), recorded(4, 0, Some("L"))],
        InspectionCommand::Complete { at: t(80) },
    );
    assert_eq!(
        err,
        InspectionError::SampleIncomplete {
            inspected: Units(4),
            sample_size: Units(5)
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn complete_accepts_without_rejects_and_rejects_with_them() {
    let clean = accepted(
        vec![started(), recorded(5, 0, Some("L"))],
        InspectionCommand::Complete { at: t(80) },
    );
    assert_eq!(
        clean,
        vec![InspectionEvent::InspectionCompleted {
            product: ProductId::new("SKU-A").unwrap(),
            work_unit: Some(press()),
            inspected: Units(5),
            rejected: Units::ZERO,
            accepted: true,
            at: t(80),
        }]
    );
    let given = vec![started(), recorded(5, 2, Some("L"))];
    let dirty = accepted(given.clone(), InspectionCommand::Complete { at: t(80) });
    let mut all = given;
    all.extend(dirty.into_iter().map(Recorded::from));
    let inspection = fold(all);
    assert_eq!(
        inspection.state().as_ref().unwrap().status(),
        InspectionStatus::Rejected
    );
}

#[test]
fn completed_inspection_takes_no_more_results() {
    let completed: Recorded<InspectionEvent> = InspectionEvent::InspectionCompleted {
        product: ProductId::new("SKU-A").unwrap(),
        work_unit: None,
        inspected: Units(5),
        rejected: Units::ZERO,
        accepted: true,
        at: t(80),
    }
    .into();
    let given = vec![started(), recorded(5, 0, Some("L")), completed];
    let err = rejected(
        given.clone(),
        record(1, values(10.0, true), made(false, Some("L"), None)),
    );
    assert_eq!(err, InspectionError::Completed);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(
        rejected(given, InspectionCommand::Complete { at: t(90) }),
        InspectionError::Completed
    );
}

// Guards.

#[test]
fn expected_version_and_idempotency_key_guard_results() {
    let command = record(1, values(10.0, true), made(false, Some("L"), None));
    let err = InspectionTest::with(())
        .given(vec![started()])
        .when(Versioned::expecting(command.clone(), 0))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let key = IdempotencyKey::new("scan-0001").unwrap();
    let keyed = Versioned::from(command).keyed(key);
    let mut inspection = fold(vec![started()]);
    for event in inspection.decide(keyed.clone()).unwrap() {
        inspection.evolve(event);
    }
    inspection.evolve(recorded(1, 0, Some("L")));
    // The repeat is recognised although another result moved the version on.
    assert_eq!(
        inspection.decide(keyed).unwrap_err(),
        Rejected::Replayed { version: 2 }
    );
}

// Properties.

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Rejected units are exactly the units of results with a value out of spec, never
        /// more than inspected, and the inspection is accepted only without them.
        #[test]
        fn rejects_are_the_units_of_out_of_spec_results(
            results in proptest::collection::vec((1u64..10, 9.7f64..10.3, any::<bool>()), 1..10),
        ) {
            let mut inspection = fold(vec![started()]);
            let (mut inspected, mut rejects) = (0u64, 0u64);
            for (quantity, diameter, seal) in results {
                let command = record(quantity, values(diameter, seal), made(false, Some("L"), None));
                for event in inspection.decide(command.into()).unwrap() {
                    inspection.evolve(event);
                }
                inspected += quantity;
                if !(9.9..=10.1).contains(&diameter) || !seal {
                    rejects += quantity;
                }
            }
            let state = inspection.state().as_ref().unwrap();
            prop_assert_eq!(state.inspected(), Units(inspected));
            prop_assert_eq!(state.rejected(), Units(rejects));
            prop_assert!(state.rejected() <= state.inspected());
            if inspected >= 5 {
                let events = inspection
                    .decide(InspectionCommand::Complete { at: t(80) }.into())
                    .unwrap();
                let accepted = matches!(
                    &events[0].event,
                    InspectionEvent::InspectionCompleted { accepted: true, .. }
                );
                prop_assert_eq!(accepted, rejects == 0);
            }
        }
    }
}
