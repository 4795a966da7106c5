//! The outbox: the message each event becomes, written in the event's own transaction.
//!
//! The message itself is stored with the event in the event log (rebuilds and the embedded
//! subscription read it there); the outbox row is the publishing queue's entry: pending (until
//! the broker acknowledged it, when the row is deleted), or parked after failures (an operator
//! retries or skips it). Invariant: a key's rows leave the queue in position order; a parked row
//! holds back the later rows of its key until it is retried or skipped.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An event about to be stored, as the encoder sees it.
#[derive(Debug, Clone, Copy)]
pub struct PendingEvent<'a> {
    /// Event id (UUID v7) the store assigned.
    pub event_id: Uuid,
    /// Aggregate type literal.
    pub aggregate_type: &'a str,
    /// Aggregate id.
    pub aggregate_id: &'a str,
    /// Sequence in the aggregate's stream, from 1.
    pub sequence: u64,
    /// Event type literal.
    pub event_type: &'a str,
    /// Event schema version.
    pub event_version: &'a str,
    /// The serialized domain event.
    pub payload: &'a serde_json::Value,
    /// The command's metadata map as JSON.
    pub metadata: &'a serde_json::Value,
    /// When it happened on the floor.
    pub event_time: DateTime<Utc>,
    /// When the store recorded it.
    pub recorded_time: DateTime<Utc>,
}

/// The message an event becomes on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Topic name.
    pub topic: String,
    /// Message key (the aggregate id, so each aggregate stays on one partition).
    pub key: String,
    /// Encoded value (protobuf).
    pub payload: Vec<u8>,
    /// Headers (CloudEvents binary mode plus traceparent).
    pub headers: Vec<(String, String)>,
}

/// An event the encoder could not turn into a message.
#[derive(Debug, thiserror::Error)]
#[error("{event_type} #{sequence} of {aggregate_id}: {reason}")]
pub struct EncodeError {
    /// Event type that failed.
    pub event_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence of the event.
    pub sequence: u64,
    /// What went wrong.
    pub reason: String,
}

/// Turns stored events into bus messages; one per service, pure and fast (it runs on the
/// command path).
pub trait OutboxEncoder: Send + Sync + 'static {
    /// Returns the message for one event.
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError>;
}

/// A stored outbox row, as the relay reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Global log position of the event.
    pub position: u64,
    /// Topic name.
    pub topic: String,
    /// Message key.
    pub key: String,
    /// Encoded value.
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Failed publishing attempts so far.
    pub attempts: u32,
}

/// A row the relay could not publish this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFailure {
    /// Global log position of the row.
    pub position: u64,
    /// The broker's or the producer's error.
    pub error: String,
    /// Whether to park it (no more automatic attempts; the later rows of its key wait).
    pub park: bool,
}

/// A parked outbox row, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRow {
    /// Global log position of the row (its id).
    pub position: u64,
    /// Topic name.
    pub topic: String,
    /// Message key.
    pub key: String,
    /// Failed publishing attempts.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
    /// When and by whom it was skipped, if it was.
    pub skipped: Option<Skipped>,
}

/// An operator's decision not to publish a parked row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (as the operator gave it).
    pub by: String,
}

/// Returns the bytes a message takes against the broker's message limit: key, value, and the
/// names and values of its headers (the record framing is left to the headroom of the limit).
pub fn message_size(message: &OutboxMessage) -> usize {
    message.key.len()
        + message.payload.len()
        + message
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
}

/// Default largest message the store accepts (`MOM_MAX_MESSAGE_BYTES`): the broker's default
/// `message.max.bytes` (1 000 000) less 40 000 bytes for the record batch framing and the
/// `traceparent` the relay rewrites.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 960_000;

/// Number of lanes the outbox is split into; each key always maps to the same lane and a lane is
/// published by one relay at a time, which keeps every key in order with several relays.
pub const LANES: u32 = 64;

/// Returns the lane of a key (FNV-1a, stable across processes and versions).
pub fn lane_of(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % LANES
}

pub(crate) fn headers_to_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .map(|(k, v)| serde_json::json!([k, v]))
            .collect(),
    )
}

/// Returns the headers stored as JSON text (`[["name","value"], ...]`), parsed straight into
/// pairs (the log reads of a rebuild parse one per event).
pub(crate) fn headers_from_str(text: &str) -> Result<Vec<(String, String)>, crate::StoreError> {
    serde_json::from_str(text)
        .map_err(|err| crate::StoreError::Corrupt(format!("outbox headers: {err}")))
}

/// As [`headers_from_str`], keeping only the headers named in `only` (all when `None`); the
/// others are passed over without being copied.
pub(crate) fn headers_from_str_only(
    text: &str,
    only: Option<&[&str]>,
) -> Result<Vec<(String, String)>, crate::StoreError> {
    let Some(only) = only else {
        return headers_from_str(text);
    };
    if only.is_empty() {
        return Ok(Vec::new());
    }
    let pairs: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        serde_json::from_str(text)
            .map_err(|err| crate::StoreError::Corrupt(format!("outbox headers: {err}")))?;
    Ok(pairs
        .into_iter()
        .filter(|(name, _)| only.contains(&name.as_ref()))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect())
}

pub(crate) fn headers_from_json(
    value: &serde_json::Value,
) -> Result<Vec<(String, String)>, crate::StoreError> {
    <Vec<(String, String)> as serde::Deserialize>::deserialize(value)
        .map_err(|err| crate::StoreError::Corrupt(format!("outbox headers: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_is_stable_and_in_range() {
        assert_eq!(lane_of("press-7"), lane_of("press-7"));
        for key in ["", "a", "press-7", "0190f0a4-0000-7000-8000-000000000000"] {
            assert!(lane_of(key) < LANES);
        }
    }

    #[test]
    fn headers_round_trip_through_json() {
        let headers = vec![
            ("ce_id".to_owned(), "1".to_owned()),
            ("a".to_owned(), String::new()),
        ];
        let json = headers_to_json(&headers);
        assert_eq!(headers_from_json(&json).expect("valid"), headers);
    }

    #[test]
    fn only_the_named_headers_are_kept_escapes_and_all() {
        let headers = vec![
            ("ce_id".to_owned(), "1".to_owned()),
            ("traceparent".to_owned(), "00-\"quoted\"-é".to_owned()),
        ];
        let text = headers_to_json(&headers).to_string();
        assert_eq!(
            headers_from_str_only(&text, Some(&["traceparent"])).expect("valid"),
            vec![headers[1].clone()]
        );
        assert_eq!(headers_from_str_only(&text, None).expect("valid"), headers);
        assert!(headers_from_str_only(&text, Some(&[]))
            .expect("valid")
            .is_empty());
        assert!(matches!(
            headers_from_str_only("[[1]]", Some(&["a"])),
            Err(crate::StoreError::Corrupt(_))
        ));
    }
}
