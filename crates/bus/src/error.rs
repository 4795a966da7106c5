//! Errors of the bus.

/// A failure talking to the broker or the store.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The Kafka client failed.
    #[error("kafka error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    TopicCreation {
        /// Topic name.
        topic: String,
        /// Broker's answer.
        reason: String,
    },
    /// The event store failed.
    #[error("event store error: {0}")]
    Store(#[from] mom_eventstore::StoreError),
}
