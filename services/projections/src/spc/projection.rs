//! The SPC read model's tables and how events change them.
//!
//! Inputs are stored as they arrive, each idempotent by its key:
//!
//! - `spc_charts`: one row per chart: its definition (the highest sequence wins), the key of
//!   its samples' source, and a summary (points, violations, last point);
//! - `spc_limit_events`: `ControlLimitsSet` and `ControlLimitsRecomputeRequested` per chart
//!   and sequence;
//! - `spc_samples`: every sample of every source, by source key and sample id, so a chart
//!   defined later sees the history: per measurement of an inspection result (product,
//!   operation, characteristic) its measured value if any and the result's units, defectives
//!   and nonconforming measurements; per recorded process parameter its value. Samples are
//!   named and taken as the `spc_watch` manager takes them (`{event id}/{measurement index}`,
//!   the event id for a parameter), both through `mom_spc::contract`, so both find the same
//!   points and violation ids;
//! - `spc_recorded`: the violations quality recorded (`ControlRuleViolated`).
//!
//! Outputs are recomputed by the engine once per transaction for every chart an input touched
//! (batch over the chart's stored inputs, so a rebuild gives identical rows):
//!
//! - `spc_points`: a chart's points with limits and rule flags, by index;
//! - `spc_violations`: the violations the engine finds;
//! - `spc_capability`: Cp, Cpk, Pp, Ppk of a variables chart.

use std::collections::BTreeSet;

use mom_projection::{ApplyError, Connection, Message, Params, Projection};
use mom_proto::production::v1::production_event::Event as ProductionEvent;
use mom_proto::production::v1::ProductionEvent as ProductionEnvelope;
use mom_proto::quality::v1::quality_event::Event as QualityEvent;
use mom_proto::quality::v1::{ChartPart, QualityEvent as QualityEnvelope};
use mom_spc::contract::{self, ContractError, DefinedChart, Source, SourceSample};
use mom_spc::{
    capability, compute, Baseline, ChartDefinition, ChartKind, Input, LimitChange, LimitEvent,
    Point, SampleId, Subgrouping, Violation, MAX_SAMPLES_PER_CHART,
};
use sqlx::Row;

use crate::events::{decode, domain, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata};
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "spc";

const SCHEMA: [&str; 10] = [
    "CREATE TABLE IF NOT EXISTS spc_charts (\
        chart_id TEXT PRIMARY KEY, sequence BIGINT NOT NULL, kind TEXT NOT NULL, \
        source TEXT NOT NULL, product TEXT NOT NULL, operation BIGINT NOT NULL, \
        characteristic TEXT NOT NULL, work_unit TEXT NOT NULL, parameter TEXT NOT NULL, \
        source_key TEXT NOT NULL, subgroup_size BIGINT NOT NULL, window_ms BIGINT NOT NULL, \
        baseline_subgroups BIGINT NOT NULL, baseline_limits TEXT, spec_lower DOUBLE PRECISION, \
        spec_upper DOUBLE PRECISION, ncr_rules TEXT NOT NULL, description TEXT NOT NULL, \
        defined_ms BIGINT NOT NULL, points BIGINT NOT NULL, violations BIGINT NOT NULL, \
        last_point_ms BIGINT)",
    "CREATE INDEX IF NOT EXISTS spc_charts_source ON spc_charts (source_key)",
    "CREATE TABLE IF NOT EXISTS spc_limit_events (\
        chart_id TEXT NOT NULL, sequence BIGINT NOT NULL, from_ms BIGINT NOT NULL, \
        change TEXT NOT NULL, reason TEXT NOT NULL, at_ms BIGINT NOT NULL, \
        PRIMARY KEY (chart_id, sequence))",
    "CREATE TABLE IF NOT EXISTS spc_samples (\
        source_key TEXT NOT NULL, sample_id TEXT NOT NULL, work_unit TEXT NOT NULL, \
        at_ms BIGINT NOT NULL, value DOUBLE PRECISION, units BIGINT NOT NULL, \
        defectives BIGINT NOT NULL, defects BIGINT NOT NULL, \
        PRIMARY KEY (source_key, sample_id))",
    "CREATE INDEX IF NOT EXISTS spc_samples_time ON spc_samples (source_key, at_ms)",
    "CREATE TABLE IF NOT EXISTS spc_points (\
        chart_id TEXT NOT NULL, idx BIGINT NOT NULL, start_ms BIGINT NOT NULL, n BIGINT NOT NULL, \
        value DOUBLE PRECISION NOT NULL, dispersion DOUBLE PRECISION, \
        center DOUBLE PRECISION, lower_limit DOUBLE PRECISION, upper_limit DOUBLE PRECISION, \
        dispersion_center DOUBLE PRECISION, dispersion_lower DOUBLE PRECISION, \
        dispersion_upper DOUBLE PRECISION, flags BIGINT NOT NULL, dispersion_flags BIGINT NOT NULL, \
        PRIMARY KEY (chart_id, idx))",
    "CREATE TABLE IF NOT EXISTS spc_violations (\
        chart_id TEXT NOT NULL, violation_id TEXT NOT NULL, rule BIGINT NOT NULL, \
        part TEXT NOT NULL, last_index BIGINT NOT NULL, at_ms BIGINT NOT NULL, \
        points TEXT NOT NULL, PRIMARY KEY (chart_id, violation_id))",
    "CREATE TABLE IF NOT EXISTS spc_recorded (\
        chart_id TEXT NOT NULL, violation_id TEXT NOT NULL, rule BIGINT NOT NULL, \
        part TEXT NOT NULL, at_ms BIGINT NOT NULL, description TEXT NOT NULL, \
        PRIMARY KEY (chart_id, violation_id))",
    "CREATE TABLE IF NOT EXISTS spc_capability (\
        chart_id TEXT PRIMARY KEY, count BIGINT NOT NULL, mean DOUBLE PRECISION, \
        sigma_within DOUBLE PRECISION, sigma_overall DOUBLE PRECISION, \
        spec_lower DOUBLE PRECISION, spec_upper DOUBLE PRECISION, cp DOUBLE PRECISION, \
        cpk DOUBLE PRECISION, pp DOUBLE PRECISION, ppk DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS spc_violations_at ON spc_violations (chart_id, at_ms)",
];

const TABLES: [&str; 7] = [
    "spc_charts",
    "spc_limit_events",
    "spc_samples",
    "spc_points",
    "spc_violations",
    "spc_recorded",
    "spc_capability",
];

/// Separates the parts of a source key (a character no id holds).
const SEP: char = '\u{1f}';

/// The SPC projection over `mom.quality.v1` and `mom.production.v1`.
#[derive(Debug)]
pub struct SpcProjection {
    topics: Vec<String>,
    changes: Changes,
    page: TxState<Touched>,
}

/// What the open transaction touched: charts (defined or given limits) and sample sources.
#[derive(Debug, Default)]
struct Touched {
    charts: BTreeSet<String>,
    sources: BTreeSet<String>,
}

impl SpcProjection {
    /// Returns the projection of `topics` (the quality and production topics).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            page: TxState::default(),
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

fn characteristic_key(product: &str, operation: u32, characteristic: &str) -> String {
    format!("c{SEP}{product}{SEP}{operation}{SEP}{characteristic}")
}

fn parameter_key(parameter: &str) -> String {
    format!("p{SEP}{parameter}")
}

fn poison(err: ContractError) -> ApplyError {
    ApplyError::Poison(err.to_string())
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, ApplyError> {
    serde_json::to_string(value).map_err(|err| ApplyError::Poison(format!("unencodable: {err}")))
}

/// A nullable double as bound: NaN for none, turned back into NULL by `NULLIF($n, 'NaN')` in
/// the statement (sqlx's Any driver binds a NULL double as a 4-byte float on Postgres, which a
/// statement prepared for 8-byte values then refuses; the OEE projection does the same).
fn nan(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

fn unsigned(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Stores one sample (idempotent by source key and sample id).
async fn insert_sample(
    connection: &mut Connection,
    key: &str,
    work_unit: &str,
    sample: &SourceSample,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO spc_samples (source_key, sample_id, work_unit, at_ms, value, units, \
         defectives, defects) VALUES ($1, $2, $3, $4, NULLIF($5, 'NaN'), $6, $7, $8) \
         ON CONFLICT (source_key, sample_id) DO NOTHING",
    )
    .bind(key)
    .bind(&sample.id.0)
    .bind(work_unit)
    .bind(sample.at.timestamp_millis())
    .bind(nan(sample.value))
    .bind(unsigned(sample.units))
    .bind(unsigned(sample.defectives))
    .bind(unsigned(sample.defects))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn apply_quality(
    connection: &mut Connection,
    touched: &mut Touched,
    id: &str,
    sequence: u64,
    event_id: &str,
    event: QualityEvent,
) -> Result<(), ApplyError> {
    match event {
        QualityEvent::InspectionResultRecorded(result) => {
            // One sample per measurement, as the spc_watch manager takes them (the shared
            // contract mapping, so both find the same points and violation ids).
            let samples = contract::inspection_samples(&result, event_id).map_err(poison)?;
            for measured in samples {
                let key =
                    characteristic_key(&result.product, result.operation, &measured.characteristic);
                insert_sample(connection, &key, &result.work_unit, &measured.sample).await?;
                touched.sources.insert(key);
            }
        }
        QualityEvent::ControlChartDefined(defined) => {
            let DefinedChart { source, definition } =
                contract::chart_of(&defined).map_err(poison)?;
            let kind = definition.kind;
            let at = ms(defined.at.as_ref(), "at")?;
            let (source, product, operation, characteristic, work_unit, parameter, key) =
                match source {
                    Source::Characteristic {
                        product,
                        operation,
                        characteristic,
                    } => {
                        let key = characteristic_key(&product, operation, &characteristic);
                        (
                            "characteristic",
                            product,
                            operation,
                            characteristic,
                            String::new(),
                            String::new(),
                            key,
                        )
                    }
                    Source::Parameter {
                        work_unit,
                        parameter,
                    } => {
                        let key = parameter_key(&parameter);
                        (
                            "parameter",
                            String::new(),
                            0,
                            String::new(),
                            work_unit,
                            parameter,
                            key,
                        )
                    }
                };
            let (size, window) = match definition.subgroup {
                Subgrouping::Size(s) => (i64::from(s), 0),
                Subgrouping::WindowMs(w) => (0, unsigned(w)),
            };
            let (baseline_n, baseline_limits) = match definition.baseline {
                Baseline::Subgroups(n) => (i64::from(n), None),
                Baseline::Limits(l) => (0, Some(json(&l)?)),
            };
            let rules = defined
                .ncr_rules
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sqlx::query(
                "INSERT INTO spc_charts (chart_id, sequence, kind, source, product, operation, \
                 characteristic, work_unit, parameter, source_key, subgroup_size, window_ms, \
                 baseline_subgroups, baseline_limits, spec_lower, spec_upper, ncr_rules, \
                 description, defined_ms, points, violations, last_point_ms) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULLIF($15, 'NaN'), \
                 NULLIF($16, 'NaN'), $17, $18, $19, 0, 0, NULL) \
                 ON CONFLICT (chart_id) DO UPDATE SET sequence = excluded.sequence, \
                 kind = excluded.kind, source = excluded.source, product = excluded.product, \
                 operation = excluded.operation, characteristic = excluded.characteristic, \
                 work_unit = excluded.work_unit, parameter = excluded.parameter, \
                 source_key = excluded.source_key, subgroup_size = excluded.subgroup_size, \
                 window_ms = excluded.window_ms, baseline_subgroups = excluded.baseline_subgroups, \
                 baseline_limits = excluded.baseline_limits, spec_lower = excluded.spec_lower, \
                 spec_upper = excluded.spec_upper, ncr_rules = excluded.ncr_rules, \
                 description = excluded.description, defined_ms = excluded.defined_ms \
                 WHERE excluded.sequence > spc_charts.sequence",
            )
            .bind(id)
            .bind(unsigned(sequence))
            .bind(kind.as_str())
            .bind(source)
            .bind(product)
            .bind(i64::from(operation))
            .bind(characteristic)
            .bind(work_unit)
            .bind(parameter)
            .bind(key)
            .bind(size)
            .bind(window)
            .bind(baseline_n)
            .bind(baseline_limits)
            .bind(nan(defined.spec_lower))
            .bind(nan(defined.spec_upper))
            .bind(rules)
            .bind(defined.description)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            touched.charts.insert(id.to_owned());
        }
        QualityEvent::ControlLimitsSet(set) => {
            let limits = set
                .limits
                .as_ref()
                .ok_or_else(|| ApplyError::Poison("limits set without limits".into()))?;
            let change = json(&LimitChange::Set(contract::limits_of(limits)))?;
            let from = ms(set.from.as_ref(), "from")?;
            let at = ms(set.at.as_ref(), "at")?;
            insert_limit(connection, id, sequence, from, &change, &set.reason, at).await?;
            touched.charts.insert(id.to_owned());
        }
        QualityEvent::ControlLimitsRecomputeRequested(recompute) => {
            let change = json(&LimitChange::Recompute(recompute.subgroups))?;
            let from = ms(recompute.from.as_ref(), "from")?;
            let at = ms(recompute.at.as_ref(), "at")?;
            insert_limit(
                connection,
                id,
                sequence,
                from,
                &change,
                &recompute.reason,
                at,
            )
            .await?;
            touched.charts.insert(id.to_owned());
        }
        QualityEvent::ControlRuleViolated(violated) => {
            let at = ms(violated.at.as_ref(), "at")?;
            let part = match ChartPart::try_from(violated.part) {
                Ok(ChartPart::Dispersion) => "dispersion",
                _ => "primary",
            };
            sqlx::query(
                "INSERT INTO spc_recorded (chart_id, violation_id, rule, part, at_ms, description) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chart_id, violation_id) DO NOTHING",
            )
            .bind(id)
            .bind(&violated.violation_id)
            .bind(i64::from(violated.rule))
            .bind(part)
            .bind(at)
            .bind(&violated.description)
            .execute(&mut *connection)
            .await?;
            touched.charts.insert(id.to_owned());
        }
        _ => {}
    }
    Ok(())
}

async fn insert_limit(
    connection: &mut Connection,
    chart: &str,
    sequence: u64,
    from: i64,
    change: &str,
    reason: &str,
    at: i64,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO spc_limit_events (chart_id, sequence, from_ms, change, reason, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chart_id, sequence) DO NOTHING",
    )
    .bind(chart)
    .bind(unsigned(sequence))
    .bind(from)
    .bind(change)
    .bind(reason)
    .bind(at)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    crate::query::time_of(ms)
}

/// Recomputes one chart from its stored inputs and rewrites its points, violations, capability
/// and summary.
async fn recompute(connection: &mut Connection, chart_id: &str) -> Result<(), ApplyError> {
    let Some(row) = sqlx::query(
        "SELECT sequence, kind, work_unit, source_key, subgroup_size, window_ms, \
         baseline_subgroups, baseline_limits, spec_lower, spec_upper \
         FROM spc_charts WHERE chart_id = $1",
    )
    .bind(chart_id)
    .fetch_optional(&mut *connection)
    .await?
    else {
        // Limits or a recorded violation before the definition: nothing to plot yet.
        return Ok(());
    };
    let sequence: i64 = row.try_get(0)?;
    let kind_name: String = row.try_get(1)?;
    let work_unit: String = row.try_get(2)?;
    let key: String = row.try_get(3)?;
    let size: i64 = row.try_get(4)?;
    let window: i64 = row.try_get(5)?;
    let baseline_n: i64 = row.try_get(6)?;
    let baseline_limits: Option<String> = row.try_get(7)?;
    let spec_lower: Option<f64> = row.try_get(8)?;
    let spec_upper: Option<f64> = row.try_get(9)?;
    let kind = ChartKind::from_name(&kind_name)
        .ok_or_else(|| ApplyError::Poison(format!("stored chart kind {kind_name:?}")))?;
    let baseline = match baseline_limits {
        Some(text) => Baseline::Limits(
            serde_json::from_str(&text)
                .map_err(|err| ApplyError::Poison(format!("stored limits: {err}")))?,
        ),
        None => Baseline::Subgroups(u32::try_from(baseline_n).unwrap_or(0)),
    };
    let definition = ChartDefinition {
        kind,
        subgroup: if window > 0 {
            Subgrouping::WindowMs(u64::try_from(window).unwrap_or(0))
        } else {
            Subgrouping::Size(u32::try_from(size).unwrap_or(0))
        },
        baseline,
        spec_lower,
        spec_upper,
    };
    let mut inputs = vec![Input::Defined {
        seq: u64::try_from(sequence).unwrap_or(0),
        definition,
    }];
    let limits = sqlx::query(
        "SELECT sequence, from_ms, change FROM spc_limit_events WHERE chart_id = $1 \
         ORDER BY sequence",
    )
    .bind(chart_id)
    .fetch_all(&mut *connection)
    .await?;
    for l in limits {
        let seq: i64 = l.try_get(0)?;
        let from: i64 = l.try_get(1)?;
        let change: String = l.try_get(2)?;
        let change: LimitChange = serde_json::from_str(&change)
            .map_err(|err| ApplyError::Poison(format!("stored limit change: {err}")))?;
        inputs.push(Input::Limits(LimitEvent {
            seq: u64::try_from(seq).unwrap_or(0),
            from: time(from),
            change,
        }));
    }
    // The oldest samples up to the chart's bound (later ones are the engine's refusals).
    let samples = sqlx::query(
        "SELECT sample_id, at_ms, value, units, defectives, defects FROM spc_samples \
         WHERE source_key = $1 AND ($2 = '' OR work_unit = $2) AND ($3 = 0 OR value IS NOT NULL) \
         ORDER BY at_ms, sample_id LIMIT $4",
    )
    .bind(&key)
    .bind(&work_unit)
    .bind(i64::from(kind.is_variables()))
    .bind(i64::try_from(MAX_SAMPLES_PER_CHART).unwrap_or(i64::MAX))
    .fetch_all(&mut *connection)
    .await?;
    for s in samples {
        let id: String = s.try_get(0)?;
        let at: i64 = s.try_get(1)?;
        let value: Option<f64> = s.try_get(2)?;
        let units: i64 = s.try_get(3)?;
        let defectives: i64 = s.try_get(4)?;
        let defects: i64 = s.try_get(5)?;
        // Stored counts are never negative; a negative one reads as zero.
        let widen = |v: i64| u64::try_from(v).unwrap_or(0);
        let stored = SourceSample {
            id: SampleId(id),
            at: time(at),
            value,
            units: widen(units),
            defectives: widen(defectives),
            defects: widen(defects),
        };
        // The statement leaves out the samples without a value for a variables chart, the
        // ones it would not take.
        if let Some(sample) = contract::take(kind, &stored) {
            inputs.push(Input::Sample(sample));
        }
    }
    let chart = compute(chart_id, &inputs);
    write_points(connection, chart_id, chart.points()).await?;
    let violations: Vec<&Violation> = chart.violations().collect();
    write_violations(connection, chart_id, &violations).await?;
    sqlx::query("DELETE FROM spc_capability WHERE chart_id = $1")
        .bind(chart_id)
        .execute(&mut *connection)
        .await?;
    if let Some(c) = capability(&chart) {
        sqlx::query(
            "INSERT INTO spc_capability (chart_id, count, mean, sigma_within, sigma_overall, \
             spec_lower, spec_upper, cp, cpk, pp, ppk) \
             VALUES ($1, $2, NULLIF($3, 'NaN'), NULLIF($4, 'NaN'), NULLIF($5, 'NaN'), \
             NULLIF($6, 'NaN'), NULLIF($7, 'NaN'), NULLIF($8, 'NaN'), NULLIF($9, 'NaN'), \
             NULLIF($10, 'NaN'), NULLIF($11, 'NaN'))",
        )
        .bind(chart_id)
        .bind(unsigned(c.count))
        .bind(nan(c.mean))
        .bind(nan(c.sigma_within))
        .bind(nan(c.sigma_overall))
        .bind(nan(c.spec_lower))
        .bind(nan(c.spec_upper))
        .bind(nan(c.cp))
        .bind(nan(c.cpk))
        .bind(nan(c.pp))
        .bind(nan(c.ppk))
        .execute(&mut *connection)
        .await?;
    }
    sqlx::query(
        "UPDATE spc_charts SET points = $2, violations = $3, last_point_ms = $4 \
         WHERE chart_id = $1",
    )
    .bind(chart_id)
    .bind(count(chart.points().len() as u64))
    .bind(count(violations.len() as u64))
    .bind(chart.points().last().map(|p| p.start.timestamp_millis()))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Points per multi-row insert (14 columns).
const POINT_CHUNK: usize = 60;

async fn write_points(
    connection: &mut Connection,
    chart_id: &str,
    points: &[Point],
) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM spc_points WHERE chart_id = $1")
        .bind(chart_id)
        .execute(&mut *connection)
        .await?;
    let params = Params::of(connection);
    for (c, chunk) in points.chunks(POINT_CHUNK).enumerate() {
        // Columns 6 to 12 are nullable doubles (see `nan`).
        let mut values = String::with_capacity(chunk.len() * 14 * 10);
        for i in 0..chunk.len() {
            values.push_str(if i > 0 { ", (" } else { "(" });
            for k in 1..=14 {
                if k > 1 {
                    values.push_str(", ");
                }
                let nullable = (6..=12).contains(&k);
                if nullable {
                    values.push_str("NULLIF(");
                }
                params.push(&mut values, i * 14 + k);
                if nullable {
                    values.push_str(", 'NaN')");
                }
            }
            values.push(')');
        }
        let sql = format!(
            "INSERT INTO spc_points (chart_id, idx, start_ms, n, value, dispersion, center, \
             lower_limit, upper_limit, dispersion_center, dispersion_lower, dispersion_upper, \
             flags, dispersion_flags) VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for (i, p) in chunk.iter().enumerate() {
            query = query
                .bind(chart_id)
                .bind(count((c * POINT_CHUNK + i) as u64))
                .bind(p.start.timestamp_millis())
                .bind(i64::from(p.n))
                .bind(p.value)
                .bind(nan(p.dispersion))
                .bind(nan(p.limits.map(|l| l.center)))
                .bind(nan(p.limits.map(|l| l.lower)))
                .bind(nan(p.limits.map(|l| l.upper)))
                .bind(nan(p.dispersion_limits.map(|l| l.center)))
                .bind(nan(p.dispersion_limits.map(|l| l.lower)))
                .bind(nan(p.dispersion_limits.map(|l| l.upper)))
                .bind(i64::from(p.flags))
                .bind(i64::from(p.dispersion_flags));
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

async fn write_violations(
    connection: &mut Connection,
    chart_id: &str,
    violations: &[&Violation],
) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM spc_violations WHERE chart_id = $1")
        .bind(chart_id)
        .execute(&mut *connection)
        .await?;
    for v in violations {
        let points: Vec<(String, f64)> = v
            .points
            .iter()
            .map(|(t, value)| {
                (
                    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    *value,
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO spc_violations (chart_id, violation_id, rule, part, last_index, at_ms, \
             points) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(chart_id)
        .bind(&v.id)
        .bind(i64::from(v.rule.0))
        .bind(v.part.as_str())
        .bind(count(v.last_index as u64))
        .bind(v.at.timestamp_millis())
        .bind(json(&points)?)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

impl Projection for SpcProjection {
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

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let Touched {
            mut charts,
            sources,
        } = self.page.take().await;
        for key in &sources {
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT chart_id FROM spc_charts WHERE source_key = $1")
                    .bind(key)
                    .fetch_all(&mut *connection)
                    .await?;
            charts.extend(ids);
        }
        for chart in &charts {
            recompute(connection, chart).await?;
        }
        if !charts.is_empty() {
            self.changes.mark();
        }
        Ok(())
    }

    fn committed(&self) {
        self.page.end();
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.page.end();
        self.changes.rolled_back();
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        match domain(&message.topic) {
            "quality" => {
                let envelope: QualityEnvelope = decode(message)?;
                let Some(event) = envelope.event else {
                    return Err(ApplyError::Poison("quality event without a payload".into()));
                };
                if !relevant(&event) {
                    return Ok(());
                }
                let meta = metadata(envelope.metadata)?;
                let mut page = self.page.lock().await;
                apply_quality(
                    connection,
                    &mut page,
                    &meta.aggregate_id,
                    meta.sequence,
                    &meta.event_id,
                    event,
                )
                .await
            }
            "production" => {
                let envelope: ProductionEnvelope = decode(message)?;
                let Some(ProductionEvent::ParameterRecorded(recorded)) = envelope.event else {
                    return Ok(());
                };
                let meta = metadata(envelope.metadata)?;
                // Named and valued as the spc_watch manager takes it (the shared contract
                // mapping); a value that is not a finite number gives no sample.
                let Some(sample) =
                    contract::parameter_sample(&recorded, &meta.event_id).map_err(poison)?
                else {
                    return Ok(());
                };
                let key = parameter_key(&recorded.parameter);
                insert_sample(connection, &key, &recorded.work_unit, &sample).await?;
                self.page.lock().await.sources.insert(key);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a quality event feeds this read model.
fn relevant(event: &QualityEvent) -> bool {
    matches!(
        event,
        QualityEvent::InspectionResultRecorded(_)
            | QualityEvent::ControlChartDefined(_)
            | QualityEvent::ControlLimitsSet(_)
            | QualityEvent::ControlLimitsRecomputeRequested(_)
            | QualityEvent::ControlRuleViolated(_)
    )
}
