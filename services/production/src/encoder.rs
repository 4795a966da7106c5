//! The outbox encoding of production events: the `ProductionEvent` protobuf envelope.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_proto::production::v1::ProductionEvent;
use prost::Message;
use serde::Deserialize;

use crate::contract::{order_event_to_proto, work_unit_event_to_proto};
use crate::domain::{OrderEvent, ProductionOrder, WorkUnit, WorkUnitEvent};

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
                    &OrderEvent::deserialize(event.payload).map_err(|e| e.to_string())?,
                ),
                WorkUnit::TYPE => work_unit_event_to_proto(
                    &WorkUnitEvent::deserialize(event.payload).map_err(|e| e.to_string())?,
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
