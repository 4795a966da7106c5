//! The consumer helper: a consumer group that hands each message to a handler, commits only after
//! the handler succeeded, skips redelivered event ids, and sends what it cannot handle to the
//! topic's dead-letter topic and goes on.

use std::future::Future;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::dedup::RecentIds;
use crate::envelope::{header, CE_ID, DLQ_ERROR, DLQ_ORIGIN};
use crate::topics::dlq_topic;
use crate::BusError;

/// Configuration of one consumer.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Kafka bootstrap servers.
    pub bootstrap_servers: String,
    /// Consumer group id; instances of one projection share it and split the partitions.
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Event ids remembered for de-duplication.
    pub dedup_capacity: usize,
    /// Longest wait between retries of a message whose handler failed transiently.
    pub max_backoff: Duration,
}

impl ConsumerConfig {
    /// Returns defaults for the given servers, group and topics.
    pub fn new(
        bootstrap_servers: impl Into<String>,
        group_id: impl Into<String>,
        topics: Vec<String>,
    ) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: group_id.into(),
            topics,
            dedup_capacity: 100_000,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// One message as the handler sees it.
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

/// Why a handler did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message can never be handled (undecodable, violates the contract): it goes to the
    /// dead-letter topic and the consumer moves on.
    #[error("{0}")]
    Permanent(String),
    /// Handling failed for now (database down): the same message is retried with backoff.
    #[error("{0}")]
    Transient(String),
}

/// Handles messages of a consumer.
pub trait MessageHandler: Send + Sync {
    /// Handles one message. Must be idempotent: a message can arrive again after a crash.
    fn handle(&self, message: &BusMessage)
        -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Consumes until `shutdown` is cancelled, then commits the offsets of handled messages.
pub async fn run_consumer<H: MessageHandler>(
    config: &ConsumerConfig,
    handler: &H,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A fetch returns when data arrives on Kafka, but some brokers (tansu) hold it for the
        // whole wait: keep the wait short so a new event is seen within milliseconds.
        .set("fetch.wait.max.ms", "10")
        .set("enable.partition.eof", "false")
        .create()?;
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let dlq = DeadLetters::new(&config.bootstrap_servers)?;
    let mut seen = RecentIds::new(config.dedup_capacity);
    loop {
        let message = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "consumer receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let bus_message = BusMessage::from_kafka(&message);
        let event_id = bus_message.event_id;
        let outcome = if event_id.is_nil() {
            Err(HandlerError::Permanent(format!(
                "missing or invalid {CE_ID} header"
            )))
        } else if seen.contains(&event_id) {
            tracing::debug!(event_id = %event_id, "duplicate event skipped");
            Ok(())
        } else {
            let result = handle_with_retry(handler, &bus_message, config, &shutdown).await;
            if result.is_ok() {
                seen.insert(event_id);
            }
            result
        };
        match outcome {
            Ok(()) => {}
            // Without a dead letter the message would be lost; `send` fails rather than let the
            // consumer commit past it.
            Err(HandlerError::Permanent(reason)) => dlq.send(&bus_message, &reason).await?,
            Err(HandlerError::Transient(_)) => break, // Only on shutdown; not committed.
        }
        consumer.store_offset(
            &bus_message.topic,
            bus_message.partition,
            bus_message.offset,
        )?;
    }
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last auto-commit is a normal outcome at shutdown.
        tracing::debug!(error = %err, "final commit");
    }
    Ok(())
}

async fn handle_with_retry<H: MessageHandler>(
    handler: &H,
    message: &BusMessage,
    config: &ConsumerConfig,
    shutdown: &CancellationToken,
) -> Result<(), HandlerError> {
    let mut backoff = Duration::from_millis(50);
    loop {
        match handler.handle(message).await {
            Err(HandlerError::Transient(reason)) => {
                tracing::warn!(reason, event_id = %message.event_id, backoff_ms = backoff.as_millis() as u64, "handler failed, retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Err(HandlerError::Transient(reason)),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(config.max_backoff);
            }
            other => return other,
        }
    }
}

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
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap_servers)
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
