//! Given/when/then tests of the inspection plan: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Recorded, Rejected, Versioned};

use super::*;
use crate::domain::ids::{CharacteristicName, Text, UnitOfMeasure};
use crate::domain::spec::{Spec, SpecError};

type PlanTest = TestFramework<InspectionPlan>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn plan_id() -> PlanId {
    "0191e1b4-7c1a-7000-8000-0000000000a1".parse().unwrap()
}

fn diameter() -> Characteristic {
    Characteristic {
        name: CharacteristicName::new("diameter").unwrap(),
        spec: Spec::Variable {
            unit: UnitOfMeasure::new("mm").unwrap(),
            lower_limit: Some(9.9),
            upper_limit: Some(10.1),
            nominal: Some(10.0),
        },
    }
}

fn seal() -> Characteristic {
    Characteristic {
        name: CharacteristicName::new("seal intact").unwrap(),
        spec: Spec::Attribute,
    }
}

fn define(characteristics: Vec<Characteristic>, sample: u64, frequency: Frequency) -> PlanCommand {
    PlanCommand::Define {
        plan: plan_id(),
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        characteristics,
        sample_size: Units(sample),
        frequency,
        open_ncr_on_failure: false,
        at: t(0),
    }
}

fn defined() -> Recorded<PlanEvent> {
    PlanEvent::InspectionPlanDefined {
        plan_id: plan_id(),
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        characteristics: vec![diameter(), seal()],
        sample_size: Units(5),
        frequency: Frequency::EveryUnits(Units(500)),
        open_ncr_on_failure: false,
        at: t(0),
    }
    .into()
}

fn retired() -> Recorded<PlanEvent> {
    PlanEvent::InspectionPlanRetired {
        product: ProductId::new("SKU-A").unwrap(),
        operation: OperationNumber(10),
        reason: Text::new("product discontinued").unwrap(),
        at: t(5),
    }
    .into()
}

fn revise(characteristics: Vec<Characteristic>, sample: u64) -> PlanCommand {
    PlanCommand::Revise {
        characteristics,
        sample_size: Units(sample),
        frequency: Frequency::PerLot,
        open_ncr_on_failure: false,
        at: t(10),
    }
}

fn rejected(given: Vec<Recorded<PlanEvent>>, command: PlanCommand) -> PlanError {
    PlanTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects the command, not a guard")
}

fn facts(given: Vec<Recorded<PlanEvent>>, command: Versioned<PlanCommand>) -> Vec<PlanEvent> {
    PlanTest::with(())
        .given(given)
        .when(command)
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|event| event.event)
        .collect()
}

#[test]
fn define_records_the_plan_at_revision_one() {
    PlanTest::with(())
        .given_no_previous_events()
        .when(
            define(
                vec![diameter(), seal()],
                5,
                Frequency::EveryUnits(Units(500)),
            )
            .into(),
        )
        .then_expect_events(vec![defined()]);
    let mut plan = InspectionPlan::default();
    plan.evolve(defined());
    let state = plan.state().as_ref().unwrap();
    assert_eq!((state.revision(), plan.version()), (1, 1));
    assert!(!state.is_retired());
}

#[test]
fn define_twice_is_a_failed_precondition() {
    let err = rejected(vec![defined()], define(vec![seal()], 1, Frequency::PerLot));
    assert_eq!(err, PlanError::AlreadyDefined { plan: plan_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn define_rejects_an_empty_or_duplicate_characteristic_list() {
    assert_eq!(
        rejected(vec![], define(vec![], 5, Frequency::PerLot)),
        PlanError::NoCharacteristics
    );
    let err = rejected(vec![], define(vec![seal(), seal()], 5, Frequency::PerLot));
    assert_eq!(
        err,
        PlanError::DuplicateCharacteristic { name: seal().name }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn define_rejects_a_variable_without_usable_limits() {
    let mut bad = diameter();
    bad.spec = Spec::Variable {
        unit: UnitOfMeasure::new("mm").unwrap(),
        lower_limit: Some(10.1),
        upper_limit: Some(9.9),
        nominal: None,
    };
    let err = rejected(vec![], define(vec![bad], 5, Frequency::PerLot));
    assert_eq!(
        err,
        PlanError::BadSpec {
            name: diameter().name,
            source: SpecError::LimitsInverted {
                lower: 10.1,
                upper: 9.9
            }
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "characteristic diameter: lower spec limit 10.1 is above upper spec limit 9.9"
    );
}

#[test]
fn define_rejects_zero_sample_size_and_zero_frequency() {
    assert_eq!(
        rejected(vec![], define(vec![seal()], 0, Frequency::PerLot)),
        PlanError::ZeroSampleSize
    );
    assert_eq!(
        rejected(vec![], define(vec![seal()], 5, Frequency::EveryMinutes(0))),
        PlanError::ZeroFrequency
    );
    assert_eq!(
        rejected(
            vec![],
            define(vec![seal()], 5, Frequency::EveryUnits(Units::ZERO))
        ),
        PlanError::ZeroFrequency
    );
}

#[test]
fn commands_before_definition_are_not_found() {
    let err = rejected(vec![], revise(vec![seal()], 1));
    assert_eq!(err, PlanError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn revise_replaces_the_checks_and_counts_the_revision() {
    let first = facts(vec![defined()], revise(vec![seal()], 3).into());
    assert_eq!(
        first,
        vec![PlanEvent::InspectionPlanRevised {
            product: ProductId::new("SKU-A").unwrap(),
            operation: OperationNumber(10),
            revision: 2,
            characteristics: vec![seal()],
            sample_size: Units(3),
            frequency: Frequency::PerLot,
            open_ncr_on_failure: false,
            at: t(10),
        }]
    );
    let mut plan = InspectionPlan::default();
    plan.evolve(defined());
    plan.evolve(first[0].clone().into());
    let state = plan.state().as_ref().unwrap();
    assert_eq!(state.revision(), 2);
    assert_eq!(state.characteristics(), &[seal()]);
    assert_eq!(state.sample_size(), Units(3));
    assert_eq!(state.frequency(), Frequency::PerLot);
}

#[test]
fn revise_checks_the_new_plan_like_a_definition() {
    assert_eq!(
        rejected(vec![defined()], revise(vec![], 3)),
        PlanError::NoCharacteristics
    );
    assert_eq!(
        rejected(vec![defined()], revise(vec![seal()], 0)),
        PlanError::ZeroSampleSize
    );
}

#[test]
fn retired_plan_takes_no_revision_nor_second_retirement() {
    let err = rejected(vec![defined(), retired()], revise(vec![seal()], 1));
    assert_eq!(err, PlanError::Retired);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let again = PlanCommand::Retire {
        reason: Text::new("again").unwrap(),
        at: t(6),
    };
    assert_eq!(
        rejected(vec![defined(), retired()], again),
        PlanError::Retired
    );
}

#[test]
fn retire_marks_the_plan_retired() {
    let command = PlanCommand::Retire {
        reason: Text::new("product discontinued").unwrap(),
        at: t(5),
    };
    assert_eq!(
        facts(vec![defined()], command.into()),
        vec![retired().event]
    );
    let mut plan = InspectionPlan::default();
    plan.evolve(defined());
    plan.evolve(retired());
    assert!(plan.state().as_ref().unwrap().is_retired());
}

#[test]
fn expected_version_mismatch_is_a_conflict() {
    let command = Versioned::expecting(revise(vec![seal()], 1), 3);
    let err = PlanTest::with(())
        .given(vec![defined()])
        .when(command)
        .inspect_result()
        .unwrap_err();
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "plan",
            expected: 3,
            actual: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let ok = facts(
        vec![defined()],
        Versioned::expecting(revise(vec![seal()], 1), 1),
    );
    assert_eq!(ok.len(), 1);
}

#[test]
fn repeated_idempotency_key_replays_the_original_version() {
    let key = IdempotencyKey::new("revise-1").unwrap();
    let command = Versioned::from(revise(vec![seal()], 1)).keyed(key.clone());
    let events = PlanTest::with(())
        .given(vec![defined()])
        .when(command.clone())
        .inspect_result()
        .unwrap();
    assert_eq!(events[0].idempotency_key, Some(key));
    let mut plan = InspectionPlan::default();
    plan.evolve(defined());
    for event in events {
        plan.evolve(event);
    }
    let err = plan.decide(command).unwrap_err();
    assert_eq!(err, Rejected::Replayed { version: 2 });
    assert_eq!(err.replayed_version(), Some(2));
}
