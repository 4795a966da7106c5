//! Postgres statements of the store.

use chrono::{DateTime, Utc};
use cqrs_es::persist::{SerializedEvent, SerializedSnapshot};
use sqlx::postgres::PgPool;
use sqlx::Row;
use uuid::Uuid;

use crate::appender::{AppendRequest, BatchOutcome};
use crate::outbox::{
    headers_from_json, headers_from_str_only, headers_to_json, lane_of, OutboxMessage, OutboxRecord,
};
use crate::record::{LogEntry, LogMessage, MessageFilter};
use crate::store::{to_i64, to_u64, Lease, OutboxClaim};
use crate::StoreError;

/// Advisory-lock namespace of outbox lanes ("MOMO").
const LANE_LOCK_SPACE: i32 = 0x4d4f_4d4f;

pub(crate) async fn write_batch(
    pool: &PgPool,
    batch: &[AppendRequest],
) -> Result<BatchOutcome, StoreError> {
    let total: usize = batch.iter().map(|r| r.events.len()).sum();
    let total_i64 =
        i64::try_from(total).map_err(|_| StoreError::Corrupt("batch too large".into()))?;
    let mut tx = pool.begin().await?;
    // Taking the head row lock first serializes writers, which keeps positions gap-free and in
    // commit order across processes.
    let head: i64 = sqlx::query_scalar(
        "UPDATE mom_log_head SET position = position + $1 WHERE id = 1 RETURNING position",
    )
    .bind(total_i64)
    .fetch_one(&mut *tx)
    .await?;
    let first = head - total_i64 + 1;

    let mut positions = Vec::with_capacity(total);
    let mut event_ids = Vec::with_capacity(total);
    let mut types = Vec::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    let mut sequences = Vec::with_capacity(total);
    let mut event_types = Vec::with_capacity(total);
    let mut versions = Vec::with_capacity(total);
    let mut payloads = Vec::with_capacity(total);
    let mut metadatas = Vec::with_capacity(total);
    let mut event_times = Vec::with_capacity(total);
    let mut recorded_times = Vec::with_capacity(total);
    let mut lanes = Vec::with_capacity(total);
    let mut topics = Vec::with_capacity(total);
    let mut keys = Vec::with_capacity(total);
    let mut bodies = Vec::with_capacity(total);
    let mut headers = Vec::with_capacity(total);
    let mut owner = Vec::with_capacity(total);
    let mut position = first;
    for (index, request) in batch.iter().enumerate() {
        for e in &request.events {
            positions.push(position);
            position += 1;
            owner.push(index);
            event_ids.push(e.event_id);
            types.push(e.aggregate_type.as_str());
            ids.push(e.aggregate_id.as_str());
            sequences.push(e.sequence);
            event_types.push(e.event_type.as_str());
            versions.push(e.event_version.as_str());
            payloads.push(&e.payload);
            metadatas.push(&e.metadata);
            event_times.push(e.event_time);
            recorded_times.push(e.recorded_time);
            lanes.push(i32::try_from(lane_of(&e.outbox.key)).unwrap_or(0));
            topics.push(e.outbox.topic.as_str());
            keys.push(e.outbox.key.as_str());
            bodies.push(e.outbox.payload.as_slice());
            headers.push(headers_to_json(&e.outbox.headers));
        }
    }

    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO mom_events (position, event_id, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, metadata, event_time, recorded_time) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
         $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[], $11::timestamptz[]) \
         ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING RETURNING position",
    )
    .bind(&positions)
    .bind(&event_ids)
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadatas)
    .bind(&event_times)
    .bind(&recorded_times)
    .fetch_all(&mut *tx)
    .await?;
    if inserted.len() != total {
        let inserted: std::collections::HashSet<i64> = inserted.into_iter().collect();
        let mut conflicting: Vec<usize> = positions
            .iter()
            .zip(&owner)
            .filter(|(p, _)| !inserted.contains(p))
            .map(|(_, o)| *o)
            .collect();
        conflicting.dedup();
        tx.rollback().await?;
        return Ok(BatchOutcome::Conflicts(conflicting));
    }

    sqlx::query(
        "INSERT INTO mom_outbox (position, lane, topic, msg_key, payload, headers) \
         SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[])",
    )
    .bind(&positions)
    .bind(&lanes)
    .bind(&topics)
    .bind(&keys)
    .bind(&bodies)
    .bind(&headers)
    .execute(&mut *tx)
    .await?;

    for snapshot in latest_snapshots(batch) {
        sqlx::query(
            "INSERT INTO mom_snapshots (aggregate_type, aggregate_id, last_sequence, snapshot_version, payload) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
             last_sequence = EXCLUDED.last_sequence, snapshot_version = EXCLUDED.snapshot_version, \
             payload = EXCLUDED.payload",
        )
        .bind(&snapshot.aggregate_type)
        .bind(&snapshot.aggregate_id)
        .bind(snapshot.last_sequence)
        .bind(snapshot.snapshot_version)
        .bind(&snapshot.payload)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(BatchOutcome::Committed)
}

/// Returns one snapshot per aggregate (the latest), since a batch may hold several appends of
/// different aggregates but never two successful ones of the same aggregate sequence.
pub(crate) fn latest_snapshots(batch: &[AppendRequest]) -> Vec<&crate::record::NewSnapshot> {
    let mut latest: std::collections::HashMap<(&str, &str), &crate::record::NewSnapshot> =
        std::collections::HashMap::new();
    for snapshot in batch.iter().filter_map(|r| r.snapshot.as_ref()) {
        let key = (
            snapshot.aggregate_type.as_str(),
            snapshot.aggregate_id.as_str(),
        );
        match latest.get(&key) {
            Some(existing) if existing.last_sequence >= snapshot.last_sequence => {}
            _ => {
                latest.insert(key, snapshot);
            }
        }
    }
    latest.into_values().collect()
}

pub(crate) async fn load_events(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
) -> Result<Vec<SerializedEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT sequence, event_type, event_version, payload, metadata FROM mom_events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(after)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let sequence: i64 = row.try_get("sequence")?;
            Ok(SerializedEvent {
                aggregate_id: aggregate_id.to_owned(),
                sequence: usize::try_from(sequence)
                    .map_err(|_| StoreError::Corrupt(format!("sequence {sequence}")))?,
                aggregate_type: aggregate_type.to_owned(),
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
            })
        })
        .collect()
}

pub(crate) async fn load_snapshot(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<SerializedSnapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT last_sequence, snapshot_version, payload FROM mom_snapshots \
         WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let last_sequence: i64 = row.try_get("last_sequence")?;
    let snapshot_version: i64 = row.try_get("snapshot_version")?;
    Ok(Some(SerializedSnapshot {
        aggregate_id: aggregate_id.to_owned(),
        aggregate: row.try_get("payload")?,
        current_sequence: usize::try_from(last_sequence)
            .map_err(|_| StoreError::Corrupt(format!("snapshot sequence {last_sequence}")))?,
        current_snapshot: usize::try_from(snapshot_version)
            .map_err(|_| StoreError::Corrupt(format!("snapshot version {snapshot_version}")))?,
    }))
}

pub(crate) async fn read_log(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
         e.event_version, e.payload AS event_payload, e.metadata, e.event_time, e.recorded_time, \
         o.topic, o.msg_key, o.payload AS message, o.headers \
         FROM mom_events e JOIN mom_outbox o ON o.position = e.position \
         WHERE e.position > $1 AND o.position > $1 ORDER BY e.position LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let sequence: i64 = row.try_get("sequence")?;
            let headers: serde_json::Value = row.try_get("headers")?;
            let event_id: Uuid = row.try_get("event_id")?;
            let event_time: DateTime<Utc> = row.try_get("event_time")?;
            let recorded_time: DateTime<Utc> = row.try_get("recorded_time")?;
            Ok(LogEntry {
                position: to_u64(position)?,
                event_id,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: to_u64(sequence)?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("event_payload")?,
                metadata: row.try_get("metadata")?,
                event_time,
                recorded_time,
                message: OutboxMessage {
                    topic: row.try_get("topic")?,
                    key: row.try_get("msg_key")?,
                    payload: row.try_get("message")?,
                    headers: headers_from_json(&headers)?,
                },
            })
        })
        .collect()
}

pub(crate) async fn read_messages(
    pool: &PgPool,
    after: i64,
    limit: i64,
    filter: MessageFilter<'_>,
) -> Result<Vec<LogMessage>, StoreError> {
    // A NULL list lets every topic (`$3`) or aggregate type (`$4`) through; both sides of the
    // join are bounded (`$1`, `$5`), or Postgres merge-joins the outbox from its start.
    let up_to = filter.up_to.map_or(Ok(i64::MAX), to_i64)?;
    let rows = sqlx::query(
        "SELECT e.position, e.event_id, e.recorded_time, o.topic, o.msg_key, o.payload, o.headers::text AS headers \
         FROM mom_events e JOIN mom_outbox o ON o.position = e.position \
         WHERE e.position > $1 AND o.position > $1 AND e.position <= $5 AND o.position <= $5 \
         AND ($3::text[] IS NULL OR o.topic = ANY($3)) \
         AND ($4::text[] IS NULL OR e.aggregate_type = ANY($4)) \
         ORDER BY e.position LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .bind(filter.topics)
    .bind(filter.aggregate_types)
    .bind(up_to)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let headers: String = row.try_get("headers")?;
            Ok(LogMessage {
                position: to_u64(position)?,
                event_id: row.try_get("event_id")?,
                recorded_time: row.try_get("recorded_time")?,
                message: OutboxMessage {
                    topic: row.try_get("topic")?,
                    key: row.try_get("msg_key")?,
                    payload: row.try_get("payload")?,
                    headers: headers_from_str_only(&headers, filter.headers)?,
                },
            })
        })
        .collect()
}

pub(crate) async fn claim_outbox(pool: &PgPool, limit: i64) -> Result<OutboxClaim, StoreError> {
    let mut tx = pool.begin().await?;
    // Each key is published by one relay at a time, in order: a relay first takes the advisory
    // locks of the lanes its next rows belong to (one attempt per lane, in one statement), then
    // reads the rows of the lanes it holds. Taking the locks row by row inside the scan is not
    // enough: a lane released by another relay in the middle of the scan would hand over that
    // lane's later rows while its earlier ones were skipped, and they would be published out of
    // order.
    let lanes: Vec<i32> = sqlx::query_scalar(
        "SELECT lane FROM (SELECT lane, MIN(position) AS first FROM \
         (SELECT lane, position FROM mom_outbox WHERE published_at IS NULL \
          ORDER BY position LIMIT $1) AS next GROUP BY lane) AS candidates ORDER BY first",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let held: Vec<i32> = if lanes.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "SELECT lane FROM unnest($2::int4[]) WITH ORDINALITY AS l(lane, i) \
             WHERE pg_try_advisory_xact_lock($1, lane) ORDER BY i",
        )
        .bind(LANE_LOCK_SPACE)
        .bind(&lanes)
        .fetch_all(&mut *tx)
        .await?
    };
    // A fresh snapshot after the locks: rows another relay published meanwhile are gone, and
    // the held lanes' earliest unpublished rows come first.
    let rows = sqlx::query(
        "SELECT position, topic, msg_key, payload, headers FROM mom_outbox \
         WHERE published_at IS NULL AND lane = ANY($1) \
         ORDER BY position LIMIT $2 FOR UPDATE",
    )
    .bind(&held)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let records = rows
        .into_iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let headers: serde_json::Value = row.try_get("headers")?;
            Ok(OutboxRecord {
                position: to_u64(position)?,
                topic: row.try_get("topic")?,
                key: row.try_get("msg_key")?,
                payload: row.try_get("payload")?,
                headers: headers_from_json(&headers)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(OutboxClaim {
        records,
        lease: Lease::Postgres(tx),
    })
}

pub(crate) async fn complete_claim(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    published: &[i64],
    failed: &[(u64, String)],
) -> Result<(), StoreError> {
    if !published.is_empty() {
        sqlx::query("UPDATE mom_outbox SET published_at = now() WHERE position = ANY($1)")
            .bind(published)
            .execute(&mut *tx)
            .await?;
    }
    for (position, error) in failed {
        sqlx::query(
            "UPDATE mom_outbox SET attempts = attempts + 1, last_error = $2 WHERE position = $1",
        )
        .bind(crate::store::to_i64(*position)?)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
