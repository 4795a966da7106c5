//! The engine's snapshot (`oee_snapshot`) and the pruning of stored inputs no correction can
//! reach any more.
//!
//! Every `snapshot_every` stored rows, `flush` writes the projection's state (the engine's facts,
//! the lots the mapper remembers, whether single rows exist) with the `seq` of the last row it
//! holds, in the same transaction as those rows and the checkpoint: a restart loads it and
//! replays only the rows after it. Each snapshot also leaves a mark (`oee_snapshot_marks`): its
//! `seq` and the latest event time of any fact admitted up to it (an interval counts with its
//! end). Rows up to a mark whose latest time lies before `now - max event age - lateness
//! horizon` hold only facts older than any correction may be (the event-time policy refuses
//! older ones), so they are deleted, and with them the lots made before that instant.
//!
//! Invariant: the snapshot and the rows after it are always those of one committed state; a
//! row is deleted only when a snapshot after it exists.

use super::*;
use mom_oee::EngineSnapshot;

/// The stored form of the projection's state.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    engine: EngineSnapshot,
    mapper: Mapper,
    single_rows: bool,
    latest_fact: Millis,
}

/// Writes the snapshot of `state` (holding every row up to `seq`) and its mark; replaces the
/// previous snapshot. Returns its size in bytes.
pub(super) async fn write(
    connection: &mut Connection,
    state: &Mutex<State>,
) -> Result<usize, ApplyError> {
    let (seq, latest, bytes) = {
        let mut state = lock(state)?;
        let seq = state.next_seq - 1;
        let snapshot = Snapshot {
            engine: state.engine.snapshot(),
            mapper: std::mem::take(&mut state.mapper),
            single_rows: state.single_rows,
            latest_fact: state.latest_fact,
        };
        let bytes = serde_json::to_vec(&snapshot);
        state.mapper = snapshot.mapper;
        let bytes = bytes.map_err(|err| ApplyError::Transient(format!("oee snapshot: {err}")))?;
        state.snapshot_seq = seq;
        (seq, state.latest_fact, bytes)
    };
    sqlx::query(
        "INSERT INTO oee_snapshot (id, seq, state) VALUES (1, $1, $2) ON CONFLICT (id) \
         DO UPDATE SET seq = excluded.seq, state = excluded.state",
    )
    .bind(seq)
    .bind(bytes.as_slice())
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO oee_snapshot_marks (seq, latest_ms) VALUES ($1, $2) ON CONFLICT (seq) \
         DO UPDATE SET latest_ms = excluded.latest_ms",
    )
    .bind(seq)
    .bind(latest.0)
    .execute(&mut *connection)
    .await?;
    Ok(bytes.len())
}

/// Returns the state the stored snapshot holds and the `seq` of its last row, or `None` when
/// there is none (or it cannot be read: then every stored row is replayed, and a warning says
/// why).
pub(super) async fn read(
    connection: &mut Connection,
    calendar: &Calendar,
    config: &EngineConfig,
    policy: TimePolicy,
) -> Result<Option<(State, i64)>, ApplyError> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, state FROM oee_snapshot WHERE id = 1")
            .fetch_optional(&mut *connection)
            .await?;
    let Some((seq, bytes)) = row else {
        return Ok(None);
    };
    let snapshot: Snapshot = match serde_json::from_slice(&bytes) {
        Ok(snapshot) => snapshot,
        Err(err) => {
            tracing::warn!(seq, error = %err, "oee snapshot unreadable: replaying every stored input");
            return Ok(None);
        }
    };
    let engine = match Engine::from_snapshot(calendar.clone(), config.clone(), snapshot.engine) {
        Ok(engine) => engine,
        Err(err) => {
            tracing::warn!(seq, error = %err, "oee snapshot refused: replaying every stored input");
            return Ok(None);
        }
    };
    let mut state = State::new(calendar, config.clone(), policy);
    // A unit's configuration is its engine unit's (those never configured have the default).
    for id in engine.equipment() {
        if let Some(config) = engine.equipment_config(&id) {
            state.configs.insert(id, config.clone());
        }
    }
    state.engine = engine;
    state.mapper = snapshot.mapper;
    state.single_rows = snapshot.single_rows;
    state.latest_fact = snapshot.latest_fact;
    state.snapshot_seq = seq;
    Ok(Some((state, seq)))
}

/// Deletes the stored rows that only facts older than `before` need (up to the latest mark
/// whose latest fact time is before it), the marks up to there, and the lots made before it.
/// Returns the number of rows deleted.
pub(super) async fn prune(
    connection: &mut Connection,
    state: &Mutex<State>,
    before: DateTime<Utc>,
) -> Result<u64, ApplyError> {
    let up_to: Option<i64> =
        sqlx::query_scalar("SELECT MAX(seq) FROM oee_snapshot_marks WHERE latest_ms < $1")
            .bind(before.timestamp_millis())
            .fetch_one(&mut *connection)
            .await?;
    lock(state)?.mapper.forget_lots_before(before);
    let Some(up_to) = up_to else {
        return Ok(0);
    };
    let mut deleted = 0;
    for sql in [
        "DELETE FROM oee_input_batches WHERE seq <= $1",
        "DELETE FROM oee_inputs WHERE seq <= $1",
        "DELETE FROM oee_snapshot_marks WHERE seq <= $1",
    ] {
        let done = sqlx::query(sql)
            .bind(up_to)
            .execute(&mut *connection)
            .await?;
        if !sql.contains("marks") {
            deleted += done.rows_affected();
        }
    }
    Ok(deleted)
}
