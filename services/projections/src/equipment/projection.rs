//! The equipment read model's tables and how events change them.
//!
//! - `equipment_units`: one row per work unit; each domain writes only its own columns
//!   (production the `prod_*` state; the open breakdown and starvation columns are the latest
//!   open such row of `equipment_downtime`), so the row does not depend on how the domains'
//!   messages (or Kafka partitions) interleave, and the effective state is decided at query time
//!   (down > starved > planned shutdown > production).
//! - `equipment_assets`: the ISA-95 hierarchy (work unit → work center → area) from maintenance.
//! - `equipment_intervals`: production state intervals (running, stopped, setup, unknown after a
//!   lost machine connection) and planned shutdowns; an open interval has no `to_ms`.
//! - `equipment_downtime`: every stop (production), breakdown (maintenance) and starvation
//!   (inventory) with reason and duration.
//!
//! Production's state changes (most of the events that concern the read model), breakdowns,
//! starvations and the sequence guard are kept in memory while a transaction's messages are
//! applied (a page of the store log, or one Kafka message) and written in `flush` with
//! multi-row statements; the rarer events (registrations, assets, planned shutdowns) write at
//! once.
//!
//! The open transaction's page is the shared [`Guarded`] page of the read models: its sequence
//! guard and its changes ([`Change`]: a production state change, a breakdown or a starvation) in
//! order, each with the guard of its event, decided at once in `flush`.
//!
//! Beside this file (the tables, the projection and the guard): `state` (production state
//! changes in memory and their writes), one file per source domain (`production`,
//! `maintenance`, `inventory`) and `downtime` (breakdowns and starvations).

mod downtime;
mod inventory;
mod maintenance;
mod production;
mod state;

use downtime::*;
use inventory::*;
use maintenance::*;
use production::*;
use state::*;

use std::collections::{BTreeSet, HashMap, HashSet};

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use sqlx::Row;

use crate::events::{aggregate_id, decode, domain, ms, required, sequence_key};
use crate::feed::Changes;
use crate::sequence::Guarded;
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "equipment";

const SCHEMA: [&str; 9] = [
    "CREATE TABLE IF NOT EXISTS equipment_sequences (aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS equipment_units (\
        work_unit TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', \
        prod_state TEXT NOT NULL DEFAULT '', prod_since_ms BIGINT, \
        prod_reason TEXT NOT NULL DEFAULT '', product TEXT NOT NULL DEFAULT '', \
        down_work_order TEXT, down_since_ms BIGINT, down_reason TEXT, \
        starved_material TEXT, starved_since_ms BIGINT)",
    "CREATE TABLE IF NOT EXISTS equipment_assets (\
        asset TEXT PRIMARY KEY, level TEXT NOT NULL, name TEXT NOT NULL, parent TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS equipment_intervals (\
        id TEXT PRIMARY KEY, work_unit TEXT NOT NULL, state TEXT NOT NULL, \
        reason TEXT NOT NULL, product TEXT NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT)",
    "CREATE INDEX IF NOT EXISTS equipment_intervals_unit ON equipment_intervals (work_unit, from_ms)",
    "CREATE TABLE IF NOT EXISTS equipment_downtime (\
        id TEXT PRIMARY KEY, work_unit TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, \
        from_ms BIGINT NOT NULL, to_ms BIGINT, duration_ms BIGINT NOT NULL, \
        source TEXT NOT NULL, work_order TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS equipment_downtime_from ON equipment_downtime (from_ms)",
    // The open rows, which every state change closes: without these a close scans the unit's
    // whole history (intervals) or the whole table (downtime).
    "CREATE INDEX IF NOT EXISTS equipment_intervals_open ON equipment_intervals (work_unit) \
     WHERE to_ms IS NULL",
    "CREATE INDEX IF NOT EXISTS equipment_downtime_open ON equipment_downtime (work_unit, kind) \
     WHERE to_ms IS NULL",
];

const TABLES: [&str; 5] = [
    "equipment_sequences",
    "equipment_units",
    "equipment_assets",
    "equipment_intervals",
    "equipment_downtime",
];

const SEQUENCES: &str = "equipment_sequences";

// Statements stay near 150 parameters: SQLite looks each numbered parameter's name up among
// all of a statement's, so binding costs grow with the square of their number (the statements
// that bind in order use anonymous ones on SQLite, `Params`; the closes use theirs twice).
/// Units per multi-row close (2 parameters each, used twice).
const CLOSE_CHUNK: usize = 75;
/// Units per multi-row read (1 parameter each).
const READ_CHUNK: usize = 150;
/// Spans per multi-row insert (at most 7 parameters each).
const SPAN_CHUNK: usize = 21;
/// Units per multi-row upsert (5 parameters each).
const UNIT_CHUNK: usize = 30;
/// Downtime rows per multi-row upsert (9 parameters each, bound in order).
const DOWNTIME_CHUNK: usize = 50;

/// The equipment state projection.
#[derive(Debug)]
pub struct EquipmentProjection {
    topics: Vec<String>,
    changes: Changes,
    /// The open transaction's unwritten changes.
    page: TxState<Page>,
}

impl EquipmentProjection {
    /// Returns the projection of the production, maintenance and inventory `topics`.
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            page: TxState::default(),
        }
    }

    /// Returns its change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

impl Projection for EquipmentProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &TABLES
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let mut page = self.page.lock().await;
        let changed = match domain(&message.topic) {
            "production" => production(&mut page, connection, message).await?,
            "maintenance" => maintenance(&mut page, connection, message).await?,
            "inventory" => inventory(&mut page, connection, message).await?,
            _ => false,
        };
        if changed {
            self.changes.mark();
        }
        Ok(())
    }

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let (sequences, changes) = self
            .page
            .take()
            .await
            .keep_new(connection, SEQUENCES)
            .await?;
        let mut states = Vec::new();
        let mut downtime = Vec::new();
        for change in changes {
            match change {
                Change::State(change) => states.push(change),
                Change::Downtime(change) => downtime.push(change),
            }
        }
        // Breakdowns and starvations touch other rows than production's state changes (their
        // own downtime kinds, their own columns of `equipment_units`), so they go after them.
        let mut changed = write_states(connection, &states).await?;
        changed |= write_downtime(connection, downtime).await?;
        if changed {
            self.changes.mark();
        }
        sequences.write(connection, SEQUENCES).await
    }

    fn rolled_back(&self) {
        self.page.end();
        self.changes.rolled_back();
    }

    fn committed(&self) {
        self.page.end();
        self.changes.committed();
    }
}

/// Returns whether an event is new (its guard passed), keeping the guard in `page`. An event
/// the read model ignores (`handled` false) is only recorded, without reading its aggregate's
/// stored sequence, and is never new.
async fn first_delivery(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
    metadata: Option<&mom_proto::common::v1::EventMetadata>,
    handled: bool,
) -> Result<bool, ApplyError> {
    let Some((key, sequence)) = sequence_key(&message.topic, metadata) else {
        return Ok(handled);
    };
    if !handled {
        page.sequences.record(&key, sequence);
        return Ok(false);
    }
    page.sequences
        .first_delivery(connection, SEQUENCES, &key, sequence)
        .await
}

/// What the open transaction leaves for `flush`: its sequence guard and its changes, in order,
/// each with the guard of its event (`None`: an event without a sequence, always applied).
type Page = Guarded<Change>;

/// An event kept until `flush`, which decides its guard and applies it.
#[derive(Debug)]
enum Change {
    /// A production state change.
    State(StateChange),
    /// A breakdown or starvation.
    Downtime(DowntimeChange),
}

/// A production state change (`WorkUnitRunning`, `WorkUnitStopped`, `WorkUnitDisconnected`,
/// `SetupStarted`, `SetupEnded`).
#[derive(Debug)]
struct StateChange {
    id: String,
    work_unit: String,
    state: &'static str,
    reason: String,
    /// The product it sets; `None` keeps the unit's.
    product: Option<String>,
    at: i64,
    /// Whether it opens a stop (`WorkUnitStopped`).
    stop: bool,
}

/// What a breakdown or starvation event (`BreakdownReported`, `BreakdownRepaired`,
/// `WorkOrderCancelled`, `MaterialStarvationStarted`, `MaterialStarvationEnded`) does to
/// `equipment_downtime`.
#[derive(Debug)]
enum DowntimeChange {
    /// Writes the row; `conflict` says what happens to a stored row of the same id.
    Write {
        row: DowntimeRow,
        conflict: Conflict,
    },
    /// Deletes the breakdown of a cancelled corrective order (a false alarm), if there is one.
    Cancelled { id: String, work_unit: String },
}

impl DowntimeChange {
    fn id(&self) -> &str {
        match self {
            DowntimeChange::Write { row, .. } => &row.id,
            DowntimeChange::Cancelled { id, .. } => id,
        }
    }
}

/// What a downtime write does to a stored row of the same id.
#[derive(Debug, Clone, Copy)]
enum Conflict {
    /// Keeps it (a start that finds its row written already: its end came first, or an
    /// earlier delivery of the same breakdown or starvation).
    Keep,
    /// Replaces its reason, start, end and duration (a repaired breakdown).
    Repair,
    /// Sets its end and duration (an ended starvation).
    End,
}

/// A breakdown or starvation row of `equipment_downtime`.
#[derive(Debug, Clone)]
struct DowntimeRow {
    id: String,
    work_unit: String,
    kind: String,
    reason: String,
    from_ms: i64,
    to_ms: Option<i64>,
    duration_ms: i64,
    source: String,
    work_order: String,
}

/// A production state interval or stop created by the open transaction.
#[derive(Debug)]
struct Span {
    id: String,
    work_unit: String,
    /// The state of an interval (`running`, `stopped`, `setup`, `unknown`); empty for a stop.
    state: &'static str,
    reason: String,
    /// The product of an interval; empty for a stop.
    product: String,
    from_ms: i64,
    to_ms: Option<i64>,
}

/// The production state of a unit as the open transaction left it.
#[derive(Debug)]
struct ProductionState {
    state: &'static str,
    since_ms: i64,
    reason: String,
    product: String,
}

/// What the open transaction changed of one work unit's production columns and intervals.
#[derive(Debug, Default)]
struct UnitPage {
    /// The unit's state to write.
    state: Option<ProductionState>,
    /// The unit's product after the transaction's last change.
    product: Option<String>,
    /// When the interval and stop open before the transaction were closed (its first change).
    closed_ms: Option<i64>,
    /// The open interval among [`Replay::intervals`].
    open_interval: Option<usize>,
    /// The open stop among [`Replay::stops`].
    open_stop: Option<usize>,
}

/// The rows the transaction's state changes write, built in memory in the order of the changes.
#[derive(Debug, Default)]
struct Replay {
    units: HashMap<String, UnitPage>,
    intervals: Vec<Span>,
    interval_ids: HashSet<String>,
    stops: Vec<Span>,
    stop_ids: HashSet<String>,
}
