//! Command-line and environment options of the event store, shared by every service.

use crate::StoreOptions;

/// Event store options (`--database-url`, `MOM_DATABASE_URL`, ...).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Event store database: postgres://user@host/db for deployments, sqlite:path/to/file.db for
    /// the embedded single-node mode.
    #[arg(long, env = "MOM_DATABASE_URL")]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(long, env = "MOM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Largest number of events written in one group-commit transaction.
    #[arg(long, env = "MOM_DB_MAX_BATCH_EVENTS", default_value_t = 1024)]
    pub db_max_batch_events: usize,
    /// Snapshot an aggregate every N events (1 = every command, 0 = never). Recently used
    /// aggregates are also kept in memory, so snapshots matter for cold loads only.
    #[arg(long, env = "MOM_SNAPSHOT_EVERY", default_value_t = 20)]
    pub snapshot_every: usize,
    /// Largest outbox message (key, value and headers, in bytes) a command may produce; a larger
    /// one is refused at command time with INVALID_ARGUMENT, never stored. Keep it under the
    /// broker's `message.max.bytes` (default 1 000 000) with room for the record framing.
    #[arg(long, env = "MOM_MAX_MESSAGE_BYTES", default_value_t = crate::outbox::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl StoreArgs {
    /// Returns the store options these arguments give.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.db_max_connections,
            max_batch_events: self.db_max_batch_events,
            max_message_bytes: self.max_message_bytes,
            ..StoreOptions::default()
        }
    }
}
