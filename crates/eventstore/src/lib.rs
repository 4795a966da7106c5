//! Event store for the MOM platform: a cqrs-es [`PersistedEventRepository`] over sqlx, on
//! Postgres (deployments) and SQLite (the embedded single-node default).
//!
//! Appends are optimistic on (aggregate type, aggregate id, sequence) and group-committed: the
//! appender task collects the appends of concurrent commands and writes them in one transaction,
//! together with their outbox rows, so an event is never stored without its outbox message nor the
//! other way round. Every event gets a position in one global, gap-free log in commit order, which
//! store-log subscriptions and rebuilds read.
//!
//! Invariant: knows nothing of any domain, topic naming or Kafka. Services hand in an
//! [`OutboxEncoder`] that turns an event into the message to publish.
//!
//! [`PersistedEventRepository`]: cqrs_es::persist::PersistedEventRepository

mod aggregate_store;
mod appender;
mod args;
mod audit;
mod authors;
mod bulk;
mod chain;
pub mod commits;
mod error;
mod executor;
pub mod metadata;
pub mod outbox;
mod postgres;
mod record;
mod repository;
mod sqlite;
mod store;

pub use aggregate_store::AggregateStore;
pub use appender::AppendBatches;
pub use args::StoreArgs;
pub use audit::{AuditEvent, AuditQuery, BrokenLink, ChainReport};
pub use authors::AuthoredEvent;
pub use chain::{canonical_json, ChainHash, ChainHead, SnapshotFault};
pub use commits::Commits;
pub use error::StoreError;
pub use executor::Executor;
pub use metadata::{CommandMetadata, Signature};
pub use outbox::{
    EncodeError, OutboxEncoder, OutboxFailure, OutboxMessage, OutboxRecord, ParkedRow,
    PendingEvent, Skipped,
};
pub use record::{LogEntry, LogMessage, MessageFilter};
pub use repository::SqlEventRepository;
pub use store::{
    statement_timeout, Backend, EventStore, OutboxClaim, OutboxLease, StoreOptions,
    DEFAULT_STATEMENT_TIMEOUT, SQLITE_MMAP_BYTES, STATEMENT_TIMEOUT_VAR,
};
