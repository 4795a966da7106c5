//! Statistical process control: feeds the SPC engine (`mom-spc`) with quality's chart
//! definitions, limit changes and inspection results and production's recorded process
//! parameters, and records each new rule violation in quality (`RecordRuleViolation`, idempotency
//! key = violation id). The events map to the engine through `mom_spc::contract`, as the SPC
//! read model maps them, so both find the same points and violation ids.
//!
//! What the engine needs survives a restart in the manager's tables, written in the same
//! transaction as its checkpoint: the charts (`spc_watch_charts`), their limit events
//! (`spc_watch_limits`) and every sample a chart could take (`spc_watch_samples`: each
//! measurement of an inspection result, each recorded parameter value), whether or not a chart
//! takes it yet, so a chart defined after its samples arrived (or read from another topic
//! first) still charts them. The charts in memory are a cache of those tables: a chart is loaded
//! before a message changes it, the message's rows are written, and the change applied in
//! memory gives the new violations, sent before the transaction commits. A crash before the
//! commit redelivers the message and sends the same violations again (quality records each id
//! once); after it, the loaded chart already holds the message and nothing is sent twice. A
//! rolled-back transaction empties the cache.
//!
//! A violation that a late sample or a limit change undoes is not withdrawn: it was found on
//! what was known then, and stays recorded.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message};
use mom_proto::production::v1::production_event::Event as ProductionCase;
use mom_proto::production::v1::ProductionEvent;
use mom_proto::quality::v1 as quality;
use mom_proto::quality::v1::quality_event::Event as QualityCase;
use mom_proto::quality::v1::QualityEvent;
use mom_proto::time::{from_timestamp, to_timestamp};
use mom_spc::contract::{self, ContractError, Source, SourceSample};
use mom_spc::{
    Chart, ChartDefinition, Input, LimitChange, LimitEvent, Part, Sample, SampleId, Violation,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "spc_watch";

/// A watched chart: its source and what the engine needs of its definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Watched {
    source: Source,
    definition: ChartDefinition,
    /// The definition event's sequence in the chart's stream.
    seq: u64,
}

/// The charts in memory, a cache of the manager's tables.
#[derive(Debug, Default)]
struct Cache {
    /// Every defined chart, once read from `spc_watch_charts`.
    watched: Option<BTreeMap<String, Watched>>,
    /// The charts loaded with their limits and samples.
    charts: HashMap<String, Chart>,
}

/// Runs the SPC engine over the topics and records the violations it finds.
#[derive(Debug)]
pub struct SpcWatch {
    topics: Vec<String>,
    clients: Clients,
    cache: Mutex<Cache>,
}

/// A sample as stored: its source's key (`c`, product, operation, characteristic or `p`, work
/// unit, empty, parameter) and the sample.
#[derive(Debug, Clone)]
struct StoredSample {
    kind: &'static str,
    k1: String,
    k2: String,
    k3: String,
    sample: SourceSample,
}

impl SpcWatch {
    /// Returns the manager reading quality's and production's topics.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("quality"), names.domain("production")],
            clients,
            cache: Mutex::new(Cache::default()),
        }
    }

    pub(crate) fn name(&self) -> &str {
        NAME
    }

    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) fn schema(&self) -> &[&str] {
        &[
            "CREATE TABLE IF NOT EXISTS spc_watch_charts (chart_id TEXT PRIMARY KEY, \
             watched TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS spc_watch_limits (chart_id TEXT NOT NULL, \
             seq BIGINT NOT NULL, from_ms BIGINT NOT NULL, change TEXT NOT NULL, \
             PRIMARY KEY (chart_id, seq))",
            "CREATE TABLE IF NOT EXISTS spc_watch_samples (kind TEXT NOT NULL, k1 TEXT NOT NULL, \
             k2 TEXT NOT NULL, k3 TEXT NOT NULL, sample_id TEXT NOT NULL, at_ms BIGINT NOT NULL, \
             has_value BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, n BIGINT NOT NULL, \
             rejected BIGINT NOT NULL, defects BIGINT NOT NULL, \
             PRIMARY KEY (kind, k3, k1, k2, sample_id))",
        ]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["spc_watch_charts", "spc_watch_limits", "spc_watch_samples"]
    }

    /// Forgets the cache: the tables no longer hold what a rolled-back transaction wrote.
    pub(crate) fn rolled_back(&self) {
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = Cache::default();
        }
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let mut cache = self.cache.lock().await;
        if cache.watched.is_none() {
            cache.watched = Some(load_watched(connection).await?);
        }
        if message.topic == self.topics[0] {
            let envelope: QualityEvent = decode(message)?;
            let cause = Cause::of(envelope.metadata.as_ref())?;
            let seq = envelope.metadata.as_ref().map_or(0, |m| m.sequence);
            match envelope.event {
                Some(QualityCase::ControlChartDefined(defined)) => {
                    self.defined(connection, &mut cache, defined, seq, &cause)
                        .await
                }
                Some(QualityCase::ControlLimitsSet(set)) => {
                    let limits = set.limits.ok_or_else(|| poison("limits missing"))?;
                    let change = LimitChange::Set(contract::limits_of(&limits));
                    let from = time(set.from.as_ref(), "from")?;
                    self.limits(
                        connection,
                        &mut cache,
                        &set.chart_id,
                        seq,
                        from,
                        change,
                        &cause,
                    )
                    .await
                }
                Some(QualityCase::ControlLimitsRecomputeRequested(recompute)) => {
                    let change = LimitChange::Recompute(recompute.subgroups);
                    let from = time(recompute.from.as_ref(), "from")?;
                    self.limits(
                        connection,
                        &mut cache,
                        &recompute.chart_id,
                        seq,
                        from,
                        change,
                        &cause,
                    )
                    .await
                }
                Some(QualityCase::InspectionResultRecorded(result)) => {
                    let samples = result_samples(&result, &cause.event_id)?;
                    self.samples(connection, &mut cache, samples, &cause).await
                }
                _ => Ok(()),
            }
        } else {
            let envelope: ProductionEvent = decode(message)?;
            let Some(ProductionCase::ParameterRecorded(recorded)) = envelope.event else {
                return Ok(());
            };
            let cause = Cause::of(envelope.metadata.as_ref())?;
            let Some(sample) =
                contract::parameter_sample(&recorded, &cause.event_id).map_err(contract_poison)?
            else {
                return Ok(());
            };
            let sample = StoredSample {
                kind: "p",
                k1: recorded.work_unit,
                k2: String::new(),
                k3: recorded.parameter,
                sample,
            };
            self.samples(connection, &mut cache, vec![sample], &cause)
                .await
        }
    }

    async fn defined(
        &self,
        connection: &mut Connection,
        cache: &mut Cache,
        defined: quality::ControlChartDefined,
        seq: u64,
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        let chart = contract::chart_of(&defined).map_err(contract_poison)?;
        let watched = Watched {
            source: chart.source,
            definition: chart.definition,
            seq,
        };
        let known = cache
            .watched
            .as_ref()
            .is_some_and(|all| all.contains_key(&defined.chart_id));
        if known {
            // A redelivery: a chart's definition never changes.
            return Ok(());
        }
        let json = serde_json::to_string(&watched).map_err(|err| poison(&err.to_string()))?;
        sqlx::query("INSERT INTO spc_watch_charts (chart_id, watched) VALUES ($1, $2)")
            .bind(&defined.chart_id)
            .bind(json)
            .execute(&mut *connection)
            .await?;
        // The samples first (one batch pass), then the definition: every violation it reveals
        // is new.
        let samples: Vec<Input> = load_samples(connection, &watched)
            .await?
            .into_iter()
            .map(Input::Sample)
            .collect();
        let mut chart = mom_spc::compute(&defined.chart_id, &samples);
        let change = chart
            .apply(Input::Defined {
                seq,
                definition: watched.definition,
            })
            .map_err(|err| poison(&err.to_string()))?;
        if let Some(all) = cache.watched.as_mut() {
            all.insert(defined.chart_id.clone(), watched);
        }
        cache.charts.insert(defined.chart_id.clone(), chart);
        self.record(&defined.chart_id, &change.new_violations, cause)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn limits(
        &self,
        connection: &mut Connection,
        cache: &mut Cache,
        chart_id: &str,
        seq: u64,
        from: DateTime<Utc>,
        change: LimitChange,
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        let Some(chart) = chart(connection, cache, chart_id).await? else {
            return Err(poison(&format!("limits of unknown chart {chart_id}")));
        };
        let json = serde_json::to_string(&change).map_err(|err| poison(&err.to_string()))?;
        sqlx::query(
            "INSERT INTO spc_watch_limits (chart_id, seq, from_ms, change) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chart_id, seq) DO NOTHING",
        )
        .bind(chart_id)
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(from.timestamp_millis())
        .bind(json)
        .execute(&mut *connection)
        .await?;
        let applied = chart.apply(Input::Limits(LimitEvent { seq, from, change }));
        match applied {
            Ok(change) => self.record(chart_id, &change.new_violations, cause).await,
            Err(err) => {
                tracing::warn!(chart = chart_id, error = %err, "limit change refused");
                Ok(())
            }
        }
    }

    async fn samples(
        &self,
        connection: &mut Connection,
        cache: &mut Cache,
        samples: Vec<StoredSample>,
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        // Each chart is loaded before the samples are stored, so applying them shows what they
        // change (a redelivered message is then already in the loaded chart and changes nothing).
        let mut routed: Vec<(String, Sample)> = Vec::new();
        if let Some(watched) = cache.watched.as_ref() {
            for sample in &samples {
                for (chart_id, chart) in watched {
                    if let Some(input) = sample_for(chart, sample) {
                        routed.push((chart_id.clone(), input));
                    }
                }
            }
        }
        for (chart_id, _) in &routed {
            // Loading is what matters here; the chart is taken again below.
            chart(connection, cache, chart_id).await?;
        }
        for sample in &samples {
            store_sample(connection, sample).await?;
        }
        for (chart_id, sample) in routed {
            let Some(chart) = cache.charts.get_mut(&chart_id) else {
                continue;
            };
            match chart.apply(Input::Sample(sample)) {
                Ok(change) => {
                    self.record(&chart_id, &change.new_violations, cause)
                        .await?
                }
                Err(err) => tracing::warn!(chart = %chart_id, error = %err, "sample refused"),
            }
        }
        Ok(())
    }

    /// Records each violation in quality; a rejection is logged (the violation is left out),
    /// a service that is down makes the message come again.
    async fn record(
        &self,
        chart_id: &str,
        violations: &[Violation],
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        for violation in violations {
            let request = quality::RecordRuleViolationRequest {
                context: Some(quality::CommandContext {
                    actor: actor(NAME),
                    expected_version: None,
                    correlation_id: cause.correlation_id.clone(),
                    idempotency_key: violation.id.clone(),
                    causation_id: cause.event_id.clone(),
                    signature: None,
                }),
                chart_id: chart_id.to_owned(),
                rule: u32::from(violation.rule.0),
                part: match violation.part {
                    Part::Primary => quality::ChartPart::Primary,
                    Part::Dispersion => quality::ChartPart::Dispersion,
                }
                .into(),
                points: violation
                    .points
                    .iter()
                    .map(|(start, value)| quality::ChartPoint {
                        subgroup_start: Some(to_timestamp(*start)),
                        value: *value,
                    })
                    .collect(),
                violation_id: violation.id.clone(),
                description: violation.rule.describe().to_owned(),
                at: Some(to_timestamp(violation.at)),
            };
            let recorded = self
                .clients
                .quality
                .clone()
                .record_rule_violation(request)
                .await;
            match recorded {
                Ok(_) => tracing::info!(violation = %violation.id, "rule violation recorded"),
                Err(status) => {
                    match failed(&format!("record violation {}", violation.id), status) {
                        ApplyError::Poison(reason) => {
                            tracing::warn!(violation = %violation.id, reason, "violation not recorded");
                        }
                        transient => return Err(transient),
                    }
                }
            }
        }
        Ok(())
    }
}

fn poison(reason: &str) -> ApplyError {
    ApplyError::Poison(reason.to_owned())
}

fn contract_poison(err: ContractError) -> ApplyError {
    poison(&err.to_string())
}

fn time(
    at: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, ApplyError> {
    from_timestamp(at, field).map_err(|err| poison(&err.to_string()))
}

/// Returns chart `chart_id`, loading it from the tables when it is not in memory; `None` for a
/// chart never defined.
async fn chart<'a>(
    connection: &mut Connection,
    cache: &'a mut Cache,
    chart_id: &str,
) -> Result<Option<&'a mut Chart>, ApplyError> {
    if !cache.charts.contains_key(chart_id) {
        let Some(watched) = cache
            .watched
            .as_ref()
            .and_then(|all| all.get(chart_id))
            .cloned()
        else {
            return Ok(None);
        };
        let mut inputs = vec![Input::Defined {
            seq: watched.seq,
            definition: watched.definition,
        }];
        let limits: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT seq, from_ms, change FROM spc_watch_limits WHERE chart_id = $1 ORDER BY seq",
        )
        .bind(chart_id)
        .fetch_all(&mut *connection)
        .await?;
        for (seq, from_ms, change) in limits {
            let change: LimitChange =
                serde_json::from_str(&change).map_err(|err| poison(&err.to_string()))?;
            let from = DateTime::from_timestamp_millis(from_ms)
                .ok_or_else(|| poison("stored limit time out of range"))?;
            inputs.push(Input::Limits(LimitEvent {
                seq: u64::try_from(seq).unwrap_or(0),
                from,
                change,
            }));
        }
        inputs.extend(
            load_samples(connection, &watched)
                .await?
                .into_iter()
                .map(Input::Sample),
        );
        // One batch pass (inputs the engine refuses are left out, as when they first came).
        cache
            .charts
            .insert(chart_id.to_owned(), mom_spc::compute(chart_id, &inputs));
    }
    Ok(cache.charts.get_mut(chart_id))
}

async fn load_watched(
    connection: &mut Connection,
) -> Result<BTreeMap<String, Watched>, ApplyError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT chart_id, watched FROM spc_watch_charts")
            .fetch_all(connection)
            .await?;
    rows.into_iter()
        .map(|(id, json)| {
            serde_json::from_str(&json)
                .map(|watched| (id, watched))
                .map_err(|err| poison(&format!("stored chart unreadable: {err}")))
        })
        .collect()
}

async fn store_sample(
    connection: &mut Connection,
    sample: &StoredSample,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO spc_watch_samples (kind, k1, k2, k3, sample_id, at_ms, has_value, value, n, \
         rejected, defects) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (kind, k3, k1, k2, sample_id) DO NOTHING",
    )
    .bind(sample.kind)
    .bind(&sample.k1)
    .bind(&sample.k2)
    .bind(&sample.k3)
    .bind(&sample.sample.id.0)
    .bind(sample.sample.at.timestamp_millis())
    .bind(i64::from(sample.sample.value.is_some()))
    .bind(sample.sample.value.unwrap_or(0.0))
    .bind(i64::try_from(sample.sample.units).unwrap_or(i64::MAX))
    .bind(i64::try_from(sample.sample.defectives).unwrap_or(i64::MAX))
    .bind(i64::try_from(sample.sample.defects).unwrap_or(i64::MAX))
    .execute(connection)
    .await?;
    Ok(())
}

type SampleRow = (String, String, String, i64, i64, f64, i64, i64, i64);

/// Returns the stored samples of `watched`'s source, as the chart takes them.
async fn load_samples(
    connection: &mut Connection,
    watched: &Watched,
) -> Result<Vec<Sample>, ApplyError> {
    const COLUMNS: &str =
        "SELECT k1, k2, sample_id, at_ms, has_value, value, n, rejected, defects FROM spc_watch_samples";
    let rows: Vec<SampleRow> = match &watched.source {
        Source::Characteristic {
            product,
            operation,
            characteristic,
        } => {
            sqlx::query_as(&format!(
                "{COLUMNS} WHERE kind = 'c' AND k3 = $1 AND k1 = $2 AND k2 = $3"
            ))
            .bind(characteristic)
            .bind(product)
            .bind(operation.to_string())
            .fetch_all(connection)
            .await?
        }
        Source::Parameter { parameter, .. } => {
            sqlx::query_as(&format!("{COLUMNS} WHERE kind = 'p' AND k3 = $1"))
                .bind(parameter)
                .fetch_all(connection)
                .await?
        }
    };
    let mut samples = Vec::with_capacity(rows.len());
    for (k1, k2, sample_id, at_ms, has_value, value, n, rejected, defects) in rows {
        let stored = StoredSample {
            kind: match watched.source {
                Source::Characteristic { .. } => "c",
                Source::Parameter { .. } => "p",
            },
            k1,
            k2,
            k3: String::new(),
            sample: SourceSample {
                id: SampleId(sample_id),
                at: DateTime::from_timestamp_millis(at_ms)
                    .ok_or_else(|| poison("stored sample time out of range"))?,
                value: (has_value != 0).then_some(value),
                units: u64::try_from(n).unwrap_or(0),
                defectives: u64::try_from(rejected).unwrap_or(0),
                defects: u64::try_from(defects).unwrap_or(0),
            },
        };
        if let Some(sample) = take(watched, &stored) {
            samples.push(sample);
        }
    }
    Ok(samples)
}

/// Returns the sample chart `watched` takes from `sample`, if its source matches.
fn sample_for(watched: &Watched, sample: &StoredSample) -> Option<Sample> {
    let matches = match &watched.source {
        Source::Characteristic {
            product,
            operation,
            characteristic,
        } => {
            sample.kind == "c"
                && &sample.k1 == product
                && sample.k2 == operation.to_string()
                && &sample.k3 == characteristic
        }
        Source::Parameter { parameter, .. } => sample.kind == "p" && &sample.k3 == parameter,
    };
    if matches {
        take(watched, sample)
    } else {
        None
    }
}

/// Returns the sample chart `watched` takes from a stored sample of its source (see
/// [`contract::take`]); a parameter chart on one work unit only that work unit's values.
fn take(watched: &Watched, sample: &StoredSample) -> Option<Sample> {
    if let Source::Parameter { work_unit, .. } = &watched.source {
        if !work_unit.is_empty() && work_unit != &sample.k1 {
            return None;
        }
    }
    contract::take(watched.definition.kind, &sample.sample)
}

/// Returns the stored samples of inspection result event `event_id` (see
/// [`contract::inspection_samples`]), keyed by product, operation and characteristic.
fn result_samples(
    result: &quality::InspectionResultRecorded,
    event_id: &str,
) -> Result<Vec<StoredSample>, ApplyError> {
    Ok(contract::inspection_samples(result, event_id)
        .map_err(contract_poison)?
        .into_iter()
        .map(|measured| StoredSample {
            kind: "c",
            k1: result.product.clone(),
            k2: result.operation.to_string(),
            k3: measured.characteristic,
            sample: measured.sample,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mom_spc::{Baseline, ChartKind, SampleValue, Subgrouping};

    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap()
    }

    fn watched(source: Source, kind: ChartKind) -> Watched {
        Watched {
            source,
            definition: ChartDefinition {
                kind,
                subgroup: Subgrouping::Size(1),
                baseline: Baseline::Subgroups(20),
                spec_lower: None,
                spec_upper: None,
            },
            seq: 1,
        }
    }

    fn bore() -> Source {
        Source::Characteristic {
            product: "PUMP-100".to_owned(),
            operation: 10,
            characteristic: "bore".to_owned(),
        }
    }

    fn melt(work_unit: &str) -> Source {
        Source::Parameter {
            work_unit: work_unit.to_owned(),
            parameter: "melt temperature".to_owned(),
        }
    }

    const EVENT: &str = "0191e1b4-7c1a-7000-8000-000000000001";

    /// Returns a result of PUMP-100 at operation 10 measuring a nonconforming bore and a
    /// conforming depth.
    fn result() -> quality::InspectionResultRecorded {
        let measurements = [("bore", 10.6, false), ("depth", 20.0, true)]
            .into_iter()
            .map(|(name, value, conforming)| quality::Measurement {
                characteristic: name.to_owned(),
                value: Some(quality::measurement::Value::Measured(value)),
                conforming,
            })
            .collect();
        quality::InspectionResultRecorded {
            product: "PUMP-100".to_owned(),
            operation: 10,
            quantity: 4,
            rejected: 4,
            measurements,
            at: Some(to_timestamp(t(30))),
            ..Default::default()
        }
    }

    fn parameter(work_unit: &str, value: f64) -> StoredSample {
        StoredSample {
            kind: "p",
            k1: work_unit.to_owned(),
            k2: String::new(),
            k3: "melt temperature".to_owned(),
            sample: SourceSample {
                id: SampleId(format!("event-{work_unit}")),
                at: t(1),
                value: Some(value),
                units: 1,
                defectives: 0,
                defects: 0,
            },
        }
    }

    #[test]
    fn a_result_is_stored_under_its_product_operation_and_characteristic() {
        let samples = result_samples(&result(), EVENT).unwrap();
        assert_eq!(samples.len(), 2);
        let keys: Vec<_> = samples
            .iter()
            .map(|s| (s.kind, s.k1.as_str(), s.k2.as_str(), s.k3.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("c", "PUMP-100", "10", "bore"),
                ("c", "PUMP-100", "10", "depth")
            ]
        );
        assert_eq!(samples[1].sample.id, SampleId(format!("{EVENT}/1")));
    }

    #[test]
    fn a_chart_takes_the_samples_of_its_source_only() {
        let samples = result_samples(&result(), EVENT).unwrap();
        let bore_sample = &samples[0];
        let variables = sample_for(&watched(bore(), ChartKind::IMr), bore_sample).unwrap();
        assert_eq!(variables.value, SampleValue::Variable(10.6));
        let p = sample_for(&watched(bore(), ChartKind::P), bore_sample).unwrap();
        assert_eq!(p.value, SampleValue::Attribute { n: 4, count: 4 });
        // Another characteristic, product or operation is not this chart's.
        assert!(sample_for(&watched(bore(), ChartKind::IMr), &samples[1]).is_none());
        let other = Source::Characteristic {
            product: "PUMP-200".to_owned(),
            operation: 10,
            characteristic: "bore".to_owned(),
        };
        assert!(sample_for(&watched(other, ChartKind::IMr), bore_sample).is_none());
        let elsewhere = Source::Characteristic {
            product: "PUMP-100".to_owned(),
            operation: 20,
            characteristic: "bore".to_owned(),
        };
        assert!(sample_for(&watched(elsewhere, ChartKind::IMr), bore_sample).is_none());
    }

    #[test]
    fn a_parameter_chart_takes_its_work_unit_or_any() {
        let any = watched(melt(""), ChartKind::IMr);
        let press_7 = watched(melt("press-7"), ChartKind::IMr);
        assert!(sample_for(&any, &parameter("press-7", 231.0)).is_some());
        assert!(sample_for(&any, &parameter("press-8", 229.0)).is_some());
        assert!(sample_for(&press_7, &parameter("press-7", 231.0)).is_some());
        assert!(sample_for(&press_7, &parameter("press-8", 229.0)).is_none());
        assert!(sample_for(&watched(bore(), ChartKind::IMr), &parameter("press-7", 1.0)).is_none());
    }
}
