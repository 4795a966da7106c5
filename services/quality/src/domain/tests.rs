//! The quality aggregates on the command kernel: what the store holds of them (events with
//! their idempotency keys, snapshots) reads back, including the forms earlier versions stored.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::DomainEvent;
use mom_domain::{IdempotencyKey, KeyRing, Recorded, KEPT_KEYS};
use serde_json::json;

use super::*;

fn key(n: usize) -> IdempotencyKey {
    IdempotencyKey::new(format!("key-{n}")).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

fn ncr_id() -> NcrId {
    "0191e1b4-7c1a-7000-8000-0000000000c1".parse().unwrap()
}

fn opened() -> NcrEvent {
    NcrEvent::NonconformanceOpened {
        ncr_id: ncr_id(),
        product: ProductId::new("SKU-A").unwrap(),
        quantity: Units(3),
        description: Text::new("dented").unwrap(),
        inspection_id: None,
        work_unit: None,
        contained_lots: vec![LotId::new("LOT-1").unwrap()],
        at: t0(),
    }
}

#[test]
fn seen_keys_forget_the_oldest_beyond_the_limit() {
    let mut keys = KeyRing::default();
    for n in 0..=KEPT_KEYS {
        keys.record(key(n), n as u64 + 1);
    }
    assert_eq!(keys.len(), KEPT_KEYS);
    assert_eq!(keys.version_of(&key(0)), None);
    assert_eq!(keys.version_of(&key(1)), Some(2));
    assert_eq!(keys.version_of(&key(KEPT_KEYS)), Some(KEPT_KEYS as u64 + 1));
}

#[test]
fn stored_payload_carries_the_key_only_when_there_is_one() {
    let event = NcrEvent::NonconformanceClosed {
        product: ProductId::new("SKU-A").unwrap(),
        at: DateTime::from_timestamp(0, 0).unwrap(),
    };
    let plain = serde_json::to_value(Recorded::new(event.clone())).unwrap();
    assert!(plain.get("idempotency_key").is_none());
    let keyed = Recorded {
        event,
        idempotency_key: Some(key(1)),
    };
    let json = serde_json::to_value(&keyed).unwrap();
    assert_eq!(json["idempotency_key"], "key-1");
    let back: Recorded<NcrEvent> = serde_json::from_value(json).unwrap();
    assert_eq!(back, keyed);
    assert_eq!(back.event_type(), "NonconformanceClosed");
}

#[test]
fn snapshot_round_trips_with_state_version_and_keys() {
    let mut ncr = Nonconformance::default();
    ncr.evolve(Recorded {
        event: opened(),
        idempotency_key: Some(key(7)),
    });
    let json = serde_json::to_value(&ncr).unwrap();
    let back: Nonconformance = serde_json::from_value(json).unwrap();
    assert_eq!(back, ncr);
    assert_eq!(back.keys().version_of(&key(7)), Some(1));
}

/// Events the quality service stored before the command kernel: `{"fact": …}` with the key of
/// the command on its last event.
#[test]
fn events_stored_as_facts_still_load() {
    let stored = [
        json!({
            "fact": {
                "NonconformanceOpened": {
                    "ncr_id": "0191e1b4-7c1a-7000-8000-0000000000c1",
                    "product": "SKU-A",
                    "quantity": 3,
                    "description": "dented",
                    "inspection_id": null,
                    "work_unit": null,
                    "contained_lots": ["LOT-1"],
                    "at": "2026-03-02T06:00:00Z"
                }
            },
            "idempotency_key": "open-1"
        }),
        json!({
            "fact": {
                "NonconformanceDispositioned": {
                    "product": "SKU-A",
                    "work_unit": null,
                    "disposition": "Scrap",
                    "quantity": 1,
                    "lot": "LOT-1",
                    "remaining": 2,
                    "note": null,
                    "at": "2026-03-02T06:10:00Z"
                }
            }
        }),
    ];
    let events: Vec<Recorded<NcrEvent>> = stored
        .into_iter()
        .map(|payload| serde_json::from_value(payload).unwrap())
        .collect();
    assert_eq!(events[0].event, opened());
    assert_eq!(
        events[0].idempotency_key,
        Some(IdempotencyKey::new("open-1").unwrap())
    );
    assert_eq!(events[1].idempotency_key, None);
    let mut ncr = Nonconformance::default();
    for event in events {
        ncr.evolve(event);
    }
    assert_eq!(ncr.version(), 2);
    assert_eq!(
        ncr.version_of(&IdempotencyKey::new("open-1").unwrap()),
        Some(1)
    );
    let state = ncr.state().as_ref().unwrap();
    assert_eq!(state.remaining(), Units(2));
    assert_eq!(state.dispositions().len(), 1);
}

/// A snapshot the quality service took before the command kernel (`{state, version, keys}`)
/// still loads; the store would replay the stream otherwise.
#[test]
fn snapshots_taken_before_the_kernel_still_load() {
    let stored = json!({
        "state": {
            "id": "0191e1b4-7c1a-7000-8000-0000000000c1",
            "product": "SKU-A",
            "quantity": 3,
            "description": "dented",
            "inspection": null,
            "work_unit": null,
            "contained_lots": ["LOT-1"],
            "dispositions": [],
            "dispositioned": 0,
            "opened_at": "2026-03-02T06:00:00Z",
            "closed": false
        },
        "version": 1,
        "keys": [["open-1", 1]]
    });
    let ncr: Nonconformance = serde_json::from_value(stored).unwrap();
    let mut expected = Nonconformance::default();
    expected.evolve(Recorded {
        event: opened(),
        idempotency_key: Some(IdempotencyKey::new("open-1").unwrap()),
    });
    assert_eq!(ncr, expected);
    let empty: InspectionPlan =
        serde_json::from_value(json!({ "state": null, "version": 0, "keys": [] })).unwrap();
    assert_eq!(empty, InspectionPlan::default());
}
