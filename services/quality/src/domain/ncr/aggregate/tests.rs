//! Given/when/then tests of the nonconformance report: one or more per command and per
//! rejection, including the quantity invariants.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use mom_domain::{DomainError, ErrorKind, IdempotencyKey, Recorded, Rejected, Versioned};

use super::*;
use crate::domain::ncr::commands::InspectionSummary;

type NcrTest = TestFramework<Nonconformance>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn ncr_id() -> NcrId {
    "0191e1b4-7c1a-7000-8000-0000000000c1".parse().unwrap()
}

fn inspection_id() -> InspectionId {
    "0191e1b4-7c1a-7000-8000-0000000000b1".parse().unwrap()
}

fn sku(value: &str) -> ProductId {
    ProductId::new(value).unwrap()
}

fn lot(value: &str) -> LotId {
    LotId::new(value).unwrap()
}

fn press() -> WorkUnitId {
    WorkUnitId::new("press-7").unwrap()
}

fn text(value: &str) -> Text {
    Text::new(value).unwrap()
}

fn summary(rejected: u64) -> InspectionSummary {
    InspectionSummary {
        inspection: inspection_id(),
        product: sku("SKU-A"),
        work_unit: Some(press()),
        rejected: Units(rejected),
        rejected_lots: vec![lot("LOT-2")],
    }
}

fn by_hand(product: Option<&str>, quantity: Option<u64>, lots: &[&str]) -> NcrCommand {
    NcrCommand::Open {
        ncr: ncr_id(),
        source: None,
        product: product.map(sku),
        quantity: quantity.map(Units),
        description: text("burrs on edge"),
        work_unit: None,
        contained_lots: lots.iter().map(|l| lot(l)).collect(),
        at: t(0),
    }
}

fn from_inspection(rejected: u64, quantity: Option<u64>, lots: &[&str]) -> NcrCommand {
    NcrCommand::Open {
        ncr: ncr_id(),
        source: Some(summary(rejected)),
        product: None,
        quantity: quantity.map(Units),
        description: text("diameter out of spec"),
        work_unit: None,
        contained_lots: lots.iter().map(|l| lot(l)).collect(),
        at: t(0),
    }
}

/// Opened by hand for 10 units of SKU-A with LOT-1 and LOT-2 contained.
fn opened() -> Recorded<NcrEvent> {
    NcrEvent::NonconformanceOpened {
        ncr_id: ncr_id(),
        product: sku("SKU-A"),
        quantity: Units(10),
        description: text("burrs on edge"),
        inspection_id: None,
        work_unit: None,
        contained_lots: vec![lot("LOT-1"), lot("LOT-2")],
        at: t(0),
    }
    .into()
}

fn dispositioned(disposition: Disposition, quantity: u64, remaining: u64) -> Recorded<NcrEvent> {
    NcrEvent::NonconformanceDispositioned {
        product: sku("SKU-A"),
        work_unit: None,
        disposition,
        quantity: Units(quantity),
        lot: Some(lot("LOT-1")),
        remaining: Units(remaining),
        note: None,
        at: t(10),
    }
    .into()
}

fn closed() -> Recorded<NcrEvent> {
    NcrEvent::NonconformanceClosed {
        product: sku("SKU-A"),
        at: t(20),
    }
    .into()
}

fn disposition(kind: Disposition, quantity: u64, lot_id: Option<&str>) -> NcrCommand {
    NcrCommand::Disposition {
        disposition: kind,
        quantity: Units(quantity),
        lot: lot_id.map(lot),
        note: None,
        at: t(10),
    }
}

fn rejected(given: Vec<Recorded<NcrEvent>>, command: NcrCommand) -> NcrError {
    NcrTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected")
        .domain()
        .cloned()
        .expect("a rule rejects the command, not a guard")
}

fn accepted(given: Vec<Recorded<NcrEvent>>, command: NcrCommand) -> Vec<NcrEvent> {
    NcrTest::with(())
        .given(given)
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|event| event.event)
        .collect()
}

fn fold(events: Vec<Recorded<NcrEvent>>) -> Nonconformance {
    let mut ncr = Nonconformance::default();
    for event in events {
        ncr.evolve(event);
    }
    ncr
}

// Open.

#[test]
fn open_by_hand_records_product_quantity_and_containment() {
    NcrTest::with(())
        .given_no_previous_events()
        .when(by_hand(Some("SKU-A"), Some(10), &["LOT-1", "LOT-2"]).into())
        .then_expect_events(vec![opened()]);
    let ncr = fold(vec![opened()]);
    let state = ncr.state().as_ref().unwrap();
    assert_eq!(state.remaining(), Units(10));
    assert!(!state.is_closed());
}

#[test]
fn open_by_hand_needs_product_and_a_positive_quantity() {
    let err = rejected(vec![], by_hand(None, Some(1), &[]));
    assert_eq!(err, NcrError::MissingProduct);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        rejected(vec![], by_hand(Some("SKU-A"), None, &[])),
        NcrError::MissingQuantity
    );
    assert_eq!(
        rejected(vec![], by_hand(Some("SKU-A"), Some(0), &[])),
        NcrError::ZeroQuantity
    );
}

#[test]
fn open_rejects_a_lot_listed_twice() {
    let err = rejected(vec![], by_hand(Some("SKU-A"), Some(1), &["LOT-1", "LOT-1"]));
    assert_eq!(err, NcrError::DuplicateLot { lot: lot("LOT-1") });
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn open_from_inspection_takes_its_product_rejects_equipment_and_lots() {
    let events = accepted(vec![], from_inspection(3, None, &[]));
    assert_eq!(
        events,
        vec![NcrEvent::NonconformanceOpened {
            ncr_id: ncr_id(),
            product: sku("SKU-A"),
            quantity: Units(3),
            description: text("diameter out of spec"),
            inspection_id: Some(inspection_id()),
            work_unit: Some(press()),
            contained_lots: vec![lot("LOT-2")],
            at: t(0),
        }]
    );
    // Given values win: a whole lot may be suspect although the sample rejected three units.
    let events = accepted(vec![], from_inspection(3, Some(500), &["LOT-9"]));
    assert!(matches!(
        &events[0],
        NcrEvent::NonconformanceOpened { quantity, contained_lots, .. }
            if *quantity == Units(500) && contained_lots == &vec![lot("LOT-9")]
    ));
}

#[test]
fn open_from_an_inspection_without_rejects_is_a_failed_precondition() {
    let err = rejected(vec![], from_inspection(0, Some(5), &[]));
    assert_eq!(
        err,
        NcrError::InspectionWithoutRejects {
            inspection: inspection_id()
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn open_from_inspection_rejects_another_product() {
    let NcrCommand::Open {
        ncr,
        source,
        quantity,
        description,
        work_unit,
        contained_lots,
        at,
        ..
    } = from_inspection(3, None, &[])
    else {
        unreachable!()
    };
    let command = NcrCommand::Open {
        ncr,
        source,
        product: Some(sku("SKU-B")),
        quantity,
        description,
        work_unit,
        contained_lots,
        at,
    };
    assert_eq!(
        rejected(vec![], command),
        NcrError::ProductMismatch {
            given: sku("SKU-B"),
            inspected: sku("SKU-A")
        }
    );
}

#[test]
fn open_twice_is_a_failed_precondition_and_other_commands_need_an_ncr() {
    let err = rejected(vec![opened()], by_hand(Some("SKU-A"), Some(1), &[]));
    assert_eq!(err, NcrError::AlreadyOpened { ncr: ncr_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(vec![], NcrCommand::Close { at: t(1) });
    assert_eq!(err, NcrError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// Contain.

#[test]
fn contain_lists_only_new_lots_and_ignores_known_ones() {
    let command = NcrCommand::Contain {
        lots: vec![lot("LOT-2"), lot("LOT-3")],
        at: t(5),
    };
    let events = accepted(vec![opened()], command);
    assert_eq!(
        events,
        vec![NcrEvent::NonconformanceContained {
            product: sku("SKU-A"),
            lots: vec![lot("LOT-3")],
            at: t(5),
        }]
    );
    let known = NcrCommand::Contain {
        lots: vec![lot("LOT-1")],
        at: t(5),
    };
    assert!(accepted(vec![opened()], known).is_empty());
    let mut all = vec![opened()];
    all.extend(events.into_iter().map(Recorded::from));
    assert_eq!(
        fold(all).state().as_ref().unwrap().contained_lots(),
        &[lot("LOT-1"), lot("LOT-2"), lot("LOT-3")]
    );
}

#[test]
fn contain_needs_distinct_lots_dated_after_the_opening() {
    assert_eq!(
        rejected(
            vec![opened()],
            NcrCommand::Contain {
                lots: vec![],
                at: t(5)
            }
        ),
        NcrError::NoLots
    );
    assert_eq!(
        rejected(
            vec![opened()],
            NcrCommand::Contain {
                lots: vec![lot("L"), lot("L")],
                at: t(5)
            }
        ),
        NcrError::DuplicateLot { lot: lot("L") }
    );
    let early = NcrCommand::Contain {
        lots: vec![lot("LOT-3")],
        at: t(-1),
    };
    let err = rejected(vec![opened()], early);
    assert_eq!(
        err,
        NcrError::BeforeOpened {
            at: t(-1),
            opened_at: t(0)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

// Disposition.

#[test]
fn disposition_records_quantity_and_what_remains() {
    let events = accepted(
        vec![opened()],
        disposition(Disposition::Scrap, 4, Some("LOT-1")),
    );
    assert_eq!(events, vec![dispositioned(Disposition::Scrap, 4, 6).event]);
    let ncr = fold(vec![
        opened(),
        dispositioned(Disposition::Scrap, 4, 6),
        dispositioned(Disposition::Rework, 6, 0),
    ]);
    let state = ncr.state().as_ref().unwrap();
    assert_eq!(state.remaining(), Units::ZERO);
    assert_eq!(state.dispositions().len(), 2);
    assert_eq!(state.dispositions()[1].disposition, Disposition::Rework);
}

#[test]
fn disposition_above_the_undisposed_quantity_is_invalid() {
    let err = rejected(
        vec![opened(), dispositioned(Disposition::UseAsIs, 7, 3)],
        disposition(Disposition::Scrap, 4, None),
    );
    assert_eq!(
        err,
        NcrError::ExceedsRemaining {
            quantity: Units(4),
            remaining: Units(3)
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "disposition of 4 units exceeds the 3 undisposed units"
    );
    // Exactly what remains is fine.
    let ok = accepted(
        vec![opened(), dispositioned(Disposition::UseAsIs, 7, 3)],
        disposition(Disposition::Rework, 3, None),
    );
    assert!(matches!(
        &ok[0],
        NcrEvent::NonconformanceDispositioned { remaining, .. } if *remaining == Units::ZERO
    ));
}

#[test]
fn disposition_of_zero_units_is_invalid() {
    assert_eq!(
        rejected(vec![opened()], disposition(Disposition::Scrap, 0, None)),
        NcrError::ZeroQuantity
    );
}

#[test]
fn disposition_names_a_contained_lot() {
    let err = rejected(
        vec![opened()],
        disposition(Disposition::Scrap, 1, Some("LOT-9")),
    );
    assert_eq!(err, NcrError::LotNotContained { lot: lot("LOT-9") });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn disposition_of_several_contained_lots_names_the_lot_to_move() {
    let err = rejected(vec![opened()], disposition(Disposition::Scrap, 1, None));
    assert_eq!(
        err,
        NcrError::LotRequired {
            disposition: Disposition::Scrap,
            contained: 2
        }
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "a scrap disposition must name one of the 2 contained lots"
    );
    assert!(matches!(
        rejected(
            vec![opened()],
            disposition(Disposition::ReturnToSupplier, 1, None)
        ),
        NcrError::LotRequired { .. }
    ));
    // Rework and use as is move nothing, so they need no lot.
    let events = accepted(vec![opened()], disposition(Disposition::UseAsIs, 1, None));
    assert!(matches!(
        &events[0],
        NcrEvent::NonconformanceDispositioned { lot: None, .. }
    ));
}

#[test]
fn disposition_without_lot_takes_the_only_contained_lot() {
    let single: Recorded<NcrEvent> = NcrEvent::NonconformanceOpened {
        ncr_id: ncr_id(),
        product: sku("SKU-A"),
        quantity: Units(10),
        description: text("burrs on edge"),
        inspection_id: None,
        work_unit: Some(press()),
        contained_lots: vec![lot("LOT-7")],
        at: t(0),
    }
    .into();
    let events = accepted(vec![single], disposition(Disposition::Scrap, 2, None));
    assert_eq!(
        events,
        vec![NcrEvent::NonconformanceDispositioned {
            product: sku("SKU-A"),
            work_unit: Some(press()),
            disposition: Disposition::Scrap,
            quantity: Units(2),
            lot: Some(lot("LOT-7")),
            remaining: Units(8),
            note: None,
            at: t(10),
        }]
    );
}

// Close.

#[test]
fn close_with_undisposed_units_is_a_failed_precondition() {
    let err = rejected(
        vec![opened(), dispositioned(Disposition::Scrap, 4, 6)],
        NcrCommand::Close { at: t(20) },
    );
    assert_eq!(
        err,
        NcrError::Undisposed {
            remaining: Units(6)
        }
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn close_when_everything_is_dispositioned() {
    let given = vec![opened(), dispositioned(Disposition::Scrap, 10, 0)];
    assert_eq!(
        accepted(given.clone(), NcrCommand::Close { at: t(20) }),
        vec![closed().event]
    );
    let mut all = given;
    all.push(closed());
    assert!(fold(all).state().as_ref().unwrap().is_closed());
}

#[test]
fn closed_ncr_takes_no_more_commands() {
    let given = vec![opened(), dispositioned(Disposition::Scrap, 10, 0), closed()];
    for command in [
        NcrCommand::Close { at: t(30) },
        NcrCommand::Contain {
            lots: vec![lot("LOT-5")],
            at: t(30),
        },
        disposition(Disposition::Scrap, 1, None),
    ] {
        let err = rejected(given.clone(), command);
        assert_eq!(err, NcrError::Closed);
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }
}

// Guards.

#[test]
fn repeated_disposition_with_its_key_stores_nothing_and_replays_the_version() {
    let key = IdempotencyKey::new("evt-0191e1b4").unwrap();
    let command = Versioned::from(disposition(Disposition::Scrap, 6, Some("LOT-1"))).keyed(key);
    let mut ncr = fold(vec![opened()]);
    for event in ncr.decide(command.clone()).unwrap() {
        ncr.evolve(event);
    }
    let err = ncr.decide(command).unwrap_err();
    assert_eq!(err, Rejected::Replayed { version: 2 });
    assert_eq!(err.replayed_version(), Some(2));
    // Without the key the same command would be a second disposition.
    assert!(ncr
        .decide(disposition(Disposition::Scrap, 4, Some("LOT-2")).into())
        .is_ok());
}

#[test]
fn expected_version_mismatch_is_a_conflict() {
    let err = NcrTest::with(())
        .given(vec![opened()])
        .when(Versioned::expecting(NcrCommand::Close { at: t(20) }, 5))
        .inspect_result()
        .unwrap_err();
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "ncr",
            expected: 5,
            actual: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

// Properties.

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever dispositions are asked for, the accepted ones never exceed the
        /// nonconforming quantity, the undisposed remainder is what they leave, and the NCR
        /// closes exactly when nothing remains.
        #[test]
        fn dispositions_never_exceed_the_nonconforming_quantity(
            quantity in 1u64..50,
            asks in proptest::collection::vec((0u64..20, 0usize..4), 0..12),
        ) {
            let kinds = [
                Disposition::Scrap,
                Disposition::Rework,
                Disposition::UseAsIs,
                Disposition::ReturnToSupplier,
            ];
            let opened: Recorded<NcrEvent> = NcrEvent::NonconformanceOpened {
                ncr_id: ncr_id(),
                product: sku("SKU-A"),
                quantity: Units(quantity),
                description: text("dented"),
                inspection_id: None,
                work_unit: None,
                contained_lots: vec![lot("LOT-1")],
                at: t(0),
            }
            .into();
            let mut ncr = fold(vec![opened]);
            let mut accepted = 0u64;
            for (ask, kind) in asks {
                let result = ncr.decide(disposition(kinds[kind], ask, None).into());
                match result {
                    Ok(events) => {
                        accepted += ask;
                        for event in events {
                            ncr.evolve(event);
                        }
                    }
                    Err(err) => prop_assert_eq!(err.kind(), ErrorKind::InvalidArgument),
                }
                let state = ncr.state().as_ref().unwrap();
                prop_assert!(accepted <= quantity);
                prop_assert_eq!(state.remaining(), Units(quantity - accepted));
            }
            let closes = ncr.decide(NcrCommand::Close { at: t(20) }.into()).is_ok();
            prop_assert_eq!(closes, accepted == quantity);
        }
    }
}
