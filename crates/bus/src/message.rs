//! A message as the platform's consumers see it: where it came from, its key, value, headers and
//! event id (from the CloudEvents `ce_id` header).

use rdkafka::message::{Headers, Message};
use uuid::Uuid;

use crate::envelope::{header, CE_ID};

/// One message of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// Topic it came from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key (the aggregate id).
    pub key: Option<String>,
    /// Value (protobuf).
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Event id from the `ce_id` header; nil when the header is missing or not a UUID.
    pub event_id: Uuid,
}

impl BusMessage {
    /// Returns a message of `topic` with `key`, `payload` and a new event id, at partition 0 and
    /// offset 0, without headers: a message as an in-process test hands it to a projection.
    pub fn new(topic: impl Into<String>, key: Option<&str>, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: key.map(str::to_owned),
            payload,
            headers: vec![],
            event_id: Uuid::now_v7(),
        }
    }

    /// Copies a received Kafka message.
    pub fn from_kafka<M: Message>(message: &M) -> Self {
        let headers: Vec<(String, String)> = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let event_id = header(&headers, CE_ID)
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
            event_id,
        }
    }
}
