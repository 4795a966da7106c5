//! The outbox encoding of quality events: the `QualityEvent` protobuf envelope.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_proto::quality::v1::QualityEvent;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::contract::{
    capa_event_to_proto, inspection_event_to_proto, ncr_event_to_proto, plan_event_to_proto,
};
use crate::domain::{Capa, Inspection, InspectionPlan, Nonconformance, Recorded};

/// Returns the encoder that turns stored quality events into messages on `topic`.
pub(crate) fn encoder(topic: String) -> TopicEncoder {
    TopicEncoder::new(
        topic,
        "mom/quality",
        "mom.quality.v1",
        "QualityEvent",
        Box::new(|event, metadata| {
            let proto = match event.aggregate_type {
                InspectionPlan::TYPE => plan_event_to_proto(&fact(event.payload)?),
                Inspection::TYPE => inspection_event_to_proto(&fact(event.payload)?),
                Nonconformance::TYPE => ncr_event_to_proto(&fact(event.payload)?),
                Capa::TYPE => capa_event_to_proto(&fact(event.payload)?),
                other => return Err(format!("unknown aggregate type {other}")),
            };
            Ok(QualityEvent {
                metadata: Some(metadata),
                event: Some(proto),
            }
            .encode_to_vec())
        }),
    )
}

/// Returns the fact of a stored event payload (the idempotency key stays internal).
fn fact<F: DeserializeOwned>(payload: &serde_json::Value) -> Result<F, String> {
    Recorded::<F>::deserialize(payload)
        .map(|recorded| recorded.fact)
        .map_err(|e| e.to_string())
}
