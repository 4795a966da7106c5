//! Errors of the event store.

use cqrs_es::persist::PersistenceError;

/// A failure of the event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `postgres://` nor `sqlite:`.
    #[error("unsupported database url {url:?}: expected postgres://... or sqlite:...")]
    UnsupportedUrl {
        /// The URL as given (credentials are not logged by callers).
        url: String,
    },
    /// The database could not be reached or a statement failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Another writer appended to the same aggregate first.
    #[error("concurrency conflict: the aggregate was changed by another writer")]
    Conflict,
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The outbox encoder rejected an event.
    #[error("event could not be encoded for the outbox: {0}")]
    Encode(#[from] crate::outbox::EncodeError),
    /// The store was closed.
    #[error("event store is closed")]
    Closed,
}

impl From<StoreError> for PersistenceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => PersistenceError::OptimisticLockError,
            StoreError::Database(_) | StoreError::Closed | StoreError::Migration(_) => {
                PersistenceError::ConnectionError(Box::new(err))
            }
            StoreError::Corrupt(_) => PersistenceError::DeserializationError(Box::new(err)),
            StoreError::UnsupportedUrl { .. } | StoreError::Encode(_) => {
                PersistenceError::UnknownError(Box::new(err))
            }
        }
    }
}
