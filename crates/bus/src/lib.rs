//! The platform's Kafka side: the outbox relay that publishes stored events with rdkafka's
//! idempotent producer, the consumer helper every projection and process manager uses
//! (consumer group, commit after success, de-duplication by event id, dead-letter topics), and the
//! CloudEvents binary-mode headers of the topic contract.
//!
//! Invariant: knows no domain. Messages are opaque bytes with headers; the event store decides
//! what is published, services decide what a message means.

mod args;
mod consumer;
mod dedup;
mod encoder;
pub mod envelope;
mod error;
mod publisher;
mod relay;
mod topics;

pub use args::KafkaArgs;
pub use consumer::{
    run_consumer, BusMessage, ConsumerConfig, DeadLetters, HandlerError, MessageHandler,
};
pub use dedup::RecentIds;
pub use encoder::{event_metadata, EnvelopeFn, TopicEncoder};
pub use error::BusError;
pub use publisher::{Outgoing, Publisher};
pub use relay::{Relay, RelayConfig, RelayStats};
pub use topics::{dlq_topic, ensure_topics, TopicNames};
