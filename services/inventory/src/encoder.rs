//! The outbox encoding of inventory events: the `InventoryEvent` protobuf envelope.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_domain::Recorded;
use mom_proto::inventory::v1::InventoryEvent;
use prost::Message;
use serde::Deserialize;

use crate::contract::{
    location_event_to_proto, lot_event_to_proto, material_event_to_proto,
    order_lots_event_to_proto, supply_event_to_proto,
};
use crate::domain::{
    Location, LocationEvent, Lot, LotEvent, Material, MaterialEvent, OrderLots, OrderLotsEvent,
    SupplyEvent, WorkUnitSupply,
};

/// Returns the encoder that turns stored inventory events into messages on `topic`.
pub(crate) fn encoder(topic: String) -> TopicEncoder {
    TopicEncoder::new(
        topic,
        "mom/inventory",
        "mom.inventory.v1",
        "InventoryEvent",
        Box::new(|event, metadata| {
            let payload = event.payload;
            let proto = match event.aggregate_type {
                Material::TYPE => material_event_to_proto(&decode::<MaterialEvent, _>(payload)?),
                Location::TYPE => location_event_to_proto(&decode::<LocationEvent, _>(payload)?),
                Lot::TYPE => lot_event_to_proto(&decode::<LotEvent, _>(payload)?),
                OrderLots::TYPE => {
                    order_lots_event_to_proto(&decode::<OrderLotsEvent, _>(payload)?)
                }
                WorkUnitSupply::TYPE => supply_event_to_proto(&decode::<SupplyEvent, _>(payload)?),
                other => return Err(format!("unknown aggregate type {other}")),
            };
            Ok(InventoryEvent {
                metadata: Some(metadata),
                event: Some(proto),
            }
            .encode_to_vec())
        }),
    )
}

/// Reads a stored event's domain event, dropping its idempotency key.
fn decode<'de, E, D>(payload: D) -> Result<E, String>
where
    E: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Recorded::<E>::deserialize(payload)
        .map(|recorded| recorded.event)
        .map_err(|e| e.to_string())
}
