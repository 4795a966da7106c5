//! The dead-letter topics: a consumer sends what it can never apply to `<topic>.dlq`, with the
//! reason and the origin in headers, and goes on.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::envelope::{DLQ_ERROR, DLQ_ORIGIN};
use crate::message::BusMessage;
use crate::topics::dlq_topic;
use crate::BusError;

/// Publishes messages a consumer cannot handle to `<topic>.dlq`, with the reason and origin in
/// headers.
pub struct DeadLetters {
    producer: FutureProducer,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters").finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// Returns a dead-letter publisher on `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str) -> Result<Self, BusError> {
        let producer: FutureProducer = crate::client_config(bootstrap_servers)
            .set("enable.idempotence", "true")
            .create()?;
        Ok(Self { producer })
    }

    /// Publishes `message` to its dead-letter topic and waits for the acknowledgement.
    pub async fn send(&self, message: &BusMessage, reason: &str) -> Result<(), BusError> {
        let origin = format!("{}/{}/{}", message.topic, message.partition, message.offset);
        tracing::warn!(origin, reason, "message sent to dead-letter topic");
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len() + 2);
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        headers = headers
            .insert(Header {
                key: DLQ_ERROR,
                value: Some(reason.as_bytes()),
            })
            .insert(Header {
                key: DLQ_ORIGIN,
                value: Some(origin.as_bytes()),
            });
        let topic = dlq_topic(&message.topic);
        let mut record = FutureRecord::to(&topic)
            .payload(message.payload.as_slice())
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_bytes());
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(60)))
            .await
            .map_err(|(err, _)| {
                tracing::error!(error = %err, origin, "dead-letter publish failed");
                BusError::Kafka(err)
            })?;
        Ok(())
    }
}
