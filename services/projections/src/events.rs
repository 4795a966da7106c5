//! Decoding topic messages into the contract's event envelopes, for every read model.

use mom_projection::{ApplyError, Message};

/// The domain of a topic named `<prefix><domain>.v1`.
pub fn domain(topic: &str) -> &str {
    topic.rsplit('.').nth(1).unwrap_or_default()
}

/// Decodes a message's value as the envelope `E`; undecodable bytes are a poison message.
pub fn decode<E: prost::Message + Default>(message: &Message) -> Result<E, ApplyError> {
    E::decode(message.payload.as_slice())
        .map_err(|err| ApplyError::Poison(format!("{}: undecodable value: {err}", message.topic)))
}

/// The aggregate id in an envelope's metadata (empty when missing).
pub fn aggregate_id(metadata: Option<&mom_proto::common::v1::EventMetadata>) -> &str {
    metadata.map_or("", |m| m.aggregate_id.as_str())
}

/// Milliseconds since the epoch of a required timestamp field; a missing or invalid one breaks
/// the contract (a poison message).
pub fn ms(ts: Option<&prost_types::Timestamp>, field: &'static str) -> Result<i64, ApplyError> {
    mom_proto::time::from_timestamp(ts, field)
        .map(|t| t.timestamp_millis())
        .map_err(|err| ApplyError::Poison(err.to_string()))
}

/// Refuses an empty id field (a poison message naming the field).
pub fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, ApplyError> {
    if value.is_empty() {
        Err(ApplyError::Poison(format!("field {field} is empty")))
    } else {
        Ok(value)
    }
}

/// Returns whether the message is new to the read model whose sequence table is `table`, keyed
/// by domain, aggregate type and id (aggregate ids of different domains may be equal), and
/// records its sequence in the transaction's guard `sequences` (written by its `flush`).
/// Messages without a sequence (0) are always applied.
pub async fn first_delivery(
    sequences: &mut crate::sequence::PageSequences,
    connection: &mut mom_projection::Connection,
    table: &'static str,
    topic: &str,
    metadata: Option<&mom_proto::common::v1::EventMetadata>,
) -> Result<bool, ApplyError> {
    let Some((key, sequence)) = sequence_key(topic, metadata) else {
        return Ok(true);
    };
    sequences
        .first_delivery(connection, table, &key, sequence)
        .await
}

/// Returns the sequence-table key of an event (domain, aggregate type and id) and its
/// sequence, or `None` for an event without a sequence (always applied, never recorded).
pub fn sequence_key(
    topic: &str,
    metadata: Option<&mom_proto::common::v1::EventMetadata>,
) -> Option<(String, u64)> {
    let metadata = metadata.filter(|m| m.sequence > 0)?;
    let key = format!(
        "{}/{}/{}",
        domain(topic),
        metadata.aggregate_type,
        metadata.aggregate_id
    );
    Some((key, metadata.sequence))
}
