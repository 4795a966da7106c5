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
//! Memory stays flat however long the history: the engine forgets each work unit's facts that
//! are older than the lateness horizon ([`mom_oee::Engine::compact`]). A fact that still
//! changes a forgotten period is applied exactly all the same: the unit's history is read back
//! from the stored messages (by `equipment`) and folded again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use mom_oee::{
    Calendar, CycleTime, Engine, EngineConfig, EquipmentConfig, EquipmentId, Fact, Figures,
    Granularity, Millis, Pareto, Period,
};
use mom_projection::{
    fetch_in, ApplyError, Connection, Deferred, Message, PageSequences, Params, Projection,
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::facts::{origin, Input, Mapper};
use crate::inputs::{self, Stored};
use crate::query::QueryError;

const SCHEMA: [&str; 13] = [
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
    "CREATE TABLE IF NOT EXISTS oee_assets (\
        asset TEXT PRIMARY KEY, level TEXT NOT NULL, parent TEXT NOT NULL)",
    // Not emptied by a rebuild: revisions keep growing, so watchers and the publisher see the
    // rebuilt rows as changes.
    "CREATE TABLE IF NOT EXISTS oee_revision (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)",
];

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
    /// The `seq` of the next row of `oee_inputs`.
    next_seq: i64,
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
    fn new(calendar: &Calendar, config: EngineConfig) -> Self {
        Self {
            engine: Engine::new(calendar.clone(), config),
            mapper: Mapper::default(),
            configs: HashMap::new(),
            next_seq: 1,
            unwritten: Vec::new(),
            stale: false,
            dirty: false,
            written: WrittenPeriods::default(),
            sequences: PageSequences::default(),
            single_rows: false,
        }
    }

    /// Feeds the engine; returns the hierarchy changes, which go to `oee_assets`.
    fn feed(&mut self, inputs: Vec<Input>) -> Vec<Input> {
        let mut assets = Vec::new();
        for input in inputs {
            match input {
                Input::Fact(fact) => self.engine.apply(&fact),
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
                asset @ (Input::Asset { .. } | Input::AssetMoved { .. }) => assets.push(asset),
            }
        }
        assets
    }

    /// Returns the facts of `equipment` in `stored` (its stored rows, in order).
    fn facts_of(
        &mut self,
        equipment: &EquipmentId,
        stored: &[Stored],
    ) -> Result<Vec<Fact>, ApplyError> {
        let mut facts = Vec::new();
        for row in stored {
            for (topic, payload) in row.messages().map_err(ApplyError::Transient)? {
                let Ok(inputs) = self.mapper.map(&topic, payload) else {
                    continue;
                };
                facts.extend(inputs.into_iter().filter_map(|input| match input {
                    Input::Fact(fact) if fact.equipment == *equipment => Some(fact),
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
                    self.feed(inputs);
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
    /// Returns the projection of `topics` (the four domain topics) with periods of `calendar`.
    pub fn new(topics: Vec<String>, calendar: Calendar, config: EngineConfig) -> Self {
        let mut state = State::new(&calendar, config.clone());
        // A new process starts from what the read model holds: reload before the first message.
        state.stale = true;
        Self {
            topics,
            calendar,
            config,
            state: Mutex::new(state),
            revision: watch::channel(0).0,
            pending: Mutex::new(0),
            pending_updates: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
        }
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
        let state = Mutex::new(State::new(&self.calendar, self.config.clone()));
        let mut after = 0_i64;
        loop {
            let page = inputs::page(connection, after, RELOAD_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.seq;
            lock(&state)?.feed_stored(&page)?;
            restore_incomplete(&state, connection, after).await?;
            lock(&state)?.engine.compact();
        }
        let mut state = state
            .into_inner()
            .map_err(|_| ApplyError::Transient("engine lock poisoned".into()))?;
        state.next_seq = after + 1;
        // The committed rows already hold the figures of these facts.
        state.engine.take_changes();
        Ok(state)
    }

    /// Returns the figures of `equipment` over `[from, to)` folded by the projection's engine
    /// (the same fold as the stored periods; a period cut at `to` takes the current state to
    /// last until `to`, not until the period's end), or `None` when the engine has no facts for
    /// it. The engine holds what the projection applied, which includes the messages of a
    /// transaction not yet committed. An engine that was never loaded in this process (or whose
    /// transaction rolled back) is first rebuilt from the committed messages read from `pool`.
    ///
    /// The engine's lock is held only for the fold, never across an await.
    pub async fn live_figures(
        &self,
        pool: &sqlx::AnyPool,
        equipment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Figures>, QueryError> {
        let Ok(period) = Period::custom(from, to) else {
            return Ok(None);
        };
        self.load_if_stale(pool).await?;
        let state = self
            .state
            .lock()
            .map_err(|_| sqlx::Error::Protocol("oee engine lock poisoned".into()))?;
        let equipment = EquipmentId::from(equipment);
        if let Some(kept) = state.engine.exact_from(&equipment) {
            if from < kept {
                return Err(QueryError::InvalidArgument(format!(
                    "as_of {to} falls in a period of {equipment} starting {from}, before the \
                     facts the engine keeps (from {kept}, the lateness horizon): ask without \
                     as_of for the stored figures"
                )));
            }
        }
        Ok(state.engine.recompute(&equipment, &period))
    }

    /// Rebuilds the engine from the committed messages when it is stale and nobody else
    /// reloaded it meanwhile.
    async fn load_if_stale(&self, pool: &sqlx::AnyPool) -> Result<(), sqlx::Error> {
        let stale = || self.state.lock().map(|s| s.stale).unwrap_or(true);
        if !stale() {
            return Ok(());
        }
        let _one_at_a_time = self.reloading.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if !stale() {
            return Ok(());
        }
        let mut connection = pool.acquire().await?;
        let state = self.load(&mut connection).await.map_err(|err| match err {
            ApplyError::Database(err) => err,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
        if let Ok(mut current) = self.state.lock() {
            // The projection may have reloaded (and applied more) while we read: keep its state.
            if current.stale && self.generation.load(Ordering::SeqCst) == generation {
                *current = state;
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ApplyError> {
        lock(&self.state)
    }

    /// Returns the periods changed since the last call, with their figures.
    fn changed_rows(&self) -> Result<Vec<Row>, ApplyError> {
        let mut state = self.lock()?;
        let changed = state.engine.take_changed_periods(&STORED);
        let mut rows = Vec::with_capacity(changed.len());
        for (equipment, period) in changed {
            if let Some(figures) = state.engine.figures(&equipment, &period) {
                rows.push(Row {
                    equipment: equipment.as_str().to_owned(),
                    granularity: granularity_name(period.granularity()),
                    period,
                    figures,
                });
            }
        }
        Ok(rows)
    }
}

/// Stored rows read per statement when the engine is reloaded (a batch row holds a
/// transaction's messages of one work unit).
const RELOAD_PAGE: i64 = 1_000;

/// The multi-row writes below bind their parameters in order ([`Params`]: anonymous on SQLite,
/// whose numbered parameters cost the square of their count to bind), a few hundred per
/// statement: fewer statements, each a round trip to the database (or to SQLite's thread).
///
/// Rows per multi-row insert of inputs (5 parameters each).
const INPUT_CHUNK: usize = 100;

/// Stores the transaction's `messages` and returns, for each, whether it is new (a redelivery is
/// not stored again). A message with a sequence guard is new when its sequence is above its
/// aggregate's stored one (and, while `oee_inputs` holds rows, when an aggregate without one
/// has no row there with its event id); the new ones are written in batches, one per work unit
/// (lot origins first; see `inputs`). Any other is new when the insert of its own row into
/// `oee_inputs` stores it. Rows are numbered from the state's next `seq`: the single rows
/// first, then the batches.
async fn store(
    connection: &mut Connection,
    state: &Mutex<State>,
    messages: &[Pending],
    sequences: &mut PageSequences,
    single_rows: bool,
) -> Result<Vec<bool>, ApplyError> {
    let singles = messages.iter().filter(|m| m.guard.is_none()).count();
    let first_seq = {
        let mut state = lock(state)?;
        let first = state.next_seq;
        state.next_seq += i64::try_from(singles).unwrap_or(i64::MAX);
        first
    };
    let numbered: Vec<(i64, &Pending)> = (first_seq..)
        .zip(messages.iter().filter(|m| m.guard.is_none()))
        .collect();
    let stored_singles = write_inputs(connection, &numbered).await?;
    if !stored_singles.is_empty() {
        lock(state)?.single_rows = true;
    }
    sequences
        .load(
            connection,
            SEQUENCES,
            messages
                .iter()
                .filter_map(|m| m.guard.as_ref().map(Deferred::aggregate)),
        )
        .await?;
    let mut new: Vec<bool> = messages
        .iter()
        .map(|m| match &m.guard {
            Some(guard) => sequences.decide(guard),
            None => stored_singles.contains(&m.event_id),
        })
        .collect();
    if single_rows {
        // Applied before the guard knew its aggregate: kept one by one in `oee_inputs`.
        let unknown: Vec<String> = messages
            .iter()
            .zip(&new)
            .filter_map(|(m, new)| {
                let guard = m.guard.as_ref()?;
                (*new && !sequences.had_stored(guard.aggregate())).then(|| m.event_id.to_string())
            })
            .collect();
        let mut known = HashSet::new();
        for chunk in unknown.chunks(INPUT_CHUNK) {
            let keys: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for row in fetch_in(
                connection,
                "SELECT event_id FROM oee_inputs WHERE event_id",
                &keys,
            )
            .await?
            {
                known.insert(sqlx::Row::try_get::<String, _>(&row, 0)?);
            }
        }
        if !known.is_empty() {
            for (m, new) in messages.iter().zip(new.iter_mut()) {
                if m.guard.is_some() && known.contains(&m.event_id.to_string()) {
                    *new = false;
                }
            }
        }
    }
    sequences.write(connection, SEQUENCES).await?;
    // One batch per work unit (`None`: messages that gave no facts, the lots' origins, first),
    // each unit's messages in order.
    let mut batches: BTreeMap<Option<String>, Vec<&Pending>> = BTreeMap::new();
    for (m, new) in messages.iter().zip(&new) {
        if *new && m.guard.is_some() {
            batches.entry(m.equipment()).or_default().push(m);
        }
    }
    let first_batch = {
        let mut state = lock(state)?;
        let first = state.next_seq;
        state.next_seq += i64::try_from(batches.len()).unwrap_or(i64::MAX);
        first
    };
    let mut rows = Vec::with_capacity(batches.len());
    for ((equipment, batch), seq) in batches.into_iter().zip(first_batch..) {
        let encoded = inputs::encode(
            batch
                .iter()
                .map(|m| (m.topic.as_str(), m.payload.as_slice())),
        )
        .ok_or_else(|| ApplyError::Transient("a batch of inputs too large to encode".into()))?;
        rows.push((seq, equipment, encoded));
    }
    write_batches(connection, &rows).await?;
    Ok(new)
}

/// The sequence guard's table.
const SEQUENCES: &str = "oee_sequences";

/// Batch rows per multi-row insert (3 parameters each).
const BATCH_CHUNK: usize = 100;

async fn write_batches(
    connection: &mut Connection,
    rows: &[(i64, Option<String>, Vec<u8>)],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in rows.chunks(BATCH_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_input_batches (seq, equipment, messages) VALUES {}",
            params.rows(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for (seq, equipment, messages) in chunk {
            query = query
                .bind(*seq)
                .bind(equipment.as_deref())
                .bind(messages.as_slice());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Stores the transaction's messages (with their `seq`), many rows per statement, and returns
/// the event ids stored now: a message whose id is stored already is a redelivery. A statement
/// that stored all of its rows says so in its count; only one that stored fewer reads back
/// which (the `seq`s given are new, so a row holding one was stored now). Returning every
/// stored id instead cost a row handed over per message (5 % of a rebuild).
async fn write_inputs(
    connection: &mut Connection,
    messages: &[(i64, &Pending)],
) -> Result<HashSet<Uuid>, ApplyError> {
    let mut stored = HashSet::with_capacity(messages.len());
    let params = Params::of(connection);
    for chunk in messages.chunks(INPUT_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_inputs (seq, event_id, equipment, topic, payload) VALUES {} \
             ON CONFLICT (event_id) DO NOTHING",
            params.rows(chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for (seq, message) in chunk {
            query = query
                .bind(*seq)
                .bind(message.event_id.to_string())
                .bind(message.equipment())
                .bind(message.topic.as_str())
                .bind(message.payload.as_slice());
        }
        let inserted = query.execute(&mut *connection).await?.rows_affected();
        if inserted == chunk.len() as u64 {
            stored.extend(chunk.iter().map(|(_, message)| message.event_id));
            continue;
        }
        let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
        let seqs: HashSet<i64> =
            sqlx::query_scalar("SELECT seq FROM oee_inputs WHERE seq >= $1 AND seq <= $2")
                .bind(first)
                .bind(last)
                .fetch_all(&mut *connection)
                .await?
                .into_iter()
                .collect();
        stored.extend(
            chunk
                .iter()
                .filter(|(seq, _)| seqs.contains(seq))
                .map(|(_, message)| message.event_id),
        );
    }
    Ok(stored)
}

async fn write_asset(connection: &mut Connection, asset: &Input) -> Result<(), ApplyError> {
    match asset {
        Input::Asset {
            asset,
            level,
            parent,
        } => {
            sqlx::query(
                "INSERT INTO oee_assets (asset, level, parent) VALUES ($1, $2, $3) \
                 ON CONFLICT (asset) DO UPDATE SET level = excluded.level, parent = excluded.parent",
            )
            .bind(asset)
            .bind(*level)
            .bind(parent)
            .execute(&mut *connection)
            .await?;
        }
        Input::AssetMoved { asset, parent } => {
            sqlx::query("UPDATE oee_assets SET parent = $2 WHERE asset = $1")
                .bind(asset)
                .bind(parent)
                .execute(&mut *connection)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// A ratio as a bind parameter: a missing ratio is bound as NaN and stored as NULL
/// (`NULLIF($n, 'NaN')`), because sqlx's `Any` driver binds a NULL double as a float4 on
/// Postgres, which the server refuses for a float8 parameter.
fn ratio(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

/// Period rows per multi-row upsert (31 parameters each; see `INPUT_CHUNK`).
const PERIOD_CHUNK: usize = 20;
/// Reason rows per multi-row statement (3 to 6 parameters each).
const REASON_CHUNK: usize = 100;

/// Writes the changed periods and their reasons, many rows per statement: a page's changes in a
/// handful of statements instead of several per period.
async fn write_periods(
    connection: &mut Connection,
    rows: &[Row],
    revision: i64,
    written: &mut WrittenPeriods,
) -> Result<(), ApplyError> {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let params = Params::of(connection);
    for chunk in rows.chunks(PERIOD_CHUNK) {
        // The ratios (columns 16 to 20) are bound as NaN when missing (see `ratio`).
        let mut values = String::with_capacity(chunk.len() * 31 * 8);
        for i in 0..chunk.len() {
            if i > 0 {
                values.push_str(", ");
            }
            values.push('(');
            for k in 1..=31 {
                if k > 1 {
                    values.push_str(", ");
                }
                let nullable = (16..=20).contains(&k);
                if nullable {
                    values.push_str("NULLIF(");
                }
                params.push(&mut values, i * 31 + k);
                if nullable {
                    values.push_str(", 'NaN')");
                }
            }
            values.push(')');
        }
        let sql = format!(
            "INSERT INTO oee_periods (equipment, granularity, start_ms, end_ms, period_start, \
             period_end, label, calendar_ms, planned_production_ms, run_ms, net_run_ms, \
             fully_productive_ms, total_count, rejected_count, good_count, availability, \
             performance, quality, oee, teep, equipment_failure_ms, setup_and_adjustments_ms, \
             small_stops_ms, reduced_speed_ms, startup_rejects_ms, production_rejects_ms, \
             counts_without_cycle_time, rejects_without_cycle_time, unassigned_stop_ms, \
             late_facts, revision) VALUES {} \
             ON CONFLICT (equipment, granularity, start_ms) DO UPDATE SET \
             end_ms = excluded.end_ms, period_start = excluded.period_start, \
             period_end = excluded.period_end, label = excluded.label, \
             calendar_ms = excluded.calendar_ms, planned_production_ms = excluded.planned_production_ms, \
             run_ms = excluded.run_ms, net_run_ms = excluded.net_run_ms, \
             fully_productive_ms = excluded.fully_productive_ms, total_count = excluded.total_count, \
             rejected_count = excluded.rejected_count, good_count = excluded.good_count, \
             availability = excluded.availability, performance = excluded.performance, \
             quality = excluded.quality, oee = excluded.oee, teep = excluded.teep, \
             equipment_failure_ms = excluded.equipment_failure_ms, \
             setup_and_adjustments_ms = excluded.setup_and_adjustments_ms, \
             small_stops_ms = excluded.small_stops_ms, reduced_speed_ms = excluded.reduced_speed_ms, \
             startup_rejects_ms = excluded.startup_rejects_ms, \
             production_rejects_ms = excluded.production_rejects_ms, \
             counts_without_cycle_time = excluded.counts_without_cycle_time, \
             rejects_without_cycle_time = excluded.rejects_without_cycle_time, \
             unassigned_stop_ms = excluded.unassigned_stop_ms, late_facts = excluded.late_facts, \
             revision = excluded.revision",
            values
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            let f = &row.figures;
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(row.period.end().timestamp_millis())
                .bind(row.period.start().to_rfc3339())
                .bind(row.period.end().to_rfc3339())
                .bind(row.period.label().unwrap_or_default())
                .bind(f.calendar_time.0)
                .bind(f.planned_production_time.0)
                .bind(f.run_time.0)
                .bind(f.net_run_time.0)
                .bind(f.fully_productive_time.0)
                .bind(count(f.total_count))
                .bind(count(f.rejected_count))
                .bind(f.good_count())
                .bind(ratio(f.availability()))
                .bind(ratio(f.performance()))
                .bind(ratio(f.quality()))
                .bind(ratio(f.oee()))
                .bind(ratio(f.teep()))
                .bind(f.losses.equipment_failure.0)
                .bind(f.losses.setup_and_adjustments.0)
                .bind(f.losses.small_stops.0)
                .bind(f.losses.reduced_speed.0)
                .bind(f.losses.startup_rejects.0)
                .bind(f.losses.production_rejects.0)
                .bind(count(f.flags.counts_without_cycle_time))
                .bind(count(f.flags.rejects_without_cycle_time))
                .bind(f.flags.unassigned_stop_time.0)
                .bind(count(f.flags.late_facts))
                .bind(revision);
        }
        query.execute(&mut *connection).await?;
    }
    write_reasons(connection, rows, written).await
}

/// Writes the reasons of the changed periods `rows`. A period whose reasons `written` knows
/// gets only the rows that changed (most often one or two of a day's dozens); any other has its
/// rows replaced as a whole. `written` then knows the reasons of `rows`.
async fn write_reasons(
    connection: &mut Connection,
    rows: &[Row],
    written: &mut WrittenPeriods,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    let mut replaced: Vec<&Row> = Vec::new();
    let mut removed: Vec<(&Row, &'static str, String)> = Vec::new();
    let mut upserted: Vec<(&Row, &'static str, String, i64)> = Vec::new();
    for row in rows {
        let known = written
            .periods
            .get(&row.key())
            .map(|(_, figures)| paretos(&figures.reasons));
        if known.is_none() {
            replaced.push(row);
        }
        for (i, (loss, pareto)) in paretos(&row.figures.reasons).into_iter().enumerate() {
            let old = match &known {
                Some(known) if known[i].1 == pareto => continue,
                Some(known) => reason_rows(known[i].1),
                None => BTreeMap::new(),
            };
            let new = reason_rows(pareto);
            for (reason, ms) in &new {
                if old.get(reason) != Some(ms) {
                    upserted.push((row, loss, reason.clone(), *ms));
                }
            }
            removed.extend(
                old.into_keys()
                    .filter(|reason| !new.contains_key(reason))
                    .map(|reason| (row, loss, reason)),
            );
        }
    }
    for chunk in replaced.chunks(REASON_CHUNK) {
        let sql = format!(
            "DELETE FROM oee_reasons WHERE {}",
            params.keys_in(&["equipment", "granularity", "start_ms"], chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis());
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in removed.chunks(REASON_CHUNK) {
        let sql = format!(
            "DELETE FROM oee_reasons WHERE {}",
            params.keys_in(
                &["equipment", "granularity", "start_ms", "loss", "reason"],
                chunk.len()
            )
        );
        let mut query = sqlx::query(&sql);
        for (row, loss, reason) in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(*loss)
                .bind(reason.as_str());
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in upserted.chunks(REASON_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_reasons (equipment, granularity, start_ms, loss, reason, ms) \
             VALUES {} ON CONFLICT (equipment, granularity, start_ms, loss, reason) \
             DO UPDATE SET ms = excluded.ms",
            params.rows(chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for (row, loss, reason, ms) in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(*loss)
                .bind(reason.as_str())
                .bind(*ms);
        }
        query.execute(&mut *connection).await?;
    }
    written.writes += 1;
    for row in rows {
        written
            .periods
            .insert(row.key(), (written.writes, row.figures.clone()));
    }
    if written.periods.len() > KNOWN_PERIODS {
        let since = written.writes.saturating_sub(KNOWN_WRITES);
        written.periods.retain(|_, (last, _)| *last > since);
    }
    Ok(())
}

/// The reason rows of one loss of a period: time per reason as stored (two reasons the engine
/// tells apart but that read the same are one row).
fn reason_rows(pareto: &Pareto) -> BTreeMap<String, i64> {
    let mut rows = BTreeMap::new();
    for (reason, time) in pareto.entries() {
        *rows.entry(reason.to_string()).or_insert(0) += time.0;
    }
    rows
}

/// A stored period: work unit, granularity name and start (ms since the epoch), the key of
/// its row in `oee_periods` and of its rows in `oee_reasons`.
type PeriodKey = (String, &'static str, i64);

/// The figures (with their reasons) that `oee_periods` and `oee_reasons` hold for the periods
/// this process wrote lately. A period whose figures did not change is not written again, and
/// one written again writes only the reasons that changed. A day period is written again with
/// every page that touches it: replacing all of its reasons each time was a quarter of the
/// database's time in an OEE rebuild on Postgres. Emptied on a reload and on a rollback; a
/// period not known here is written, its reasons replaced as a whole.
#[derive(Default)]
struct WrittenPeriods {
    /// The figures last written per period, with the write that wrote them.
    periods: HashMap<PeriodKey, (u64, Figures)>,
    /// Writes so far.
    writes: u64,
}

/// Periods whose reasons are remembered: past this many, those not written in the last
/// `KNOWN_WRITES` writes are forgotten, so the memory stays bounded.
const KNOWN_PERIODS: usize = 8192;
/// See `KNOWN_PERIODS`.
const KNOWN_WRITES: u64 = 16;

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

    fn tables(&self) -> &[&str] {
        &[
            "oee_inputs",
            "oee_input_batches",
            "oee_sequences",
            "oee_messages",
            "oee_periods",
            "oee_reasons",
            "oee_assets",
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
                mom_telemetry::metrics::oee_updates(granularity, rows);
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
                    assets.extend(state.feed(message.inputs));
                }
            }
            assets
        };
        for asset in &assets {
            write_asset(connection, asset).await?;
        }
        restore_incomplete(&self.state, connection, i64::MAX).await?;
        let rows = self.changed_rows()?;
        // A period whose figures are those written last needs no write (nor a new revision).
        let rows: Vec<Row> = {
            let state = self.lock()?;
            rows.into_iter()
                .filter(|row| {
                    state
                        .written
                        .periods
                        .get(&row.key())
                        .is_none_or(|(_, figures)| *figures != row.figures)
                })
                .collect()
        };
        // Facts older than the lateness horizon are forgotten once their periods are written.
        self.lock()?.engine.compact();
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
        let guard = origin(&message.topic, &message.payload)
            .map(|origin| state.sequences.defer(&origin.aggregate, origin.sequence));
        state.unwritten.push(Pending {
            event_id: message.event_id,
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            inputs,
            guard,
        });
        // The message is stored, fed to the engine (when new) and its periods written once per
        // transaction, in `flush`.
        Ok(())
    }
}
