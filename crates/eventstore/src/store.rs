//! The event store handle: connection, migrations, reads, and the outbox API the relay uses.

use mom_telemetry::internal_events::{emit, EventsAppended};
use std::str::FromStr;
use std::time::Duration;
use tracing::Instrument;

use cqrs_es::persist::{SerializedEvent, SerializedSnapshot};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::appender::Appender;
use crate::bulk::BulkReader;
use crate::commits::{CommitSignal, Commits};
use crate::outbox::{OutboxFailure, OutboxRecord, ParkedRow};
use crate::record::{LogEntry, LogMessage, MessageFilter, NewEvent, NewSnapshot};
use crate::{postgres, sqlite, StoreError};

/// Tuning of the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool (reads and the appender share it).
    pub max_connections: u32,
    /// Largest number of events the appender writes in one transaction.
    pub max_batch_events: usize,
    /// Largest outbox message (see [`crate::outbox::message_size`]) an append may carry; a
    /// larger one is refused with [`StoreError::MessageTooLarge`].
    pub max_message_bytes: usize,
    /// SQLite: how much of the file the connections read through a memory map (`PRAGMA
    /// mmap_size`); 0, the default, reads with `pread`. See [`StoreOptions::bulk_reads`].
    pub sqlite_mmap_bytes: u64,
    /// SQLite: the log's reads ([`EventStore::read_messages_of`]) run on connections of their
    /// own on blocking threads instead of through sqlx (`crate::bulk`). See
    /// [`StoreOptions::bulk_reads`].
    pub sqlite_direct_reads: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            max_batch_events: 1024,
            max_message_bytes: crate::outbox::DEFAULT_MAX_MESSAGE_BYTES,
            sqlite_mmap_bytes: 0,
            sqlite_direct_reads: false,
        }
    }
}

impl StoreOptions {
    /// The options of a store opened to read its whole log (a projection's rebuild): a SQLite
    /// file is read through a memory map of up to [`SQLITE_MMAP_BYTES`], its log's reads
    /// stepped on blocking threads of their own (docs/eventstore.md, "A rebuild reads SQLite
    /// logs on threads of its own").
    pub fn bulk_reads() -> Self {
        Self {
            sqlite_mmap_bytes: SQLITE_MMAP_BYTES,
            sqlite_direct_reads: true,
            ..Self::default()
        }
    }
}

/// The variable that sets how long a statement may run on a Postgres connection.
pub const STATEMENT_TIMEOUT_VAR: &str = "MOM_DB_STATEMENT_TIMEOUT";

/// The statement timeout when [`STATEMENT_TIMEOUT_VAR`] is unset.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a SQLite store's file a store opened for bulk reads ([`StoreOptions::bulk_reads`],
/// a rebuild's log sources) reads through a memory map (`PRAGMA mmap_size`): SQLite then reads
/// the log's pages in place instead of copying each with a `pread`, which took a quarter of a
/// SQLite rebuild's CPU in system time (docs/benchmarks.md, "SQLite logs read through a memory
/// map"). Writes still go through `write`; the map is read only. Past this size a file is read
/// as before. The mapped pages are the kernel's page cache, counted in the process's resident set
/// (`RssFile`) while mapped. Live stores keep `pread`: their reads are small and recent, and
/// every growth of the file remaps it in each connection.
pub const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// Longest a statement may run on a Postgres connection: [`STATEMENT_TIMEOUT_VAR`] (`30s`,
/// `500ms`, `2m`; `0` for no limit), [`DEFAULT_STATEMENT_TIMEOUT`] when unset; `None` is no
/// limit. The one reader of the variable: the event stores' pools and the read models' pools
/// both take it from here. An error names the variable and its value.
pub fn statement_timeout() -> Result<Option<Duration>, String> {
    let Ok(text) = std::env::var(STATEMENT_TIMEOUT_VAR) else {
        return Ok(Some(DEFAULT_STATEMENT_TIMEOUT));
    };
    let timeout = mom_clock::parse_duration(&text)
        .ok()
        .and_then(|timeout| timeout.to_std().ok())
        .ok_or_else(|| format!("{STATEMENT_TIMEOUT_VAR}={text:?} is not a duration such as 30s"))?;
    Ok((!timeout.is_zero()).then_some(timeout))
}

/// The database behind the store.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Postgres, for deployments; several processes may share it.
    Postgres(PgPool),
    /// SQLite, for the embedded single-node default; one process at a time.
    Sqlite(SqlitePool),
}

/// Handle to the event store; cheap to clone, all clones share one pool and one appender.
#[derive(Debug, Clone)]
pub struct EventStore {
    backend: Backend,
    appender: Appender,
    appender_task: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    max_message_bytes: usize,
    commits: CommitSignal,
    /// SQLite, opened with [`StoreOptions::sqlite_direct_reads`]: what reads the log.
    bulk: Option<std::sync::Arc<BulkReader>>,
}

impl EventStore {
    /// Connects to `url` (`postgres://...` or `sqlite:path`), runs the migrations and starts the
    /// appender.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let mut bulk = None;
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = sqlx::postgres::PgConnectOptions::from_str(url)?;
            if let Some(timeout) = statement_timeout()
                .map_err(|reason| StoreError::Database(sqlx::Error::Configuration(reason.into())))?
            {
                connect = connect.options([("statement_timeout", timeout.as_millis().to_string())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Rows cross from SQLite's worker thread in a channel: one that holds a whole
                // log page lets the worker run ahead instead of waking the reader per row.
                .row_buffer_size(16_384)
                .pragma("mmap_size", options.sqlite_mmap_bytes.to_string());
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, 8))
                .connect_with(connect)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            if options.sqlite_direct_reads {
                // The file's path as SQLite opened it; empty for a database in memory, which
                // another connection could not open.
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&pool)
                        .await?;
                if !file.is_empty() {
                    bulk = Some(std::sync::Arc::new(BulkReader::new(
                        file,
                        options.sqlite_mmap_bytes,
                    )));
                }
            }
            Backend::Sqlite(pool)
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        crate::audit::init_chain(&backend).await?;
        let commits = CommitSignal::of_database(&database_key(url, &backend));
        let (appender, task) =
            Appender::start(backend.clone(), options.max_batch_events, commits.clone());
        Ok(Self {
            backend,
            appender,
            appender_task: std::sync::Arc::new(std::sync::Mutex::new(Some(task))),
            max_message_bytes: options.max_message_bytes,
            commits,
            bulk,
        })
    }

    /// How this store's append batches were written since it connected (on Postgres, the share
    /// written in one statement shows whether another process appends to the same log).
    pub fn append_batches(&self) -> crate::AppendBatches {
        self.appender.batches()
    }

    /// Returns the largest outbox message an append may carry.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Returns a subscription to the store's commits, so a reader of the log (the relay, a
    /// store-log projection) waits for the next commit instead of polling: commits of this
    /// process wake it at once, and on Postgres so do those of other processes (the store
    /// `LISTEN`s on [`crate::commits::CHANNEL`], which every append batch notifies).
    pub fn commits(&self) -> Commits {
        match &self.backend {
            Backend::Postgres(pool) => self.commits.subscribe(Some(pool)),
            Backend::Sqlite(_) => self.commits.subscribe(None),
        }
    }

    /// Returns the database behind the store, for read models that live in the same database.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Appends events (all of one aggregate, contiguous sequences) and an optional snapshot, with
    /// their outbox rows, atomically. Returns [`StoreError::Conflict`] when another writer appended
    /// one of these sequences first.
    pub(crate) async fn append(
        &self,
        events: Vec<NewEvent>,
        snapshot: Option<NewSnapshot>,
    ) -> Result<(), StoreError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let aggregate_type = first.aggregate_type.clone();
        let count = events.len() as u64;
        let span = tracing::info_span!(
            "eventstore.append",
            otel.name = "eventstore.append",
            aggregate_type = %aggregate_type,
            aggregate_id = %first.aggregate_id,
            events = count,
        );
        self.appender
            .append(events, snapshot)
            .instrument(span)
            .await?;
        emit(EventsAppended {
            aggregate_type: &aggregate_type,
            count,
        });
        Ok(())
    }

    /// Returns the events of one aggregate with a sequence above `after`, in order.
    pub async fn load_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: u64,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let after = to_i64(after)?;
        match &self.backend {
            Backend::Postgres(pool) => {
                postgres::load_events(pool, aggregate_type, aggregate_id, after).await
            }
            Backend::Sqlite(pool) => {
                sqlite::load_events(pool, aggregate_type, aggregate_id, after).await
            }
        }
    }

    /// Returns the snapshot of one aggregate, if any. A snapshot that does not match the hash
    /// of the event it covers, or its own hash, is refused (`None`, so the aggregate is loaded
    /// from its events) with a warning naming the aggregate: it is never trusted silently.
    pub async fn load_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, StoreError> {
        let row = match &self.backend {
            Backend::Postgres(pool) => {
                postgres::load_snapshot(pool, aggregate_type, aggregate_id).await?
            }
            Backend::Sqlite(pool) => {
                sqlite::load_snapshot(pool, aggregate_type, aggregate_id).await?
            }
        };
        let Some(row) = row else { return Ok(None) };
        if let Err(fault) = row.check() {
            tracing::warn!(
                aggregate_type,
                aggregate_id,
                sequence = row.last_sequence,
                %fault,
                "snapshot refused, loading the aggregate from its events (run mom audit verify)"
            );
            return Ok(None);
        }
        Ok(Some(SerializedSnapshot {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: row.payload,
            current_sequence: usize::try_from(row.last_sequence).map_err(|_| {
                StoreError::Corrupt(format!("snapshot sequence {}", row.last_sequence))
            })?,
            current_snapshot: usize::try_from(row.snapshot_version).map_err(|_| {
                StoreError::Corrupt(format!("snapshot version {}", row.snapshot_version))
            })?,
        }))
    }

    /// Returns the position of the last committed event (0 when empty).
    pub async fn head(&self) -> Result<u64, StoreError> {
        let head: i64 = match &self.backend {
            Backend::Postgres(pool) => {
                sqlx::query_scalar("SELECT position FROM mom_log_head WHERE id = 1")
                    .fetch_one(pool)
                    .await?
            }
            Backend::Sqlite(pool) => {
                sqlx::query_scalar("SELECT position FROM mom_log_head WHERE id = 1")
                    .fetch_one(pool)
                    .await?
            }
        };
        to_u64(head)
    }

    /// Returns up to `limit` log entries with a position above `after`, in position order.
    pub async fn read_log(&self, after: u64, limit: u32) -> Result<Vec<LogEntry>, StoreError> {
        let after = to_i64(after)?;
        match &self.backend {
            Backend::Postgres(pool) => postgres::read_log(pool, after, i64::from(limit)).await,
            Backend::Sqlite(pool) => sqlite::read_log(pool, after, i64::from(limit)).await,
        }
    }

    /// Returns up to `limit` log entries with a position above `after`, in position order, as
    /// projections read them (the bus message, not the domain payload): cheaper than
    /// [`read_log`](Self::read_log).
    pub async fn read_messages(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<LogMessage>, StoreError> {
        self.read_messages_of(after, limit, MessageFilter::default())
            .await
    }

    /// As [`read_messages`](Self::read_messages), but only the entries that `filter` lets
    /// through (up to `limit` of them): a rebuild of a read model that reads one domain, or
    /// one aggregate type, has the database pass over the other entries without handing them
    /// over.
    pub async fn read_messages_of(
        &self,
        after: u64,
        limit: u32,
        filter: MessageFilter<'_>,
    ) -> Result<Vec<LogMessage>, StoreError> {
        let after = to_i64(after)?;
        let limit = i64::from(limit);
        match (&self.backend, &self.bulk) {
            (Backend::Postgres(pool), _) => {
                postgres::read_messages(pool, after, limit, filter).await
            }
            (Backend::Sqlite(_), Some(bulk)) => bulk.read_messages(after, limit, filter).await,
            (Backend::Sqlite(pool), None) => {
                sqlite::read_messages(pool, after, limit, filter).await
            }
        }
    }

    /// Claims up to `limit` pending outbox rows in position order, leaving out the rows of a key
    /// whose earlier row is parked. On Postgres, a claim holds the advisory locks of the lanes it
    /// reads (lanes another relay holds are skipped), so several relays can run and each key
    /// stays in order; the locks are session locks on a connection the claim keeps until
    /// [`OutboxClaim::complete`], and no transaction is open in between.
    pub async fn claim_outbox(&self, limit: u32) -> Result<OutboxClaim, StoreError> {
        let mut lease = self.lease_outbox().await?;
        let records = lease.claim(limit).await?;
        Ok(OutboxClaim { records, lease })
    }

    /// Takes a lease on the outbox for several rounds of claims ([`OutboxLease`]): a relay
    /// claims the next rows while the ones before are still on their way to the broker.
    pub async fn lease_outbox(&self) -> Result<OutboxLease, StoreError> {
        Ok(OutboxLease(match &self.backend {
            Backend::Postgres(pool) => Lease::Postgres(postgres::lease_outbox(pool).await?),
            Backend::Sqlite(pool) => Lease::Sqlite(sqlite::lease_outbox(pool)),
        }))
    }

    /// Returns the number of outbox rows waiting to be published (parked rows not included).
    pub async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        // Two counts, each over its partial index (pending, held): one condition over both
        // would scan the whole table, published rows included.
        self.count(
            "SELECT (SELECT COUNT(*) FROM mom_outbox WHERE published_at IS NULL \
             AND parked_at IS NULL AND held_at IS NULL) \
             + (SELECT COUNT(*) FROM mom_outbox WHERE held_at IS NOT NULL)",
        )
        .await
    }

    /// Returns the number of parked outbox rows not skipped (each holds its key back).
    pub async fn outbox_parked(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM mom_outbox WHERE parked_at IS NOT NULL AND skipped_at IS NULL",
        )
        .await
    }

    async fn count(&self, sql: &str) -> Result<u64, StoreError> {
        let count: i64 = match &self.backend {
            Backend::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Backend::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        };
        to_u64(count)
    }

    /// Deletes up to `limit` outbox rows published before `before`, oldest first; returns how
    /// many. Pending, parked and skipped rows are never pruned, and the events (with their
    /// messages) stay in the log.
    pub async fn prune_outbox(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let limit = i64::from(limit);
        match &self.backend {
            Backend::Postgres(pool) => postgres::prune_outbox(pool, before, limit).await,
            Backend::Sqlite(pool) => sqlite::prune_outbox(pool, before, limit).await,
        }
    }

    /// Returns up to `limit` parked rows with a position above `after`, in position order;
    /// skipped ones too when `include_skipped`.
    pub async fn list_parked(
        &self,
        include_skipped: bool,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ParkedRow>, StoreError> {
        let after = to_i64(after)?;
        let limit = i64::from(limit);
        match &self.backend {
            Backend::Postgres(pool) => {
                postgres::list_parked(pool, include_skipped, after, limit).await
            }
            Backend::Sqlite(pool) => sqlite::list_parked(pool, include_skipped, after, limit).await,
        }
    }

    /// Un-parks the parked (not skipped) row at `position`, or every one when `None`: its
    /// attempts start again from 0, and the rows of its key set aside behind it return to the
    /// queue. Returns how many rows were un-parked.
    pub async fn retry_parked(&self, position: Option<u64>) -> Result<u64, StoreError> {
        let position = position.map(to_i64).transpose()?;
        let count = match &self.backend {
            Backend::Postgres(pool) => postgres::retry_parked(pool, position).await,
            Backend::Sqlite(pool) => sqlite::retry_parked(pool, position).await,
        }?;
        self.release_held().await?;
        Ok(count)
    }

    /// Returns the rows set aside behind a parked row that no parked row holds back any more
    /// (it was retried or skipped) to the queue; returns how many. The relay runs it
    /// periodically too, so a row set aside while an operator acted is never left behind.
    pub async fn release_held(&self) -> Result<u64, StoreError> {
        Ok(match &self.backend {
            Backend::Postgres(pool) => sqlx::query(postgres::RELEASE_HELD)
                .execute(pool)
                .await?
                .rows_affected(),
            Backend::Sqlite(pool) => sqlx::query(postgres::RELEASE_HELD)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Marks the parked row at `position` as never to be published, recording `by` and the
    /// time; the later rows of its key go on. The event stays in the log. Returns `false` when
    /// no parked, unskipped row has that position.
    pub async fn skip_parked(&self, position: u64, by: &str) -> Result<bool, StoreError> {
        let position = to_i64(position)?;
        let skipped = match &self.backend {
            Backend::Postgres(pool) => postgres::skip_parked(pool, position, by).await,
            Backend::Sqlite(pool) => sqlite::skip_parked(pool, position, by).await,
        }?;
        self.release_held().await?;
        Ok(skipped)
    }

    /// Closes the store. When this is the last handle, waits until every queued append is
    /// written and closes the pool; otherwise the other handles keep working.
    pub async fn close(self) {
        let Self {
            backend,
            appender,
            appender_task,
            ..
        } = self;
        drop(appender);
        let Ok(task) = std::sync::Arc::try_unwrap(appender_task) else {
            return;
        };
        if let Some(task) = task.into_inner().ok().flatten() {
            let _ = task.await;
        }
        match backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Unpublished outbox rows claimed by one relay.
#[derive(Debug)]
pub struct OutboxClaim {
    records: Vec<OutboxRecord>,
    lease: OutboxLease,
}

impl OutboxClaim {
    /// Returns the claimed rows in position order.
    pub fn records(&self) -> &[OutboxRecord] {
        &self.records
    }

    /// Marks `published` rows as published and records the error of `failed` ones (they stay
    /// pending and are claimed again, unless the failure parks them), in one short
    /// transaction, then releases the claim. Rows in neither list stay pending untouched.
    pub async fn complete(
        mut self,
        published: &[u64],
        failed: &[OutboxFailure],
    ) -> Result<(), StoreError> {
        self.lease.mark(published, failed).await?;
        self.lease.release().await
    }
}

/// A relay's hold on the outbox across rounds: each [`OutboxLease::claim`] returns the pending
/// rows after the ones it claimed before, so the next round can be claimed (and sent) while the
/// previous one still waits for the broker; [`OutboxLease::mark`] records a round's outcome,
/// rounds in the order they were claimed. On Postgres the lease is a connection holding the
/// advisory locks of the lanes it claimed from, kept until [`OutboxLease::release`]: no other
/// relay publishes those keys meanwhile, and no transaction is open in between. Dropped without
/// a release (an error, a cancelled relay), its connection is closed, which frees the lanes.
///
/// A row claimed and then neither marked published nor failed stays pending, but this lease
/// does not claim it again: after a failure the relay releases the lease and claims afresh.
#[derive(Debug)]
pub struct OutboxLease(Lease);

#[derive(Debug)]
enum Lease {
    Postgres(postgres::PgLease),
    Sqlite(sqlite::SqliteLease),
}

impl OutboxLease {
    /// Claims up to `limit` pending rows in position order after the ones this lease claimed,
    /// leaving out the rows of a key whose earlier row is parked.
    pub async fn claim(&mut self, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
        let limit = i64::from(limit);
        match &mut self.0 {
            Lease::Postgres(lease) => lease.claim(limit).await,
            Lease::Sqlite(lease) => lease.claim(limit).await,
        }
    }

    /// Marks `published` rows as published and records the error of `failed` ones (they stay
    /// pending, unless the failure parks them), in one short transaction; the lease keeps its
    /// lanes.
    pub async fn mark(
        &mut self,
        published: &[u64],
        failed: &[OutboxFailure],
    ) -> Result<(), StoreError> {
        let published: Vec<i64> = published
            .iter()
            .map(|p| to_i64(*p))
            .collect::<Result<_, _>>()?;
        match &mut self.0 {
            Lease::Postgres(lease) => lease.mark(&published, failed).await,
            Lease::Sqlite(lease) => lease.mark(&published, failed).await,
        }
    }

    /// Releases the lanes (other relays may take them).
    pub async fn release(self) -> Result<(), StoreError> {
        match self.0 {
            Lease::Postgres(lease) => lease.release().await,
            Lease::Sqlite(_) => Ok(()),
        }
    }
}

/// Names the database of `url` for the commit signals of this process: a SQLite file by its
/// canonical path (`sqlite:a.db` and `sqlite://./a.db` are one database), Postgres by its URL.
fn database_key(url: &str, backend: &Backend) -> String {
    match backend {
        Backend::Sqlite(_) => SqliteConnectOptions::from_str(url)
            .ok()
            .and_then(|options| std::fs::canonicalize(options.get_filename()).ok())
            .map_or_else(
                || url.to_owned(),
                |path| format!("sqlite:{}", path.display()),
            ),
        Backend::Postgres(_) => url.to_owned(),
    }
}

pub(crate) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{value} does not fit in i64")))
}

pub(crate) fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative value {value}")))
}
