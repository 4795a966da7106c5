//! The audit hash chain of an event store (docs/audit.md).
//!
//! Every event's hash is SHA-256 of the previous event's hash and the event's canonical bytes
//! ([`event_hash`]); the first event follows [`ChainHash::GENESIS`]. The canonical bytes cover
//! every column a reader relies on: position, event id, aggregate, sequence, event type and
//! version, payload, metadata (principal, on-behalf-of, auth method, signature), event and
//! recorded time, and the bus message the event became (topic, key, bytes, headers), since
//! projections build their read models from that message.
//!
//! Canonical bytes are computed from parsed values, never from stored text, so they survive a
//! round trip through Postgres JSONB (which reorders keys, drops whitespace and keeps numbers as
//! decimals) and SQLite TEXT: object keys are sorted, numbers are written by value, and times are
//! cut to the microseconds Postgres keeps.
//!
//! Invariant: pure; no IO. The stores compute hashes under the head row's lock, so the chain is
//! serial.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::record::{NewEvent, NewSnapshot};
use crate::StoreError;

/// A SHA-256 hash of the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash the first event follows: 32 zero bytes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// Returns the hash stored in a column, or an error naming `what` when it is not 32 bytes.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, StoreError> {
        <[u8; 32]>::try_from(bytes).map(ChainHash).map_err(|_| {
            StoreError::Corrupt(format!(
                "{what} is {} bytes, not a 32-byte SHA-256 hash",
                bytes.len()
            ))
        })
    }

    /// Returns the hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0
            .iter()
            .fold(String::with_capacity(64), |mut text, byte| {
                let _ = write!(text, "{byte:02x}");
                text
            })
    }

    /// Returns the first 6 bytes as a number: exact in a floating-point metric (48 bits).
    pub fn prefix48(&self) -> u64 {
        self.0[..6]
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
    }
}

impl std::fmt::Display for ChainHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

/// The head of a store's chain: the last position and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Position of the last event (0 when the store is empty).
    pub position: u64,
    /// Hash of the last event ([`ChainHash::GENESIS`] when the store is empty).
    pub hash: ChainHash,
}

/// The columns of one event that its hash covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventFields<'a> {
    pub position: i64,
    pub event_id: Uuid,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a Value,
    pub metadata: &'a Value,
    pub event_time: DateTime<Utc>,
    pub recorded_time: DateTime<Utc>,
    pub topic: &'a str,
    pub msg_key: &'a str,
    pub message: &'a [u8],
    pub headers: &'a Value,
}

/// One stored event as the chain reads it back.
#[derive(Debug, Clone)]
pub(crate) struct ChainRow {
    pub position: i64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub event_time: DateTime<Utc>,
    pub recorded_time: DateTime<Utc>,
    pub topic: String,
    pub msg_key: String,
    pub message: Vec<u8>,
    pub headers: Value,
    pub hash: Option<Vec<u8>>,
}

impl ChainRow {
    pub fn fields(&self) -> EventFields<'_> {
        EventFields {
            position: self.position,
            event_id: self.event_id,
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: &self.payload,
            metadata: &self.metadata,
            event_time: self.event_time,
            recorded_time: self.recorded_time,
            topic: &self.topic,
            msg_key: &self.msg_key,
            message: &self.message,
            headers: &self.headers,
        }
    }
}

/// A stored snapshot with the hash of the event it covers as that event's row holds it.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotRow {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub last_sequence: i64,
    pub snapshot_version: i64,
    pub payload: Value,
    pub event_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// The hash stored on the event at `last_sequence`; `None` when no such event exists.
    pub stored_event_hash: Option<Vec<u8>>,
}

/// Why a snapshot is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFault {
    /// No event exists at the snapshot's sequence.
    EventMissing,
    /// The event hash the snapshot recorded is not the hash of the event at its sequence.
    EventHashDiffers,
    /// The snapshot's own hash does not match its contents (the payload was edited).
    ContentEdited,
}

impl std::fmt::Display for SnapshotFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SnapshotFault::EventMissing => "no event exists at the sequence the snapshot covers",
            SnapshotFault::EventHashDiffers => {
                "the event hash the snapshot recorded differs from the hash of the event it covers"
            }
            SnapshotFault::ContentEdited => {
                "the snapshot's hash does not match its contents (its payload was edited)"
            }
        })
    }
}

impl SnapshotRow {
    /// Checks the snapshot against the event it covers and against its own hash.
    pub fn check(&self) -> Result<(), SnapshotFault> {
        let Some(stored) = &self.stored_event_hash else {
            return Err(SnapshotFault::EventMissing);
        };
        if stored != &self.event_hash {
            return Err(SnapshotFault::EventHashDiffers);
        }
        let Ok(event_hash) = <[u8; 32]>::try_from(self.event_hash.as_slice()) else {
            return Err(SnapshotFault::EventHashDiffers);
        };
        let expected = snapshot_hash(
            &ChainHash(event_hash),
            &self.aggregate_type,
            &self.aggregate_id,
            self.last_sequence,
            self.snapshot_version,
            &self.payload,
        );
        if expected.0.as_slice() != self.hash.as_slice() {
            return Err(SnapshotFault::ContentEdited);
        }
        Ok(())
    }
}

/// Hashes the events of one append batch in position order, from the head hash the batch
/// found under the head row's lock, and remembers each event's hash for the batch's snapshots.
pub(crate) struct ChainWriter<'a> {
    head: ChainHash,
    buffer: Vec<u8>,
    written: HashMap<(&'a str, &'a str, i64), ChainHash>,
}

impl<'a> ChainWriter<'a> {
    /// Starts from the head hash; `None` (the chain was never computed, which the store does at
    /// start-up) refuses the append.
    pub fn new(head_hash: Option<Vec<u8>>) -> Result<Self, StoreError> {
        let head = head_hash.ok_or_else(|| {
            StoreError::Corrupt(
                "the audit chain's head hash is missing (mom_log_head.head_hash is NULL): the \
                 store computes it when it connects; reconnect to compute it"
                    .to_owned(),
            )
        })?;
        Ok(Self {
            head: ChainHash::from_slice(&head, "mom_log_head.head_hash")?,
            buffer: Vec::with_capacity(1024),
            written: HashMap::new(),
        })
    }

    /// Hashes the event at `position` (the next one of the chain) and returns its hash.
    pub fn push(&mut self, position: i64, event: &'a NewEvent, headers: &Value) -> ChainHash {
        let fields = EventFields {
            position,
            event_id: event.event_id,
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            event_type: &event.event_type,
            event_version: &event.event_version,
            payload: &event.payload,
            metadata: &event.metadata,
            event_time: event.event_time,
            recorded_time: event.recorded_time,
            topic: &event.outbox.topic,
            msg_key: &event.outbox.key,
            message: &event.outbox.payload,
            headers,
        };
        self.head = event_hash(&self.head, &fields, &mut self.buffer);
        self.written.insert(
            (&event.aggregate_type, &event.aggregate_id, event.sequence),
            self.head,
        );
        self.head
    }

    /// Returns the hash of the last event pushed (the new head).
    pub fn head(&self) -> ChainHash {
        self.head
    }

    /// Returns the hash of the event `snapshot` covers (appended in this batch) and the
    /// snapshot's own hash.
    pub fn snapshot_hashes(
        &self,
        snapshot: &NewSnapshot,
    ) -> Result<(ChainHash, ChainHash), StoreError> {
        let key = (
            snapshot.aggregate_type.as_str(),
            snapshot.aggregate_id.as_str(),
            snapshot.last_sequence,
        );
        let event = *self.written.get(&key).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "snapshot of {} {} at sequence {} covers no event of its append",
                snapshot.aggregate_type, snapshot.aggregate_id, snapshot.last_sequence
            ))
        })?;
        let hash = snapshot_hash(
            &event,
            &snapshot.aggregate_type,
            &snapshot.aggregate_id,
            snapshot.last_sequence,
            snapshot.snapshot_version,
            &snapshot.payload,
        );
        Ok((event, hash))
    }
}

/// Hashes the events written before the chain existed, page by page from position 1.
pub(crate) struct Backfill {
    head: ChainHash,
    buffer: Vec<u8>,
    count: u64,
}

impl Backfill {
    pub fn new() -> Self {
        Self {
            head: ChainHash::GENESIS,
            buffer: Vec::with_capacity(1024),
            count: 0,
        }
    }

    /// Hashes the next page of events; returns their positions and hashes.
    pub fn hash_page(&mut self, rows: &[ChainRow]) -> (Vec<i64>, Vec<Vec<u8>>) {
        let mut positions = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for row in rows {
            self.head = event_hash(&self.head, &row.fields(), &mut self.buffer);
            positions.push(row.position);
            hashes.push(self.head.0.to_vec());
        }
        self.count += rows.len() as u64;
        (positions, hashes)
    }

    /// Returns the hash of the last event hashed.
    pub fn head(&self) -> ChainHash {
        self.head
    }

    /// Returns how many events were hashed.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Returns the hash of an event that follows `prev`. `buffer` is scratch space reused between
/// calls.
pub(crate) fn event_hash(
    prev: &ChainHash,
    event: &EventFields<'_>,
    buffer: &mut Vec<u8>,
) -> ChainHash {
    buffer.clear();
    canonical_event(event, buffer);
    let mut digest = Sha256::new();
    digest.update(prev.0);
    digest.update(&buffer[..]);
    ChainHash(digest.finalize().into())
}

/// Returns the hash of a snapshot: it binds the snapshot's contents to the hash of the event
/// it covers.
pub(crate) fn snapshot_hash(
    event_hash: &ChainHash,
    aggregate_type: &str,
    aggregate_id: &str,
    last_sequence: i64,
    snapshot_version: i64,
    payload: &Value,
) -> ChainHash {
    let mut bytes = Vec::with_capacity(256);
    field(&mut bytes, b"mom.audit.v1.snapshot");
    bytes.extend_from_slice(&event_hash.0);
    field(&mut bytes, aggregate_type.as_bytes());
    bytes.extend_from_slice(&last_sequence.to_be_bytes());
    field(&mut bytes, aggregate_id.as_bytes());
    bytes.extend_from_slice(&snapshot_version.to_be_bytes());
    json_field(&mut bytes, payload);
    ChainHash(Sha256::digest(&bytes).into())
}

/// Appends the canonical bytes of an event: a domain tag, then each column in a fixed order,
/// numbers as 8 big-endian bytes and everything else prefixed with its length.
fn canonical_event(event: &EventFields<'_>, out: &mut Vec<u8>) {
    field(out, b"mom.audit.v1.event");
    out.extend_from_slice(&event.position.to_be_bytes());
    out.extend_from_slice(event.event_id.as_bytes());
    field(out, event.aggregate_type.as_bytes());
    field(out, event.aggregate_id.as_bytes());
    out.extend_from_slice(&event.sequence.to_be_bytes());
    field(out, event.event_type.as_bytes());
    field(out, event.event_version.as_bytes());
    json_field(out, event.payload);
    json_field(out, event.metadata);
    out.extend_from_slice(&stored_micros(event.event_time).to_be_bytes());
    out.extend_from_slice(&stored_micros(event.recorded_time).to_be_bytes());
    field(out, event.topic.as_bytes());
    field(out, event.msg_key.as_bytes());
    field(out, event.message);
    json_field(out, event.headers);
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn json_field(out: &mut Vec<u8>, value: &Value) {
    let mut text = Vec::with_capacity(128);
    canonical_json(value, &mut text);
    field(out, &text);
}

/// Returns the time in the microseconds Postgres keeps, truncated the way sqlx binds it
/// (towards Postgres's epoch, 2000-01-01), so a time hashes the same before and after storing.
fn stored_micros(time: DateTime<Utc>) -> i64 {
    const PG_EPOCH_SECS: i64 = 946_684_800;
    let epoch = DateTime::from_timestamp(PG_EPOCH_SECS, 0).unwrap_or_default();
    let since: TimeDelta = time - epoch;
    // Out of Postgres's range the time could not have been stored; fall back to whole seconds.
    since
        .num_microseconds()
        .map_or(time.timestamp().saturating_mul(1_000_000), |micros| {
            micros.saturating_add(PG_EPOCH_SECS * 1_000_000)
        })
}

/// Writes `value` as canonical JSON: no whitespace, object keys sorted by their bytes, strings
/// escaped as serde_json escapes them, and numbers by value (an integral float as an integer,
/// since JSONB hands `1e17` back as `100000000000000000`).
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => {
            let text = if let Some(int) = number.as_i64() {
                int.to_string()
            } else if let Some(int) = number.as_u64() {
                int.to_string()
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                // Below 2^64 every integral float is an exact integer that fits i128.
                if float.fract() == 0.0 && float.abs() < 18_446_744_073_709_551_616.0 {
                    (float as i128).to_string()
                } else {
                    format!("{float:e}")
                }
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(text) => string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                canonical_json(item, out);
            }
            out.push(b'}');
        }
    }
}

fn string(text: &str, out: &mut Vec<u8>) {
    // Serializing a str cannot fail.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        let mut out = Vec::new();
        canonical_json(value, &mut out);
        String::from_utf8(out).expect("canonical json is utf-8")
    }

    #[test]
    fn canonical_json_sorts_keys_and_ignores_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"z": [1, 2], "y": null}}"#).expect("valid json");
        let b: Value =
            serde_json::from_str(r#"{"a":{"y":null,"z":[1,2]},"b":1}"#).expect("valid json");
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"a":{"y":null,"z":[1,2]},"b":1}"#);
    }

    #[test]
    fn canonical_json_writes_numbers_by_value() {
        // What JSONB hands back for what serde_json wrote.
        for (written, read) in [
            ("1e17", "100000000000000000"),
            ("1e-7", "0.0000001"),
            ("10.0", "10.0"),
            ("-0.0", "0"),
            ("1e300", &format!("1{}", "0".repeat(300))),
            ("0.30000000000000004", "0.30000000000000004"),
        ] {
            let written: Value = serde_json::from_str(written).expect("valid number");
            let read: Value = serde_json::from_str(read).expect("valid number");
            assert_eq!(canonical(&written), canonical(&read), "{written} vs {read}");
        }
        assert_ne!(canonical(&json!(1.5)), canonical(&json!(1.25)));
    }

    #[test]
    fn stored_micros_cuts_nanoseconds_as_postgres_does() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
        let cut = DateTime::from_timestamp(1_700_000_000, 123_456_000).expect("valid time");
        assert_eq!(stored_micros(at), stored_micros(cut));
        assert_eq!(stored_micros(cut), 1_700_000_000_123_456);
    }

    #[test]
    fn event_hash_depends_on_the_previous_hash_and_every_field() {
        let payload = json!({"qty": 3});
        let metadata = json!({"principal": "alice"});
        let headers = json!([["ce_id", "x"]]);
        let event = EventFields {
            position: 1,
            event_id: Uuid::nil(),
            aggregate_type: "order",
            aggregate_id: "o-1",
            sequence: 1,
            event_type: "GoodReported",
            event_version: "1",
            payload: &payload,
            metadata: &metadata,
            event_time: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
            recorded_time: DateTime::from_timestamp(1_700_000_001, 0).expect("valid time"),
            topic: "mom.production.v1",
            msg_key: "o-1",
            message: b"bytes",
            headers: &headers,
        };
        let mut buffer = Vec::new();
        let base = event_hash(&ChainHash::GENESIS, &event, &mut buffer);
        assert_eq!(base, event_hash(&ChainHash::GENESIS, &event, &mut buffer));
        assert_ne!(base, event_hash(&base, &event, &mut buffer));
        let other = json!({"principal": "mallory"});
        let edited = EventFields {
            metadata: &other,
            ..event
        };
        assert_ne!(base, event_hash(&ChainHash::GENESIS, &edited, &mut buffer));
        let moved = EventFields {
            position: 2,
            ..event
        };
        assert_ne!(base, event_hash(&ChainHash::GENESIS, &moved, &mut buffer));
        let message = EventFields {
            message: b"other",
            ..event
        };
        assert_ne!(base, event_hash(&ChainHash::GENESIS, &message, &mut buffer));
    }

    #[test]
    fn chain_hash_prints_hex_and_a_48_bit_prefix() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[5] = 0x01;
        let hash = ChainHash(bytes);
        assert!(hash.to_hex().starts_with("ab0000000001"));
        assert_eq!(hash.to_hex().len(), 64);
        assert_eq!(hash.prefix48(), 0xab00_0000_0001);
    }
}
