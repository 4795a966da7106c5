//! Postgres statements of the store.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::Postgres;
use sqlx::Row;
use uuid::Uuid;

use crate::appender::{AppendRequest, BatchCounters, BatchOutcome};
use crate::chain::{ChainRow, ChainWriter, SnapshotRow};
use crate::outbox::{
    headers_from_json, headers_from_str, headers_from_str_only, headers_to_json, lane_of,
    OutboxFailure, OutboxMessage, OutboxRecord, ParkedRow, Skipped, LANES,
};
use crate::record::{LogEntry, LogMessage, MessageFilter};
use crate::store::{to_i64, to_u64};
use crate::StoreError;

/// Advisory-lock namespace of outbox lanes ("MOMO").
const LANE_LOCK_SPACE: i32 = 0x4d4f_4d4f;

/// The head of the log as this process's appender last committed it: where its next batch
/// starts when no other process appended meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownHead {
    position: i64,
    hash: Vec<u8>,
}

/// The appender's memory of the head between batches, and how it is used.
#[derive(Debug)]
pub(crate) struct HeadCache {
    known: Option<KnownHead>,
    /// Batches left to write the long way after the head turned out to have moved (another
    /// process appends to this store too): the short way would mostly miss meanwhile.
    cool_down: u32,
    /// The connection the appender writes its batches on, held between batches: taking one from
    /// the pool for each batch cost a round trip (the pool checks an idle connection before
    /// handing it out), 100–300 µs of a batch's 0.7–1.7 ms. Dropped after an error, so the next
    /// batch takes a checked one.
    conn: Option<PoolConnection<Postgres>>,
    /// How batches were written (both backends count here).
    pub batches: Arc<BatchCounters>,
}

impl HeadCache {
    pub fn new(batches: Arc<BatchCounters>) -> Self {
        Self {
            known: None,
            cool_down: 0,
            conn: None,
            batches,
        }
    }

    /// The held connection, taken from `pool` when there is none.
    async fn connection(
        &mut self,
        pool: &PgPool,
    ) -> Result<&mut PoolConnection<Postgres>, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => pool.acquire().await?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Gives the held connection up after an error: it is closed rather than returned to the
    /// pool, since whatever failed may have broken it.
    fn discard_connection(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}

/// Batches written the long way after a miss of the short one.
const COOL_DOWN_BATCHES: u32 = 16;

/// Writes one batch. The short way, when this process knows the head (it wrote the last batch):
/// one autocommitted statement that moves the head only if it is still where this process left
/// it, and writes the events, outbox rows and snapshots only if it did: one round trip instead
/// of four, and the head's row lock is held only while the statement runs and commits. When the
/// head has moved (another process appended) the statement writes nothing; when it fails (a
/// conflicting append, anything else) nothing is written either. Both then go the long way,
/// which finds the conflicting appends as before.
pub(crate) async fn write_batch(
    pool: &PgPool,
    batch: &[AppendRequest],
    cache: &mut HeadCache,
) -> Result<BatchOutcome, StoreError> {
    if let Some(known) = cache.known.take() {
        if cache.cool_down == 0 {
            let conn = cache.connection(pool).await?;
            match write_batch_at(conn, batch, &known).await {
                Ok(Some(head)) => {
                    cache.known = Some(head);
                    cache.batches.one_statement.fetch_add(1, Ordering::Relaxed);
                    return Ok(BatchOutcome::Committed);
                }
                Ok(None) => cache.cool_down = COOL_DOWN_BATCHES,
                Err(err) => {
                    // A conflicting append fails the statement as well as a broken connection
                    // does; the long way runs on a checked connection either way.
                    cache.discard_connection();
                    tracing::debug!(error = %err, "short append failed, writing it again");
                }
            }
        } else {
            cache.cool_down -= 1;
        }
    }
    cache.batches.locked.fetch_add(1, Ordering::Relaxed);
    let conn = cache.connection(pool).await?;
    match write_batch_locked(conn, batch).await {
        Ok((outcome, head)) => {
            cache.known = head;
            Ok(outcome)
        }
        Err(err) => {
            cache.discard_connection();
            Err(err)
        }
    }
}

/// A batch's columns, positioned from `first` and chained from `head_hash`.
struct BatchRows<'a> {
    total: i64,
    positions: Vec<i64>,
    owner: Vec<usize>,
    event_ids: Vec<Uuid>,
    types: Vec<&'a str>,
    ids: Vec<&'a str>,
    sequences: Vec<i64>,
    event_types: Vec<&'a str>,
    versions: Vec<&'a str>,
    payloads: Vec<&'a serde_json::Value>,
    metadatas: Vec<&'a serde_json::Value>,
    event_times: Vec<DateTime<Utc>>,
    recorded_times: Vec<DateTime<Utc>>,
    lanes: Vec<i32>,
    topics: Vec<&'a str>,
    keys: Vec<&'a str>,
    bodies: Vec<&'a [u8]>,
    headers: Vec<serde_json::Value>,
    hashes: Vec<Vec<u8>>,
    new_head: Vec<u8>,
    snapshot_types: Vec<&'a str>,
    snapshot_ids: Vec<&'a str>,
    snapshot_sequences: Vec<i64>,
    snapshot_versions: Vec<i64>,
    snapshot_payloads: Vec<&'a serde_json::Value>,
    snapshot_event_hashes: Vec<Vec<u8>>,
    snapshot_hashes: Vec<Vec<u8>>,
}

/// Number of events in `batch`, as a position offset.
fn batch_total(batch: &[AppendRequest]) -> Result<i64, StoreError> {
    let total: usize = batch.iter().map(|r| r.events.len()).sum();
    i64::try_from(total).map_err(|_| StoreError::Corrupt("batch too large".into()))
}

impl<'a> BatchRows<'a> {
    fn new(
        batch: &'a [AppendRequest],
        first: i64,
        head_hash: Option<Vec<u8>>,
    ) -> Result<Self, StoreError> {
        let total = batch_total(batch)?;
        let capacity = usize::try_from(total).unwrap_or(0);
        let mut chain = ChainWriter::new(head_hash)?;
        let mut rows = Self {
            total,
            positions: Vec::with_capacity(capacity),
            owner: Vec::with_capacity(capacity),
            event_ids: Vec::with_capacity(capacity),
            types: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(capacity),
            sequences: Vec::with_capacity(capacity),
            event_types: Vec::with_capacity(capacity),
            versions: Vec::with_capacity(capacity),
            payloads: Vec::with_capacity(capacity),
            metadatas: Vec::with_capacity(capacity),
            event_times: Vec::with_capacity(capacity),
            recorded_times: Vec::with_capacity(capacity),
            lanes: Vec::with_capacity(capacity),
            topics: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            bodies: Vec::with_capacity(capacity),
            headers: Vec::with_capacity(capacity),
            hashes: Vec::with_capacity(capacity),
            new_head: Vec::new(),
            snapshot_types: Vec::new(),
            snapshot_ids: Vec::new(),
            snapshot_sequences: Vec::new(),
            snapshot_versions: Vec::new(),
            snapshot_payloads: Vec::new(),
            snapshot_event_hashes: Vec::new(),
            snapshot_hashes: Vec::new(),
        };
        let mut position = first;
        for (index, request) in batch.iter().enumerate() {
            for e in &request.events {
                let event_headers = headers_to_json(&e.outbox.headers);
                rows.hashes
                    .push(chain.push(position, e, &event_headers).0.to_vec());
                rows.positions.push(position);
                position += 1;
                rows.owner.push(index);
                rows.event_ids.push(e.event_id);
                rows.types.push(e.aggregate_type.as_str());
                rows.ids.push(e.aggregate_id.as_str());
                rows.sequences.push(e.sequence);
                rows.event_types.push(e.event_type.as_str());
                rows.versions.push(e.event_version.as_str());
                rows.payloads.push(&e.payload);
                rows.metadatas.push(&e.metadata);
                rows.event_times.push(e.event_time);
                rows.recorded_times.push(e.recorded_time);
                rows.lanes
                    .push(i32::try_from(lane_of(&e.outbox.key)).unwrap_or(0));
                rows.topics.push(e.outbox.topic.as_str());
                rows.keys.push(e.outbox.key.as_str());
                rows.bodies.push(e.outbox.payload.as_slice());
                rows.headers.push(event_headers);
            }
        }
        for snapshot in latest_snapshots(batch) {
            let (event_hash, hash) = chain.snapshot_hashes(snapshot)?;
            rows.snapshot_types.push(snapshot.aggregate_type.as_str());
            rows.snapshot_ids.push(snapshot.aggregate_id.as_str());
            rows.snapshot_sequences.push(snapshot.last_sequence);
            rows.snapshot_versions.push(snapshot.snapshot_version);
            rows.snapshot_payloads.push(&snapshot.payload);
            rows.snapshot_event_hashes.push(event_hash.0.to_vec());
            rows.snapshot_hashes.push(hash.0.to_vec());
        }
        rows.new_head = chain.head().0.to_vec();
        Ok(rows)
    }

    /// Binds `$1`–`$26` of [`EVENT_ROWS`], [`OUTBOX_ROWS`] and [`SNAPSHOT_ROWS`]; `$18` is the
    /// new head hash and `$19` the notification channel.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments> {
        query
            .bind(&self.positions)
            .bind(&self.event_ids)
            .bind(&self.types)
            .bind(&self.ids)
            .bind(&self.sequences)
            .bind(&self.event_types)
            .bind(&self.versions)
            .bind(&self.payloads)
            .bind(&self.metadatas)
            .bind(&self.event_times)
            .bind(&self.recorded_times)
            .bind(&self.topics)
            .bind(&self.keys)
            .bind(&self.bodies)
            .bind(&self.headers)
            .bind(&self.hashes)
            .bind(&self.lanes)
            .bind(self.new_head.as_slice())
            .bind(crate::commits::CHANNEL)
            .bind(&self.snapshot_types)
            .bind(&self.snapshot_ids)
            .bind(&self.snapshot_sequences)
            .bind(&self.snapshot_versions)
            .bind(&self.snapshot_payloads)
            .bind(&self.snapshot_event_hashes)
            .bind(&self.snapshot_hashes)
    }

    /// Where the head is once these rows are committed.
    fn head_after(&self) -> Option<KnownHead> {
        Some(KnownHead {
            position: *self.positions.last()?,
            hash: self.new_head.clone(),
        })
    }
}

/// The events of a batch (`$1`–`$16`), as the `SELECT` of an `INSERT INTO mom_events`.
const EVENT_ROWS: &str = "SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], \
     $4::text[], $5::bigint[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], \
     $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::bytea[], \
     $15::jsonb[], $16::bytea[]) AS e(position, event_id, aggregate_type, aggregate_id, \
     sequence, event_type, event_version, payload, metadata, event_time, recorded_time, topic, \
     msg_key, message, headers, hash)";

/// Columns of `mom_events` in the order of [`EVENT_ROWS`].
const EVENT_COLUMNS: &str = "mom_events (position, event_id, aggregate_type, aggregate_id, \
     sequence, event_type, event_version, payload, metadata, event_time, recorded_time, topic, \
     msg_key, message, headers, hash)";

/// The outbox rows of the events the statement inserted (CTE `inserted`).
const OUTBOX_ROWS: &str = "INSERT INTO mom_outbox (position, lane, topic, msg_key) \
     SELECT o.position, o.lane, o.topic, o.msg_key \
     FROM UNNEST($1::bigint[], $17::int[], $12::text[], $13::text[]) \
       AS o(position, lane, topic, msg_key) \
     JOIN inserted USING (position)";

/// The latest snapshots (`$20`–`$26`), upserted; `{gate}` joins the rows with a CTE that
/// returns one row when they are to be written.
const SNAPSHOT_ROWS: &str = "INSERT INTO mom_snapshots (aggregate_type, aggregate_id, \
     last_sequence, snapshot_version, payload, event_hash, hash) \
     SELECT s.aggregate_type, s.aggregate_id, s.last_sequence, s.snapshot_version, s.payload, \
     s.event_hash, s.hash FROM UNNEST($20::text[], $21::text[], $22::bigint[], $23::bigint[], \
     $24::jsonb[], $25::bytea[], $26::bytea[]) AS s(aggregate_type, aggregate_id, \
     last_sequence, snapshot_version, payload, event_hash, hash) {gate} \
     ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
     last_sequence = EXCLUDED.last_sequence, snapshot_version = EXCLUDED.snapshot_version, \
     payload = EXCLUDED.payload, event_hash = EXCLUDED.event_hash, hash = EXCLUDED.hash";

/// The short way: one autocommitted statement, written only when the head is still `known`.
/// Returns the new head, or `None` when the head had moved and nothing was written.
async fn write_batch_at(
    conn: &mut PoolConnection<Postgres>,
    batch: &[AppendRequest],
    known: &KnownHead,
) -> Result<Option<KnownHead>, StoreError> {
    let rows = BatchRows::new(batch, known.position + 1, Some(known.hash.clone()))?;
    // Every write joins `head`, which returns a row only when the head was still where this
    // process left it: the row lock on it is taken before any event is written (no event row
    // can be produced without it) and held until the statement commits, so positions stay
    // gap-free and in commit order across processes. No `ON CONFLICT` on the events: a
    // conflicting append fails the whole statement.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH head AS ( \
           UPDATE mom_log_head SET position = position + $27, head_hash = $18 \
           FROM (SELECT pg_notify($19, '')) AS notified \
           WHERE id = 1 AND position = $28 AND head_hash = $29 RETURNING position), \
         inserted AS ( \
           INSERT INTO {EVENT_COLUMNS} SELECT e.* FROM ({EVENT_ROWS}) AS e CROSS JOIN head \
           RETURNING position), \
         outbox AS ({OUTBOX_ROWS}), \
         snapshots AS ({snapshots}) \
         SELECT count(*) FROM inserted",
            snapshots = SNAPSHOT_ROWS.replace("{gate}", "CROSS JOIN head"),
        )
    });
    let written: i64 = rows
        .bind(sqlx::query_scalar(SQL.as_str()))
        .bind(rows.total)
        .bind(known.position)
        .bind(known.hash.as_slice())
        .fetch_one(&mut **conn)
        .await?;
    if written == rows.total {
        Ok(rows.head_after())
    } else if written == 0 {
        Ok(None)
    } else {
        Err(StoreError::Corrupt(format!(
            "an append of {} events wrote {written}",
            rows.total
        )))
    }
}

/// The long way: takes the head's row lock first, then writes in a transaction; finds the
/// conflicting appends. Returns the head after the batch when it committed.
async fn write_batch_locked(
    conn: &mut PoolConnection<Postgres>,
    batch: &[AppendRequest],
) -> Result<(BatchOutcome, Option<KnownHead>), StoreError> {
    let total = batch_total(batch)?;
    let mut tx = sqlx::Connection::begin(&mut **conn).await?;
    // Taking the head row lock first serializes writers, which keeps positions gap-free and in
    // commit order across processes.
    let (head, head_hash): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "UPDATE mom_log_head SET position = position + $1 WHERE id = 1 \
         RETURNING position, head_hash",
    )
    .bind(total)
    .fetch_one(&mut *tx)
    .await?;
    let rows = BatchRows::new(batch, head - total + 1, head_hash)?;

    // The events, their outbox rows, the head's hash (with the notification, delivered at
    // commit to readers of other processes that `LISTEN`; see crate::commits) and the latest
    // snapshots in one statement: one round trip while the head's row lock is held, not one per
    // table. Outbox rows are written for the events inserted only; when an append conflicts
    // (fewer events inserted than sent) the transaction is rolled back below.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH inserted AS ( \
           INSERT INTO {EVENT_COLUMNS} {EVENT_ROWS} \
           ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING RETURNING position), \
         outbox AS ({OUTBOX_ROWS}), \
         head AS ( \
           UPDATE mom_log_head SET head_hash = $18 FROM (SELECT pg_notify($19, '')) AS notified \
           WHERE id = 1), \
         snapshots AS ({snapshots}) \
         SELECT position FROM inserted",
            snapshots = SNAPSHOT_ROWS.replace("{gate}", ""),
        )
    });
    let inserted: Vec<i64> = rows
        .bind(sqlx::query_scalar(SQL.as_str()))
        .fetch_all(&mut *tx)
        .await?;
    if inserted.len() != rows.positions.len() {
        let inserted: std::collections::HashSet<i64> = inserted.into_iter().collect();
        let mut conflicting: Vec<usize> = rows
            .positions
            .iter()
            .zip(&rows.owner)
            .filter(|(p, _)| !inserted.contains(p))
            .map(|(_, o)| *o)
            .collect();
        conflicting.dedup();
        tx.rollback().await?;
        return Ok((BatchOutcome::Conflicts(conflicting), None));
    }
    tx.commit().await?;
    Ok((BatchOutcome::Committed, rows.head_after()))
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

/// Selects a snapshot with the hash stored on the event it covers (`$n` filters follow).
pub(crate) const SNAPSHOT_SELECT: &str = "SELECT s.aggregate_type, s.aggregate_id, \
     s.last_sequence, s.snapshot_version, s.payload, s.event_hash, s.hash, \
     e.hash AS stored_event_hash FROM mom_snapshots s LEFT JOIN mom_events e \
     ON e.aggregate_type = s.aggregate_type AND e.aggregate_id = s.aggregate_id \
     AND e.sequence = s.last_sequence";

fn snapshot_row(row: &sqlx::postgres::PgRow) -> Result<SnapshotRow, StoreError> {
    Ok(SnapshotRow {
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        last_sequence: row.try_get("last_sequence")?,
        snapshot_version: row.try_get("snapshot_version")?,
        payload: row.try_get("payload")?,
        event_hash: row.try_get("event_hash")?,
        hash: row.try_get("hash")?,
        stored_event_hash: row.try_get("stored_event_hash")?,
    })
}

pub(crate) async fn load_snapshot(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<SnapshotRow>, StoreError> {
    let row = sqlx::query(&format!(
        "{SNAPSHOT_SELECT} WHERE s.aggregate_type = $1 AND s.aggregate_id = $2"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(snapshot_row).transpose()
}

/// Returns up to `limit` snapshots after the aggregate `after` (type, id), in that order.
pub(crate) async fn read_snapshots(
    pool: &PgPool,
    after: &(String, String),
    limit: i64,
) -> Result<Vec<SnapshotRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SNAPSHOT_SELECT} WHERE (s.aggregate_type, s.aggregate_id) > ($1, $2) \
         ORDER BY s.aggregate_type, s.aggregate_id LIMIT $3"
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
    conn: &mut sqlx::PgConnection,
    after: i64,
    up_to: i64,
    limit: i64,
) -> Result<Vec<ChainRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata, event_time, recorded_time, topic, msg_key, message, \
         headers, hash FROM mom_events WHERE position > $1 AND position <= $2 \
         ORDER BY position LIMIT $3",
    )
    .bind(after)
    .bind(up_to)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ChainRow {
                position: row.try_get("position")?,
                event_id: row.try_get("event_id")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                event_time: row.try_get("event_time")?,
                recorded_time: row.try_get("recorded_time")?,
                topic: row.try_get("topic")?,
                msg_key: row.try_get("msg_key")?,
                message: row.try_get("message")?,
                headers: row.try_get("headers")?,
                hash: row.try_get("hash")?,
            })
        })
        .collect()
}

/// Computes the chain over the events written before it existed (`head_hash` NULL), once, under
/// the head row's lock; returns how many events it hashed, or `None` when the chain was
/// already there.
pub(crate) async fn init_chain(pool: &PgPool, page: i64) -> Result<Option<u64>, StoreError> {
    let mut tx = pool.begin().await?;
    // Lock the head row first, so appends and other processes starting up wait.
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
        sqlx::query(
            "UPDATE mom_events e SET hash = u.hash \
             FROM UNNEST($1::bigint[], $2::bytea[]) AS u(position, hash) WHERE e.position = u.position",
        )
        .bind(&positions)
        .bind(&hashes)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE mom_log_head SET head_hash = $1 WHERE id = 1")
        .bind(chain.head().0.as_slice())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(chain.count()))
}

/// Returns up to `limit` events matching `query`, newest first.
pub(crate) async fn list_events(
    pool: &PgPool,
    query: &crate::audit::AuditQuery<'_>,
    before: i64,
    limit: i64,
) -> Result<Vec<crate::audit::AuditEvent>, StoreError> {
    let mut sql = sqlx::QueryBuilder::<sqlx::Postgres>::new(
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
        // The expression of the mom_events_principal index.
        sql.push(" AND (COALESCE(metadata->>'principal', metadata->>'actor')) = ")
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
            let hash: Option<Vec<u8>> = row.try_get("hash")?;
            Ok(crate::audit::AuditEvent {
                position: to_u64(position)?,
                event_id: row.try_get("event_id")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: to_u64(sequence)?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                event_time: row.try_get("event_time")?,
                recorded_time: row.try_get("recorded_time")?,
                hash: hash
                    .map(|h| crate::chain::ChainHash::from_slice(&h, "mom_events.hash"))
                    .transpose()?,
            })
        })
        .collect()
}

pub(crate) async fn read_log(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
         e.event_version, e.payload AS event_payload, e.metadata, e.event_time, e.recorded_time, \
         e.topic, e.msg_key, e.message, e.headers \
         FROM mom_events e WHERE e.position > $1 ORDER BY e.position LIMIT $2",
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
    // A NULL list lets every topic (`$3`) or aggregate type (`$4`) through. The message lives in
    // the event log itself (the outbox is pruned), so this reads one table in position order.
    let up_to = filter.up_to.map_or(Ok(i64::MAX), to_i64)?;
    // No header wanted: the JSONB column is neither converted to text nor sent (a rebuild's
    // reads).
    let headers = if filter.headers.is_some_and(<[&str]>::is_empty) {
        "'[]'"
    } else {
        "headers::text"
    };
    let sql = format!(
        "SELECT position, event_id, recorded_time, topic, msg_key, message, {headers} AS headers \
         FROM mom_events WHERE position > $1 AND position <= $5 \
         AND ($3::text[] IS NULL OR topic = ANY($3)) \
         AND ($4::text[] IS NULL OR aggregate_type = ANY($4)) \
         ORDER BY position LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .bind(filter.topics)
        .bind(filter.aggregate_types)
        .bind(up_to)
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|row| {
            // By index, in the order selected above: a lookup by name compares the names.
            let position: i64 = row.try_get(0)?;
            let headers: &str = row.try_get(6)?;
            Ok(LogMessage {
                position: to_u64(position)?,
                event_id: row.try_get(1)?,
                recorded_time: row.try_get(2)?,
                message: OutboxMessage {
                    topic: row.try_get(3)?,
                    key: row.try_get(4)?,
                    payload: row.try_get(5)?,
                    headers: headers_from_str_only(headers, filter.headers)?,
                },
            })
        })
        .collect()
}

/// A relay's hold on outbox lanes across rounds (see [`crate::OutboxLease`]): the session that
/// holds the lanes' advisory locks, the lanes it holds, and the highest position it claimed.
#[derive(Debug)]
pub(crate) struct PgLease {
    conn: LaneLease,
    held: Vec<i32>,
    after: i64,
}

pub(crate) async fn lease_outbox(pool: &PgPool) -> Result<PgLease, StoreError> {
    Ok(PgLease {
        conn: LaneLease::acquire(pool).await?,
        held: Vec::new(),
        after: 0,
    })
}

impl PgLease {
    /// Claims up to `limit` rows after the ones this lease claimed before.
    ///
    /// Each key is published by one relay at a time, in order: a relay first takes the advisory
    /// locks of the lanes its next rows belong to (one attempt per lane, in one statement), then
    /// reads the rows of the lanes it holds. Taking the locks row by row inside the scan is not
    /// enough: a lane released by another relay in the middle of the scan would hand over that
    /// lane's later rows while its earlier ones were skipped, and they would be published out of
    /// order. The locks are session locks on a connection the lease keeps, and every statement
    /// commits on its own: no transaction stays open while the relay waits for the broker.
    ///
    /// A later claim of the same lease reads, in the lanes it held already, only rows after the
    /// last one it claimed (the earlier ones may still be in flight, unmarked), and a lane it
    /// takes now from its first pending row: every pending row of a held lane up to the lease's
    /// highest claimed position has been claimed by it, as positions commit in order.
    pub(crate) async fn claim(&mut self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let conn = self.conn.conn()?;
        let mut new: Vec<i32> = Vec::new();
        if self.held.len() < LANES as usize {
            let lanes: Vec<i32> = sqlx::query_scalar(&format!(
                "SELECT lane FROM (SELECT lane, MIN(position) AS first FROM \
                 (SELECT o.lane, o.position FROM mom_outbox o WHERE {PENDING} \
                  AND o.position > $2 ORDER BY o.position LIMIT $1) AS next \
                 GROUP BY lane) AS candidates ORDER BY first"
            ))
            .bind(limit)
            .bind(self.after)
            .fetch_all(&mut **conn)
            .await?;
            let wanted: Vec<i32> = lanes
                .into_iter()
                .filter(|lane| !self.held.contains(lane))
                .collect();
            if !wanted.is_empty() {
                new = sqlx::query_scalar(
                    "SELECT lane FROM unnest($2::int4[]) WITH ORDINALITY AS l(lane, i) \
                     WHERE pg_try_advisory_lock($1, lane) ORDER BY i",
                )
                .bind(LANE_LOCK_SPACE)
                .bind(&wanted)
                .fetch_all(&mut **conn)
                .await?;
            }
        }
        if self.held.is_empty() && new.is_empty() {
            return Ok(Vec::new());
        }
        // Read after the locks: rows another relay published before it released a lane are
        // marked by then (marks commit before the unlock), and the lanes' earliest rows come
        // first. Lanes taken now are read from their first pending row; the others after the
        // last row claimed (two statements, so the usual case scans from there).
        let sql: &str = if new.is_empty() {
            &CLAIM_HELD
        } else {
            &CLAIM_HELD_AND_NEW
        };
        let mut query = sqlx::query(sql)
            .bind(&self.held)
            .bind(limit)
            .bind(self.after);
        if !new.is_empty() {
            query = query.bind(&new);
        }
        let rows = query.fetch_all(&mut **conn).await?;
        self.held.extend(new);
        let mut records = Vec::with_capacity(rows.len());
        let mut blocked = Vec::new();
        for row in rows {
            let position: i64 = row.try_get(0)?;
            self.after = self.after.max(position);
            if row.try_get::<bool, _>(6)? {
                blocked.push(position);
                continue;
            }
            let attempts: i32 = row.try_get(3)?;
            // As text: parsed straight into the pairs, without a JSON tree in between.
            let headers: &str = row.try_get(5)?;
            records.push(OutboxRecord {
                position: to_u64(position)?,
                topic: row.try_get(1)?,
                key: row.try_get(2)?,
                payload: row.try_get(4)?,
                headers: headers_from_str(headers)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            });
        }
        if !blocked.is_empty() {
            // Set aside once; the condition is checked again, in case the parked row was
            // retried or skipped meanwhile.
            sqlx::query(&format!(
                "UPDATE mom_outbox o SET held_at = now() WHERE o.position = ANY($1) AND {BLOCKED}"
            ))
            .bind(&blocked)
            .execute(&mut **conn)
            .await?;
        }
        Ok(records)
    }

    /// Marks `published` rows and records `failed` ones; the lanes stay held.
    pub(crate) async fn mark(
        &mut self,
        published: &[i64],
        failed: &[OutboxFailure],
    ) -> Result<(), StoreError> {
        let conn = self.conn.conn()?;
        if failed.is_empty() {
            // One statement commits on its own.
            return mark_published(conn, published).await;
        }
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        mark_published(&mut tx, published).await?;
        mark_failed(&mut tx, failed).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Frees the lanes and returns the connection to the pool.
    pub(crate) async fn release(self) -> Result<(), StoreError> {
        self.conn.release().await
    }
}

/// A claim's read of the pending rows that match `rows`, in position order ($2: the limit);
/// its columns by index: position, topic, key, attempts, message, headers, blocked.
fn claim_sql(rows: &str) -> String {
    format!(
        "SELECT o.position, o.topic, o.msg_key, o.attempts, e.message, e.headers::text, \
         {BLOCKED} AS blocked FROM mom_outbox o JOIN mom_events e ON e.position = o.position \
         WHERE {PENDING} AND {rows} ORDER BY o.position LIMIT $2"
    )
}

/// A claim's read of the lanes a lease held already ($1): rows after the last one it claimed
/// ($3).
static CLAIM_HELD: LazyLock<String> =
    LazyLock::new(|| claim_sql("o.lane = ANY($1) AND o.position > $3"));

/// A claim's read when it took lanes ($4): those from their first pending row as well.
static CLAIM_HELD_AND_NEW: LazyLock<String> =
    LazyLock::new(|| claim_sql("((o.lane = ANY($1) AND o.position > $3) OR o.lane = ANY($4))"));

/// A pooled connection holding outbox lane locks (session advisory locks). Released explicitly
/// after the marks committed; dropped without a release (an error, a cancelled relay), the
/// connection is closed instead of going back to the pool, which ends its session and frees its
/// locks.
#[derive(Debug)]
pub(crate) struct LaneLease(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>);

impl LaneLease {
    async fn acquire(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(Self(Some(pool.acquire().await?)))
    }

    fn conn(&mut self) -> Result<&mut sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        self.0.as_mut().ok_or(StoreError::Closed)
    }

    /// Frees every lane lock of the session and returns the connection to the pool.
    async fn release(mut self) -> Result<(), StoreError> {
        let conn = self.conn()?;
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut **conn)
            .await?;
        // Unlocked: the connection may be reused.
        drop(self.0.take());
        Ok(())
    }
}

impl Drop for LaneLease {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// SQL condition (on `mom_outbox o`) of a row the relay may claim: neither published, nor
/// parked, nor set aside behind a parked row.
pub(crate) const PENDING: &str =
    "o.published_at IS NULL AND o.parked_at IS NULL AND o.held_at IS NULL";

/// SQL condition (on `mom_outbox o`) of a row a parked, unskipped row of the same key precedes:
/// it waits (is held) so the key stays in order.
pub(crate) const BLOCKED: &str = "EXISTS (SELECT 1 FROM mom_outbox p \
     WHERE p.parked_at IS NOT NULL AND p.skipped_at IS NULL AND p.msg_key = o.msg_key \
     AND p.position < o.position)";

/// Statement that returns held rows whose key no parked row holds back any more to the queue.
pub(crate) const RELEASE_HELD: &str = "UPDATE mom_outbox AS o SET held_at = NULL \
     WHERE o.held_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM mom_outbox p \
     WHERE p.parked_at IS NOT NULL AND p.skipped_at IS NULL AND p.msg_key = o.msg_key \
     AND p.position < o.position)";

/// Removes `published` rows from the queue: the broker has them, and the event log keeps their
/// events and messages. A delete writes no new row version and no index entry, where setting
/// `published_at` wrote both (the column is in the partial indexes' conditions) and the prune
/// deleted the row later anyway.
async fn mark_published(
    conn: &mut sqlx::PgConnection,
    published: &[i64],
) -> Result<(), StoreError> {
    if !published.is_empty() {
        sqlx::query("DELETE FROM mom_outbox WHERE position = ANY($1)")
            .bind(published)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records `failed` rows' errors, parking those whose failure says so.
async fn mark_failed(
    conn: &mut sqlx::PgConnection,
    failed: &[OutboxFailure],
) -> Result<(), StoreError> {
    if !failed.is_empty() {
        let positions = failed
            .iter()
            .map(|f| to_i64(f.position))
            .collect::<Result<Vec<_>, _>>()?;
        let errors: Vec<&str> = failed.iter().map(|f| f.error.as_str()).collect();
        let parks: Vec<bool> = failed.iter().map(|f| f.park).collect();
        sqlx::query(
            "UPDATE mom_outbox o SET attempts = o.attempts + 1, last_error = f.error, \
             parked_at = CASE WHEN f.park THEN now() END \
             FROM UNNEST($1::bigint[], $2::text[], $3::bool[]) AS f(position, error, park) \
             WHERE o.position = f.position",
        )
        .bind(&positions)
        .bind(&errors)
        .bind(&parks)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(crate) async fn prune_outbox(
    pool: &PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM mom_outbox WHERE position IN (SELECT position FROM mom_outbox \
         WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY published_at LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn list_parked(
    pool: &PgPool,
    include_skipped: bool,
    after: i64,
    limit: i64,
) -> Result<Vec<ParkedRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, topic, msg_key, attempts, last_error, parked_at, skipped_at, skipped_by \
         FROM mom_outbox WHERE parked_at IS NOT NULL AND ($1 OR skipped_at IS NULL) \
         AND position > $2 ORDER BY position LIMIT $3",
    )
    .bind(include_skipped)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get("position")?;
            let attempts: i32 = row.try_get("attempts")?;
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

pub(crate) async fn retry_parked(pool: &PgPool, position: Option<i64>) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE mom_outbox SET parked_at = NULL, attempts = 0 \
         WHERE parked_at IS NOT NULL AND skipped_at IS NULL AND ($1::bigint IS NULL OR position = $1)",
    )
    .bind(position)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn skip_parked(
    pool: &PgPool,
    position: i64,
    by: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mom_outbox SET skipped_at = now(), skipped_by = $2 \
         WHERE position = $1 AND parked_at IS NOT NULL AND skipped_at IS NULL",
    )
    .bind(position)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
