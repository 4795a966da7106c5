//! Commands a control chart accepts.

use chrono::{DateTime, Utc};
use mom_domain::{CommandTime, Timed};

use super::definition::{
    Baseline, ChartKind, ChartPart, ChartPoint, ChartSource, ControlLimits, Subgroup,
};
use crate::domain::ids::{ChartId, Text, ViolationId};

/// A request to change a control chart; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartCommand {
    /// Defines the chart.
    Define {
        chart: ChartId,
        source: ChartSource,
        kind: ChartKind,
        subgroup: Subgroup,
        baseline: Baseline,
        spec_lower: Option<f64>,
        spec_upper: Option<f64>,
        ncr_rules: Vec<u32>,
        description: Option<Text>,
        at: DateTime<Utc>,
    },
    /// Sets explicit limits for the subgroups starting at or after `from`.
    SetLimits {
        limits: ControlLimits,
        from: DateTime<Utc>,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// Asks for limits recomputed from the first `subgroups` subgroups starting at or after
    /// `from`.
    RecomputeLimits {
        from: DateTime<Utc>,
        subgroups: u32,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// Records a rule violation the chart's watcher found; `at` is the last point's subgroup
    /// start.
    RecordViolation {
        violation: ViolationId,
        rule: u32,
        part: ChartPart,
        points: Vec<ChartPoint>,
        description: Option<Text>,
        at: DateTime<Utc>,
    },
}

impl Timed for ChartCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            ChartCommand::Define { at, .. }
            | ChartCommand::SetLimits { at, .. }
            | ChartCommand::RecomputeLimits { at, .. }
            | ChartCommand::RecordViolation { at, .. } => *at,
        }
    }

    /// `at` happened; a limit change's `from` is planned: limits may be set ahead for the next
    /// shift or batch, up to the planning horizon. A violation's points lie at or before its
    /// `at`, which the policy checks.
    fn times(&self) -> Vec<CommandTime> {
        let mut times = vec![CommandTime::happened("at", self.at())];
        match self {
            ChartCommand::SetLimits { from, .. } | ChartCommand::RecomputeLimits { from, .. } => {
                times.push(CommandTime::planned("from", *from));
            }
            ChartCommand::Define { .. } | ChartCommand::RecordViolation { .. } => {}
        }
        times
    }
}
