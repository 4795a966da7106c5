//! A control rule violated (quality) whose rule is one of the chart's NCR rules → a
//! nonconformance report on the chart's product (quality).
//!
//! The chart's product and NCR rules come from its `ControlChartDefined`, kept in the manager's
//! table `spc_ncr_charts` in the same transaction as its checkpoint. A chart's events share one
//! key (the chart id), so its definition always arrives before its violations. The NCR's id is
//! the violation event's id (a UUID) and its idempotency key too, so a redelivered violation
//! finds the NCR it opened and opens nothing more.

use chrono::SecondsFormat;
use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message};
use mom_proto::quality::v1 as quality;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::{control_chart_defined, ChartPart, QualityEvent};

use super::nonconformance::{self, NewNcr};
use super::{decode, Cause};
use crate::Clients;

const NAME: &str = "spc_ncr";

/// Opens an NCR for each violation of a chart's NCR rules.
#[derive(Debug)]
pub struct SpcNcr {
    topics: Vec<String>,
    clients: Clients,
}

impl SpcNcr {
    /// Returns the manager reading quality's topic.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("quality")],
            clients,
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
            "CREATE TABLE IF NOT EXISTS spc_ncr_charts (chart_id TEXT PRIMARY KEY, \
           product TEXT NOT NULL, ncr_rules TEXT NOT NULL)",
        ]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["spc_ncr_charts"]
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: QualityEvent = decode(message)?;
        match &envelope.event {
            Some(Event::ControlChartDefined(defined)) => {
                // A parameter chart names no product: its violations open no NCR.
                let product = match &defined.source {
                    Some(control_chart_defined::Source::Characteristic(source)) => {
                        source.product.clone()
                    }
                    _ => String::new(),
                };
                let rules = defined
                    .ncr_rules
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                sqlx::query(
                    "INSERT INTO spc_ncr_charts (chart_id, product, ncr_rules) VALUES ($1, $2, $3) \
                     ON CONFLICT (chart_id) DO NOTHING",
                )
                .bind(&defined.chart_id)
                .bind(product)
                .bind(rules)
                .execute(connection)
                .await?;
                Ok(())
            }
            Some(Event::ControlRuleViolated(violated)) => {
                let chart: Option<(String, String)> = sqlx::query_as(
                    "SELECT product, ncr_rules FROM spc_ncr_charts WHERE chart_id = $1",
                )
                .bind(&violated.chart_id)
                .fetch_optional(connection)
                .await?;
                let Some((product, rules)) = chart else {
                    return Err(ApplyError::Poison(format!(
                        "violation of unknown chart {}",
                        violated.chart_id
                    )));
                };
                if !opens_ncr(&rules, violated.rule) {
                    return Ok(());
                }
                if product.is_empty() {
                    tracing::warn!(
                        chart = %violated.chart_id,
                        rule = violated.rule,
                        "a parameter chart names no product; no nonconformance opened"
                    );
                    return Ok(());
                }
                let cause = Cause::of(envelope.metadata.as_ref())?;
                self.open(violated, product, &cause).await
            }
            _ => Ok(()),
        }
    }

    async fn open(
        &self,
        violated: &quality::ControlRuleViolated,
        product: String,
        cause: &Cause,
    ) -> Result<(), ApplyError> {
        let ncr = NewNcr {
            product,
            // The subgroups of the pattern: the review finds how many units they stand for.
            quantity: u64::try_from(violated.points.len()).unwrap_or(1),
            description: description(violated),
            at: violated.at,
            ..NewNcr::default()
        };
        nonconformance::open(&self.clients, NAME, cause, ncr, &violated.violation_id).await
    }
}

/// Returns whether `rule` is among the comma-separated `rules`.
fn opens_ncr(rules: &str, rule: u32) -> bool {
    rules
        .split(',')
        .any(|listed| listed.parse::<u32>() == Ok(rule))
}

/// Returns the NCR description: the chart, the rule, the part and the points (oldest first), cut
/// to what quality accepts.
pub(crate) fn description(violated: &quality::ControlRuleViolated) -> String {
    let part = match ChartPart::try_from(violated.part) {
        Ok(ChartPart::Dispersion) => "dispersion",
        _ => "primary",
    };
    let points = violated
        .points
        .iter()
        .map(|point| {
            let start = mom_proto::time::from_timestamp(point.subgroup_start.as_ref(), "start")
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            format!("{start} {:.6}", point.value)
        })
        .collect::<Vec<_>>()
        .join(", ");
    nonconformance::cut(format!(
        "SPC chart {}: rule {} violated on the {part} chart ({}); points: {points}",
        violated.chart_id, violated.rule, violated.description
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_rules_open_an_ncr() {
        assert!(opens_ncr("1,5", 5));
        assert!(!opens_ncr("1,5", 2));
        assert!(!opens_ncr("", 1));
        assert!(!opens_ncr("15", 1));
    }

    #[test]
    fn the_description_names_chart_rule_part_and_points_within_the_limit() {
        let point = |s: i64, value: f64| quality::ChartPoint {
            subgroup_start: Some(prost_types::Timestamp {
                seconds: 1_772_524_800 + s,
                nanos: 0,
            }),
            value,
        };
        let mut violated = quality::ControlRuleViolated {
            chart_id: "PUMP-100-10-bore".to_owned(),
            rule: 5,
            part: ChartPart::Primary as i32,
            points: vec![point(0, 10.25), point(60, 10.27)],
            violation_id: "PUMP-100-10-bore/primary/5/2026-03-03T08:01:00.000Z".to_owned(),
            description: "two of three points in a row beyond 2 sigma on the same side".to_owned(),
            at: None,
        };
        let text = description(&violated);
        assert!(text.starts_with("SPC chart PUMP-100-10-bore: rule 5 violated on the primary"));
        assert!(text.ends_with("2026-03-03T08:00:00Z 10.250000, 2026-03-03T08:01:00Z 10.270000"));
        violated.points = (0..15).map(|i| point(i * 60, 1234.5678)).collect();
        violated.chart_id = "C".repeat(128);
        let long = description(&violated);
        assert_eq!(long.chars().count(), nonconformance::MAX_DESCRIPTION);
        assert!(long.ends_with('…'));
    }
}
