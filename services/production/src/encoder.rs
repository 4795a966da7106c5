//! The outbox encoding of production events: the `ProductionEvent` protobuf envelope. Stored
//! payloads are read as [`Recorded`] events (the current `{"event": …}` form and the bare events
//! stored before it); the idempotency key stays in the store, the message carries the event.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_domain::Recorded;
use mom_proto::production::v1::ProductionEvent;
use prost::Message;
use serde::Deserialize;

use crate::contract::plant_calendar_event_to_proto;
use crate::contract::{
    order_event_to_proto, reason_catalogue_event_to_proto, recipe_event_to_proto,
    work_unit_event_to_proto,
};
use crate::domain::{
    OrderEvent, ProductionOrder, ReasonCatalogue, ReasonCatalogueEvent, Recipe, RecipeEvent,
    WorkUnit, WorkUnitEvent,
};
use crate::domain::{PlantCalendar, PlantCalendarEvent};

/// Returns the encoder that turns stored production events into messages on `topic`.
pub(crate) fn encoder(topic: String) -> TopicEncoder {
    TopicEncoder::new(
        topic,
        "mom/production",
        "mom.production.v1",
        "ProductionEvent",
        Box::new(|event, metadata| {
            let proto = match event.aggregate_type {
                ProductionOrder::TYPE => order_event_to_proto(
                    &Recorded::<OrderEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                WorkUnit::TYPE => work_unit_event_to_proto(
                    &Recorded::<WorkUnitEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                Recipe::TYPE => recipe_event_to_proto(
                    &Recorded::<RecipeEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                ReasonCatalogue::TYPE => reason_catalogue_event_to_proto(
                    &Recorded::<ReasonCatalogueEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                PlantCalendar::TYPE => plant_calendar_event_to_proto(
                    &Recorded::<PlantCalendarEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                other => return Err(format!("unknown aggregate type {other}")),
            };
            Ok(ProductionEvent {
                metadata: Some(metadata),
                event: Some(proto),
            }
            .encode_to_vec())
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};
    use mom_eventstore::{OutboxEncoder, PendingEvent};
    use serde_json::json;

    use super::*;

    fn encode(aggregate_type: &str, payload: serde_json::Value) -> Vec<u8> {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 6, 2, 0).unwrap();
        let pending = PendingEvent {
            event_id: uuid::Uuid::from_u128(1),
            aggregate_type,
            aggregate_id: "press-7",
            sequence: 3,
            event_type: "UnitsCounted",
            event_version: "1",
            payload: &payload,
            metadata: &json!({}),
            event_time: at,
            recorded_time: at,
        };
        encoder("mom.production.v1".to_owned())
            .encode(&pending)
            .unwrap()
            .payload
    }

    #[test]
    fn keyed_and_bare_stored_events_encode_to_the_same_message() {
        let counted = json!({"UnitsCounted": {"product": "SKU-A", "total": 42, "at": "2026-03-02T06:02:00Z"}});
        let bare = encode(WorkUnit::TYPE, counted.clone());
        let keyed = encode(
            WorkUnit::TYPE,
            json!({"event": counted, "idempotency_key": "plc-7:42"}),
        );
        assert_eq!(bare, keyed);
        let message = ProductionEvent::decode(bare.as_slice()).unwrap();
        let Some(mom_proto::production::v1::production_event::Event::UnitsCounted(counted)) =
            message.event
        else {
            panic!("expected UnitsCounted, got {message:?}");
        };
        assert_eq!((counted.product.as_str(), counted.total), ("SKU-A", 42));
        let released = json!({"OrderReleased": {"at": "2026-03-02T06:02:00Z"}});
        assert_eq!(
            encode(ProductionOrder::TYPE, released.clone()),
            encode(ProductionOrder::TYPE, json!({ "event": released }))
        );
    }
}
