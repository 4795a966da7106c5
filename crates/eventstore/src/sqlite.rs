//! SQLite statements of the store (embedded single-node mode: one process, one writer).

use chrono::{DateTime, Utc};
use cqrs_es::persist::{SerializedEvent, SerializedSnapshot};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::appender::{AppendRequest, BatchOutcome};
use crate::outbox::{
    headers_from_str, headers_from_str_only, headers_to_json, lane_of, OutboxFailure,
    OutboxMessage, OutboxRecord, ParkedRow, Skipped,
};
use crate::postgres::{latest_snapshots, BLOCKED, PENDING};
use crate::record::{LogEntry, LogMessage, MessageFilter};
use crate::store::{to_i64, to_u64, Lease, OutboxClaim};
use crate::StoreError;

/// Rows per multi-row INSERT; 15 columns each stays well under SQLite's 32766 variables.
const ROWS_PER_STATEMENT: usize = 2000;

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt(format!("{what}: {err}")))
}

pub(crate) async fn write_batch(
    pool: &SqlitePool,
    batch: &[AppendRequest],
) -> Result<BatchOutcome, StoreError> {
    let total: usize = batch.iter().map(|r| r.events.len()).sum();
    let total_i64 =
        i64::try_from(total).map_err(|_| StoreError::Corrupt("batch too large".into()))?;
    let mut tx = pool.begin().await?;
    let head: i64 = sqlx::query_scalar(
        "UPDATE mom_log_head SET position = position + ?1 WHERE id = 1 RETURNING position",
    )
    .bind(total_i64)
    .fetch_one(&mut *tx)
    .await?;
    let first = head - total_i64 + 1;

    let rows: Vec<(i64, usize, &crate::record::NewEvent)> = batch
        .iter()
        .enumerate()
        .flat_map(|(index, request)| request.events.iter().map(move |e| (index, e)))
        .enumerate()
        .map(|(offset, (index, e))| (first + offset as i64, index, e))
        .collect();

    let mut inserted = std::collections::HashSet::with_capacity(total);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO mom_events (position, event_id, aggregate_type, aggregate_id, sequence, \
             event_type, event_version, payload, metadata, event_time, recorded_time, topic, msg_key, \
             message, headers) ",
        );
        query.push_values(chunk, |mut row, (position, _, e)| {
            row.push_bind(*position)
                .push_bind(e.event_id.to_string())
                .push_bind(e.aggregate_type.as_str())
                .push_bind(e.aggregate_id.as_str())
                .push_bind(e.sequence)
                .push_bind(e.event_type.as_str())
                .push_bind(e.event_version.as_str())
                .push_bind(json_text(&e.payload))
                .push_bind(json_text(&e.metadata))
                .push_bind(e.event_time)
                .push_bind(e.recorded_time)
                .push_bind(e.outbox.topic.as_str())
                .push_bind(e.outbox.key.as_str())
                .push_bind(e.outbox.payload.as_slice())
                .push_bind(json_text(&headers_to_json(&e.outbox.headers)));
        });
        query.push(
            " ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING RETURNING position",
        );
        let positions: Vec<i64> = query.build_query_scalar().fetch_all(&mut *tx).await?;
        inserted.extend(positions);
    }
    if inserted.len() != total {
        let mut conflicting: Vec<usize> = rows
            .iter()
            .filter(|(p, _, _)| !inserted.contains(p))
            .map(|(_, index, _)| *index)
            .collect();
        conflicting.dedup();
        tx.rollback().await?;
        return Ok(BatchOutcome::Conflicts(conflicting));
    }

    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT INTO mom_outbox (position, lane, topic, msg_key) ");
        query.push_values(chunk, |mut row, (position, _, e)| {
            row.push_bind(*position)
                .push_bind(i64::from(lane_of(&e.outbox.key)))
                .push_bind(e.outbox.topic.as_str())
                .push_bind(e.outbox.key.as_str());
        });
        query.build().execute(&mut *tx).await?;
    }

    for snapshot in latest_snapshots(batch) {
        sqlx::query(
            "INSERT INTO mom_snapshots (aggregate_type, aggregate_id, last_sequence, snapshot_version, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
             last_sequence = excluded.last_sequence, snapshot_version = excluded.snapshot_version, \
             payload = excluded.payload",
        )
        .bind(&snapshot.aggregate_type)
        .bind(&snapshot.aggregate_id)
        .bind(snapshot.last_sequence)
        .bind(snapshot.snapshot_version)
        .bind(json_text(&snapshot.payload))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(BatchOutcome::Committed)
}

pub(crate) async fn load_events(
    pool: &SqlitePool,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
) -> Result<Vec<SerializedEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT sequence, event_type, event_version, payload, metadata FROM mom_events \
         WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence > ?3 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(after)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let sequence: i64 = row.try_get("sequence")?;
            let payload: String = row.try_get("payload")?;
            let metadata: String = row.try_get("metadata")?;
            Ok(SerializedEvent {
                aggregate_id: aggregate_id.to_owned(),
                sequence: usize::try_from(sequence)
                    .map_err(|_| StoreError::Corrupt(format!("sequence {sequence}")))?,
                aggregate_type: aggregate_type.to_owned(),
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: parse_json(&payload, "event payload")?,
                metadata: parse_json(&metadata, "event metadata")?,
            })
        })
        .collect()
}

pub(crate) async fn load_snapshot(
    pool: &SqlitePool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<SerializedSnapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT last_sequence, snapshot_version, payload FROM mom_snapshots \
         WHERE aggregate_type = ?1 AND aggregate_id = ?2",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let last_sequence: i64 = row.try_get("last_sequence")?;
    let snapshot_version: i64 = row.try_get("snapshot_version")?;
    let payload: String = row.try_get("payload")?;
    Ok(Some(SerializedSnapshot {
        aggregate_id: aggregate_id.to_owned(),
        aggregate: parse_json(&payload, "snapshot")?,
        current_sequence: usize::try_from(last_sequence)
            .map_err(|_| StoreError::Corrupt(format!("snapshot sequence {last_sequence}")))?,
        current_snapshot: usize::try_from(snapshot_version)
            .map_err(|_| StoreError::Corrupt(format!("snapshot version {snapshot_version}")))?,
    }))
}

fn log_entry(row: &SqliteRow) -> Result<LogEntry, StoreError> {
    let position: i64 = row.try_get("position")?;
    let sequence: i64 = row.try_get("sequence")?;
    let event_id: String = row.try_get("event_id")?;
    let payload: String = row.try_get("event_payload")?;
    let metadata: String = row.try_get("metadata")?;
    let headers: String = row.try_get("headers")?;
    let event_time: DateTime<Utc> = row.try_get("event_time")?;
    let recorded_time: DateTime<Utc> = row.try_get("recorded_time")?;
    Ok(LogEntry {
        position: to_u64(position)?,
        event_id: Uuid::parse_str(&event_id)
            .map_err(|err| StoreError::Corrupt(format!("event id {event_id:?}: {err}")))?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: to_u64(sequence)?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: parse_json(&payload, "event payload")?,
        metadata: parse_json(&metadata, "event metadata")?,
        event_time,
        recorded_time,
        message: OutboxMessage {
            topic: row.try_get("topic")?,
            key: row.try_get("msg_key")?,
            payload: row.try_get("message")?,
            headers: headers_from_str(&headers)?,
        },
    })
}

pub(crate) async fn read_log(
    pool: &SqlitePool,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
         e.event_version, e.payload AS event_payload, e.metadata, e.event_time, e.recorded_time, \
         e.topic, e.msg_key, e.message, e.headers \
         FROM mom_events e WHERE e.position > ?1 ORDER BY e.position LIMIT ?2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(log_entry).collect()
}

pub(crate) async fn read_messages(
    pool: &SqlitePool,
    after: i64,
    limit: i64,
    filter: MessageFilter<'_>,
) -> Result<Vec<LogMessage>, StoreError> {
    // The scan runs over the event log in position order (its rowid) and passes over the other
    // topics' rows. `NOT INDEXED` keeps that order: with an aggregate type, SQLite would
    // otherwise start from the (aggregate_type, aggregate_id, sequence) index and sort every
    // event of the type for each page.
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT position, event_id, recorded_time, topic, msg_key, message, headers \
         FROM mom_events NOT INDEXED WHERE position > ",
    );
    query.push_bind(after);
    if let Some(up_to) = filter.up_to {
        query.push(" AND position <= ");
        query.push_bind(to_i64(up_to)?);
    }
    for (column, values) in [
        ("topic", filter.topics),
        ("aggregate_type", filter.aggregate_types),
    ] {
        let Some(values) = values else { continue };
        query.push(format!(" AND {column} IN ("));
        let mut list = query.separated(", ");
        for value in values {
            list.push_bind(value);
        }
        if values.is_empty() {
            list.push("NULL");
        }
        query.push(")");
    }
    query.push(" ORDER BY position LIMIT ");
    query.push_bind(limit);
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let event_id: &str = row.try_get("event_id")?;
            let headers: &str = row.try_get("headers")?;
            Ok(LogMessage {
                position: to_u64(position)?,
                event_id: Uuid::parse_str(event_id)
                    .map_err(|err| StoreError::Corrupt(format!("event id {event_id:?}: {err}")))?,
                recorded_time: row.try_get("recorded_time")?,
                message: OutboxMessage {
                    topic: row.try_get("topic")?,
                    key: row.try_get("msg_key")?,
                    payload: row.try_get("message")?,
                    headers: headers_from_str_only(headers, filter.headers)?,
                },
            })
        })
        .collect()
}

pub(crate) async fn claim_outbox(pool: &SqlitePool, limit: i64) -> Result<OutboxClaim, StoreError> {
    // One process owns a SQLite store, so one relay reads without holding the write lock while
    // it publishes (holding it would stall every command).
    let rows = sqlx::query(&format!(
        "SELECT o.position, o.topic, o.msg_key, o.attempts, e.message, e.headers, \
         {BLOCKED} AS blocked FROM mom_outbox o JOIN mom_events e ON e.position = o.position \
         WHERE {PENDING} ORDER BY o.position LIMIT ?1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut records = Vec::with_capacity(rows.len());
    let mut blocked = Vec::new();
    for row in rows {
        let position: i64 = row.try_get("position")?;
        if row.try_get::<bool, _>("blocked")? {
            blocked.push(position);
            continue;
        }
        let attempts: i64 = row.try_get("attempts")?;
        let headers: String = row.try_get("headers")?;
        records.push(OutboxRecord {
            position: to_u64(position)?,
            topic: row.try_get("topic")?,
            key: row.try_get("msg_key")?,
            payload: row.try_get("message")?,
            headers: headers_from_str(&headers)?,
            attempts: u32::try_from(attempts).unwrap_or(0),
        });
    }
    if !blocked.is_empty() {
        // Set aside once; the condition is checked again, in case the parked row was retried
        // or skipped meanwhile.
        let mut query = QueryBuilder::<Sqlite>::new("UPDATE mom_outbox AS o SET held_at = ");
        query.push_bind(mom_clock::now());
        query.push(format!(" WHERE {BLOCKED} AND o.position IN ("));
        let mut list = query.separated(", ");
        for position in &blocked {
            list.push_bind(*position);
        }
        query.push(")");
        query.build().execute(pool).await?;
    }
    Ok(OutboxClaim {
        records,
        lease: Lease::Sqlite(pool.clone()),
    })
}

pub(crate) async fn complete_claim(
    pool: &SqlitePool,
    published: &[i64],
    failed: &[OutboxFailure],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let now = mom_clock::now();
    for position in published {
        sqlx::query("UPDATE mom_outbox SET published_at = ?2 WHERE position = ?1")
            .bind(position)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    for failure in failed {
        sqlx::query(
            "UPDATE mom_outbox SET attempts = attempts + 1, last_error = ?2, \
             parked_at = CASE WHEN ?3 THEN ?4 END WHERE position = ?1",
        )
        .bind(to_i64(failure.position)?)
        .bind(&failure.error)
        .bind(failure.park)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn prune_outbox(
    pool: &SqlitePool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM mom_outbox WHERE position IN (SELECT position FROM mom_outbox \
         WHERE published_at IS NOT NULL AND published_at < ?1 ORDER BY published_at LIMIT ?2)",
    )
    .bind(before)
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn list_parked(
    pool: &SqlitePool,
    include_skipped: bool,
    after: i64,
    limit: i64,
) -> Result<Vec<ParkedRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, topic, msg_key, attempts, last_error, parked_at, skipped_at, skipped_by \
         FROM mom_outbox WHERE parked_at IS NOT NULL AND (?1 OR skipped_at IS NULL) \
         AND position > ?2 ORDER BY position LIMIT ?3",
    )
    .bind(include_skipped)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let attempts: i64 = row.try_get("attempts")?;
            let skipped_at: Option<DateTime<Utc>> = row.try_get("skipped_at")?;
            let skipped_by: Option<String> = row.try_get("skipped_by")?;
            Ok(ParkedRow {
                position: to_u64(position)?,
                topic: row.try_get("topic")?,
                key: row.try_get("msg_key")?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                error: row
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                parked_at: row.try_get("parked_at")?,
                skipped: skipped_at.map(|at| Skipped {
                    at,
                    by: skipped_by.unwrap_or_default(),
                }),
            })
        })
        .collect()
}

pub(crate) async fn retry_parked(
    pool: &SqlitePool,
    position: Option<i64>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE mom_outbox SET parked_at = NULL, attempts = 0 \
         WHERE parked_at IS NOT NULL AND skipped_at IS NULL AND (?1 IS NULL OR position = ?1)",
    )
    .bind(position)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn skip_parked(
    pool: &SqlitePool,
    position: i64,
    by: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mom_outbox SET skipped_at = ?3, skipped_by = ?2 \
         WHERE position = ?1 AND parked_at IS NOT NULL AND skipped_at IS NULL",
    )
    .bind(position)
    .bind(by)
    .bind(mom_clock::now())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
