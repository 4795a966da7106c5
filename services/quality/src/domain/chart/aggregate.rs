//! The control chart's state, its decisions and its fold.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::ChartCommand;
use super::definition::{
    check_baseline_size, check_limits, check_rules, check_source, check_spec, check_subgroup,
    violation_id, Baseline, ChartKind, ChartPart, ChartPoint, ChartSource, Subgroup, MAX_POINTS,
};
use super::error::ChartError;
use super::events::ChartEvent;
use crate::domain::ids::{ChartId, Text, ViolationId};

/// How many recorded violations a chart keeps in full for `GetControlChart` (the newest); the
/// ids of all of them are kept, so a repeat is recognised however old.
pub const KEPT_VIOLATIONS: usize = 1_000;

/// A control chart: the aggregate `control_chart`. Before its definition it has no state and
/// rejects every command but `Define` with [`ChartError::NotFound`].
pub type ControlChart = Stream<Option<ChartState>>;

/// A recorded rule violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Its id, `{chart}/{part}/{rule}/{last subgroup start}`.
    pub violation_id: ViolationId,
    /// The Nelson rule, 1 to 8.
    pub rule: u32,
    /// The plot it is on.
    pub part: ChartPart,
    /// The points of the pattern, oldest first.
    pub points: Vec<ChartPoint>,
    /// What the watcher said about it.
    pub description: Option<Text>,
    /// The last point's subgroup start.
    pub at: DateTime<Utc>,
}

/// The state of a defined control chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartState {
    id: ChartId,
    source: ChartSource,
    kind: ChartKind,
    subgroup: Subgroup,
    baseline: Baseline,
    spec_lower: Option<f64>,
    spec_upper: Option<f64>,
    ncr_rules: Vec<u32>,
    description: Option<Text>,
    defined_at: DateTime<Utc>,
    limit_changes: u64,
    violation_ids: BTreeSet<ViolationId>,
    recent: VecDeque<Violation>,
    violations_total: u64,
}

impl ChartState {
    /// Returns the chart id.
    pub fn id(&self) -> &ChartId {
        &self.id
    }

    /// Returns the chart's kind.
    pub fn kind(&self) -> ChartKind {
        self.kind
    }

    /// Returns the rules whose violation opens an NCR.
    pub fn ncr_rules(&self) -> &[u32] {
        &self.ncr_rules
    }

    /// Returns the definition as the event that recorded it.
    pub fn definition(&self) -> ChartEvent {
        ChartEvent::ControlChartDefined {
            chart_id: self.id.clone(),
            source: self.source.clone(),
            kind: self.kind,
            subgroup: self.subgroup,
            baseline: self.baseline,
            spec_lower: self.spec_lower,
            spec_upper: self.spec_upper,
            ncr_rules: self.ncr_rules.clone(),
            description: self.description.clone(),
            at: self.defined_at,
        }
    }

    /// Returns how many limit changes followed the definition.
    pub fn limit_changes(&self) -> u64 {
        self.limit_changes
    }

    /// Returns the newest recorded violations (at most [`KEPT_VIOLATIONS`]), newest first.
    pub fn recent_violations(&self) -> impl Iterator<Item = &Violation> {
        self.recent.iter().rev()
    }

    /// Returns how many violations were ever recorded.
    pub fn violations_total(&self) -> u64 {
        self.violations_total
    }

    /// Decides a violation: checked against the chart and the contract's id, nothing when the
    /// id was recorded before.
    fn record(&self, violation: Violation) -> Result<Vec<ChartEvent>, ChartError> {
        if self.violation_ids.contains(&violation.violation_id) {
            return Ok(vec![]);
        }
        check_rules_one(violation.rule)?;
        if violation.part == ChartPart::Dispersion && !self.kind.is_variables() {
            return Err(ChartError::DispersionPartOnAttributes { kind: self.kind });
        }
        let points = &violation.points;
        let Some(last) = points.last() else {
            return Err(ChartError::NoPoints);
        };
        if points.len() > MAX_POINTS {
            return Err(ChartError::TooManyPoints { len: points.len() });
        }
        for (index, point) in points.iter().enumerate() {
            if !point.value.is_finite() {
                return Err(ChartError::PointNotFinite {
                    index,
                    value: point.value,
                });
            }
            if index > 0 && points[index - 1].subgroup_start > point.subgroup_start {
                return Err(ChartError::PointsOrder { index });
            }
        }
        if violation.at != last.subgroup_start {
            return Err(ChartError::AtNotLastPoint {
                at: violation.at,
                last: last.subgroup_start,
            });
        }
        let expected = violation_id(
            self.id.as_str(),
            violation.part,
            violation.rule,
            last.subgroup_start,
        );
        if violation.violation_id.as_str() != expected {
            return Err(ChartError::ViolationId {
                expected,
                got: violation.violation_id.to_string(),
            });
        }
        Ok(vec![ChartEvent::ControlRuleViolated {
            chart_id: self.id.clone(),
            rule: violation.rule,
            part: violation.part,
            points: violation.points,
            violation_id: violation.violation_id,
            description: violation.description,
            at: violation.at,
        }])
    }
}

/// Checks one violated rule's number.
fn check_rules_one(rule: u32) -> Result<(), ChartError> {
    if (1..=8).contains(&rule) {
        Ok(())
    } else {
        Err(ChartError::Rule {
            field: "rule".to_owned(),
            rule,
        })
    }
}

impl Lifecycle for ChartState {
    const TYPE: &'static str = "control_chart";
    const NOUN: &'static str = "control chart";
    type Command = ChartCommand;
    type Event = ChartEvent;
    type Error = ChartError;

    fn create(command: ChartCommand) -> Result<Vec<ChartEvent>, ChartError> {
        let ChartCommand::Define {
            chart,
            source,
            kind,
            subgroup,
            baseline,
            spec_lower,
            spec_upper,
            ncr_rules,
            description,
            at,
        } = command
        else {
            return Err(ChartError::NotFound);
        };
        check_source(kind, &source)?;
        check_subgroup(kind, subgroup)?;
        match &baseline {
            Baseline::Subgroups(n) => check_baseline_size(*n, "baseline.subgroups")?,
            Baseline::Limits(limits) => check_limits(kind, limits, "baseline.limits")?,
        }
        check_spec(spec_lower, spec_upper)?;
        check_rules(&ncr_rules)?;
        Ok(vec![ChartEvent::ControlChartDefined {
            chart_id: chart,
            source,
            kind,
            subgroup,
            baseline,
            spec_lower,
            spec_upper,
            ncr_rules,
            description,
            at,
        }])
    }

    fn decide(&self, command: ChartCommand) -> Result<Vec<ChartEvent>, ChartError> {
        match command {
            ChartCommand::Define { .. } => Err(ChartError::AlreadyDefined {
                chart: self.id.clone(),
            }),
            ChartCommand::SetLimits {
                limits,
                from,
                reason,
                at,
            } => {
                check_limits(self.kind, &limits, "limits")?;
                Ok(vec![ChartEvent::ControlLimitsSet {
                    chart_id: self.id.clone(),
                    limits,
                    from,
                    reason,
                    at,
                }])
            }
            ChartCommand::RecomputeLimits {
                from,
                subgroups,
                reason,
                at,
            } => {
                check_baseline_size(subgroups, "subgroups")?;
                Ok(vec![ChartEvent::ControlLimitsRecomputeRequested {
                    chart_id: self.id.clone(),
                    from,
                    subgroups,
                    reason,
                    at,
                }])
            }
            ChartCommand::RecordViolation {
                violation,
                rule,
                part,
                points,
                description,
                at,
            } => self.record(Violation {
                violation_id: violation,
                rule,
                part,
                points,
                description,
                at,
            }),
        }
    }

    fn born(event: ChartEvent) -> Option<Self> {
        match event {
            ChartEvent::ControlChartDefined {
                chart_id,
                source,
                kind,
                subgroup,
                baseline,
                spec_lower,
                spec_upper,
                ncr_rules,
                description,
                at,
            } => Some(ChartState {
                id: chart_id,
                source,
                kind,
                subgroup,
                baseline,
                spec_lower,
                spec_upper,
                ncr_rules,
                description,
                defined_at: at,
                limit_changes: 0,
                violation_ids: BTreeSet::new(),
                recent: VecDeque::new(),
                violations_total: 0,
            }),
            _ => None,
        }
    }

    fn evolve(&mut self, event: ChartEvent) {
        match event {
            // A second definition is never decided; nothing to fold.
            ChartEvent::ControlChartDefined { .. } => {}
            ChartEvent::ControlLimitsSet { .. }
            | ChartEvent::ControlLimitsRecomputeRequested { .. } => {
                self.limit_changes = self.limit_changes.saturating_add(1);
            }
            ChartEvent::ControlRuleViolated {
                rule,
                part,
                points,
                violation_id,
                description,
                at,
                ..
            } => {
                self.violation_ids.insert(violation_id.clone());
                self.violations_total = self.violations_total.saturating_add(1);
                if self.recent.len() == KEPT_VIOLATIONS {
                    self.recent.pop_front();
                }
                self.recent.push_back(Violation {
                    violation_id,
                    rule,
                    part,
                    points,
                    description,
                    at,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
