//! Given/when/then tests of the CAPA: one or more per command and per rejection.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Recorded, Rejected, Versioned};

use super::*;

type CapaTest = TestFramework<Capa>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn capa_id() -> CapaId {
    "0191e1b4-7c1a-7000-8000-0000000000d1".parse().unwrap()
}

fn ncr(n: u8) -> NcrId {
    format!("0191e1b4-7c1a-7000-8000-0000000000c{n}")
        .parse()
        .unwrap()
}

fn open(kind: CapaKind, ncrs: Vec<NcrId>, due: i64) -> CapaCommand {
    CapaCommand::Open {
        capa: capa_id(),
        kind,
        title: Text::new("replace worn punch").unwrap(),
        owner: Owner::new("j.doe").unwrap(),
        due: t(due),
        ncrs,
        at: t(0),
    }
}

fn opened() -> Recorded<CapaEvent> {
    CapaEvent::CapaOpened {
        capa_id: capa_id(),
        kind: CapaKind::Corrective,
        title: Text::new("replace worn punch").unwrap(),
        owner: Owner::new("j.doe").unwrap(),
        due: t(10_080),
        ncr_ids: vec![ncr(1)],
        at: t(0),
    }
    .into()
}

fn implemented() -> Recorded<CapaEvent> {
    CapaEvent::CapaActionImplemented {
        note: None,
        at: t(100),
    }
    .into()
}

fn verified(effective: bool) -> Recorded<CapaEvent> {
    CapaEvent::CapaEffectivenessVerified {
        effective,
        note: None,
        at: t(200),
    }
    .into()
}

fn rejected(given: Vec<Recorded<CapaEvent>>, command: CapaCommand) -> CapaError {
    CapaTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects the command, not a guard")
}

fn fold(events: Vec<Recorded<CapaEvent>>) -> Capa {
    let mut capa = Capa::default();
    for event in events {
        capa.evolve(event);
    }
    capa
}

#[test]
fn open_records_owner_due_date_and_ncrs() {
    CapaTest::with(())
        .given_no_previous_events()
        .when(open(CapaKind::Corrective, vec![ncr(1)], 10_080).into())
        .then_expect_events(vec![opened()]);
    let capa = fold(vec![opened()]);
    assert_eq!(capa.state().as_ref().unwrap().status(), CapaStatus::Open);
}

#[test]
fn due_date_before_the_opening_is_invalid() {
    let err = rejected(vec![], open(CapaKind::Preventive, vec![], -1));
    assert_eq!(
        err,
        CapaError::DueBeforeOpened {
            due: t(-1),
            at: t(0)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn corrective_action_needs_an_ncr_and_a_preventive_one_does_not() {
    let err = rejected(vec![], open(CapaKind::Corrective, vec![], 60));
    assert_eq!(err, CapaError::CorrectiveWithoutNcr);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(CapaTest::with(())
        .given_no_previous_events()
        .when(open(CapaKind::Preventive, vec![], 60).into())
        .inspect_result()
        .is_ok());
}

#[test]
fn open_rejects_an_ncr_listed_twice() {
    assert_eq!(
        rejected(vec![], open(CapaKind::Corrective, vec![ncr(1), ncr(1)], 60)),
        CapaError::DuplicateNcr { ncr: ncr(1) }
    );
}

#[test]
fn open_twice_is_a_failed_precondition_and_others_need_a_capa() {
    let err = rejected(vec![opened()], open(CapaKind::Corrective, vec![ncr(1)], 60));
    assert_eq!(err, CapaError::AlreadyOpened { capa: capa_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![],
        CapaCommand::Implement {
            note: None,
            at: t(1),
        },
    );
    assert_eq!(err, CapaError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn link_adds_an_ncr_once() {
    let link = |n| CapaCommand::LinkNcr {
        ncr: ncr(n),
        at: t(5),
    };
    let events = CapaTest::with(())
        .given(vec![opened()])
        .when(link(2).into())
        .inspect_result()
        .unwrap();
    let mut all = vec![opened()];
    all.extend(events);
    assert_eq!(
        fold(all).state().as_ref().unwrap().ncrs(),
        &[ncr(1), ncr(2)]
    );
    let err = rejected(vec![opened()], link(1));
    assert_eq!(err, CapaError::AlreadyLinked { ncr: ncr(1) });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn implement_then_verify_effective_closes() {
    let capa = fold(vec![opened(), implemented()]);
    assert_eq!(
        capa.state().as_ref().unwrap().status(),
        CapaStatus::Implemented
    );
    let capa = fold(vec![opened(), implemented(), verified(true)]);
    assert_eq!(capa.state().as_ref().unwrap().status(), CapaStatus::Closed);
}

#[test]
fn ineffective_verification_reopens_for_another_action() {
    let given = vec![opened(), implemented(), verified(false)];
    assert_eq!(
        fold(given.clone()).state().as_ref().unwrap().status(),
        CapaStatus::Open
    );
    assert!(CapaTest::with(())
        .given(given)
        .when(
            CapaCommand::Implement {
                note: None,
                at: t(300)
            }
            .into()
        )
        .inspect_result()
        .is_ok());
}

#[test]
fn verify_needs_an_implemented_action() {
    let verify = CapaCommand::Verify {
        effective: true,
        note: None,
        at: t(200),
    };
    let err = rejected(vec![opened()], verify);
    assert_eq!(err, CapaError::NotImplemented);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn implement_twice_is_a_failed_precondition() {
    let err = rejected(
        vec![opened(), implemented()],
        CapaCommand::Implement {
            note: None,
            at: t(150),
        },
    );
    assert_eq!(err, CapaError::AlreadyImplemented);
}

#[test]
fn closed_capa_takes_no_more_commands() {
    let given = vec![opened(), implemented(), verified(true)];
    for command in [
        CapaCommand::LinkNcr {
            ncr: ncr(3),
            at: t(300),
        },
        CapaCommand::Implement {
            note: None,
            at: t(300),
        },
        CapaCommand::Verify {
            effective: true,
            note: None,
            at: t(300),
        },
    ] {
        assert_eq!(rejected(given.clone(), command), CapaError::Closed);
    }
}

#[test]
fn commands_dated_before_the_opening_are_invalid() {
    let err = rejected(
        vec![opened()],
        CapaCommand::Implement {
            note: None,
            at: t(-5),
        },
    );
    assert_eq!(
        err,
        CapaError::BeforeOpened {
            at: t(-5),
            opened_at: t(0)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn guards_replay_keys_and_reject_stale_versions() {
    let key = IdempotencyKey::new("implement-1").unwrap();
    let command = Versioned::from(CapaCommand::Implement {
        note: None,
        at: t(100),
    })
    .keyed(key);
    let mut capa = fold(vec![opened()]);
    for event in capa.decide(command.clone()).unwrap() {
        capa.evolve(event);
    }
    assert_eq!(
        capa.decide(command).unwrap_err(),
        Rejected::Replayed { version: 2 }
    );
    let stale = Versioned::expecting(
        CapaCommand::LinkNcr {
            ncr: ncr(2),
            at: t(5),
        },
        1,
    );
    assert_eq!(capa.decide(stale).unwrap_err().kind(), ErrorKind::Conflict);
}
