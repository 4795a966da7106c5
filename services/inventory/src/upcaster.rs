//! Reading events stored before the command kernel. Their form is the kernel's
//! (`{"event": …, "idempotency_key": …}`), but inventory took idempotency keys of up to
//! [`crate::domain::MAX_KEY_LEN`] (256) characters and the kernel keeps at most
//! [`mom_domain::MAX_KEY_LEN`] (128). A longer stored key is rewritten into the kernel form
//! [`idempotency_key`] gives it, so its stream still loads and a repeat of the long key is still
//! recognised.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;

use crate::domain::idempotency_key;

/// The upcaster of every inventory event type that shortens a stored idempotency key the kernel
/// could not read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LongKeys;

impl EventUpcaster for LongKeys {
    fn can_upcast(&self, _event_type: &str, _event_version: &str) -> bool {
        true
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        if let Some(Value::String(key)) = event.payload.get_mut("idempotency_key") {
            if key.chars().count() > mom_domain::MAX_KEY_LEN {
                if let Ok(short) = idempotency_key(key.as_str()) {
                    *key = short.into();
                }
            }
        }
        event
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mom_domain::{IdempotencyKey, Recorded, Stream};
    use serde_json::json;

    use super::*;
    use crate::domain::{Lot, LotEvent, OrderLotsEvent, OrderLotsRules, Quantity, SupplyEvent};

    fn stored(event_type: &str, payload: Value) -> SerializedEvent {
        SerializedEvent::new(
            "L-1".to_owned(),
            1,
            "lot".to_owned(),
            event_type.to_owned(),
            "1".to_owned(),
            payload,
            json!({}),
        )
    }

    fn read<E: serde::de::DeserializeOwned>(event: SerializedEvent) -> Recorded<E> {
        let event = if LongKeys.can_upcast(&event.event_type, &event.event_version) {
            LongKeys.upcast(event)
        } else {
            event
        };
        serde_json::from_value(event.payload).unwrap()
    }

    /// Payloads exactly as the inventory service stored them before the kernel.
    const RECEIVED: &str = r#"{"event":{"LotReceived":{"lot":"L-1","material":"resin","supplier_lot":"SUP-7","expiry":null,"location":"rack-1","quantity":100,"at":"2026-03-02T06:00:00Z"}},"idempotency_key":"receiving/L-1"}"#;
    const LINKED: &str = r#"{"event":{"OrderInputLinked":{"order":"0191e1b4-7c1a-7000-8000-000000000001","lot":"L-1","material":"resin","quantity":7,"work_unit":"press-7","at":"2026-03-02T06:08:00Z"}},"idempotency_key":"consume:L-1:2"}"#;
    const STARVED: &str = r#"{"event":{"MaterialStarvationStarted":{"work_unit":"press-7","material":"resin","order":null,"cause":"ConsumeNotServed","at":"2026-03-02T06:10:00Z"}}}"#;

    #[test]
    fn events_stored_by_the_old_service_still_load() {
        let received: Recorded<LotEvent> = read(stored(
            "LotReceived",
            serde_json::from_str(RECEIVED).unwrap(),
        ));
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

        let linked: Recorded<OrderLotsEvent> = read(stored(
            "OrderInputLinked",
            serde_json::from_str(LINKED).unwrap(),
        ));
        let mut order = Stream::<OrderLotsRules>::default();
        order.evolve(linked);
        assert_eq!(
            order.version_of(&IdempotencyKey::new("consume:L-1:2").unwrap()),
            Some(1)
        );

        let started: Recorded<SupplyEvent> = read(stored(
            "MaterialStarvationStarted",
            serde_json::from_str(STARVED).unwrap(),
        ));
        assert_eq!(started.idempotency_key, None);
    }

    #[test]
    fn a_stored_key_longer_than_the_kernel_keeps_is_read_in_its_kernel_form() {
        let long = format!("{}:rack-{}", uuid::Uuid::from_u128(7), "9".repeat(150));
        let mut payload: Value = serde_json::from_str(RECEIVED).unwrap();
        payload["idempotency_key"] = Value::String(long.clone());
        let received: Recorded<LotEvent> = read(stored("LotReceived", payload));
        assert_eq!(received.idempotency_key, idempotency_key(long).ok());
    }
}
