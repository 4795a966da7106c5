//! Given/when/then tests of the lot: one or more per command and per rejection, plus the
//! idempotency keys and version guard every aggregate shares.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use cqrs_es::test::TestFramework;
use mom_domain::{
    DomainError, ErrorKind, IdempotencyKey, Recorded, Rejected, Versioned, KEPT_KEYS,
};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::domain::ids::WorkUnitId;

type LotTest = TestFramework<Lot>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + Duration::minutes(minute)
}

fn lot_id() -> LotId {
    LotId::new("L-0001").unwrap()
}

fn resin() -> MaterialId {
    MaterialId::new("resin").unwrap()
}

fn loc(id: &str) -> LocationId {
    LocationId::new(id).unwrap()
}

fn text(value: &str) -> Text {
    Text::new(value).unwrap()
}

fn hold_ref(id: &str) -> HoldRef {
    HoldRef::new(id).unwrap()
}

fn order() -> OrderId {
    OrderId::new(Uuid::from_u128(42))
}

fn press() -> WorkUnitId {
    WorkUnitId::new("press-1").unwrap()
}

fn receive(quantity: u64, expiry: Option<DateTime<Utc>>) -> LotCommand {
    LotCommand::Receive {
        lot: lot_id(),
        material: resin(),
        supplier_lot: Some(text("SUP-77")),
        expiry,
        location: loc("rack-1"),
        quantity: Quantity(quantity),
        at: t(0),
    }
}

fn received(quantity: u64) -> LotEvent {
    LotEvent::LotReceived {
        lot: lot_id(),
        material: resin(),
        supplier_lot: Some(text("SUP-77")),
        expiry: Some(t(600)),
        location: loc("rack-1"),
        quantity: Quantity(quantity),
        at: t(0),
    }
}

fn held(hold: &str) -> LotEvent {
    LotEvent::LotHeld {
        lot: lot_id(),
        material: resin(),
        hold: hold_ref(hold),
        reason: text("suspect contamination"),
        at: t(5),
    }
}

fn consume(quantity: u64, minute: i64) -> LotCommand {
    LotCommand::Consume {
        order: order(),
        work_unit: press(),
        location: loc("rack-1"),
        quantity: Quantity(quantity),
        at: t(minute),
    }
}

fn move_to(to: &str, quantity: u64) -> LotCommand {
    LotCommand::Move {
        from: loc("rack-1"),
        to: loc(to),
        quantity: Quantity(quantity),
        at: t(10),
    }
}

fn recorded(events: Vec<LotEvent>) -> Vec<Recorded<LotEvent>> {
    events.into_iter().map(Recorded::new).collect()
}

fn accepted(given: Vec<LotEvent>, command: LotCommand) -> Vec<LotEvent> {
    LotTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect("command must be accepted")
        .into_iter()
        .map(|recorded| recorded.event)
        .collect()
}

fn rejected(given: Vec<LotEvent>, command: LotCommand) -> LotError {
    let rejection = LotTest::with(())
        .given(recorded(given))
        .when(command.into())
        .inspect_result()
        .expect_err("command must be rejected");
    match rejection {
        Rejected::Domain(err) => err,
        other => panic!("not a rule of the lot: {other:?}"),
    }
}

fn fold(events: Vec<LotEvent>) -> Lot {
    let mut lot = Lot::default();
    for event in recorded(events) {
        lot.evolve(event);
    }
    lot
}

// Receive and produce.

#[test]
fn receive_creates_the_lot_at_its_location() {
    assert_eq!(
        accepted(vec![], receive(100, Some(t(600)))),
        vec![received(100)]
    );
    let lot = fold(vec![received(100)]);
    let state = lot.state().as_ref().unwrap();
    assert_eq!(state.total(), Quantity(100));
    assert_eq!(state.quantities()[&loc("rack-1")], Quantity(100));
    assert_eq!(state.supplier_lot(), Some(&text("SUP-77")));
    assert_eq!(lot.version(), 1);
}

#[test]
fn receive_rejects_zero_quantity_and_past_expiry() {
    let err = rejected(vec![], receive(0, None));
    assert_eq!(err, LotError::ZeroQuantity);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(vec![], receive(5, Some(t(0))));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn receive_of_an_existing_lot_is_rejected() {
    let err = rejected(vec![received(100)], receive(5, None));
    assert_eq!(err, LotError::AlreadyExists { lot: lot_id() });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

fn produce(inputs: Vec<&str>) -> LotCommand {
    LotCommand::Produce {
        lot: LotId::new("OUT-1").unwrap(),
        material: MaterialId::new("cap").unwrap(),
        order: order(),
        work_unit: Some(press()),
        location: loc("fg"),
        quantity: Quantity(500),
        inputs: inputs
            .into_iter()
            .map(|id| LotId::new(id).unwrap())
            .collect(),
        expiry: None,
        at: t(60),
    }
}

#[test]
fn produce_records_the_order_and_inputs() {
    let events = accepted(vec![], produce(vec!["L-0001", "L-0002"]));
    assert_eq!(events.len(), 1);
    let lot = fold(events);
    let state = lot.state().as_ref().unwrap();
    assert_eq!(state.produced_by(), Some(order()));
    assert_eq!(
        state.inputs(),
        &[LotId::new("L-0001").unwrap(), LotId::new("L-0002").unwrap()]
    );
    assert_eq!(state.total(), Quantity(500));
}

#[test]
fn produce_rejects_itself_or_a_repeated_lot_as_input() {
    let err = rejected(vec![], produce(vec!["OUT-1"]));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = rejected(vec![], produce(vec!["L-0001", "L-0001"]));
    assert_eq!(
        err,
        LotError::DuplicateInput {
            lot: LotId::new("L-0001").unwrap()
        }
    );
}

#[test]
fn commands_on_a_missing_lot_are_not_found() {
    for command in [consume(1, 1), move_to("rack-2", 1)] {
        let err = rejected(vec![], command);
        assert_eq!(err, LotError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

// Move.

#[test]
fn move_shifts_quantity_between_locations() {
    let events = accepted(vec![received(100)], move_to("rack-2", 40));
    let lot = fold([vec![received(100)], events].concat());
    let state = lot.state().as_ref().unwrap();
    assert_eq!(state.quantities()[&loc("rack-1")], Quantity(60));
    assert_eq!(state.quantities()[&loc("rack-2")], Quantity(40));
    assert_eq!(state.total(), Quantity(100));
}

#[test]
fn moving_everything_drops_the_emptied_location() {
    let events = accepted(vec![received(100)], move_to("rack-2", 100));
    let lot = fold([vec![received(100)], events].concat());
    let state = lot.state().as_ref().unwrap();
    assert!(!state.quantities().contains_key(&loc("rack-1")));
}

#[test]
fn move_rejects_more_than_the_location_holds() {
    let err = rejected(vec![received(100)], move_to("rack-2", 101));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "lot holds 100 of material resin at location rack-1, less than the 101 asked for"
    );
}

#[test]
fn move_rejects_zero_quantity_and_the_same_location() {
    assert_eq!(
        rejected(vec![received(100)], move_to("rack-2", 0)),
        LotError::ZeroQuantity
    );
    assert_eq!(
        rejected(vec![received(100)], move_to("rack-1", 5)).kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn move_of_a_held_lot_is_a_failed_precondition() {
    let err = rejected(vec![received(100), held("NCR-1")], move_to("rack-2", 5));
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(
        err.to_string(),
        "lot is on hold (NCR-1); release the hold first"
    );
}

// Consume.

#[test]
fn consume_takes_quantity_and_remembers_the_order() {
    let events = accepted(vec![received(100)], consume(30, 20));
    assert_eq!(
        events,
        vec![LotEvent::LotConsumed {
            lot: lot_id(),
            material: resin(),
            order: order(),
            work_unit: press(),
            location: loc("rack-1"),
            quantity: Quantity(30),
            at: t(20),
        }]
    );
    let lot = fold([vec![received(100)], events].concat());
    let state = lot.state().as_ref().unwrap();
    assert_eq!(state.total(), Quantity(70));
    assert!(state.consumed_by().contains(&order()));
}

#[test]
fn consume_of_a_held_lot_is_a_failed_precondition() {
    let err = rejected(vec![received(100), held("NCR-1")], consume(1, 20));
    assert!(matches!(err, LotError::OnHold { .. }));
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

#[test]
fn consume_above_what_exists_is_rejected_with_the_material() {
    let err = rejected(vec![received(10)], consume(11, 20));
    assert_eq!(
        err,
        LotError::InsufficientQuantity {
            material: resin(),
            location: loc("rack-1"),
            available: Quantity(10),
            requested: Quantity(11),
        }
    );
}

#[test]
fn consume_after_expiry_is_rejected() {
    let err = rejected(vec![received(10)], consume(1, 600));
    assert_eq!(err, LotError::Expired { expiry: t(600) });
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Holds and scrap.

#[test]
fn several_holds_keep_the_lot_held_until_the_last_release() {
    let second = LotEvent::LotHeld {
        lot: lot_id(),
        material: resin(),
        hold: hold_ref("NCR-2"),
        reason: text("customer complaint"),
        at: t(6),
    };
    let given = vec![received(100), held("NCR-1"), second];
    let events = accepted(
        given.clone(),
        LotCommand::ReleaseHold {
            hold: hold_ref("NCR-1"),
            at: t(30),
        },
    );
    assert!(matches!(
        events[0],
        LotEvent::LotHoldReleased {
            still_held: true,
            ..
        }
    ));
    let lot = fold([given, events].concat());
    assert_eq!(lot.state().as_ref().unwrap().holds().len(), 1);
}

#[test]
fn released_lot_can_be_consumed_again() {
    let release = LotEvent::LotHoldReleased {
        lot: lot_id(),
        material: resin(),
        hold: hold_ref("NCR-1"),
        still_held: false,
        at: t(30),
    };
    let events = accepted(vec![received(100), held("NCR-1"), release], consume(5, 40));
    assert_eq!(events.len(), 1);
}

#[test]
fn hold_twice_with_one_reference_or_release_of_no_hold_is_rejected() {
    let err = rejected(
        vec![received(100), held("NCR-1")],
        LotCommand::Hold {
            hold: hold_ref("NCR-1"),
            reason: text("again"),
            at: t(6),
        },
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = rejected(
        vec![received(100)],
        LotCommand::ReleaseHold {
            hold: hold_ref("NCR-9"),
            at: t(6),
        },
    );
    assert_eq!(
        err,
        LotError::HoldNotActive {
            hold: hold_ref("NCR-9")
        }
    );
}

#[test]
fn scrap_is_allowed_on_a_held_lot() {
    let events = accepted(
        vec![received(100), held("NCR-1")],
        LotCommand::Scrap {
            location: loc("rack-1"),
            quantity: Quantity(100),
            reason: text("NCR-1 disposition scrap"),
            at: t(50),
        },
    );
    let lot = fold([vec![received(100), held("NCR-1")], events].concat());
    assert_eq!(lot.state().as_ref().unwrap().total(), Quantity::ZERO);
}

#[test]
fn scrap_above_what_exists_is_rejected() {
    let err = rejected(
        vec![received(10)],
        LotCommand::Scrap {
            location: loc("rack-2"),
            quantity: Quantity(1),
            reason: text("broken"),
            at: t(50),
        },
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn scrap_all_empties_every_location_even_when_held() {
    let moved = LotEvent::LotMoved {
        lot: lot_id(),
        material: resin(),
        from: loc("rack-1"),
        to: loc("line-1"),
        quantity: Quantity(30),
        at: t(1),
    };
    let given = vec![received(100), moved, held("NCR-1")];
    let events = accepted(
        given.clone(),
        LotCommand::ScrapAll {
            reason: text("NCR-1 disposition scrap"),
            at: t(50),
        },
    );
    let scrapped: Vec<(LocationId, Quantity)> = events
        .iter()
        .map(|event| match event {
            LotEvent::LotScrapped {
                location, quantity, ..
            } => (location.clone(), *quantity),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        scrapped,
        vec![(loc("line-1"), Quantity(30)), (loc("rack-1"), Quantity(70))]
    );
    let lot = fold([given, events].concat());
    assert_eq!(lot.state().as_ref().unwrap().total(), Quantity::ZERO);
}

#[test]
fn scrap_all_of_an_empty_lot_is_rejected() {
    let scrapped = LotEvent::LotScrapped {
        lot: lot_id(),
        material: resin(),
        location: loc("rack-1"),
        quantity: Quantity(100),
        reason: text("broken"),
        at: t(1),
    };
    let err = rejected(
        vec![received(100), scrapped],
        LotCommand::ScrapAll {
            reason: text("again"),
            at: t(2),
        },
    );
    assert_eq!(err, LotError::Empty);
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
}

// Version guard and idempotency keys.

#[test]
fn stale_expected_version_is_a_conflict() {
    let err = LotTest::with(())
        .given(recorded(vec![received(100)]))
        .when(Versioned::expecting(consume(1, 20), 0))
        .inspect_result()
        .unwrap_err();
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "lot",
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[test]
fn matching_expected_version_is_accepted() {
    let events = LotTest::with(())
        .given(recorded(vec![received(100)]))
        .when(Versioned::expecting(consume(1, 20), 1))
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);
}

fn key(value: &str) -> IdempotencyKey {
    IdempotencyKey::new(value).unwrap()
}

#[test]
fn keyed_command_stores_its_key_on_the_event() {
    let events = LotTest::with(())
        .given(recorded(vec![received(100)]))
        .when(Versioned::from(consume(1, 20)).keyed(key("consume-1")))
        .inspect_result()
        .unwrap();
    assert_eq!(events[0].idempotency_key, Some(key("consume-1")));
    let mut lot = fold(vec![received(100)]);
    lot.evolve(events[0].clone());
    assert_eq!(lot.version_of(&key("consume-1")), Some(2));
}

#[test]
fn repeated_key_changes_nothing_even_with_a_stale_version() {
    let mut first = Recorded::new(LotEvent::LotConsumed {
        lot: lot_id(),
        material: resin(),
        order: order(),
        work_unit: press(),
        location: loc("rack-1"),
        quantity: Quantity(1),
        at: t(20),
    });
    first.idempotency_key = Some(key("consume-1"));
    let given = vec![Recorded::new(received(100)), first];
    let err = LotTest::with(())
        .given(given)
        .when(Versioned::expecting(consume(1, 20), 1).keyed(key("consume-1")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err, Rejected::Replayed { version: 2 });
}

#[test]
fn rejected_keyed_command_remembers_nothing() {
    let err = LotTest::with(())
        .given(recorded(vec![received(1)]))
        .when(Versioned::from(consume(5, 20)).keyed(key("k")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(fold(vec![received(1)]).version_of(&key("k")), None);
}

#[test]
fn only_the_most_recent_keys_are_remembered() {
    let mut lot = fold(vec![received(1_000)]);
    for n in 0..=KEPT_KEYS {
        let events = lot
            .decide(Versioned::from(consume(1, 20)).keyed(key(&format!("k{n}"))))
            .unwrap();
        for event in events {
            lot.evolve(event);
        }
    }
    assert_eq!(lot.version_of(&key("k0")), None);
    assert_eq!(lot.version_of(&key("k1")), Some(3));
    assert_eq!(
        lot.version_of(&key(&format!("k{KEPT_KEYS}"))),
        Some(KEPT_KEYS as u64 + 2)
    );
}

#[test]
fn lot_with_keys_round_trips_as_a_snapshot() {
    let mut lot = fold(vec![received(100), held("NCR-1")]);
    let events = lot
        .decide(Versioned::from(move_to("rack-2", 0)).keyed(key("k")))
        .unwrap_or_default();
    assert!(events.is_empty());
    let events = lot
        .decide(
            Versioned::from(LotCommand::ReleaseHold {
                hold: hold_ref("NCR-1"),
                at: t(9),
            })
            .keyed(key("k")),
        )
        .unwrap();
    for event in events {
        lot.evolve(event);
    }
    let json = serde_json::to_value(&lot).unwrap();
    let back: Lot = serde_json::from_value(json).unwrap();
    assert_eq!(back, lot);
}

#[test]
fn snapshot_stored_by_the_old_service_still_loads() {
    let old = r#"{"state":{"id":"L-0001","material":"resin","supplier_lot":"SUP-77","expiry":null,"quantities":{"rack-1":100},"holds":{},"produced_by":null,"inputs":[],"consumed_by":[]},"version":1,"keys":[["receiving/L-0001",1]]}"#;
    let lot: Lot = serde_json::from_str(old).unwrap();
    assert_eq!(lot.version(), 1);
    assert_eq!(lot.version_of(&key("receiving/L-0001")), Some(1));
    assert_eq!(lot.state().as_ref().unwrap().total(), Quantity(100));
}

/// A step of a random lot history.
#[derive(Debug, Clone)]
enum Step {
    Move { to: usize, quantity: u64 },
    Consume { at: usize, quantity: u64 },
    Scrap { at: usize, quantity: u64 },
    Hold,
    Release,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 0..60u64).prop_map(|(to, quantity)| Step::Move { to, quantity }),
        (0..3usize, 0..60u64).prop_map(|(at, quantity)| Step::Consume { at, quantity }),
        (0..3usize, 0..60u64).prop_map(|(at, quantity)| Step::Scrap { at, quantity }),
        Just(Step::Hold),
        Just(Step::Release),
    ]
}

const PLACES: [&str; 3] = ["rack-1", "rack-2", "line-1"];

proptest! {
    #[test]
    fn material_is_never_created_nor_lost(steps in proptest::collection::vec(step(), 0..40)) {
        let mut lot = fold(vec![received(100)]);
        let mut gone = 0u64;
        for (n, step) in steps.into_iter().enumerate() {
            let minute = i64::try_from(n).unwrap() + 1;
            let command = match step {
                Step::Move { to, quantity } => {
                    // Moves go from the first location that holds anything.
                    let from = lot.state().as_ref().unwrap().quantities().keys().next().cloned();
                    let Some(from) = from else { continue };
                    LotCommand::Move { from, to: loc(PLACES[to]), quantity: Quantity(quantity), at: t(minute) }
                }
                Step::Consume { at, quantity } => LotCommand::Consume {
                    order: order(), work_unit: press(), location: loc(PLACES[at]),
                    quantity: Quantity(quantity), at: t(minute),
                },
                Step::Scrap { at, quantity } => LotCommand::Scrap {
                    location: loc(PLACES[at]), quantity: Quantity(quantity),
                    reason: text("scrap"), at: t(minute),
                },
                Step::Hold => LotCommand::Hold { hold: hold_ref("H"), reason: text("qa"), at: t(minute) },
                Step::Release => LotCommand::ReleaseHold { hold: hold_ref("H"), at: t(minute) },
            };
            let held = !lot.state().as_ref().unwrap().holds().is_empty();
            let Ok(events) = lot.decide(Versioned::from(command)) else { continue };
            for event in events {
                match &event.event {
                    LotEvent::LotConsumed { quantity, .. } => {
                        prop_assert!(!held, "a held lot was consumed");
                        gone += quantity.0;
                    }
                    LotEvent::LotScrapped { quantity, .. } => gone += quantity.0,
                    LotEvent::LotMoved { .. } => prop_assert!(!held, "a held lot was moved"),
                    _ => {}
                }
                lot.evolve(event);
            }
            let state = lot.state().as_ref().unwrap();
            prop_assert_eq!(state.total().0 + gone, 100);
            prop_assert!(state.quantities().values().all(|q| q.0 > 0));
        }
    }
}
