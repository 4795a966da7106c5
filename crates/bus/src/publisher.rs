//! The idempotent producer every publisher of the platform uses (the outbox relay, and
//! projections that publish derived topics such as `mom.oee.v1`).

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::BusError;

/// The result of a message not sent because an earlier message of its topic and key was
/// refused in the same [`Publisher::send_all`].
pub const HELD_BACK: KafkaError =
    KafkaError::MessageProduction(RDKafkaErrorCode::PreviousInProgress);

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Key (ordering is per key).
    pub key: &'a str,
    /// Value.
    pub payload: &'a [u8],
    /// Headers.
    pub headers: &'a [(String, String)],
}

/// The producers' `linger.ms` unless the operator sets it (`MOM_KAFKA_OPTIONS=linger.ms=N`): how
/// long a message waits for others to share its request. None: the relay hands a round's
/// messages over at once, so they share requests anyway, and while requests are in flight the
/// next messages gather; a lone event is sent at once. Against 2 ms, the relay drained as fast
/// and the command → OEE read model p50 moved by 0.1–1.1 ms (docs/benchmarks.md, freshness).
const DEFAULT_LINGER_MS: &str = "0";

/// rdkafka's idempotent producer (`acks=all`), with batch sends that report per message.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Returns a producer for `bootstrap_servers` that retries one message for up to
    /// `message_timeout` before it reports a failure.
    pub fn new(bootstrap_servers: &str, message_timeout: Duration) -> Result<Self, BusError> {
        let producer: FutureProducer = crate::client_config(bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "linger.ms",
                crate::client::installed_option("linger.ms")
                    .unwrap_or_else(|| DEFAULT_LINGER_MS.to_owned()),
            )
            .set(
                "message.timeout.ms",
                message_timeout.as_millis().to_string(),
            )
            .set("reconnect.backoff.max.ms", "1000")
            .create()?;
        Ok(Self { producer })
    }

    /// Sends every message and waits for the broker's acknowledgements; returns one result per
    /// message, in order. A message the producer refuses at once (too large, say) keeps the
    /// later messages of its topic and key from being sent, so they never overtake it; they
    /// fail with [`HELD_BACK`].
    pub async fn send_all(&self, messages: &[Outgoing<'_>]) -> Vec<Result<(), KafkaError>> {
        self.enqueue(messages).await.wait().await
    }

    /// Hands every message to the producer, as [`Publisher::send_all`] does, without waiting
    /// for the acknowledgements: the caller can prepare more while they come.
    pub async fn enqueue(&self, messages: &[Outgoing<'_>]) -> Deliveries {
        let mut deliveries = Vec::with_capacity(messages.len());
        let mut refused: HashSet<(&str, &str)> = HashSet::new();
        for outgoing in messages {
            if refused.contains(&(outgoing.topic, outgoing.key)) {
                deliveries.push(Err(HELD_BACK));
                continue;
            }
            let mut headers = OwnedHeaders::new_with_capacity(outgoing.headers.len());
            for (key, value) in outgoing.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let mut message = FutureRecord::to(outgoing.topic)
                .key(outgoing.key.as_bytes())
                .payload(outgoing.payload)
                .headers(headers);
            loop {
                match self.producer.send_result(message) {
                    Ok(delivery) => {
                        deliveries.push(Ok(delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        message = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((err, _)) => {
                        refused.insert((outgoing.topic, outgoing.key));
                        deliveries.push(Err(err));
                        break;
                    }
                }
            }
        }
        Deliveries(deliveries)
    }
}

/// Messages handed to the producer ([`Publisher::enqueue`]), their acknowledgements to come.
pub struct Deliveries(Vec<Result<DeliveryFuture, KafkaError>>);

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("messages", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl Deliveries {
    /// Whether the producer refused a message at once (it will not be sent).
    pub fn refused(&self) -> bool {
        self.0.iter().any(Result::is_err)
    }

    /// Waits for the broker's acknowledgements; returns one result per message, in order.
    pub async fn wait(self) -> Vec<Result<(), KafkaError>> {
        let mut results = Vec::with_capacity(self.0.len());
        for delivery in self.0 {
            results.push(match delivery {
                Ok(future) => match future.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((err, _))) => Err(err),
                    Err(_) => Err(KafkaError::Canceled),
                },
                Err(err) => Err(err),
            });
        }
        results
    }
}
