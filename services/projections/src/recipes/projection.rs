//! The parameter change log's table and handler: `recipes_parameter_log`, one row per recipe
//! parameter downloaded and per reported value, deviation and override, keyed by the work
//! unit's event sequence (and the parameter, since a download names several). A redelivered
//! event inserts nothing (`ON CONFLICT DO NOTHING` on that key), so no sequence table is needed
//! and a rebuild gives the same rows.

use mom_projection::{ApplyError, Connection, Message, Projection};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{ParameterStatus, ProductionEvent};

use crate::events::{decode, ms, required};
use crate::feed::Changes;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "parameters";

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS recipes_parameter_log (\
        work_unit TEXT NOT NULL, sequence BIGINT NOT NULL, parameter TEXT NOT NULL, \
        kind TEXT NOT NULL, order_id TEXT NOT NULL, operation BIGINT NOT NULL, \
        recipe TEXT NOT NULL, version BIGINT NOT NULL, unit TEXT NOT NULL, \
        value DOUBLE PRECISION, setpoint DOUBLE PRECISION, lower_limit DOUBLE PRECISION, \
        upper_limit DOUBLE PRECISION, status TEXT NOT NULL, hold_order BIGINT NOT NULL, \
        old_setpoint DOUBLE PRECISION, reason TEXT NOT NULL, actor TEXT NOT NULL, \
        on_behalf_of TEXT NOT NULL, at_ms BIGINT NOT NULL, \
        PRIMARY KEY (work_unit, sequence, parameter))",
    "CREATE INDEX IF NOT EXISTS recipes_parameter_log_order \
        ON recipes_parameter_log (order_id, work_unit, sequence, parameter)",
    "CREATE INDEX IF NOT EXISTS recipes_parameter_log_parameter \
        ON recipes_parameter_log (parameter)",
];

const TABLES: [&str; 1] = ["recipes_parameter_log"];

/// The aggregate type whose events the read model handles.
const WORK_UNIT: &str = "work_unit";

/// The parameter change-log projection over `mom.production.v1`.
#[derive(Debug)]
pub struct ParametersProjection {
    topics: Vec<String>,
    changes: Changes,
    aggregate_types: Vec<String>,
}

impl ParametersProjection {
    /// Returns the projection of `topics` (the production topic).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            aggregate_types: vec![WORK_UNIT.to_owned()],
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// One row of the log, before it is written.
#[derive(Debug, Default)]
struct Entry {
    work_unit: String,
    parameter: String,
    kind: &'static str,
    order_id: String,
    operation: i64,
    recipe: String,
    version: i64,
    unit: String,
    value: Option<f64>,
    setpoint: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    status: &'static str,
    hold_order: bool,
    old_setpoint: Option<f64>,
    reason: String,
    at_ms: i64,
}

fn status_name(status: i32) -> &'static str {
    match ParameterStatus::try_from(status) {
        Ok(ParameterStatus::Within) => "within",
        Ok(ParameterStatus::Warning) => "warning",
        Ok(ParameterStatus::Deviation) => "deviation",
        _ => "",
    }
}

/// Returns the log entries of a production event (none for the events the log does not show).
fn entries(event: &Event) -> Result<Vec<Entry>, ApplyError> {
    Ok(match event {
        Event::RecipeDownloaded(e) => {
            let at_ms = ms(e.at.as_ref(), "at")?;
            e.parameters
                .iter()
                .map(|p| Entry {
                    work_unit: e.work_unit.clone(),
                    parameter: p.name.clone(),
                    kind: "downloaded",
                    order_id: e.order_id.clone(),
                    operation: i64::from(e.operation),
                    recipe: e.recipe.clone(),
                    version: i64::from(e.version),
                    unit: p.unit.clone(),
                    setpoint: Some(p.setpoint),
                    lower: Some(p.lower),
                    upper: Some(p.upper),
                    hold_order: p.hold_on_deviation,
                    at_ms,
                    ..Entry::default()
                })
                .collect()
        }
        Event::ParameterRecorded(e) => vec![Entry {
            work_unit: e.work_unit.clone(),
            parameter: e.parameter.clone(),
            kind: "recorded",
            order_id: e.order_id.clone(),
            operation: i64::from(e.operation),
            recipe: e.recipe.clone(),
            version: i64::from(e.version),
            unit: e.unit.clone(),
            value: Some(e.value),
            setpoint: Some(e.setpoint),
            lower: Some(e.lower),
            upper: Some(e.upper),
            status: status_name(e.status),
            at_ms: ms(e.at.as_ref(), "at")?,
            ..Entry::default()
        }],
        Event::ParameterDeviated(e) => vec![Entry {
            work_unit: e.work_unit.clone(),
            parameter: e.parameter.clone(),
            kind: "deviated",
            order_id: e.order_id.clone(),
            operation: i64::from(e.operation),
            recipe: e.recipe.clone(),
            version: i64::from(e.version),
            unit: e.unit.clone(),
            value: Some(e.value),
            setpoint: Some(e.setpoint),
            lower: Some(e.lower),
            upper: Some(e.upper),
            status: "deviation",
            hold_order: e.hold_order,
            at_ms: ms(e.at.as_ref(), "at")?,
            ..Entry::default()
        }],
        Event::ParameterOverridden(e) => vec![Entry {
            work_unit: e.work_unit.clone(),
            parameter: e.parameter.clone(),
            kind: "overridden",
            order_id: e.order_id.clone(),
            operation: i64::from(e.operation),
            recipe: e.recipe.clone(),
            version: i64::from(e.version),
            setpoint: Some(e.new_setpoint),
            old_setpoint: Some(e.old_setpoint),
            reason: e.reason.clone(),
            at_ms: ms(e.at.as_ref(), "at")?,
            ..Entry::default()
        }],
        _ => Vec::new(),
    })
}

const COLUMNS: &str = "work_unit, sequence, parameter, kind, order_id, operation, recipe, \
     version, unit, value, setpoint, lower_limit, upper_limit, status, hold_order, \
     old_setpoint, reason, actor, on_behalf_of, at_ms";

fn nan(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

async fn insert(
    connection: &mut Connection,
    metadata: &EventMetadata,
    sequence: i64,
    entry: &Entry,
) -> Result<(), ApplyError> {
    // A nullable double is bound as NaN and turned back into NULL by `NULLIF($n, 'NaN')`:
    // sqlx's Any driver binds a NULL double as a 4-byte float on Postgres, which a statement
    // prepared for 8-byte values refuses (as in the SPC and OEE projections).
    let sql = format!(
        "INSERT INTO recipes_parameter_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, NULLIF($10, 'NaN'), NULLIF($11, 'NaN'), NULLIF($12, 'NaN'), NULLIF($13, 'NaN'), \
         $14, $15, NULLIF($16, 'NaN'), $17, $18, $19, $20) \
         ON CONFLICT (work_unit, sequence, parameter) DO NOTHING"
    );
    sqlx::query(&sql)
        .bind(required(&entry.work_unit, "work_unit")?)
        .bind(sequence)
        .bind(required(&entry.parameter, "parameter")?)
        .bind(entry.kind)
        .bind(&entry.order_id)
        .bind(entry.operation)
        .bind(&entry.recipe)
        .bind(entry.version)
        .bind(&entry.unit)
        .bind(nan(entry.value))
        .bind(nan(entry.setpoint))
        .bind(nan(entry.lower))
        .bind(nan(entry.upper))
        .bind(entry.status)
        .bind(i64::from(entry.hold_order))
        .bind(nan(entry.old_setpoint))
        .bind(&entry.reason)
        .bind(&metadata.actor)
        .bind(&metadata.on_behalf_of)
        .bind(entry.at_ms)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

impl Projection for ParametersProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn aggregate_types(&self) -> Option<&[String]> {
        Some(&self.aggregate_types)
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
        let envelope: ProductionEvent = decode(message)?;
        let Some(event) = &envelope.event else {
            return Ok(());
        };
        let entries = entries(event)?;
        if entries.is_empty() {
            return Ok(());
        }
        let metadata = envelope
            .metadata
            .as_ref()
            .ok_or_else(|| ApplyError::Poison("event has no metadata".into()))?;
        let sequence = i64::try_from(metadata.sequence)
            .map_err(|_| ApplyError::Poison(format!("sequence {} too large", metadata.sequence)))?;
        for entry in &entries {
            insert(connection, metadata, sequence, entry).await?;
        }
        self.changes.mark();
        Ok(())
    }

    fn committed(&self) {
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.changes.rolled_back();
    }
}
