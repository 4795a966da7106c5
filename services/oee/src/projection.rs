//! The OEE read model: `oee_messages` (what was applied) and `oee_periods` (figures per
//! equipment, granularity and period).

use std::collections::HashMap;
use std::sync::Mutex;

use mom_oee::{
    Calendar, CycleTime, Engine, EngineConfig, EquipmentConfig, EquipmentId, Granularity, Millis,
};
use mom_projection::{ApplyError, Connection, Message, Projection};

use crate::facts::{Input, Mapper};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS oee_messages (\
        event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS oee_periods (\
        equipment TEXT NOT NULL, granularity TEXT NOT NULL, period_start TEXT NOT NULL, \
        period_end TEXT NOT NULL, label TEXT NOT NULL, \
        planned_production_ms BIGINT NOT NULL, run_ms BIGINT NOT NULL, net_run_ms BIGINT NOT NULL, \
        fully_productive_ms BIGINT NOT NULL, total_count BIGINT NOT NULL, good_count BIGINT NOT NULL, \
        availability DOUBLE PRECISION, performance DOUBLE PRECISION, quality DOUBLE PRECISION, \
        oee DOUBLE PRECISION, \
        equipment_failure_ms BIGINT NOT NULL, setup_and_adjustments_ms BIGINT NOT NULL, \
        small_stops_ms BIGINT NOT NULL, reduced_speed_ms BIGINT NOT NULL, \
        startup_rejects_ms BIGINT NOT NULL, production_rejects_ms BIGINT NOT NULL, \
        PRIMARY KEY (equipment, granularity, period_start))",
];

const GRANULARITIES: [Granularity; 3] = [Granularity::Hour, Granularity::Shift, Granularity::Day];

struct State {
    engine: Engine,
    mapper: Mapper,
    configs: HashMap<EquipmentId, EquipmentConfig>,
    /// Set when a transaction rolled back: the engine may hold facts the database does not.
    stale: bool,
}

impl State {
    fn new(calendar: &Calendar) -> Self {
        Self {
            engine: Engine::new(calendar.clone(), EngineConfig::default()),
            mapper: Mapper::default(),
            configs: HashMap::new(),
            stale: false,
        }
    }

    fn feed(&mut self, inputs: Vec<Input>) {
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
            }
        }
    }
}

fn millis(ms: u64) -> Millis {
    Millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The streaming OEE projection over the four domain topics.
pub struct OeeProjection {
    topics: Vec<String>,
    calendar: Calendar,
    state: Mutex<State>,
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
    start: String,
    end: String,
    label: String,
    figures: mom_oee::Figures,
}

impl OeeProjection {
    /// Returns the projection of `topics` (the four domain topics) with periods of `calendar`.
    pub fn new(topics: Vec<String>, calendar: Calendar) -> Self {
        let mut state = State::new(&calendar);
        // A new process starts from what the read model holds: reload before the first message.
        state.stale = true;
        Self {
            topics,
            calendar,
            state: Mutex::new(state),
        }
    }

    /// Rebuilds the engine from the messages committed so far.
    async fn reload(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let stored: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT topic, payload FROM oee_messages ORDER BY event_id")
                .fetch_all(&mut *connection)
                .await?;
        let mut state = State::new(&self.calendar);
        for (topic, payload) in stored {
            if let Ok(inputs) = state.mapper.map(&topic, &payload) {
                state.feed(inputs);
            }
        }
        // The committed rows already hold the figures of these facts.
        state.engine.take_changes();
        if let Ok(mut current) = self.state.lock() {
            *current = state;
        }
        Ok(())
    }

    fn step(&self, message: &Message) -> Result<Vec<Row>, ApplyError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ApplyError::Transient("engine lock poisoned".into()))?;
        let inputs = state
            .mapper
            .map(&message.topic, &message.payload)
            .map_err(ApplyError::Poison)?;
        state.feed(inputs);
        let changed = state.engine.take_changed_periods(&GRANULARITIES);
        let mut rows = Vec::with_capacity(changed.len());
        for (equipment, period) in changed {
            if let Some(figures) = state.engine.figures(&equipment, &period) {
                rows.push(Row {
                    equipment: equipment.as_str().to_owned(),
                    granularity: match period.granularity() {
                        Granularity::Hour => "hour",
                        Granularity::Shift => "shift",
                        Granularity::Day => "day",
                        Granularity::Week => "week",
                        Granularity::Custom => "custom",
                    },
                    start: period.start().to_rfc3339(),
                    end: period.end().to_rfc3339(),
                    label: period.label().unwrap_or_default().to_owned(),
                    figures,
                });
            }
        }
        Ok(rows)
    }
}

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
        &["oee_messages", "oee_periods"]
    }

    fn rolled_back(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.stale = true;
        }
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
        let inserted = sqlx::query(
            "INSERT INTO oee_messages (event_id, topic, payload) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(message.event_id.to_string())
        .bind(&message.topic)
        .bind(message.payload.clone())
        .execute(&mut *connection)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(()); // Applied before: a redelivery.
        }
        for row in self.step(message)? {
            let f = &row.figures;
            let ms = |m: Millis| m.0;
            sqlx::query(
                "INSERT INTO oee_periods (equipment, granularity, period_start, period_end, label, \
                 planned_production_ms, run_ms, net_run_ms, fully_productive_ms, total_count, good_count, \
                 availability, performance, quality, oee, equipment_failure_ms, setup_and_adjustments_ms, \
                 small_stops_ms, reduced_speed_ms, startup_rejects_ms, production_rejects_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
                 ON CONFLICT (equipment, granularity, period_start) DO UPDATE SET \
                 period_end = excluded.period_end, label = excluded.label, \
                 planned_production_ms = excluded.planned_production_ms, run_ms = excluded.run_ms, \
                 net_run_ms = excluded.net_run_ms, fully_productive_ms = excluded.fully_productive_ms, \
                 total_count = excluded.total_count, good_count = excluded.good_count, \
                 availability = excluded.availability, performance = excluded.performance, \
                 quality = excluded.quality, oee = excluded.oee, \
                 equipment_failure_ms = excluded.equipment_failure_ms, \
                 setup_and_adjustments_ms = excluded.setup_and_adjustments_ms, \
                 small_stops_ms = excluded.small_stops_ms, reduced_speed_ms = excluded.reduced_speed_ms, \
                 startup_rejects_ms = excluded.startup_rejects_ms, \
                 production_rejects_ms = excluded.production_rejects_ms",
            )
            .bind(row.equipment)
            .bind(row.granularity)
            .bind(row.start)
            .bind(row.end)
            .bind(row.label)
            .bind(ms(f.planned_production_time))
            .bind(ms(f.run_time))
            .bind(ms(f.net_run_time))
            .bind(ms(f.fully_productive_time))
            .bind(i64::try_from(f.total_count).unwrap_or(i64::MAX))
            .bind(f.good_count())
            .bind(f.availability())
            .bind(f.performance())
            .bind(f.quality())
            .bind(f.oee())
            .bind(ms(f.losses.equipment_failure))
            .bind(ms(f.losses.setup_and_adjustments))
            .bind(ms(f.losses.small_stops))
            .bind(ms(f.losses.reduced_speed))
            .bind(ms(f.losses.startup_rejects))
            .bind(ms(f.losses.production_rejects))
            .execute(&mut *connection)
            .await?;
        }
        Ok(())
    }
}
