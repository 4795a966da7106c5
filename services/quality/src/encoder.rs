//! The outbox encoding of quality events: the `QualityEvent` protobuf envelope.

use cqrs_es::Aggregate;
use mom_bus::TopicEncoder;
use mom_domain::Recorded;
use mom_proto::quality::v1::QualityEvent;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::contract::{
    capa_event_to_proto, chart_event_to_proto, inspection_event_to_proto, ncr_event_to_proto,
    plan_event_to_proto,
};
use crate::domain::{Capa, ControlChart, Inspection, InspectionPlan, Nonconformance};

/// Returns the encoder that turns stored quality events into messages on `topic`.
pub(crate) fn encoder(topic: String) -> TopicEncoder {
    TopicEncoder::new(
        topic,
        "mom/quality",
        "mom.quality.v1",
        "QualityEvent",
        Box::new(|event, metadata| {
            let proto = match event.aggregate_type {
                InspectionPlan::TYPE => plan_event_to_proto(&event_of(event.payload)?),
                Inspection::TYPE => inspection_event_to_proto(&event_of(event.payload)?),
                Nonconformance::TYPE => ncr_event_to_proto(&event_of(event.payload)?),
                Capa::TYPE => capa_event_to_proto(&event_of(event.payload)?),
                ControlChart::TYPE => chart_event_to_proto(&event_of(event.payload)?),
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

/// Returns the domain event of a stored event payload, in any form it was stored in (the
/// idempotency key stays internal).
fn event_of<E: DeserializeOwned>(payload: &serde_json::Value) -> Result<E, String> {
    Recorded::<E>::deserialize(payload)
        .map(|recorded| recorded.event)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::domain::{NcrEvent, ProductId};

    #[test]
    fn events_of_every_stored_form_reach_the_topic() {
        let closed = NcrEvent::NonconformanceClosed {
            product: ProductId::new("SKU-A").unwrap(),
            at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        };
        let payload =
            json!({ "NonconformanceClosed": { "product": "SKU-A", "at": "1970-01-01T00:00:00Z" } });
        let before_the_kernel = json!({ "fact": payload, "idempotency_key": "close-1" });
        let now = json!({ "event": payload, "idempotency_key": "close-1" });
        assert_eq!(event_of::<NcrEvent>(&before_the_kernel), Ok(closed.clone()));
        assert_eq!(event_of::<NcrEvent>(&now), Ok(closed));
        assert!(event_of::<NcrEvent>(&json!({ "fact": { "Unknown": {} } })).is_err());
    }
}
