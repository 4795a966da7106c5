//! Errors of the runner and of projections.

/// Why a projection did not apply a message.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The message can never be applied (undecodable, breaks the contract): it is skipped (sent to
    /// the dead-letter topic when the source is Kafka) and the projection goes on.
    #[error("poison message: {0}")]
    Poison(String),
    /// The read model failed; the message is retried.
    #[error("read model: {0}")]
    Database(#[from] sqlx::Error),
    /// Something the handler depends on failed for now (a service is unavailable); the message is
    /// retried.
    #[error("transient failure: {0}")]
    Transient(String),
}

/// A failure of the runner.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The read-model database failed.
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] mom_eventstore::StoreError),
    /// Kafka failed.
    #[error("bus: {0}")]
    Bus(#[from] mom_bus::BusError),
    /// Kafka failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The source is misconfigured.
    #[error("{0}")]
    Source(String),
    /// A handler's dependency failed for now.
    #[error("transient failure: {0}")]
    Transient(String),
    /// A log position or offset does not fit the checkpoint column.
    #[error("checkpoint out of range: {0}")]
    Checkpoint(String),
}

impl From<ApplyError> for ProjectionError {
    /// A failure the runner cannot skip: a poison message here (from `flush`, after the page's
    /// messages were accepted) is treated as transient, so the transaction is retried.
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Database(err) => ProjectionError::Database(err),
            ApplyError::Poison(reason) | ApplyError::Transient(reason) => {
                ProjectionError::Transient(reason)
            }
        }
    }
}
