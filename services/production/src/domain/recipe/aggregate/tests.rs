//! Given/when/then tests of the master recipe: definition, drafting, approval (and the
//! superseded version), retirement, and the signature rule of approval.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, Meaning, Recorded, Timed};

use super::*;
use crate::domain::recipe::parameter::{ParameterError, ParameterName};

type RecipeTest = TestFramework<Recipe>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn product() -> ProductId {
    ProductId::new("SKU-A").unwrap()
}

fn id() -> RecipeId {
    RecipeId::of(&product(), OperationNumber(20))
}

fn parameter(name: &str, setpoint: f64) -> RecipeParameter {
    RecipeParameter {
        name: ParameterName::new(name).unwrap(),
        unit: "degC".to_owned(),
        setpoint,
        lower: setpoint - 10.0,
        upper: setpoint + 10.0,
        warn_lower: Some(setpoint - 5.0),
        warn_upper: Some(setpoint + 5.0),
        hold_on_deviation: true,
    }
}

fn defined() -> RecipeEvent {
    RecipeEvent::RecipeDefined {
        recipe: id(),
        product: product(),
        operation: OperationNumber(20),
        name: "Moulding".to_owned(),
        equipment_class: Some("press".to_owned()),
        at: t(0),
    }
}

fn drafted(version: u32, setpoint: f64) -> RecipeEvent {
    RecipeEvent::RecipeVersionDrafted {
        recipe: id(),
        version,
        parameters: vec![parameter("temp", setpoint)],
        note: format!("v{version}"),
        at: t(i64::from(version)),
    }
}

fn approved(version: u32) -> RecipeEvent {
    RecipeEvent::RecipeVersionApproved {
        recipe: id(),
        version,
        at: t(10 + i64::from(version)),
    }
}

fn recorded(events: Vec<RecipeEvent>) -> Vec<Recorded<RecipeEvent>> {
    events.into_iter().map(Recorded::new).collect()
}

fn rejected(given: Vec<RecipeEvent>, command: RecipeCommand) -> RecipeError {
    RecipeTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects it")
}

fn accepted(given: Vec<RecipeEvent>, command: RecipeCommand) -> Vec<RecipeEvent> {
    RecipeTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|recorded| recorded.event)
        .collect()
}

fn state(events: Vec<RecipeEvent>) -> RecipeState {
    Recipe::from_events(events).state().clone().unwrap()
}

fn define(recipe: RecipeId, name: &str) -> RecipeCommand {
    RecipeCommand::Define {
        recipe,
        product: product(),
        operation: OperationNumber(20),
        name: name.to_owned(),
        equipment_class: Some("press".to_owned()),
        at: t(0),
    }
}

fn draft(parameters: Vec<RecipeParameter>) -> RecipeCommand {
    RecipeCommand::DraftVersion {
        parameters,
        note: "v1".to_owned(),
        at: t(1),
    }
}

fn approve(version: u32) -> RecipeCommand {
    RecipeCommand::ApproveVersion {
        version,
        at: t(10 + i64::from(version)),
    }
}

fn retire(version: u32) -> RecipeCommand {
    RecipeCommand::RetireVersion {
        version,
        reason: Reason::new("obsolete tooling").unwrap(),
        at: t(30),
    }
}

#[test]
fn define_records_the_recipe_of_a_product_and_operation() {
    assert_eq!(accepted(vec![], define(id(), "Moulding")), vec![defined()]);
}

#[test]
fn define_rejects_a_blank_name_a_foreign_id_and_a_second_definition() {
    assert_eq!(rejected(vec![], define(id(), " ")), RecipeError::EmptyName);
    let other = RecipeId::new("SKU-B/20").unwrap();
    assert!(matches!(
        rejected(vec![], define(other, "x")),
        RecipeError::IdMismatch { .. }
    ));
    assert_eq!(
        rejected(vec![defined()], define(id(), "again")),
        RecipeError::AlreadyDefined { recipe: id() }
    );
}

#[test]
fn commands_before_the_definition_are_not_found() {
    let err = rejected(vec![], approve(1));
    assert_eq!(err, RecipeError::NotDefined);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn draft_numbers_versions_one_after_another() {
    let events = accepted(vec![defined()], draft(vec![parameter("temp", 200.0)]));
    let RecipeEvent::RecipeVersionDrafted { version, .. } = &events[0] else {
        panic!("expected a draft, got {events:?}");
    };
    assert_eq!(*version, 1);
    let events = accepted(
        vec![defined(), drafted(1, 200.0), approved(1)],
        draft(vec![parameter("temp", 210.0)]),
    );
    assert!(matches!(
        events[0],
        RecipeEvent::RecipeVersionDrafted { version: 2, .. }
    ));
}

#[test]
fn draft_rejects_invalid_parameters_naming_the_field() {
    let mut bad = parameter("speed", 5.0);
    bad.upper = 1.0;
    let err = rejected(vec![defined()], draft(vec![parameter("temp", 1.0), bad]));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let RecipeError::Parameters(problem) = &err else {
        panic!("expected a parameter error, got {err:?}");
    };
    assert_eq!(problem.field(), "parameters[1].upper");
    assert_eq!(
        rejected(vec![defined()], draft(vec![])),
        RecipeError::Parameters(ParameterError::Empty)
    );
}

#[test]
fn approve_makes_a_draft_the_running_version() {
    let events = accepted(vec![defined(), drafted(1, 200.0)], approve(1));
    assert_eq!(events, vec![approved(1)]);
    let recipe = state(vec![defined(), drafted(1, 200.0), approved(1)]);
    assert_eq!(recipe.approved().map(|v| v.version), Some(1));
}

#[test]
fn approving_a_later_version_supersedes_the_approved_one() {
    let given = vec![defined(), drafted(1, 200.0), approved(1), drafted(2, 210.0)];
    let events = accepted(given.clone(), approve(2));
    let superseded = RecipeEvent::RecipeVersionSuperseded {
        recipe: id(),
        version: 1,
        by_version: 2,
        at: t(12),
    };
    assert_eq!(events, vec![approved(2), superseded.clone()]);
    let mut all = given;
    all.extend(events);
    let recipe = state(all);
    assert_eq!(recipe.approved().map(|v| v.version), Some(2));
    assert_eq!(
        recipe.version(1).map(|v| v.status),
        Some(VersionStatus::Superseded)
    );
    assert_eq!(recipe.describe_versions(), "v1 superseded, v2 approved");
}

#[test]
fn approve_accepts_only_a_draft() {
    let given = vec![defined(), drafted(1, 200.0), approved(1)];
    let err = rejected(given.clone(), approve(1));
    assert_eq!(
        err,
        RecipeError::NotDraft {
            version: 1,
            status: VersionStatus::Approved
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(
        rejected(given, approve(7)),
        RecipeError::UnknownVersion { version: 7 }
    );
}

#[test]
fn retire_withdraws_an_approved_or_superseded_version_but_not_a_draft() {
    let given = vec![defined(), drafted(1, 200.0), approved(1), drafted(2, 210.0)];
    let events = accepted(given.clone(), retire(1));
    assert!(matches!(
        events[0],
        RecipeEvent::RecipeVersionRetired { version: 1, .. }
    ));
    let mut all = given.clone();
    all.extend(events);
    let recipe = state(all.clone());
    assert!(recipe.approved().is_none());
    assert_eq!(recipe.describe_versions(), "v1 retired, v2 draft");
    assert_eq!(
        rejected(given, retire(2)),
        RecipeError::NotRetirable {
            version: 2,
            status: VersionStatus::Draft
        }
    );
    assert_eq!(
        rejected(all.clone(), retire(1)),
        RecipeError::NotRetirable {
            version: 1,
            status: VersionStatus::Retired
        }
    );
    // A retired version can never be approved again.
    assert_eq!(
        rejected(all, approve(1)),
        RecipeError::NotDraft {
            version: 1,
            status: VersionStatus::Retired
        }
    );
}

#[test]
fn approval_is_a_signed_command_whose_authors_drafted_the_version() {
    let rule = approve(3).signature_rule().unwrap();
    assert_eq!(rule.meaning, Meaning::Approved);
    assert_eq!(rule.authored_by, &["RecipeVersionDrafted"]);
    assert_eq!(rule.matching, Some(("version", "3".to_owned())));
    assert!(draft(vec![]).signature_rule().is_none());
    assert!(retire(1).signature_rule().is_none());
}
