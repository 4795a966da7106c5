//! SQLite statements of the store (embedded single-node mode: one process, one writer).

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::appender::{AppendRequest, BatchOutcome};
use crate::chain::{ChainHash, ChainRow, ChainWriter, SnapshotRow};
use crate::outbox::{
    headers_from_str, headers_from_str_only, headers_to_json, lane_of, OutboxFailure,
    OutboxMessage, OutboxRecord, ParkedRow, Skipped,
};
use crate::postgres::{latest_snapshots, BLOCKED, PENDING, SNAPSHOT_SELECT};
use crate::record::{LogEntry, LogMessage, MessageFilter};
use crate::store::{to_i64, to_u64};
use crate::StoreError;

/// Rows per multi-row INSERT; 16 columns each stays under SQLite's 32766 variables.
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
    let (head, head_hash): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "UPDATE mom_log_head SET position = position + ?1 WHERE id = 1 \
         RETURNING position, head_hash",
    )
    .bind(total_i64)
    .fetch_one(&mut *tx)
    .await?;
    let first = head - total_i64 + 1;
    let mut chain = ChainWriter::new(head_hash)?;

    let rows: Vec<(i64, usize, &crate::record::NewEvent)> = batch
        .iter()
        .enumerate()
        .flat_map(|(index, request)| request.events.iter().map(move |e| (index, e)))
        .enumerate()
        .map(|(offset, (index, e))| (first + offset as i64, index, e))
        .collect();

    // Each row's headers (as stored) and hash, in position order.
    let chained: Vec<(String, ChainHash)> = rows
        .iter()
        .map(|(position, _, e)| {
            let headers = headers_to_json(&e.outbox.headers);
            let hash = chain.push(*position, e, &headers);
            (json_text(&headers), hash)
        })
        .collect();
    let with_hashes: Vec<_> = rows.iter().zip(&chained).collect();

    let mut inserted = std::collections::HashSet::with_capacity(total);
    for chunk in with_hashes.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO mom_events (position, event_id, aggregate_type, aggregate_id, sequence, \
             event_type, event_version, payload, metadata, event_time, recorded_time, topic, msg_key, \
             message, headers, hash) ",
        );
        query.push_values(chunk, |mut row, ((position, _, e), (headers, hash))| {
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
                .push_bind(headers.as_str())
                .push_bind(hash.0.as_slice());
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

    sqlx::query("UPDATE mom_log_head SET head_hash = ?1 WHERE id = 1")
        .bind(chain.head().0.as_slice())
        .execute(&mut *tx)
        .await?;

    for snapshot in latest_snapshots(batch) {
        let (event_hash, hash) = chain.snapshot_hashes(snapshot)?;
        sqlx::query(
            "INSERT INTO mom_snapshots (aggregate_type, aggregate_id, last_sequence, snapshot_version, \
             payload, event_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
             last_sequence = excluded.last_sequence, snapshot_version = excluded.snapshot_version, \
             payload = excluded.payload, event_hash = excluded.event_hash, hash = excluded.hash",
        )
        .bind(&snapshot.aggregate_type)
        .bind(&snapshot.aggregate_id)
        .bind(snapshot.last_sequence)
        .bind(snapshot.snapshot_version)
        .bind(json_text(&snapshot.payload))
        .bind(event_hash.0.as_slice())
        .bind(hash.0.as_slice())
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

fn snapshot_row(row: &SqliteRow) -> Result<SnapshotRow, StoreError> {
    let payload: &str = row.try_get("payload")?;
    Ok(SnapshotRow {
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        last_sequence: row.try_get("last_sequence")?,
        snapshot_version: row.try_get("snapshot_version")?,
        payload: parse_json(payload, "snapshot")?,
        event_hash: row.try_get("event_hash")?,
        hash: row.try_get("hash")?,
        stored_event_hash: row.try_get("stored_event_hash")?,
    })
}

pub(crate) async fn load_snapshot(
    pool: &SqlitePool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<SnapshotRow>, StoreError> {
    let row = sqlx::query(&format!(
        "{SNAPSHOT_SELECT} WHERE s.aggregate_type = ?1 AND s.aggregate_id = ?2"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(snapshot_row).transpose()
}

/// Returns up to `limit` snapshots after the aggregate `after` (type, id), in that order.
pub(crate) async fn read_snapshots(
    pool: &SqlitePool,
    after: &(String, String),
    limit: i64,
) -> Result<Vec<SnapshotRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SNAPSHOT_SELECT} WHERE (s.aggregate_type, s.aggregate_id) > (?1, ?2) \
         ORDER BY s.aggregate_type, s.aggregate_id LIMIT ?3"
    ))
    .bind(&after.0)
    .bind(&after.1)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(snapshot_row).collect()
}

/// Returns up to `limit` events with a position in (`after`, `up_to`], in position order, with
/// every column their hash covers.
pub(crate) async fn read_chain(
    conn: &mut sqlx::SqliteConnection,
    after: i64,
    up_to: i64,
    limit: i64,
) -> Result<Vec<ChainRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata, event_time, recorded_time, topic, msg_key, message, \
         headers, hash FROM mom_events WHERE position > ?1 AND position <= ?2 \
         ORDER BY position LIMIT ?3",
    )
    .bind(after)
    .bind(up_to)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let event_id: &str = row.try_get("event_id")?;
            let payload: &str = row.try_get("payload")?;
            let metadata: &str = row.try_get("metadata")?;
            let headers: &str = row.try_get("headers")?;
            Ok(ChainRow {
                position: row.try_get("position")?,
                event_id: Uuid::parse_str(event_id)
                    .map_err(|err| StoreError::Corrupt(format!("event id {event_id:?}: {err}")))?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: parse_json(payload, "event payload")?,
                metadata: parse_json(metadata, "event metadata")?,
                event_time: row.try_get("event_time")?,
                recorded_time: row.try_get("recorded_time")?,
                topic: row.try_get("topic")?,
                msg_key: row.try_get("msg_key")?,
                message: row.try_get("message")?,
                headers: parse_json(headers, "event headers")?,
                hash: row.try_get("hash")?,
            })
        })
        .collect()
}

/// Computes the chain over the events written before it existed (`head_hash` NULL), once, in
/// one write transaction; returns how many events it hashed, or `None` when the chain was
/// already there.
pub(crate) async fn init_chain(pool: &SqlitePool, page: i64) -> Result<Option<u64>, StoreError> {
    let mut tx = pool.begin().await?;
    // Write first, so the transaction holds the write lock before it reads.
    let (head, head_hash): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "UPDATE mom_log_head SET position = position WHERE id = 1 RETURNING position, head_hash",
    )
    .fetch_one(&mut *tx)
    .await?;
    if head_hash.is_some() {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut chain = crate::chain::Backfill::new();
    let mut after = 0;
    loop {
        let rows = read_chain(&mut tx, after, head, page).await?;
        let Some(last) = rows.last() else { break };
        after = last.position;
        let (positions, hashes) = chain.hash_page(&rows);
        for (position, hash) in positions.iter().zip(&hashes) {
            sqlx::query("UPDATE mom_events SET hash = ?2 WHERE position = ?1")
                .bind(position)
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("UPDATE mom_log_head SET head_hash = ?1 WHERE id = 1")
        .bind(chain.head().0.as_slice())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(chain.count()))
}

/// The principal of an event: the expression of the mom_events_principal index.
const PRINCIPAL_EXPR: &str =
    "coalesce(json_extract(metadata, '$.principal'), json_extract(metadata, '$.actor'))";

/// Returns up to `limit` events matching `query` with a position below `before`, newest first.
pub(crate) async fn list_events(
    pool: &SqlitePool,
    query: &crate::audit::AuditQuery<'_>,
    before: i64,
    limit: i64,
) -> Result<Vec<crate::audit::AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(
        "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata, event_time, recorded_time, hash FROM mom_events \
         WHERE position < ",
    );
    sql.push_bind(before);
    if let Some(aggregate_type) = query.aggregate_type {
        sql.push(" AND aggregate_type = ").push_bind(aggregate_type);
    }
    if let Some(aggregate_id) = query.aggregate_id {
        sql.push(" AND aggregate_id = ").push_bind(aggregate_id);
    }
    if let Some(principal) = query.principal {
        sql.push(format!(" AND {PRINCIPAL_EXPR} = "))
            .push_bind(principal);
    }
    if let Some(from) = query.from {
        sql.push(" AND recorded_time >= ").push_bind(from);
    }
    if let Some(until) = query.until {
        sql.push(" AND recorded_time < ").push_bind(until);
    }
    sql.push(" ORDER BY position DESC LIMIT ").push_bind(limit);
    let rows = sql.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let sequence: i64 = row.try_get("sequence")?;
            let event_id: &str = row.try_get("event_id")?;
            let payload: &str = row.try_get("payload")?;
            let metadata: &str = row.try_get("metadata")?;
            let hash: Option<Vec<u8>> = row.try_get("hash")?;
            Ok(crate::audit::AuditEvent {
                position: to_u64(position)?,
                event_id: Uuid::parse_str(event_id)
                    .map_err(|err| StoreError::Corrupt(format!("event id {event_id:?}: {err}")))?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: to_u64(sequence)?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: parse_json(payload, "event payload")?,
                metadata: parse_json(metadata, "event metadata")?,
                event_time: row.try_get("event_time")?,
                recorded_time: row.try_get("recorded_time")?,
                hash: hash
                    .map(|h| ChainHash::from_slice(&h, "mom_events.hash"))
                    .transpose()?,
            })
        })
        .collect()
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
    let (sql, params) = messages_query(after, limit, &filter)?;
    let mut query = sqlx::query(&sql);
    for param in &params {
        query = match param {
            Param::Int(value) => query.bind(*value),
            Param::Text(value) => query.bind(value.as_str()),
        };
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            // By index, in the order `messages_query` selects them: a lookup by name compares
            // the names.
            log_message(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get(5)?,
                row.try_get(6)?,
                filter.headers,
            )
        })
        .collect()
}

/// A value bound to a log read's statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The statement of a read of the log's messages ([`read_messages`], and a rebuild's reads in
/// [`crate::bulk`]) and its values, bound in order to its `?` placeholders. It selects the
/// position, event id, recorded time, topic, key, message and headers, in that order.
pub(crate) fn messages_query(
    after: i64,
    limit: i64,
    filter: &MessageFilter<'_>,
) -> Result<(String, Vec<Param>), StoreError> {
    // The scan runs over the event log in position order (its rowid) and passes over the other
    // topics' rows. `NOT INDEXED` keeps that order: with an aggregate type, SQLite would
    // otherwise start from the (aggregate_type, aggregate_id, sequence) index and sort every
    // event of the type for each page.
    // No header wanted: the column is not read at all (a rebuild's reads).
    let headers = if filter.headers.is_some_and(<[&str]>::is_empty) {
        "'[]'"
    } else {
        "headers"
    };
    let mut sql = format!(
        "SELECT position, event_id, recorded_time, topic, msg_key, message, {headers} \
         FROM mom_events NOT INDEXED WHERE position > ?"
    );
    let mut params = vec![Param::Int(after)];
    if let Some(up_to) = filter.up_to {
        sql.push_str(" AND position <= ?");
        params.push(Param::Int(to_i64(up_to)?));
    }
    for (column, values) in [
        ("topic", filter.topics),
        ("aggregate_type", filter.aggregate_types),
    ] {
        let Some(values) = values else { continue };
        if values.is_empty() {
            // Nothing passes: `x IN (NULL)` is never true.
            sql.push_str(&format!(" AND {column} IN (NULL)"));
            continue;
        }
        let places = vec!["?"; values.len()].join(", ");
        sql.push_str(&format!(" AND {column} IN ({places})"));
        params.extend(values.iter().map(|value| Param::Text(value.clone())));
    }
    sql.push_str(" ORDER BY position LIMIT ?");
    params.push(Param::Int(limit));
    Ok((sql, params))
}

/// A log message from the columns [`messages_query`] selects, with only the `headers` named
/// (all when `None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn log_message(
    position: i64,
    event_id: &str,
    recorded_time: &str,
    topic: &str,
    key: &str,
    payload: &[u8],
    headers: &str,
    only: Option<&[&str]>,
) -> Result<LogMessage, StoreError> {
    Ok(LogMessage {
        position: to_u64(position)?,
        event_id: Uuid::parse_str(event_id)
            .map_err(|err| StoreError::Corrupt(format!("event id {event_id:?}: {err}")))?,
        recorded_time: recorded_time_from_text(recorded_time)?,
        message: OutboxMessage {
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload: payload.to_vec(),
            headers: headers_from_str_only(headers, only)?,
        },
    })
}

/// A recorded time as the store writes it (RFC 3339, through sqlx's encoding of `DateTime`),
/// or in SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` form (UTC) as sqlx also reads it.
pub(crate) fn recorded_time_from_text(text: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f")
        .map(|time| time.and_utc())
        .map_err(|err| StoreError::Corrupt(format!("recorded time {text:?}: {err}")))
}

/// A relay's hold on a SQLite store's outbox across rounds: one process owns a SQLite store, so
/// one relay reads without holding the write lock while it publishes (holding it would stall
/// every command); the lease remembers the highest position it claimed.
#[derive(Debug)]
pub(crate) struct SqliteLease {
    pool: SqlitePool,
    after: i64,
}

pub(crate) fn lease_outbox(pool: &SqlitePool) -> SqliteLease {
    SqliteLease {
        pool: pool.clone(),
        after: 0,
    }
}

impl SqliteLease {
    /// Claims up to `limit` pending rows after the ones this lease claimed before (those may
    /// still be in flight, unmarked).
    pub(crate) async fn claim(&mut self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT o.position, o.topic, o.msg_key, o.attempts, e.message, e.headers, \
             {BLOCKED} AS blocked FROM mom_outbox o JOIN mom_events e ON e.position = o.position \
             WHERE {PENDING} AND o.position > ?2 ORDER BY o.position LIMIT ?1"
        ))
        .bind(limit)
        .bind(self.after)
        .fetch_all(&self.pool)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        let mut blocked = Vec::new();
        for row in rows {
            let position: i64 = row.try_get("position")?;
            self.after = self.after.max(position);
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
            // Set aside once; the condition is checked again, in case the parked row was
            // retried or skipped meanwhile.
            let mut query = QueryBuilder::<Sqlite>::new("UPDATE mom_outbox AS o SET held_at = ");
            query.push_bind(mom_clock::now());
            query.push(format!(" WHERE {BLOCKED} AND o.position IN ("));
            let mut list = query.separated(", ");
            for position in &blocked {
                list.push_bind(*position);
            }
            query.push(")");
            query.build().execute(&self.pool).await?;
        }
        Ok(records)
    }

    /// Marks `published` rows and records `failed` ones, in one transaction.
    pub(crate) async fn mark(
        &mut self,
        published: &[i64],
        failed: &[OutboxFailure],
    ) -> Result<(), StoreError> {
        if published.is_empty() && failed.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let now = mom_clock::now();
        // Published rows leave the queue (the event log keeps their messages).
        for position in published {
            sqlx::query("DELETE FROM mom_outbox WHERE position = ?1")
                .bind(position)
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
