//! The OEE read model: the applied messages (`oee_input_batches`, `oee_sequences` and
//! `oee_inputs`, see [`crate::inputs`]), `oee_periods` (figures per work unit, granularity and
//! period), `oee_reasons` (the loss Pareto of each period), `oee_assets` (the ISA-95 hierarchy
//! for roll-ups) and `oee_revision` (a counter that grows with every transaction that changed
//! figures; each changed period row carries the revision that last changed it, which is how
//! `WatchOee` and the `mom.oee.v1` publisher find what changed).
//!
//! `apply` maps and checks each message; `flush` (once per transaction: a page of the store log,
//! or one Kafka message) stores the transaction's messages, feeds the engine those that are new
//! (the per-aggregate sequence guard tells, or for a message without a sequence the insert of
//! its event id, so a redelivery is recognised without keeping every id in memory) and writes
//! the changed periods.
//!
//! The writes live beside this file: `messages` stores the applied messages and the hierarchy,
//! `periods` the changed periods and their reasons; `live` is the query side's use of the
//! engine (figures cut at `as_of`).
//!
//! Memory stays flat however long the history: the engine forgets each work unit's facts that
//! are older than the lateness horizon ([`mom_oee::Engine::compact`]). A fact that still
//! changes a forgotten period is applied exactly all the same: the unit's history is read back
//! from the stored messages (by `equipment`) and folded again.

use mom_telemetry::internal_events::{emit, OeePeriodsUpdated};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use mom_oee::{
    Calendar, CycleTime, Engine, EngineConfig, EquipmentConfig, EquipmentId, Fact, Figures,
    Granularity, Millis, Pareto, Period, Window,
};
use mom_projection::{
    fetch_in, ApplyError, Connection, Deferred, Message, PageSequences, Params, Projection,
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::facts::{recorded, Input, Mapper, Stamp};
use crate::inputs::{self, Stored};
use crate::query::QueryError;
use mom_clock::TimePolicy;

mod live;
mod messages;
mod periods;
mod snapshot;

use messages::{store, write_asset};
use periods::{write_periods, PeriodKey, WrittenPeriods};

const SCHEMA: [&str; 21] = [
    // `equipment`: the work unit whose facts the message gave (NULL: none; '*': unknown, from
    // before the column existed), read back when the unit's forgotten history is needed.
    "CREATE TABLE IF NOT EXISTS oee_inputs (\
        seq BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, equipment TEXT, \
        topic TEXT NOT NULL, payload BYTEA NOT NULL)",
    "CREATE INDEX IF NOT EXISTS oee_inputs_equipment ON oee_inputs (equipment, seq)",
    // A transaction's messages of one work unit (`equipment` as in `oee_inputs`), in order
    // (`inputs::encode`); numbered with the rows of `oee_inputs`.
    "CREATE TABLE IF NOT EXISTS oee_input_batches (\
        seq BIGINT PRIMARY KEY, equipment TEXT, messages BYTEA NOT NULL)",
    "CREATE INDEX IF NOT EXISTS oee_input_batches_equipment \
        ON oee_input_batches (equipment, seq)",
    // The sequence guard of the batched messages: the highest sequence applied per aggregate.
    "CREATE TABLE IF NOT EXISTS oee_sequences (aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
    // Before `oee_inputs`, messages were kept here: moved over once, then empty.
    "CREATE TABLE IF NOT EXISTS oee_messages (\
        event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BYTEA NOT NULL)",
    "INSERT INTO oee_inputs (seq, event_id, equipment, topic, payload) \
        SELECT ROW_NUMBER() OVER (ORDER BY event_id), event_id, '*', topic, payload \
        FROM oee_messages WHERE true ON CONFLICT DO NOTHING",
    "DELETE FROM oee_messages",
    "CREATE TABLE IF NOT EXISTS oee_periods (\
        equipment TEXT NOT NULL, granularity TEXT NOT NULL, start_ms BIGINT NOT NULL, \
        end_ms BIGINT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL, \
        label TEXT NOT NULL, calendar_ms BIGINT NOT NULL, \
        planned_production_ms BIGINT NOT NULL, run_ms BIGINT NOT NULL, net_run_ms BIGINT NOT NULL, \
        fully_productive_ms BIGINT NOT NULL, total_count BIGINT NOT NULL, \
        rejected_count BIGINT NOT NULL, good_count BIGINT NOT NULL, \
        availability DOUBLE PRECISION, performance DOUBLE PRECISION, quality DOUBLE PRECISION, \
        oee DOUBLE PRECISION, teep DOUBLE PRECISION, \
        equipment_failure_ms BIGINT NOT NULL, setup_and_adjustments_ms BIGINT NOT NULL, \
        small_stops_ms BIGINT NOT NULL, reduced_speed_ms BIGINT NOT NULL, \
        startup_rejects_ms BIGINT NOT NULL, production_rejects_ms BIGINT NOT NULL, \
        counts_without_cycle_time BIGINT NOT NULL, rejects_without_cycle_time BIGINT NOT NULL, \
        unassigned_stop_ms BIGINT NOT NULL, late_facts BIGINT NOT NULL, \
        revision BIGINT NOT NULL, \
        PRIMARY KEY (equipment, granularity, start_ms))",
    "CREATE INDEX IF NOT EXISTS oee_periods_revision ON oee_periods (revision)",
    "CREATE TABLE IF NOT EXISTS oee_reasons (\
        equipment TEXT NOT NULL, granularity TEXT NOT NULL, start_ms BIGINT NOT NULL, \
        loss TEXT NOT NULL, reason TEXT NOT NULL, ms BIGINT NOT NULL, \
        PRIMARY KEY (equipment, granularity, start_ms, loss, reason))",
    // The engine's snapshot (one row) and the marks that tell which stored inputs it makes
    // unnecessary (see `snapshot`).
    "CREATE TABLE IF NOT EXISTS oee_snapshot (\
        id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, state BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS oee_snapshot_marks (\
        seq BIGINT PRIMARY KEY, latest_ms BIGINT NOT NULL)",
    // The refused-fact count of the periods that have any (`Flags::refused_facts`).
    "CREATE TABLE IF NOT EXISTS oee_refused (\
        equipment TEXT NOT NULL, granularity TEXT NOT NULL, start_ms BIGINT NOT NULL, \
        refused_facts BIGINT NOT NULL, PRIMARY KEY (equipment, granularity, start_ms))",
    // The unknown-state time of the periods that have any (`Flags::disconnected_time`): a table
    // of its own, so read models written before the flag need no new column.
    "CREATE TABLE IF NOT EXISTS oee_disconnected (\
        equipment TEXT NOT NULL, granularity TEXT NOT NULL, start_ms BIGINT NOT NULL, \
        disconnected_ms BIGINT NOT NULL, PRIMARY KEY (equipment, granularity, start_ms))",
    "CREATE TABLE IF NOT EXISTS oee_assets (\
        asset TEXT PRIMARY KEY, level TEXT NOT NULL, parent TEXT NOT NULL)",
    // Not emptied by a rebuild: revisions keep growing, so watchers and the publisher see the
    // rebuilt rows as changes.
    "CREATE TABLE IF NOT EXISTS oee_revision (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)",
    // The sites' reason catalogues (`crate::reason_codes`).
    crate::reason_codes::SCHEMA[0],
    crate::reason_codes::SCHEMA[1],
    crate::reason_codes::SCHEMA[2],
    // The plant calendars' versions (`crate::calendars`).
    crate::calendars::SCHEMA[0],
];

/// Postgres only: the stored inputs (`oee_input_batches.messages`: a transaction's messages of
/// one work unit, tens of kB) and the engine's snapshot (`oee_snapshot.state`) are compressed
/// with lz4 instead of Postgres's default pglz when they are stored out of line. pglz cost the
/// server about 10 ms per MB written, a sixth of a 1 M-event rebuild on Postgres (14.5 s against
/// 12.1 s with lz4, which stores these values almost as small: 52 against 48 MB; see
/// docs/benchmarks.md). Set once (a column already on lz4 is left alone: the `ALTER` takes a
/// lock on the table); rows written before keep pglz until rewritten. A server without lz4
/// (built without it, or before version 14) keeps pglz, and so does a start that waits more
/// than 2 s for the table's lock (another replica's long read): the block says so in a notice
/// and goes on, and the next start tries again. A storage setting never stops a start.
const POSTGRES_SCHEMA: [&str; 1] = ["DO $$ DECLARE col record; BEGIN \
    PERFORM set_config('lock_timeout', '2s', true); \
    FOR col IN SELECT a.attrelid::regclass AS tbl, a.attname AS name FROM pg_attribute a \
        WHERE (a.attrelid, a.attname) IN \
            (('oee_input_batches'::regclass, 'messages'), ('oee_snapshot'::regclass, 'state')) \
        AND a.attcompression <> 'l' LOOP \
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION lz4', col.tbl, col.name); \
    END LOOP; \
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_column \
        OR lock_not_available THEN \
        RAISE NOTICE 'OEE inputs stay compressed with pglz: %', SQLERRM; \
    END $$"];

/// Granularities the projection stores; weeks and hierarchy nodes are summed at query time.
pub const STORED: [Granularity; 3] = [Granularity::Hour, Granularity::Shift, Granularity::Day];

/// The name of a granularity in tables and the HTTP API.
pub fn granularity_name(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Hour => "hour",
        Granularity::Shift => "shift",
        Granularity::Day => "day",
        Granularity::Week => "week",
        Granularity::Custom => "custom",
    }
}

/// The losses that have a reason Pareto, by their name in `oee_reasons`.
pub fn paretos(reasons: &mom_oee::Reasons) -> [(&'static str, &Pareto); 5] {
    [
        ("equipment_failure", &reasons.equipment_failure),
        ("setup_and_adjustments", &reasons.setup_and_adjustments),
        ("small_stops", &reasons.small_stops),
        ("startup_rejects", &reasons.startup_rejects),
        ("production_rejects", &reasons.production_rejects),
    ]
}

/// A message mapped in the open transaction, stored and fed to the engine by `flush`.
struct Pending {
    event_id: Uuid,
    topic: String,
    payload: Vec<u8>,
    inputs: Vec<Input>,
    /// When the platform recorded the event (read in `apply` with the guard's origin, so the
    /// payload's metadata is decoded once more, not twice).
    recorded: Option<DateTime<Utc>>,
    /// The sequence guard of a message that carries its aggregate and sequence (kept in a
    /// batch); `None` for one kept in a row of its own, recognised again by its event id.
    guard: Option<Deferred>,
}

impl Pending {
    /// The work unit whose facts the message gives (`*` when it gives facts of several).
    fn equipment(&self) -> Option<String> {
        let mut units = self.inputs.iter().filter_map(|input| match input {
            Input::Fact(fact) => Some(fact.equipment.as_str()),
            _ => None,
        });
        let first = units.next()?;
        Some(if units.all(|unit| unit == first) {
            first.to_owned()
        } else {
            "*".to_owned()
        })
    }
}

struct State {
    engine: Engine,
    mapper: Mapper,
    configs: HashMap<EquipmentId, EquipmentConfig>,
    /// The event-time policy facts are judged against ([`window`]).
    policy: TimePolicy,
    /// The `seq` of the next row of `oee_inputs`.
    next_seq: i64,
    /// The `seq` of the last row the stored snapshot holds (0: none).
    snapshot_seq: i64,
    /// The latest event time of an admitted fact (an interval's end), for the snapshot marks.
    latest_fact: Millis,
    /// Messages mapped in the current transaction, in order.
    unwritten: Vec<Pending>,
    /// Set when a transaction rolled back: the engine may hold facts the database does not.
    stale: bool,
    /// Set when the current transaction changed the engine (cleared at commit): only then does
    /// a rollback leave it ahead of the database. A message refused as poison before it was
    /// fed leaves it clean, so it costs no reload.
    dirty: bool,
    /// The figures and reasons of the periods written lately, as the tables hold them.
    written: WrittenPeriods,
    /// The sequence guard of the current transaction.
    sequences: PageSequences,
    /// Whether `oee_inputs` holds rows (messages kept one by one): then a message of an
    /// aggregate the guard has no sequence for may have been applied before the guard existed,
    /// and is looked up by event id.
    single_rows: bool,
}

impl State {
    fn new(calendar: &Calendar, config: EngineConfig, policy: TimePolicy) -> Self {
        Self {
            engine: Engine::new(calendar.clone(), config),
            mapper: Mapper::default(),
            configs: HashMap::new(),
            policy,
            next_seq: 1,
            snapshot_seq: 0,
            latest_fact: Millis::MIN,
            unwritten: Vec::new(),
            stale: false,
            dirty: false,
            written: WrittenPeriods::default(),
            sequences: PageSequences::default(),
            single_rows: false,
        }
    }

    /// Feeds the engine the inputs of one message, its facts judged against `window`; returns
    /// the hierarchy changes, which go to `oee_assets`.
    fn feed(&mut self, inputs: Vec<Input>, window: Window) -> Vec<Input> {
        let mut assets = Vec::new();
        for input in inputs {
            match input {
                Input::Fact(fact) => {
                    if self.engine.apply_within(&fact, window).is_none() {
                        self.latest_fact = self.latest_fact.max(reach(&fact, &self.engine));
                    }
                }
                Input::Thresholds {
                    equipment,
                    micro_stop_threshold_ms,
                    startup_window_ms,
                } => {
                    let config = self.configs.entry(equipment.clone()).or_default();
                    config.micro_stop_threshold = millis(micro_stop_threshold_ms);
                    config.startup_window = millis(startup_window_ms);
                    self.engine.configure(equipment, config.clone());
                }
                Input::CycleTime {
                    equipment,
                    product,
                    ideal_cycle_time_ms,
                } => {
                    let Ok(cycle) = CycleTime::from_secs_f64(ideal_cycle_time_ms as f64 / 1000.0)
                    else {
                        continue;
                    };
                    let config = self.configs.entry(equipment.clone()).or_default();
                    config
                        .ideal_cycle_time
                        .by_product
                        .insert(product.as_str().into(), cycle);
                    self.engine.configure(equipment, config.clone());
                }
                Input::DefaultCycleTime {
                    equipment,
                    ideal_cycle_time_ms,
                } => {
                    let Ok(cycle) = CycleTime::from_secs_f64(ideal_cycle_time_ms as f64 / 1000.0)
                    else {
                        continue;
                    };
                    let config = self.configs.entry(equipment.clone()).or_default();
                    config.ideal_cycle_time.default = Some(cycle);
                    self.engine.configure(equipment, config.clone());
                }
                // Written to the read model with the hierarchy (`write_asset`).
                asset @ (Input::Asset { .. } | Input::AssetMoved { .. } | Input::Reason(_)) => {
                    assets.push(asset)
                }
                // The engine cuts shift periods by it; the read model keeps it for the view.
                Input::Calendar { scope, version } => {
                    self.engine.set_calendar_version(&scope, (*version).clone());
                    assets.push(Input::Calendar { scope, version });
                }
            }
        }
        assets
    }

    /// Returns the facts of `equipment` in `stored` (its stored rows, in order), each with the
    /// window it is judged against.
    fn facts_of(
        &mut self,
        equipment: &EquipmentId,
        stored: &[Stored],
    ) -> Result<Vec<(Fact, Window)>, ApplyError> {
        let mut facts = Vec::new();
        for row in stored {
            for (topic, payload) in row.messages().map_err(ApplyError::Transient)? {
                let Ok(inputs) = self.mapper.map(&topic, payload) else {
                    continue;
                };
                let window = window(&self.policy, payload);
                facts.extend(inputs.into_iter().filter_map(|input| match input {
                    Input::Fact(fact) if fact.equipment == *equipment => Some((fact, window)),
                    _ => None,
                }));
            }
        }
        Ok(facts)
    }

    /// Maps and feeds the messages of stored rows (a reload); returns an error for a damaged
    /// batch.
    fn feed_stored(&mut self, stored: &[Stored]) -> Result<(), ApplyError> {
        for row in stored {
            if !row.topic.is_empty() {
                self.single_rows = true;
            }
            for (topic, payload) in row.messages().map_err(ApplyError::Transient)? {
                if let Ok(inputs) = self.mapper.map(&topic, payload) {
                    let window = window(&self.policy, payload);
                    self.feed(inputs, window);
                }
            }
        }
        Ok(())
    }
}

/// Gives the work units that got a fact older than what the engine of `state` keeps their
/// history back from `oee_inputs`.
async fn restore_incomplete(
    state: &Mutex<State>,
    connection: &mut Connection,
    up_to_seq: i64,
) -> Result<(), ApplyError> {
    let incomplete = lock(state)?.engine.take_incomplete();
    for (equipment, from) in incomplete {
        let stored = inputs::unit(connection, equipment.as_str(), up_to_seq).await?;
        let mut state = lock(state)?;
        let facts = state.facts_of(&equipment, &stored)?;
        state.engine.restore(&equipment, facts, from);
    }
    Ok(())
}

/// Returns the event-time window of a message: the policy taken at the time the platform
/// recorded its event (a planned shutdown may start up to `mom_grpc::PLANNING_HORIZON` ahead,
/// as the command services allow) (at the clock's time when it says none, or a later one), so a replay
/// judges every fact as it was judged when it arrived, and agrees with the command services,
/// which checked the same policy when they recorded it.
fn window(policy: &TimePolicy, payload: &[u8]) -> Window {
    window_at(policy, recorded(payload))
}

/// [`window`] of a message recorded at `recorded`.
fn window_at(policy: &TimePolicy, recorded: Option<DateTime<Utc>>) -> Window {
    let now = mom_clock::now();
    let reference = recorded.map_or(now, |at| at.min(now));
    // A planned shutdown may start as far ahead as the command services let it be scheduled.
    let planned = TimePolicy {
        max_future_skew: policy
            .max_future_skew
            .map(|skew| skew.max(mom_grpc::PLANNING_HORIZON)),
        ..*policy
    };
    Window::new(
        policy.earliest(reference),
        policy.latest(reference),
        Some(reference),
    )
    .planning_until(planned.latest(reference))
}

/// Returns the latest instant an admitted fact reaches: its latest time, an interval's end (cut
/// at the engine's maximum span, as the engine cuts it).
fn reach(fact: &Fact, engine: &Engine) -> Millis {
    let at = Millis::from_datetime(fact.kind.at());
    match &fact.kind {
        mom_oee::FactKind::Rejected { produced_at, .. } => {
            at.max(Millis::from_datetime(*produced_at))
        }
        mom_oee::FactKind::PlannedShutdown { span, .. }
        | mom_oee::FactKind::Breakdown { span, .. }
        | mom_oee::FactKind::Starved { span, .. } => {
            let cap = engine.max_span().map_or(Millis::MAX, |max| at + max);
            Millis::from_datetime(span.until()).min(cap).max(at)
        }
        _ => at,
    }
}

/// Logs the facts the engine refused since the last call: one line per work unit, kind and
/// reason, with their number.
fn log_refusals(engine: &mut Engine) {
    for refused in engine.take_refusals() {
        match refused.reason {
            Some(reason) => tracing::warn!(
                equipment = %refused.equipment.as_str(),
                kind = refused.kind,
                count = refused.count,
                last_at = %refused.last_at,
                "oee facts refused (kept out of the figures, counted in flags.refused_facts): {reason}"
            ),
            None => tracing::warn!(
                equipment = %refused.equipment.as_str(),
                kind = refused.kind,
                count = refused.count,
                last_at = %refused.last_at,
                "oee intervals cut at the maximum fact span"
            ),
        }
    }
}

fn lock(state: &Mutex<State>) -> Result<std::sync::MutexGuard<'_, State>, ApplyError> {
    state
        .lock()
        .map_err(|_| ApplyError::Transient("engine lock poisoned".into()))
}

fn millis(ms: u64) -> Millis {
    Millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The streaming OEE projection over the four domain topics.
pub struct OeeProjection {
    topics: Vec<String>,
    calendar: Calendar,
    config: EngineConfig,
    policy: TimePolicy,
    state: Mutex<State>,
    /// The revision of the last committed change (0 until the first commit of this process).
    revision: watch::Sender<u64>,
    pending: Mutex<u64>,
    /// Period rows written by the open transaction, by granularity (the `mom.oee.updates`
    /// metric, counted when it commits).
    pending_updates: Mutex<Vec<(&'static str, u64)>>,
    /// Grows with every reload of the engine, so a reload started by a query (outside the
    /// projection's transactions) never replaces a state the projection reloaded meanwhile.
    generation: AtomicU64,
    /// One query-side reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Stored rows between two snapshots of the engine.
    snapshot_every: i64,
    /// The stored rows the last load replayed after the snapshot.
    reloaded_rows: AtomicU64,
}

impl std::fmt::Debug for OeeProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OeeProjection")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

struct Row {
    equipment: String,
    granularity: &'static str,
    period: mom_oee::Period,
    figures: mom_oee::Figures,
}

impl Row {
    fn key(&self) -> PeriodKey {
        (
            self.equipment.clone(),
            self.granularity,
            self.period.start().timestamp_millis(),
        )
    }
}

impl OeeProjection {
    /// Returns the projection of `topics` (the four domain topics) with periods of `calendar`,
    /// with no event-time policy (see [`OeeProjection::with_time_policy`]).
    pub fn new(topics: Vec<String>, calendar: Calendar, config: EngineConfig) -> Self {
        let policy = TimePolicy::OFF;
        let mut state = State::new(&calendar, config.clone(), policy);
        // A new process starts from what the read model holds: reload before the first message.
        state.stale = true;
        Self {
            topics,
            calendar,
            config,
            policy,
            state: Mutex::new(state),
            revision: watch::channel(0).0,
            pending: Mutex::new(0),
            pending_updates: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY as i64,
            reloaded_rows: AtomicU64::new(0),
        }
    }

    /// Returns this projection judging facts against `policy`: a fact with an event time
    /// outside it (taken at the time the platform recorded the event) is kept out of the
    /// figures and counted in `refused_facts`.
    pub fn with_time_policy(mut self, policy: TimePolicy) -> Self {
        self.policy = policy;
        if let Ok(state) = self.state.get_mut() {
            state.policy = policy;
        }
        self
    }

    /// Returns this projection snapshotting its engine every `rows` stored input rows (at
    /// least 1; default [`DEFAULT_SNAPSHOT_EVERY`]).
    pub fn with_snapshot_every(mut self, rows: u64) -> Self {
        self.snapshot_every = i64::try_from(rows.max(1)).unwrap_or(i64::MAX);
        self
    }

    /// Returns the instant before which no correction can reach: the event-time policy's
    /// oldest time, less the lateness horizon (`None` without a maximum event age: then every
    /// stored input is kept).
    fn prune_before(&self) -> Option<DateTime<Utc>> {
        let earliest = self.policy.earliest(mom_clock::now())?;
        let horizon = self.config.lateness_horizon.unwrap_or(Millis::ZERO);
        earliest.checked_sub_signed(chrono::Duration::milliseconds(horizon.0))
    }

    /// Returns the number of stored rows the last load of the engine replayed after its
    /// snapshot (all of them when there was none).
    pub fn reloaded_rows(&self) -> u64 {
        self.reloaded_rows.load(Ordering::SeqCst)
    }

    /// Returns a receiver of the last committed revision, for readers that wait for changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Rebuilds the engine from the messages committed so far.
    async fn reload(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let state = self.load(connection).await?;
        if let Ok(mut current) = self.state.lock() {
            *current = state;
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Returns an engine state fed with the committed messages, read in order a page at a
    /// time and compacted as it goes, so a reload holds no more than the live engine does.
    async fn load(&self, connection: &mut Connection) -> Result<State, ApplyError> {
        let started = std::time::Instant::now();
        let (state, snapshot_seq) =
            match snapshot::read(connection, &self.calendar, &self.config, self.policy).await? {
                Some((state, seq)) => (state, seq),
                None => (
                    State::new(&self.calendar, self.config.clone(), self.policy),
                    0,
                ),
            };
        let state = Mutex::new(state);
        let mut after = snapshot_seq;
        let mut rows = 0_usize;
        loop {
            let page = inputs::page(connection, after, RELOAD_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.seq;
            rows += page.len();
            lock(&state)?.feed_stored(&page)?;
            restore_incomplete(&state, connection, after).await?;
            lock(&state)?.engine.compact();
        }
        let mut state = state
            .into_inner()
            .map_err(|_| ApplyError::Transient("engine lock poisoned".into()))?;
        state.next_seq = after + 1;
        // The committed rows already hold the figures of these facts (and their refusals were
        // logged when they arrived).
        state.engine.take_changes();
        state.engine.take_refusals();
        self.reloaded_rows
            .store(u64::try_from(rows).unwrap_or(u64::MAX), Ordering::SeqCst);
        tracing::info!(
            snapshot_seq,
            rows_after_snapshot = rows,
            ms = started.elapsed().as_millis() as u64,
            "oee engine loaded"
        );
        Ok(state)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ApplyError> {
        lock(&self.state)
    }
}

impl State {
    /// Returns the periods changed since the last call whose figures differ from those
    /// written last (a period written with the same figures needs no write, nor a new
    /// revision), then forgets the facts older than the lateness horizon (their periods are
    /// about to be written).
    fn settle(&mut self) -> Vec<Row> {
        let changed = self.engine.take_changed_periods(&STORED);
        let mut rows = Vec::with_capacity(changed.len());
        for (equipment, period) in changed {
            let Some(figures) = self.engine.figures(&equipment, &period) else {
                continue;
            };
            let row = Row {
                equipment: equipment.as_str().to_owned(),
                granularity: granularity_name(period.granularity()),
                period,
                figures,
            };
            let unchanged = self
                .written
                .periods
                .get(&row.key())
                .is_some_and(|(_, figures)| *figures == row.figures);
            if !unchanged {
                rows.push(row);
            }
        }
        self.engine.compact();
        rows
    }
}

/// The default of [`OeeProjection::with_snapshot_every`]: stored rows between two snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 5_000;

/// Stored rows read per statement when the engine is reloaded (a batch row holds a
/// transaction's messages of one work unit).
const RELOAD_PAGE: i64 = 1_000;

impl Projection for OeeProjection {
    fn name(&self) -> &str {
        "oee"
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn postgres_schema(&self) -> &[&str] {
        &POSTGRES_SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &[
            "oee_inputs",
            "oee_input_batches",
            "oee_sequences",
            "oee_messages",
            "oee_periods",
            "oee_reasons",
            "oee_refused",
            "oee_disconnected",
            "oee_snapshot",
            "oee_snapshot_marks",
            "oee_assets",
            crate::reason_codes::TABLES[0],
            crate::reason_codes::TABLES[1],
            crate::reason_codes::TABLES[2],
            crate::calendars::TABLES[0],
        ]
    }

    fn rolled_back(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.dirty {
                state.stale = true;
            }
            state.unwritten.clear();
            state.sequences = PageSequences::default();
            // What this transaction wrote to `oee_reasons` is gone.
            state.written = WrittenPeriods::default();
        }
        if let Ok(mut pending) = self.pending.lock() {
            *pending = *self.revision.borrow();
        }
        if let Ok(mut updates) = self.pending_updates.lock() {
            updates.clear();
        }
    }

    fn committed(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.dirty = false;
        }
        if let Ok(mut updates) = self.pending_updates.lock() {
            for (granularity, rows) in updates.drain(..) {
                emit(OeePeriodsUpdated { granularity, rows });
            }
        }
        let pending = self.pending.lock().map(|p| *p).unwrap_or(0);
        self.revision.send_if_modified(|current| {
            let newer = pending > *current;
            if newer {
                *current = pending;
            }
            newer
        });
    }

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        if self.state.lock().map(|s| s.stale).unwrap_or(true) {
            // The engine may hold rolled-back facts; the next `apply` reloads it.
            return Ok(());
        }
        // The transaction's messages, once each (an event twice in it is one message), and its
        // sequence guard.
        let (unwritten, mut sequences, single_rows) = {
            let mut state = self.lock()?;
            let mut seen = HashSet::new();
            let mut unwritten = std::mem::take(&mut state.unwritten);
            unwritten.retain(|m| seen.insert(m.event_id));
            let sequences = std::mem::take(&mut state.sequences);
            (unwritten, sequences, state.single_rows)
        };
        let new = store(
            connection,
            &self.state,
            &unwritten,
            &mut sequences,
            single_rows,
        )
        .await?;
        let assets = {
            let mut state = self.lock()?;
            let mut assets = Vec::new();
            for (message, new) in unwritten.into_iter().zip(new) {
                if new {
                    state.dirty = true;
                    let window = window_at(&state.policy, message.recorded);
                    assets.extend(state.feed(message.inputs, window));
                }
            }
            log_refusals(&mut state.engine);
            assets
        };
        for asset in &assets {
            write_asset(connection, asset).await?;
        }
        restore_incomplete(&self.state, connection, i64::MAX).await?;
        let (rows, snapshot_due) = {
            let mut state = self.lock()?;
            let rows = state.settle();
            let due = state.next_seq - 1 - state.snapshot_seq >= self.snapshot_every;
            (rows, due)
        };
        if snapshot_due {
            let bytes = snapshot::write(connection, &self.state).await?;
            let pruned = match self.prune_before() {
                Some(before) => snapshot::prune(connection, &self.state, before).await?,
                None => 0,
            };
            tracing::debug!(bytes, pruned, "oee engine snapshot written");
        }
        if rows.is_empty() {
            return Ok(());
        }
        let revision: i64 = sqlx::query_scalar(
            "INSERT INTO oee_revision (id, revision) VALUES (1, 1) ON CONFLICT (id) \
             DO UPDATE SET revision = oee_revision.revision + 1 RETURNING revision",
        )
        .fetch_one(&mut *connection)
        .await?;
        // Taken for the writes: dropped (left empty) when one fails, since the transaction then
        // rolls back.
        let mut written = std::mem::take(&mut self.lock()?.written);
        write_periods(connection, &rows, revision, &mut written).await?;
        self.lock()?.written = written;
        if let Ok(mut updates) = self.pending_updates.lock() {
            for row in &rows {
                match updates
                    .iter_mut()
                    .find(|(name, _)| *name == row.granularity)
                {
                    Some((_, count)) => *count += 1,
                    None => updates.push((row.granularity, 1)),
                }
            }
        }
        if let Ok(mut pending) = self.pending.lock() {
            *pending = u64::try_from(revision).unwrap_or(0);
        }
        Ok(())
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let stale = self.state.lock().map(|s| s.stale).unwrap_or(true);
        if stale {
            self.reload(connection).await?;
        }
        // A message that breaks the contract is refused before anything is written.
        let mut state = self.lock()?;
        let remembered = state.mapper.remembered();
        let inputs = state
            .mapper
            .map(&message.topic, &message.payload)
            .map_err(ApplyError::Poison)?;
        if inputs.is_empty() && state.mapper.remembered() == remembered {
            // Nothing to apply, to reload or to recognise again (its redelivery changes nothing
            // either): most orders, lot and quality events. Not storing them saves a quarter of
            // the stored messages on a mixed log.
            return Ok(());
        }
        let stamp = Stamp::of(&message.topic, &message.payload);
        let guard = stamp
            .origin
            .map(|origin| state.sequences.defer(&origin.aggregate, origin.sequence));
        state.unwritten.push(Pending {
            event_id: message.event_id,
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            inputs,
            recorded: stamp.recorded,
            guard,
        });
        // The message is stored, fed to the engine (when new) and its periods written once per
        // transaction, in `flush`.
        Ok(())
    }
}
