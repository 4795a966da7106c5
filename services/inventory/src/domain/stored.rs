//! Events as the inventory service stored them before the command kernel: they still load,
//! with their idempotency keys.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::domain::{Lot, LotEvent, OrderLotsEvent, OrderLotsRules, Quantity, SupplyEvent};
use mom_domain::{IdempotencyKey, Recorded, Stream};

fn read<E: serde::de::DeserializeOwned>(payload: &str) -> Recorded<E> {
    serde_json::from_str(payload).unwrap()
}

/// Payloads exactly as the inventory service stored them before the kernel.
const RECEIVED: &str = r#"{"event":{"LotReceived":{"lot":"L-1","material":"resin","supplier_lot":"SUP-7","expiry":null,"location":"rack-1","quantity":100,"at":"2026-03-02T06:00:00Z"}},"idempotency_key":"receiving/L-1"}"#;
const LINKED: &str = r#"{"event":{"OrderInputLinked":{"order":"0191e1b4-7c1a-7000-8000-000000000001","lot":"L-1","material":"resin","quantity":7,"work_unit":"press-7","at":"2026-03-02T06:08:00Z"}},"idempotency_key":"consume:L-1:2"}"#;
const STARVED: &str = r#"{"event":{"MaterialStarvationStarted":{"work_unit":"press-7","material":"resin","order":null,"cause":"ConsumeNotServed","at":"2026-03-02T06:10:00Z"}}}"#;

#[test]
fn events_stored_by_the_old_service_still_load() {
    let received: Recorded<LotEvent> = read(RECEIVED);
    assert_eq!(
        received.idempotency_key,
        IdempotencyKey::new("receiving/L-1").ok()
    );
    let LotEvent::LotReceived { quantity, .. } = &received.event else {
        panic!("wrong event: {:?}", received.event);
    };
    assert_eq!(*quantity, Quantity(100));
    let mut lot = Lot::default();
    lot.evolve(received);
    assert_eq!(
        lot.version_of(&IdempotencyKey::new("receiving/L-1").unwrap()),
        Some(1)
    );

    let linked: Recorded<OrderLotsEvent> = read(LINKED);
    let mut order = Stream::<OrderLotsRules>::default();
    order.evolve(linked);
    assert_eq!(
        order.version_of(&IdempotencyKey::new("consume:L-1:2").unwrap()),
        Some(1)
    );

    let started: Recorded<SupplyEvent> = read(STARVED);
    assert_eq!(started.idempotency_key, None);
}

#[test]
fn a_stored_key_of_up_to_256_characters_is_read_as_it_is() {
    let long = format!(
        "{}:rack-{}",
        mom_domain::Uuid::from_u128(7),
        "9".repeat(150)
    );
    let mut payload: serde_json::Value = serde_json::from_str(RECEIVED).unwrap();
    payload["idempotency_key"] = serde_json::Value::String(long.clone());
    let received: Recorded<LotEvent> = serde_json::from_value(payload).unwrap();
    assert_eq!(received.idempotency_key, IdempotencyKey::new(long).ok());
}
