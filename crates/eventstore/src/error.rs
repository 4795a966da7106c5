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
    /// A read on a store's own SQLite connection failed (a rebuild's reads of a SQLite log,
    /// [`crate::StoreOptions::sqlite_direct_reads`]).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// An event's message is larger than the broker would take: refused, never stored.
    #[error(
        "{event_type} of {aggregate_id} would be a message of {size} bytes, over the limit of \
         {limit} bytes (MOM_MAX_MESSAGE_BYTES); shorten its text fields"
    )]
    MessageTooLarge {
        /// Event type.
        event_type: String,
        /// Aggregate id.
        aggregate_id: String,
        /// Key, value and headers in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The store was closed.
    #[error("event store is closed")]
    Closed,
}

impl StoreError {
    /// Whether the command's input caused it (the command is refused; retrying cannot help):
    /// callers map it to INVALID_ARGUMENT. It reaches them boxed inside cqrs-es's
    /// `AggregateError::UnexpectedError`.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, StoreError::MessageTooLarge { .. })
    }
}

impl From<StoreError> for PersistenceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => PersistenceError::OptimisticLockError,
            StoreError::Database(_)
            | StoreError::Sqlite(_)
            | StoreError::Closed
            | StoreError::Migration(_) => PersistenceError::ConnectionError(Box::new(err)),
            StoreError::Corrupt(_) => PersistenceError::DeserializationError(Box::new(err)),
            StoreError::UnsupportedUrl { .. }
            | StoreError::Encode(_)
            | StoreError::MessageTooLarge { .. } => PersistenceError::UnknownError(Box::new(err)),
        }
    }
}
