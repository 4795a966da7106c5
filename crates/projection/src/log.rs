//! The event store's log as a source: embedded single-node mode, and rebuilds.

use mom_telemetry::internal_events::{emit, ProjectionCommitted, ProjectionLagMeasured};
use std::time::Duration;
use tracing::Instrument;

use mom_eventstore::{Commits, EventStore, LogMessage, MessageFilter};
use tokio_util::sync::CancellationToken;

use crate::{ApplyError, Message, Projection, ProjectionError, ReadModels};

/// One event store whose log feeds projections; `name` keys its checkpoint (one store per
/// service, for example `production`).
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Checkpoint key of this store.
    pub name: String,
    /// The store.
    pub store: EventStore,
}

/// How far a rebuild got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Log positions covered so far (over every source): entries applied, and those of other
    /// topics passed over.
    pub done: u64,
    /// Log positions to cover in all (the sources' heads when the rebuild started).
    pub total: u64,
}

/// Log entries read per transaction.
const PAGE: u32 = 1000;

/// Feeds `projection` from the logs of `sources` until `shutdown`. A failing page is retried
/// with backoff; nothing is applied twice because the position is stored with the changes.
pub async fn run_from_log<P: Projection>(
    projection: &P,
    models: &ReadModels,
    sources: &[LogSource],
    shutdown: CancellationToken,
) -> Result<(), ProjectionError> {
    crate::status::started(projection.name());
    models.migrate(projection).await?;
    let mut backoff = Duration::from_millis(50);
    let mut commits: Vec<Commits> = sources.iter().map(|s| s.store.commits()).collect();
    loop {
        // Commits from here on wake the idle wait below, also those made during this pass.
        commits.iter_mut().for_each(Commits::mark_seen);
        let (read, error) = pass(projection, models, sources).await;
        if error.is_some() {
            backoff = (backoff * 2).min(Duration::from_secs(5));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            continue;
        }
        backoff = Duration::from_millis(50);
        if read == 0 {
            // Idle: a commit to any source wakes the projection at once; the poll only covers
            // a lost wake-up (another process writing to the same database).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = next_commit(&mut commits, IDLE_POLL) => {}
            }
        } else if shutdown.is_cancelled() {
            break;
        }
    }
    drain(projection, models, sources).await;
    Ok(())
}

/// Longest wait of an idle store-log projection when no commit wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Waits for the next commit to any of the stores, or `fallback` at most.
async fn next_commit(commits: &mut [Commits], fallback: Duration) {
    if commits.is_empty() {
        tokio::time::sleep(fallback).await;
        return;
    }
    let waits = commits
        .iter_mut()
        .map(|c| Box::pin(c.wait(fallback)))
        .collect::<Vec<_>>();
    futures::future::select_all(waits).await;
}

/// How long a stopping projection goes on applying what its logs still hold.
const DRAIN: Duration = Duration::from_secs(10);

/// Applies what the logs still hold at shutdown (for [`DRAIN`] at most), so that a clean stop
/// after the writers stopped leaves the read model caught up with the stores: the next start
/// then answers with every fact the platform acknowledged, not with the figures of a moment
/// before the stop.
async fn drain<P: Projection>(projection: &P, models: &ReadModels, sources: &[LogSource]) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    while tokio::time::Instant::now() < deadline {
        let (read, error) = pass(projection, models, sources).await;
        if read == 0 || error.is_some() {
            return;
        }
    }
    tracing::warn!(
        projection = projection.name(),
        "stopped with log entries still to apply; the next start applies them"
    );
}

/// Applies the next page of every source and records the pass in the projection's status;
/// returns the entries read and the last error.
async fn pass<P: Projection>(
    projection: &P,
    models: &ReadModels,
    sources: &[LogSource],
) -> (usize, Option<String>) {
    let mut read = 0;
    let mut error = None;
    for source in sources {
        match apply_page(projection, models, source).await {
            Ok(n) => read += n,
            Err(err) => {
                tracing::warn!(projection = projection.name(), source = source.name, error = %err, "projection page failed, retrying");
                error = Some(format!("{}: {err}", source.name));
            }
        }
    }
    crate::status::pass(projection.name(), read, error.clone());
    (read, error)
}

/// Empties the projection's tables and checkpoints, then replays every source's log up to its
/// head at the start, calling `progress` after each page. Returns the number of entries read.
pub async fn rebuild<P: Projection>(
    projection: &P,
    models: &ReadModels,
    sources: &[LogSource],
    mut progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    models.migrate(projection).await?;
    let mut tx = models.pool().begin().await?;
    for table in projection.tables() {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM mom_projection_positions WHERE projection = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM mom_projection_offsets WHERE projection = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut readers = Vec::with_capacity(sources.len());
    for source in sources {
        let head = source.store.head().await?;
        let after = models.log_position(projection.name(), &source.name).await?;
        readers.push(Reader::start(
            source,
            after,
            head,
            projection.topics(),
            projection.aggregate_types(),
        ));
    }
    let total = readers.iter().map(|r| r.head.saturating_sub(r.after)).sum();
    let covered = |readers: &[Reader]| readers.iter().map(Reader::covered).sum();
    let mut reported = None;
    // Entries applied when the planner statistics are refreshed next (doubling: about twenty
    // times over ten million entries).
    let mut analyze_at = ANALYZE_FIRST;
    let mut applied = 0_u64;
    loop {
        for reader in &mut readers {
            reader.fill_one().await?;
        }
        // The sources interleave in the order their events were recorded, as they reached a
        // live projection: take the source whose next entry is the oldest, up to an hour past
        // the next entry of every other source (so a quality result is not applied long before
        // or after the production facts it follows).
        let next = |r: &Reader| r.ready.front().map(|e| e.recorded_time);
        let Some(pick) = (0..readers.len())
            .filter(|i| next(&readers[*i]).is_some())
            .min_by_key(|i| next(&readers[*i]))
        else {
            break;
        };
        let bound = (0..readers.len())
            .filter(|i| *i != pick)
            .filter_map(|i| next(&readers[i]))
            .min()
            .map(|t| t + chrono::Duration::hours(1));
        let reader = &mut readers[pick];
        reader.top_up()?;
        let mut take = reader
            .ready
            .iter()
            .take_while(|e| bound.is_none_or(|b| e.recorded_time <= b))
            .count()
            .max(1);
        take = take.min(REBUILD_PAGE as usize);
        let page: Vec<LogMessage> = reader.ready.drain(..take).collect();
        let last = page.last().map(|e| e.position);
        let result = try_page(projection, models, reader.source, page).await;
        if result.is_err() {
            projection.rolled_back();
        }
        applied += result? as u64;
        reader.applied_to = last.unwrap_or(reader.applied_to);
        if applied >= analyze_at {
            models.analyze(projection).await?;
            analyze_at = applied.saturating_mul(2);
        }
        let done = covered(&readers);
        progress(Progress { done, total });
        reported = Some(done);
    }
    // Every source's checkpoint moves to the head the rebuild read to, past the other topics'
    // entries after the last one applied, so the live run does not read them again.
    let mut tx = models.pool().begin().await?;
    for reader in &mut readers {
        if reader.applied_to < reader.head {
            write_position(&mut tx, projection.name(), &reader.source.name, reader.head).await?;
        }
        reader.applied_to = reader.head;
    }
    tx.commit().await?;
    // The live run and the queries plan with the rebuilt tables' statistics.
    models.analyze(projection).await?;
    let done = covered(&readers);
    if reported != Some(done) {
        progress(Progress { done, total });
    }
    Ok(done)
}

/// Entries a rebuild applies before it first refreshes the planner statistics of the
/// projection's tables ([`ReadModels::analyze`]), then again each time the count doubles.
const ANALYZE_FIRST: u64 = 5_000;

/// Log entries per transaction in a rebuild at most (when reading is ahead): thirty times a live
/// page, so a projection that writes its changed rows once per transaction (the OEE periods)
/// writes each far fewer times. Against 10 000 (with 4 pages read ahead), the 1 M OEE rebuild
/// took 5.5-6.1 s instead of 7.6-8.3 s on SQLite and 10.1-10.4 s instead of 12.7 s on Postgres,
/// for 110 MB more memory (what a transaction holds, whatever the length of the log).
const REBUILD_PAGE: u32 = 30_000;

/// Reads one source's log for a rebuild in a task of its own, a page at a time and up to
/// `READ_AHEAD` pages ahead of the one being applied, so reading overlaps applying. Only the
/// projection's topics (and aggregate types, when it names them) are read: the database passes
/// over the other entries.
struct Reader<'a> {
    source: &'a LogSource,
    /// The position the rebuild started after and the head it stops at.
    after: u64,
    head: u64,
    /// The position of the last entry applied.
    applied_to: u64,
    /// Read entries not applied yet.
    ready: std::collections::VecDeque<LogMessage>,
    pages: tokio::sync::mpsc::Receiver<Result<Vec<LogMessage>, mom_eventstore::StoreError>>,
    /// Set when the reading task reached the head (or stopped).
    done: bool,
}

/// Log positions a rebuild's read covers while reads find many of the projection's entries: a
/// page's worth, so a read returns at most a page whatever its filter passes over, and needs
/// no sort (sparse reads widen it up to `MAX_WINDOW`). With wider windows and a selective
/// filter, Postgres on stale statistics sorted the whole window for each page (a window of
/// 10 000 positions cost 284 ms per page of 1 000 entries).
const WINDOW: u64 = PAGE as u64;

/// The widest window of positions a rebuild's read covers, after sparse reads (64 pages).
const MAX_WINDOW: u64 = 64 * WINDOW;

/// Pages a rebuild reads ahead per source: enough for a whole rebuild transaction
/// (`REBUILD_PAGE`) to be ready when the one before commits. Reads stay at a live page's size:
/// through sqlx, SQLite handed rows over one by one, and larger reads were slower (10 000-entry
/// reads cost 40 % more per entry; SQLite logs are now read on threads of their own,
/// docs/eventstore.md, not measured again).
const READ_AHEAD: usize = 32;

impl<'a> Reader<'a> {
    fn start(
        source: &'a LogSource,
        after: u64,
        head: u64,
        topics: &[String],
        aggregate_types: Option<&[String]>,
    ) -> Self {
        let (sender, pages) = tokio::sync::mpsc::channel(READ_AHEAD);
        let store = source.store.clone();
        let topics = topics.to_vec();
        let aggregate_types = aggregate_types.map(<[String]>::to_vec);
        tokio::spawn(async move {
            let mut read_to = after;
            let mut batch = Vec::new();
            let mut width = WINDOW;
            while read_to < head {
                // Reads cover a bounded window of positions each; a page is handed over once it
                // holds a page's worth of the projection's entries, or at the head.
                let window = head.min(read_to.saturating_add(width));
                let filter = MessageFilter {
                    topics: Some(&topics),
                    aggregate_types: aggregate_types.as_deref(),
                    up_to: Some(window),
                    // No header: the trace context is the only one the runner uses, and a
                    // rebuild's apply spans do not continue the traces of the commands that
                    // stored the events, long ended.
                    headers: Some(&[]),
                };
                let page = match store.read_messages_of(read_to, PAGE, filter).await {
                    Ok(page) => page,
                    Err(err) => {
                        let _ = sender.send(Err(err)).await;
                        return;
                    }
                };
                read_to = match page.last() {
                    Some(last) if page.len() == PAGE as usize => last.position,
                    _ => window,
                };
                // A sparse window widens the next one: a log with few of the projection's
                // entries (or none, as the production log for the inventory read model) is
                // passed over in a few reads instead of one per 1 000 positions.
                width = if page.len() < PAGE as usize / 2 {
                    width.saturating_mul(2).min(MAX_WINDOW)
                } else {
                    WINDOW
                };
                batch.extend(page);
                let ready = batch.len() >= PAGE as usize || read_to >= head;
                if ready
                    && !batch.is_empty()
                    && sender.send(Ok(std::mem::take(&mut batch))).await.is_err()
                {
                    return; // The rebuild stopped.
                }
            }
        });
        Self {
            source,
            after,
            head,
            applied_to: after,
            ready: std::collections::VecDeque::new(),
            pages,
            done: false,
        }
    }

    /// The log positions covered: up to the last entry applied, or to the head once every
    /// entry was applied.
    fn covered(&self) -> u64 {
        let to = if self.done && self.ready.is_empty() {
            self.head
        } else {
            self.applied_to
        };
        to.saturating_sub(self.after)
    }

    /// Makes at least one entry ready unless the head is reached.
    async fn fill_one(&mut self) -> Result<(), ProjectionError> {
        if self.ready.is_empty() && !self.done {
            match self.pages.recv().await {
                Some(page) => self.ready.extend(page?),
                None => self.done = true,
            }
        }
        Ok(())
    }

    /// Takes whatever was read meanwhile, up to a rebuild transaction's worth.
    fn top_up(&mut self) -> Result<(), ProjectionError> {
        while self.ready.len() < REBUILD_PAGE as usize {
            match self.pages.try_recv() {
                Ok(page) => self.ready.extend(page?),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    self.done = true;
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Applies the next page of `source`'s log in one transaction with its checkpoint; returns the
/// number of log entries read (including those of topics the projection ignores).
async fn apply_page<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &LogSource,
) -> Result<usize, ProjectionError> {
    let after = models.log_position(projection.name(), &source.name).await?;
    let page = source.store.read_messages(after, PAGE).await?;
    let result = try_page(projection, models, source, page).await;
    if result.is_err() {
        projection.rolled_back();
    }
    result
}

/// Applies `page` (the next entries of `source`'s log) in one transaction with its checkpoint.
async fn try_page<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &LogSource,
    page: Vec<LogMessage>,
) -> Result<usize, ProjectionError> {
    let read = page.len();
    let Some(last) = page.last() else {
        return Ok(0);
    };
    let last = i64::try_from(last.position)
        .map_err(|_| ProjectionError::Checkpoint(format!("log position {}", last.position)))?;
    let topics = projection.topics();
    let mut tx = models.pool().begin().await?;
    let (mut applied, mut oldest_recorded) = (0_u64, i64::MAX);
    for entry in page {
        if !topics.contains(&entry.message.topic) {
            continue;
        }
        let message = Message {
            topic: entry.message.topic,
            partition: 0,
            offset: i64::try_from(entry.position).unwrap_or(i64::MAX),
            key: Some(entry.message.key),
            payload: entry.message.payload,
            headers: entry.message.headers,
            event_id: entry.event_id,
        };
        oldest_recorded = oldest_recorded.min(entry.recorded_time.timestamp_millis());
        applied += 1;
        let span = crate::apply_span(projection.name(), &message);
        match projection.apply(&mut tx, &message).instrument(span).await {
            Ok(()) => {}
            Err(ApplyError::Poison(reason)) => {
                tracing::warn!(
                    projection = projection.name(),
                    position = entry.position,
                    reason,
                    "poison message skipped"
                );
            }
            Err(ApplyError::Database(err)) => return Err(err.into()),
            Err(ApplyError::Transient(reason)) => return Err(ProjectionError::Transient(reason)),
        }
    }
    projection.flush(&mut tx).await?;
    write_position(&mut tx, projection.name(), &source.name, last).await?;
    tx.commit().await?;
    projection.committed();
    if applied > 0 {
        let latency = crate::since_epoch_ms(oldest_recorded);
        emit(ProjectionCommitted {
            projection: projection.name(),
            applied,
            latency,
        });
    }
    if read < PAGE as usize {
        // A short page reached the head of the log.
        emit(ProjectionLagMeasured {
            projection: projection.name(),
            source: &source.name,
            behind: 0,
        });
    } else if let Ok(head) = source.store.head().await {
        let behind = head.saturating_sub(u64::try_from(last).unwrap_or(0));
        emit(ProjectionLagMeasured {
            projection: projection.name(),
            source: &source.name,
            behind,
        });
    }
    Ok(read)
}

/// Stores the log position of `projection` in `source` (in the caller's transaction).
async fn write_position(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    projection: &str,
    source: &str,
    position: impl TryInto<i64>,
) -> Result<(), ProjectionError> {
    let position = position
        .try_into()
        .map_err(|_| ProjectionError::Checkpoint(format!("log position of {source}")))?;
    sqlx::query(
        "INSERT INTO mom_projection_positions (projection, source, position) VALUES ($1, $2, $3) \
         ON CONFLICT (projection, source) DO UPDATE SET position = excluded.position",
    )
    .bind(projection)
    .bind(source)
    .bind(position)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
