//! The event store's log as a source: embedded single-node mode, and rebuilds.

use std::time::Duration;
use tracing::Instrument;

use mom_eventstore::EventStore;
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
    /// Log entries read so far (over every source).
    pub done: u64,
    /// Log entries to read in all (the sources' heads when the rebuild started).
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
    models.migrate(projection).await?;
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut read = 0;
        let mut failed = false;
        for source in sources {
            match apply_page(projection, models, source).await {
                Ok(n) => read += n,
                Err(err) => {
                    tracing::warn!(projection = projection.name(), source = source.name, error = %err, "projection page failed, retrying");
                    failed = true;
                }
            }
        }
        let wait = if failed {
            backoff = (backoff * 2).min(Duration::from_secs(5));
            backoff
        } else if read == 0 {
            backoff = Duration::from_millis(50);
            Duration::from_millis(20)
        } else {
            backoff = Duration::from_millis(50);
            Duration::ZERO
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
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
    let mut heads = Vec::with_capacity(sources.len());
    for source in sources {
        heads.push(source.store.head().await?);
    }
    let total = heads.iter().sum();
    let mut done = 0;
    for (source, head) in sources.iter().zip(heads) {
        while models.log_position(projection.name(), &source.name).await? < head {
            let read = apply_page(projection, models, source).await?;
            if read == 0 {
                break;
            }
            done += read as u64;
            progress(Progress { done, total });
        }
    }
    Ok(done)
}

/// Applies the next page of `source`'s log in one transaction with its checkpoint; returns the
/// number of log entries read (including those of topics the projection ignores).
async fn apply_page<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &LogSource,
) -> Result<usize, ProjectionError> {
    let result = try_page(projection, models, source).await;
    if result.is_err() {
        projection.rolled_back();
    }
    result
}

async fn try_page<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &LogSource,
) -> Result<usize, ProjectionError> {
    let after = models.log_position(projection.name(), &source.name).await?;
    let page = source.store.read_messages(after, PAGE).await?;
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
    sqlx::query(
        "INSERT INTO mom_projection_positions (projection, source, position) VALUES ($1, $2, $3) \
         ON CONFLICT (projection, source) DO UPDATE SET position = excluded.position",
    )
    .bind(projection.name())
    .bind(&source.name)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    projection.committed();
    if applied > 0 {
        let latency = crate::since_epoch_ms(oldest_recorded);
        mom_telemetry::metrics::projection_committed(projection.name(), applied, latency);
    }
    if read < PAGE as usize {
        // A short page reached the head of the log.
        mom_telemetry::metrics::projection_lag(projection.name(), &source.name, 0);
    } else if let Ok(head) = source.store.head().await {
        let behind = head.saturating_sub(u64::try_from(last).unwrap_or(0));
        mom_telemetry::metrics::projection_lag(projection.name(), &source.name, behind);
    }
    Ok(read)
}
