//! The equipment read model's tables and how events change them.
//!
//! - `equipment_units`: one row per work unit; each domain writes only its own columns
//!   (production the `prod_*` state; the open breakdown and starvation columns are the latest
//!   open such row of `equipment_downtime`), so the row does not depend on how the domains'
//!   messages (or Kafka partitions) interleave, and the effective state is decided at query time
//!   (down > starved > planned shutdown > production).
//! - `equipment_assets`: the ISA-95 hierarchy (work unit → work center → area) from maintenance.
//! - `equipment_intervals`: production state intervals (running, stopped, setup) and planned
//!   shutdowns; an open interval has no `to_ms`.
//! - `equipment_downtime`: every stop (production), breakdown (maintenance) and starvation
//!   (inventory) with reason and duration.
//!
//! Production's state changes (most of the events that concern the read model), breakdowns,
//! starvations and the sequence guard are kept in memory while a transaction's messages are
//! applied (a page of the store log, or one Kafka message) and written in `flush` with
//! multi-row statements; the rarer events (registrations, assets, planned shutdowns) write at
//! once.

use std::collections::{BTreeSet, HashMap, HashSet};

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use sqlx::Row;

use crate::events::{aggregate_id, decode, domain, ms, required, sequence_key};
use crate::feed::Changes;
use crate::sequence::{Deferred, PageSequences};
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
        let page = self.page.take().await;
        if page.write(connection).await? {
            self.changes.mark();
        }
        Ok(())
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

/// A production state change (`WorkUnitRunning`, `WorkUnitStopped`, `SetupStarted`,
/// `SetupEnded`) kept until `flush`, which decides its guard and applies it.
#[derive(Debug)]
struct PendingChange {
    /// `None` for an event without a sequence (always applied).
    guard: Option<Deferred>,
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

/// The open transaction's state changes, downtime changes and sequence guard, which `flush`
/// writes.
#[derive(Debug, Default)]
struct Page {
    sequences: PageSequences,
    pending: Vec<PendingChange>,
    downtime: Vec<PendingDowntime>,
}

/// A breakdown or starvation event (`BreakdownReported`, `BreakdownRepaired`,
/// `WorkOrderCancelled`, `MaterialStarvationStarted`, `MaterialStarvationEnded`) kept until
/// `flush`, which decides its guard and applies it.
#[derive(Debug)]
struct PendingDowntime {
    /// `None` for an event without a sequence (always applied).
    guard: Option<Deferred>,
    change: DowntimeChange,
}

/// What a breakdown or starvation event does to `equipment_downtime`.
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
    /// The state of an interval (`running`, `stopped`, `setup`); empty for a stop.
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

impl Page {
    /// Decides the guards of the pending state changes, applies the new ones in memory and
    /// writes the lot in a handful of statements. Returns whether a change was applied.
    async fn write(self, connection: &mut Connection) -> Result<bool, ApplyError> {
        let Page {
            mut sequences,
            pending,
            downtime,
        } = self;
        sequences
            .load(
                connection,
                SEQUENCES,
                pending
                    .iter()
                    .filter_map(|c| c.guard.as_ref().map(Deferred::aggregate))
                    .chain(
                        downtime
                            .iter()
                            .filter_map(|c| c.guard.as_ref().map(Deferred::aggregate)),
                    ),
            )
            .await?;
        let products = stored_products(connection, &pending).await?;
        let mut replay = Replay::default();
        let mut changed = false;
        for change in &pending {
            if change.guard.as_ref().is_some_and(|g| !sequences.decide(g)) {
                continue;
            }
            changed = true;
            replay.change_state(change, &products);
        }
        replay.write(connection).await?;
        // Breakdowns and starvations touch other rows than production's state changes (their
        // own downtime kinds, their own columns of `equipment_units`), so they go after them.
        let downtime: Vec<DowntimeChange> = downtime
            .into_iter()
            .filter(|c| c.guard.as_ref().is_none_or(|g| sequences.decide(g)))
            .map(|c| c.change)
            .collect();
        changed |= write_downtime(connection, downtime).await?;
        sequences.write(connection, SEQUENCES).await?;
        Ok(changed)
    }
}

/// Returns the stored product of the units that `pending` changes, many per statement.
async fn stored_products(
    connection: &mut Connection,
    pending: &[PendingChange],
) -> Result<HashMap<String, String>, ApplyError> {
    let mut units: Vec<&str> = pending.iter().map(|c| c.work_unit.as_str()).collect();
    units.sort_unstable();
    units.dedup();
    let mut products = HashMap::with_capacity(units.len());
    for chunk in units.chunks(READ_CHUNK) {
        let select = "SELECT work_unit, product FROM equipment_units WHERE work_unit";
        for row in fetch_in(connection, select, chunk).await? {
            products.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(products)
}

impl Replay {
    /// A production state change: closes the unit's open state interval and open stop, opens
    /// the new interval (and stop) and sets the unit's production state. `stored` holds the
    /// units' products before the transaction.
    fn change_state(&mut self, change: &PendingChange, stored: &HashMap<String, String>) {
        let unit = self.units.entry(change.work_unit.clone()).or_default();
        unit.closed_ms.get_or_insert(change.at);
        if let Some(open) = unit.open_interval.take() {
            self.intervals[open].to_ms = Some(change.at);
        }
        if let Some(open) = unit.open_stop.take() {
            self.stops[open].to_ms = Some(change.at);
        }
        let product = change
            .product
            .clone()
            .or_else(|| unit.product.clone())
            .or_else(|| stored.get(&change.work_unit).cloned())
            .unwrap_or_default();
        // An id seen before is not inserted again (`ON CONFLICT DO NOTHING`), so it leaves no
        // open interval or stop.
        if self.interval_ids.insert(change.id.clone()) {
            unit.open_interval = Some(self.intervals.len());
            self.intervals.push(Span {
                id: change.id.clone(),
                work_unit: change.work_unit.clone(),
                state: change.state,
                reason: change.reason.clone(),
                product: product.clone(),
                from_ms: change.at,
                to_ms: None,
            });
        }
        if change.stop && self.stop_ids.insert(change.id.clone()) {
            unit.open_stop = Some(self.stops.len());
            self.stops.push(Span {
                id: change.id.clone(),
                work_unit: change.work_unit.clone(),
                state: "",
                reason: change.reason.clone(),
                product: String::new(),
                from_ms: change.at,
                to_ms: None,
            });
        }
        unit.product = Some(product.clone());
        unit.state = Some(ProductionState {
            state: change.state,
            since_ms: change.at,
            reason: change.reason.clone(),
            product,
        });
    }

    /// Writes the rows: first closes what was open before the transaction, then inserts its
    /// intervals and stops and sets the units' production columns.
    async fn write(self, connection: &mut Connection) -> Result<(), ApplyError> {
        let closes: Vec<(&str, i64)> = self
            .units
            .iter()
            .filter_map(|(unit, page)| page.closed_ms.map(|at| (unit.as_str(), at)))
            .collect();
        for chunk in closes.chunks(CLOSE_CHUNK) {
            let case = (0..chunk.len())
                .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(" ");
            let units = (0..chunk.len())
                .map(|i| format!("${}", 2 * i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            for sql in [
                format!(
                    "UPDATE equipment_intervals SET to_ms = CASE work_unit {case} END \
                     WHERE to_ms IS NULL AND state <> 'planned_shutdown' AND work_unit IN ({units})"
                ),
                format!(
                    "UPDATE equipment_downtime SET to_ms = CASE work_unit {case} END, \
                     duration_ms = CASE work_unit {case} END - from_ms \
                     WHERE kind = 'stop' AND to_ms IS NULL AND work_unit IN ({units})"
                ),
            ] {
                let mut query = sqlx::query(&sql);
                for (unit, at) in chunk {
                    query = query.bind(*unit).bind(*at);
                }
                query.execute(&mut *connection).await?;
            }
        }
        write_intervals(connection, &self.intervals).await?;
        write_stops(connection, &self.stops).await?;
        let states: Vec<(&str, &ProductionState)> = self
            .units
            .iter()
            .filter_map(|(unit, page)| page.state.as_ref().map(|state| (unit.as_str(), state)))
            .collect();
        let params = Params::of(connection);
        for chunk in states.chunks(UNIT_CHUNK) {
            let sql = format!(
                "INSERT INTO equipment_units (work_unit, prod_state, prod_since_ms, prod_reason, \
                 product) VALUES {} ON CONFLICT (work_unit) DO UPDATE SET \
                 prod_state = excluded.prod_state, prod_since_ms = excluded.prod_since_ms, \
                 prod_reason = excluded.prod_reason, product = excluded.product",
                params.rows(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (unit, state) in chunk {
                query = query
                    .bind(*unit)
                    .bind(state.state)
                    .bind(state.since_ms)
                    .bind(state.reason.as_str())
                    .bind(state.product.as_str());
            }
            query.execute(&mut *connection).await?;
        }
        Ok(())
    }
}

/// Inserts the page's state intervals: closed ones, then open ones (without `to_ms`: sqlx's
/// `Any` driver is not trusted to bind a NULL of the right type on Postgres).
async fn write_intervals(connection: &mut Connection, spans: &[Span]) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for closed in [true, false] {
        let rows: Vec<&Span> = spans
            .iter()
            .filter(|s| s.to_ms.is_some() == closed)
            .collect();
        let width = if closed { 7 } else { 6 };
        for chunk in rows.chunks(SPAN_CHUNK) {
            let sql = format!(
                "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms{}) \
                 VALUES {} ON CONFLICT (id) DO NOTHING",
                if closed { ", to_ms" } else { "" },
                params.rows(chunk.len(), width)
            );
            let mut query = sqlx::query(&sql);
            for span in chunk {
                query = query
                    .bind(span.id.as_str())
                    .bind(span.work_unit.as_str())
                    .bind(span.state)
                    .bind(span.reason.as_str())
                    .bind(span.product.as_str())
                    .bind(span.from_ms);
                if let Some(to_ms) = span.to_ms {
                    query = query.bind(to_ms);
                }
            }
            query.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

/// Inserts the page's stops (`equipment_downtime` rows of kind `stop`): closed ones with their
/// end and duration, then open ones.
async fn write_stops(connection: &mut Connection, spans: &[Span]) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for closed in [true, false] {
        let rows: Vec<&Span> = spans
            .iter()
            .filter(|s| s.to_ms.is_some() == closed)
            .collect();
        let width = if closed { 6 } else { 4 };
        for chunk in rows.chunks(SPAN_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = |k: usize| params.nth(width * i + k);
                    if closed {
                        format!(
                            "({}, {}, 'stop', {}, {}, {}, {}, 'production', '')",
                            p(1),
                            p(2),
                            p(3),
                            p(4),
                            p(5),
                            p(6)
                        )
                    } else {
                        format!(
                            "({}, {}, 'stop', {}, {}, NULL, 0, 'production', '')",
                            p(1),
                            p(2),
                            p(3),
                            p(4)
                        )
                    }
                })
                .collect();
            let sql = format!(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
                 VALUES {} ON CONFLICT (id) DO NOTHING",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for span in chunk {
                query = query
                    .bind(span.id.as_str())
                    .bind(span.work_unit.as_str())
                    .bind(span.reason.as_str())
                    .bind(span.from_ms);
                if let Some(to_ms) = span.to_ms {
                    query = query.bind(to_ms).bind(to_ms - span.from_ms);
                }
            }
            query.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

async fn ensure_unit(connection: &mut Connection, work_unit: &str) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO equipment_units (work_unit) VALUES ($1) ON CONFLICT (work_unit) DO NOTHING",
    )
    .bind(work_unit)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn production(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::production::v1::production_event::Event;
    let envelope: mom_proto::production::v1::ProductionEvent = decode(message)?;
    let handled = matches!(
        envelope.event,
        Some(
            Event::WorkUnitRegistered(_)
                | Event::WorkUnitRunning(_)
                | Event::WorkUnitStopped(_)
                | Event::SetupStarted(_)
                | Event::SetupEnded(_)
                | Event::PlannedShutdownScheduled(_)
        )
    );
    if let Some(change) = state_change(envelope.event.as_ref()) {
        // The state changes wait for `flush`, which reads what they need at once; one that
        // breaks the contract is refused now (when its guard lets it through, like any event).
        let (state, reason, product, at) = match change {
            Ok(change) => change,
            Err(poison) => {
                let metadata = envelope.metadata.as_ref();
                return match first_delivery(page, connection, message, metadata, true).await? {
                    true => Err(poison),
                    false => Ok(false),
                };
            }
        };
        let metadata = envelope.metadata.as_ref();
        let guard = sequence_key(&message.topic, metadata)
            .map(|(key, sequence)| page.sequences.defer(&key, sequence));
        page.pending.push(PendingChange {
            guard,
            id: message.event_id.to_string(),
            work_unit: aggregate_id(metadata).to_owned(),
            state,
            reason: reason.to_owned(),
            product: product.map(str::to_owned),
            at,
            stop: matches!(envelope.event, Some(Event::WorkUnitStopped(_))),
        });
        return Ok(false);
    }
    if !first_delivery(
        page,
        connection,
        message,
        envelope.metadata.as_ref(),
        handled,
    )
    .await?
    {
        return Ok(false);
    }
    let work_unit = aggregate_id(envelope.metadata.as_ref());
    let id = message.event_id.to_string();
    match &envelope.event {
        Some(Event::WorkUnitRegistered(registered)) => {
            let work_unit = required(&registered.work_unit, "work_unit")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query("UPDATE equipment_units SET name = $2 WHERE work_unit = $1")
                .bind(work_unit)
                .bind(&registered.name)
                .execute(&mut *connection)
                .await?;
        }
        Some(Event::PlannedShutdownScheduled(shutdown)) => {
            let from = ms(shutdown.from.as_ref(), "from")?;
            let until = ms(shutdown.until.as_ref(), "until")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms, to_ms) \
                 VALUES ($1, $2, 'planned_shutdown', $3, '', $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(work_unit)
            .bind(&shutdown.reason)
            .bind(from)
            .bind(until.max(from))
            .execute(&mut *connection)
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A production state change's state, reason, product (`None` keeps the unit's) and time.
type StateFields<'a> = (&'static str, &'a str, Option<&'a str>, i64);

/// Returns the state change an event makes, if it is one (an error when it breaks the
/// contract).
fn state_change(
    event: Option<&mom_proto::production::v1::production_event::Event>,
) -> Option<Result<StateFields<'_>, ApplyError>> {
    use mom_proto::production::v1::production_event::Event;
    fn product(product: &str) -> Option<&str> {
        (!product.is_empty()).then_some(product)
    }
    Some(match event? {
        Event::WorkUnitRunning(running) => ms(running.at.as_ref(), "at")
            .map(|at| ("running", "", product(running.product.as_str()), at)),
        Event::WorkUnitStopped(stopped) => {
            ms(stopped.at.as_ref(), "at").map(|at| ("stopped", stopped.reason.as_str(), None, at))
        }
        Event::SetupStarted(setup) => ms(setup.at.as_ref(), "at").map(|at| {
            (
                "setup",
                "changeover",
                product(setup.next_product.as_str()),
                at,
            )
        }),
        Event::SetupEnded(setup) => ms(setup.at.as_ref(), "at").map(|at| {
            (
                "stopped",
                "setup ended",
                product(setup.product.as_str()),
                at,
            )
        }),
        _ => return None,
    })
}

fn level_name(level: mom_proto::maintenance::v1::AssetLevel) -> &'static str {
    use mom_proto::maintenance::v1::AssetLevel;
    match level {
        AssetLevel::Enterprise => "enterprise",
        AssetLevel::Site => "site",
        AssetLevel::Area => "area",
        AssetLevel::WorkCenter => "work_center",
        AssetLevel::WorkUnit => "work_unit",
        AssetLevel::Unspecified => "unspecified",
    }
}

async fn maintenance(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::maintenance::v1::maintenance_event::Event;
    use mom_proto::maintenance::v1::AssetLevel;
    let envelope: mom_proto::maintenance::v1::MaintenanceEvent = decode(message)?;
    let aggregate = aggregate_id(envelope.metadata.as_ref());
    let change = match &envelope.event {
        Some(Event::BreakdownReported(reported)) => Some(breakdown_reported(reported, aggregate)),
        Some(Event::BreakdownRepaired(repaired)) => Some(breakdown_repaired(repaired, aggregate)),
        Some(Event::WorkOrderCancelled(cancelled)) => Some(Ok(DowntimeChange::Cancelled {
            id: format!("wo:{aggregate}"),
            work_unit: cancelled.work_unit.clone(),
        })),
        _ => None,
    };
    if let Some(change) = change {
        return defer_downtime(
            page,
            connection,
            message,
            envelope.metadata.as_ref(),
            change,
        )
        .await;
    }
    let handled = matches!(
        envelope.event,
        Some(Event::AssetRegistered(_) | Event::AssetMoved(_))
    );
    if !first_delivery(
        page,
        connection,
        message,
        envelope.metadata.as_ref(),
        handled,
    )
    .await?
    {
        return Ok(false);
    }
    match &envelope.event {
        Some(Event::AssetRegistered(registered)) => {
            let asset = required(&registered.asset, "asset")?;
            sqlx::query(
                "INSERT INTO equipment_assets (asset, level, name, parent) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (asset) DO UPDATE SET level = excluded.level, name = excluded.name, \
                 parent = excluded.parent",
            )
            .bind(asset)
            .bind(level_name(registered.level()))
            .bind(&registered.name)
            .bind(&registered.parent)
            .execute(&mut *connection)
            .await?;
            if registered.level() == AssetLevel::WorkUnit {
                ensure_unit(connection, asset).await?;
            }
        }
        Some(Event::AssetMoved(moved)) => {
            sqlx::query("UPDATE equipment_assets SET parent = $2 WHERE asset = $1")
                .bind(required(&moved.asset, "asset")?)
                .bind(&moved.to_parent)
                .execute(&mut *connection)
                .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Returns the downtime change of a reported breakdown (an error when it breaks the contract).
fn breakdown_reported(
    reported: &mom_proto::maintenance::v1::BreakdownReported,
    aggregate: &str,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(&reported.work_unit, "work_unit")?;
    let work_order = if reported.work_order.is_empty() {
        aggregate
    } else {
        reported.work_order.as_str()
    };
    let from = ms(reported.failure_start.as_ref(), "failure_start")?;
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: format!("wo:{work_order}"),
            work_unit: work_unit.to_owned(),
            kind: BREAKDOWN.to_owned(),
            reason: reported.failure_mode.clone(),
            from_ms: from,
            to_ms: None,
            duration_ms: 0,
            source: "maintenance".to_owned(),
            work_order: work_order.to_owned(),
        },
        conflict: Conflict::Keep,
    })
}

/// Returns the downtime change of a repaired breakdown (an error when it breaks the contract).
fn breakdown_repaired(
    repaired: &mom_proto::maintenance::v1::BreakdownRepaired,
    aggregate: &str,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(&repaired.work_unit, "work_unit")?;
    let from = ms(repaired.failure_start.as_ref(), "failure_start")?;
    let until = ms(repaired.repair_end.as_ref(), "repair_end")?.max(from);
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: format!("wo:{aggregate}"),
            work_unit: work_unit.to_owned(),
            kind: BREAKDOWN.to_owned(),
            reason: repaired.failure_mode.clone(),
            from_ms: from,
            to_ms: Some(until),
            duration_ms: until - from,
            source: "maintenance".to_owned(),
            work_order: aggregate.to_owned(),
        },
        conflict: Conflict::Repair,
    })
}

/// Keeps a breakdown or starvation event for `flush`; one that breaks the contract is refused
/// now (when its guard lets it through, like any event).
async fn defer_downtime(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
    metadata: Option<&mom_proto::common::v1::EventMetadata>,
    change: Result<DowntimeChange, ApplyError>,
) -> Result<bool, ApplyError> {
    let change = match change {
        Ok(change) => change,
        Err(poison) => {
            return match first_delivery(page, connection, message, metadata, true).await? {
                true => Err(poison),
                false => Ok(false),
            };
        }
    };
    let guard = sequence_key(&message.topic, metadata)
        .map(|(key, sequence)| page.sequences.defer(&key, sequence));
    page.downtime.push(PendingDowntime { guard, change });
    Ok(false)
}

/// The downtime kinds of maintenance and inventory, each with its columns of `equipment_units`
/// (the unit's latest open row of the kind).
const BREAKDOWN: &str = "breakdown";
const STARVATION: &str = "starvation";

/// Applies the transaction's breakdown and starvation changes: reads the stored rows they
/// touch, applies the changes in memory in order, writes each changed row once, then sets the
/// units' open breakdown and starvation columns from their latest open row of each kind (by
/// start), so they do not depend on the order in which events of different aggregates (Kafka
/// partitions) arrive. A handful of statements per transaction, whatever its number of
/// changes. Returns whether a change was applied.
async fn write_downtime(
    connection: &mut Connection,
    changes: Vec<DowntimeChange>,
) -> Result<bool, ApplyError> {
    if changes.is_empty() {
        return Ok(false);
    }
    let mut ids: Vec<&str> = changes.iter().map(DowntimeChange::id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = stored_downtime(connection, &ids).await?;
    // Rows changed (`None`: deleted), units whose row the transaction ensures, and the units
    // whose open breakdown or starvation is set again.
    let mut touched = BTreeSet::new();
    let mut ensure = BTreeSet::new();
    let mut refresh: BTreeSet<(String, &'static str)> = BTreeSet::new();
    let mut changed = false;
    for change in changes {
        match change {
            DowntimeChange::Write { row, conflict } => {
                changed = true;
                ensure.insert(row.work_unit.clone());
                let kind = if row.kind == BREAKDOWN {
                    BREAKDOWN
                } else {
                    STARVATION
                };
                refresh.insert((row.work_unit.clone(), kind));
                let slot = rows.entry(row.id.clone()).or_default();
                match (slot.as_mut(), conflict) {
                    (None, _) => *slot = Some(row.clone()),
                    (Some(_), Conflict::Keep) => continue,
                    (Some(stored), Conflict::Repair) => {
                        stored.reason = row.reason;
                        stored.from_ms = row.from_ms;
                        stored.to_ms = row.to_ms;
                        stored.duration_ms = row.duration_ms;
                    }
                    (Some(stored), Conflict::End) => {
                        stored.to_ms = row.to_ms;
                        stored.duration_ms = row.duration_ms;
                    }
                }
                touched.insert(row.id);
            }
            DowntimeChange::Cancelled { id, work_unit } => {
                if rows.get_mut(&id).and_then(Option::take).is_some() {
                    changed = true;
                    refresh.insert((work_unit, BREAKDOWN));
                    touched.insert(id);
                }
            }
        }
    }
    let params = Params::of(connection);
    let deleted: Vec<&str> = touched
        .iter()
        .filter(|id| rows.get(*id).is_some_and(Option::is_none))
        .map(String::as_str)
        .collect();
    for chunk in deleted.chunks(READ_CHUNK) {
        let sql = format!(
            "DELETE FROM equipment_downtime WHERE id IN ({})",
            params.list(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *connection).await?;
    }
    let written: Vec<&DowntimeRow> = touched
        .iter()
        .filter_map(|id| rows.get(id).and_then(Option::as_ref))
        .collect();
    for chunk in written.chunks(DOWNTIME_CHUNK) {
        let sql = format!(
            "INSERT INTO equipment_downtime \
             (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
             VALUES {} ON CONFLICT (id) DO UPDATE SET work_unit = excluded.work_unit, \
             kind = excluded.kind, reason = excluded.reason, from_ms = excluded.from_ms, \
             to_ms = excluded.to_ms, duration_ms = excluded.duration_ms, \
             source = excluded.source, work_order = excluded.work_order",
            params.rows(chunk.len(), 9)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(row.id.as_str())
                .bind(row.work_unit.as_str())
                .bind(row.kind.as_str())
                .bind(row.reason.as_str())
                .bind(row.from_ms)
                .bind(row.to_ms)
                .bind(row.duration_ms)
                .bind(row.source.as_str())
                .bind(row.work_order.as_str());
        }
        query.execute(&mut *connection).await?;
    }
    let ensured: Vec<&str> = ensure.iter().map(String::as_str).collect();
    for chunk in ensured.chunks(READ_CHUNK) {
        let sql = format!(
            "INSERT INTO equipment_units (work_unit) VALUES {} ON CONFLICT (work_unit) DO NOTHING",
            params.rows(chunk.len(), 1)
        );
        let mut query = sqlx::query(&sql);
        for unit in chunk {
            query = query.bind(*unit);
        }
        query.execute(&mut *connection).await?;
    }
    for kind in [BREAKDOWN, STARVATION] {
        let units: Vec<&str> = refresh
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(unit, _)| unit.as_str())
            .collect();
        refresh_open(connection, kind, &units, &ensure).await?;
    }
    Ok(changed)
}

/// Reads the stored downtime rows of `ids`, many per statement (`None`: no row).
async fn stored_downtime(
    connection: &mut Connection,
    ids: &[&str],
) -> Result<HashMap<String, Option<DowntimeRow>>, ApplyError> {
    let mut rows: HashMap<String, Option<DowntimeRow>> =
        ids.iter().map(|id| ((*id).to_owned(), None)).collect();
    let select = "SELECT id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, \
         work_order FROM equipment_downtime WHERE id";
    for chunk in ids.chunks(READ_CHUNK) {
        for row in fetch_in(connection, select, chunk).await? {
            let row = DowntimeRow {
                id: row.try_get(0)?,
                work_unit: row.try_get(1)?,
                kind: row.try_get(2)?,
                reason: row.try_get(3)?,
                from_ms: row.try_get(4)?,
                to_ms: row.try_get(5)?,
                duration_ms: row.try_get(6)?,
                source: row.try_get(7)?,
                work_order: row.try_get(8)?,
            };
            rows.insert(row.id.clone(), Some(row));
        }
    }
    Ok(rows)
}

/// Sets the open breakdown (`down_*`) or starvation (`starved_*`) columns of `units` from
/// their latest open row of `kind` (by start, then id), or clears them. A unit without a row
/// in `equipment_units` (only a cancellation names it, none of the `ensured` ones) is left
/// without one.
async fn refresh_open(
    connection: &mut Connection,
    kind: &'static str,
    units: &[&str],
    ensured: &BTreeSet<String>,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in units.chunks(READ_CHUNK) {
        // The latest open row of each unit: (work order, start, reason).
        let sql = format!(
            "SELECT work_unit, work_order, from_ms, reason FROM (\
             SELECT work_unit, work_order, from_ms, reason, ROW_NUMBER() OVER (\
             PARTITION BY work_unit ORDER BY from_ms DESC, id DESC) AS n \
             FROM equipment_downtime WHERE kind = {} AND to_ms IS NULL AND work_unit IN ({})) \
             AS open WHERE n = 1",
            params.nth(1),
            params.list(2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, i64, String)>(&sql).bind(kind);
        for unit in chunk {
            query = query.bind(*unit);
        }
        let open: HashMap<String, (String, i64, String)> = query
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .map(|(unit, work_order, since, reason)| (unit, (work_order, since, reason)))
            .collect();
        let (set, columns) = if kind == BREAKDOWN {
            (
                "down_work_order = excluded.down_work_order, \
                 down_since_ms = excluded.down_since_ms, down_reason = excluded.down_reason",
                "down_work_order, down_since_ms, down_reason",
            )
        } else {
            (
                "starved_material = excluded.starved_material, \
                 starved_since_ms = excluded.starved_since_ms",
                "starved_material, starved_since_ms",
            )
        };
        let width = if kind == BREAKDOWN { 4 } else { 3 };
        let unsure: Vec<&str> = chunk
            .iter()
            .copied()
            .filter(|unit| !ensured.contains(*unit))
            .collect();
        let mut missing: HashSet<&str> = unsure.iter().copied().collect();
        if !unsure.is_empty() {
            let select = "SELECT work_unit FROM equipment_units WHERE work_unit";
            for row in fetch_in(connection, select, &unsure).await? {
                let unit: String = row.try_get(0)?;
                missing.remove(unit.as_str());
            }
        }
        let units: Vec<&str> = chunk
            .iter()
            .copied()
            .filter(|unit| !missing.contains(unit))
            .collect();
        if units.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO equipment_units (work_unit, {columns}) VALUES {} \
             ON CONFLICT (work_unit) DO UPDATE SET {set}",
            params.rows(units.len(), width)
        );
        let mut query = sqlx::query(&sql);
        for unit in units {
            let latest = open.get(unit);
            query = query.bind(unit);
            query = if kind == BREAKDOWN {
                query
                    .bind(latest.map(|(work_order, _, _)| work_order.as_str()))
                    .bind(latest.map(|(_, since, _)| *since))
                    .bind(latest.map(|(_, _, reason)| reason.as_str()))
            } else {
                query
                    .bind(latest.map(|(_, _, material)| material.as_str()))
                    .bind(latest.map(|(_, since, _)| *since))
            };
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

async fn inventory(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::inventory::v1::inventory_event::Event;
    let envelope: mom_proto::inventory::v1::InventoryEvent = decode(message)?;
    let change = match &envelope.event {
        Some(Event::MaterialStarvationStarted(started)) => starvation(
            &started.work_unit,
            &started.material,
            (started.at.as_ref(), "at"),
            None,
        ),
        Some(Event::MaterialStarvationEnded(ended)) => starvation(
            &ended.work_unit,
            &ended.material,
            (ended.from.as_ref(), "from"),
            Some(ended.until.as_ref()),
        ),
        _ => {
            // The read model ignores the other inventory events: recorded in the guard only.
            first_delivery(page, connection, message, envelope.metadata.as_ref(), false).await?;
            return Ok(false);
        }
    };
    defer_downtime(
        page,
        connection,
        message,
        envelope.metadata.as_ref(),
        change,
    )
    .await
}

/// Returns the downtime change of a starvation that started at `from` (`until`: `None`) or
/// ended (an error when the event breaks the contract).
fn starvation(
    work_unit: &str,
    material: &str,
    (from, from_field): (Option<&prost_types::Timestamp>, &'static str),
    until: Option<Option<&prost_types::Timestamp>>,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(work_unit, "work_unit")?;
    let from = ms(from, from_field)?;
    let until = match until {
        Some(until) => Some(ms(until, "until")?.max(from)),
        None => None,
    };
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: starvation_id(work_unit, material, from),
            work_unit: work_unit.to_owned(),
            kind: STARVATION.to_owned(),
            reason: material.to_owned(),
            from_ms: from,
            to_ms: until,
            duration_ms: until.map_or(0, |until| until - from),
            source: "inventory".to_owned(),
            work_order: String::new(),
        },
        conflict: if until.is_some() {
            Conflict::End
        } else {
            Conflict::Keep
        },
    })
}

fn starvation_id(work_unit: &str, material: &str, from_ms: i64) -> String {
    format!("starved:{work_unit}:{material}:{from_ms}")
}
