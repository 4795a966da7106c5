//! The outbox encoding of maintenance events: the `MaintenanceEvent` protobuf envelope.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_domain::Recorded;
use mom_proto::maintenance::v1::MaintenanceEvent;
use prost::Message;
use serde::Deserialize;

use crate::contract::{asset_event_to_proto, work_order_event_to_proto};
use crate::domain::{Asset, AssetEvent, WorkOrder, WorkOrderEvent};

/// Returns the encoder that turns stored maintenance events into messages on `topic`.
pub(crate) fn encoder(topic: String) -> TopicEncoder {
    TopicEncoder::new(
        topic,
        "mom/maintenance",
        "mom.maintenance.v1",
        "MaintenanceEvent",
        Box::new(|event, metadata| {
            let proto = match event.aggregate_type {
                Asset::TYPE => asset_event_to_proto(
                    &Recorded::<AssetEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                WorkOrder::TYPE => work_order_event_to_proto(
                    &Recorded::<WorkOrderEvent>::deserialize(event.payload)
                        .map_err(|e| e.to_string())?
                        .event,
                ),
                other => return Err(format!("unknown aggregate type {other}")),
            };
            Ok(MaintenanceEvent {
                metadata: Some(metadata),
                event: Some(proto),
            }
            .encode_to_vec())
        }),
    )
}
