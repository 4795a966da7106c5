//! The platform's Kafka side: the outbox relay that publishes stored events with rdkafka's
//! idempotent producer, the message type consumers see ([`BusMessage`]), the dead-letter topics
//! ([`DeadLetters`]) and the CloudEvents binary-mode headers of the topic contract. The one Kafka
//! consume loop (consumer group, the checkpoint in the read model's transaction, dead letters) is
//! `mom_projection::run_from_kafka`, which the projections and the process managers use.
//!
//! Invariant: knows no domain. Messages are opaque bytes with headers; the event store decides
//! what is published, services decide what a message means.

mod args;
mod client;
mod dead_letters;
mod encoder;
pub mod envelope;
mod error;
mod lifecycle;
mod message;
mod publisher;
mod relay;
mod topics;

pub use args::KafkaArgs;
pub use client::{client_config, install_client_options, KafkaOption, KafkaOptionError};
pub use dead_letters::DeadLetters;
pub use encoder::{event_metadata, EnvelopeFn, TopicEncoder};
pub use error::BusError;
pub use lifecycle::{finish_within_grace, start_when_reachable, SHUTDOWN_GRACE};
pub use message::BusMessage;
pub use publisher::{Deliveries, Outgoing, Publisher};
pub use relay::{
    Relay, RelayConfig, RelayStats, DEFAULT_MAX_ATTEMPTS, DEFAULT_OUTBOX_RETENTION, PRUNE_BATCHES,
};
pub use topics::{dlq_topic, ensure_topics, TopicNames};
