//! Outbox encoding shared by every service: protobuf envelope value plus CloudEvents headers.

use mom_eventstore::metadata::{
    self, ACTOR, AUTH_METHOD, CAUSATION_ID, CORRELATION_ID, ON_BEHALF_OF, SIGNATURE_MEANING,
    SIGNATURE_NAME, SIGNATURE_REASON, SIGNATURE_SIGNER, SIGNATURE_TIME, TRACEPARENT,
};
use mom_eventstore::{EncodeError, OutboxEncoder, OutboxMessage, PendingEvent};
use mom_proto::common::v1::{ElectronicSignature, EventMetadata};
use mom_proto::time::to_timestamp;

use crate::envelope::CloudEvent;

/// Returns the protobuf metadata of an event about to be stored.
pub fn event_metadata(event: &PendingEvent<'_>) -> EventMetadata {
    EventMetadata {
        event_id: event.event_id.to_string(),
        aggregate_type: event.aggregate_type.to_owned(),
        aggregate_id: event.aggregate_id.to_owned(),
        sequence: event.sequence,
        event_time: Some(to_timestamp(event.event_time)),
        recorded_time: Some(to_timestamp(event.recorded_time)),
        actor: metadata::field(event.metadata, ACTOR).to_owned(),
        correlation_id: metadata::field(event.metadata, CORRELATION_ID).to_owned(),
        causation_id: metadata::field(event.metadata, CAUSATION_ID).to_owned(),
        traceparent: metadata::field(event.metadata, TRACEPARENT).to_owned(),
        on_behalf_of: metadata::field(event.metadata, ON_BEHALF_OF).to_owned(),
        auth_method: metadata::field(event.metadata, AUTH_METHOD).to_owned(),
        signature: signature(event.metadata),
    }
}

/// The electronic signature recorded in an event's metadata, if any.
fn signature(metadata: &serde_json::Value) -> Option<ElectronicSignature> {
    let meaning = metadata::field(metadata, SIGNATURE_MEANING);
    if meaning.is_empty() {
        return None;
    }
    Some(ElectronicSignature {
        meaning: meaning.to_owned(),
        signer: metadata::field(metadata, SIGNATURE_SIGNER).to_owned(),
        name: metadata::field(metadata, SIGNATURE_NAME).to_owned(),
        signed_at: chrono::DateTime::parse_from_rfc3339(metadata::field(metadata, SIGNATURE_TIME))
            .ok()
            .map(|at| to_timestamp(at.with_timezone(&chrono::Utc))),
        reason: metadata::field(metadata, SIGNATURE_REASON).to_owned(),
    })
}

/// Encodes one event to its protobuf envelope bytes; provided by each service.
pub type EnvelopeFn =
    dyn Fn(&PendingEvent<'_>, EventMetadata) -> Result<Vec<u8>, String> + Send + Sync;

/// Encoder of one domain's topic: the service supplies the envelope encoding, this adds the
/// topic, the key and the CloudEvents headers.
pub struct TopicEncoder {
    topic: String,
    source: String,
    proto_package: String,
    envelope_message: String,
    envelope: Box<EnvelopeFn>,
}

impl std::fmt::Debug for TopicEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicEncoder")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl TopicEncoder {
    /// Returns an encoder for `topic`. `proto_package` is the domain's protobuf package (for
    /// example `mom.production.v1`); `ce_type` becomes `<package>.<event type>` and the value's
    /// content type names `<package>.<envelope_message>`.
    pub fn new(
        topic: String,
        source: impl Into<String>,
        proto_package: impl Into<String>,
        envelope_message: impl Into<String>,
        envelope: Box<EnvelopeFn>,
    ) -> Self {
        Self {
            topic,
            source: source.into(),
            proto_package: proto_package.into(),
            envelope_message: envelope_message.into(),
            envelope,
        }
    }
}

impl OutboxEncoder for TopicEncoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        let payload =
            (self.envelope)(event, event_metadata(event)).map_err(|reason| EncodeError {
                event_type: event.event_type.to_owned(),
                aggregate_id: event.aggregate_id.to_owned(),
                sequence: event.sequence,
                reason,
            })?;
        let event_type = format!("{}.{}", self.proto_package, event.event_type);
        let proto_message = format!("{}.{}", self.proto_package, self.envelope_message);
        let headers = CloudEvent {
            id: event.event_id,
            event_type: &event_type,
            source: &self.source,
            time: event.event_time,
            subject: event.aggregate_id,
            proto_message: &proto_message,
            traceparent: metadata::field(event.metadata, TRACEPARENT),
        }
        .headers();
        Ok(OutboxMessage {
            topic: self.topic.clone(),
            key: event.aggregate_id.to_owned(),
            payload,
            headers,
        })
    }
}
