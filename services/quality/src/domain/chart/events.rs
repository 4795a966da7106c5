//! Events of a control chart, one per message in `mom/quality/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use super::definition::{
    Baseline, ChartKind, ChartPart, ChartPoint, ChartSource, ControlLimits, Subgroup,
};
use crate::domain::ids::{ChartId, Text, ViolationId};

/// A fact about a control chart. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChartEvent {
    /// The chart was defined.
    ControlChartDefined {
        chart_id: ChartId,
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
    /// Explicit limits apply to the subgroups starting at or after `from`.
    ControlLimitsSet {
        chart_id: ChartId,
        limits: ControlLimits,
        from: DateTime<Utc>,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// Limits recomputed from the first `subgroups` subgroups starting at or after `from`.
    ControlLimitsRecomputeRequested {
        chart_id: ChartId,
        from: DateTime<Utc>,
        subgroups: u32,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// A Nelson rule was violated.
    ControlRuleViolated {
        chart_id: ChartId,
        rule: u32,
        part: ChartPart,
        points: Vec<ChartPoint>,
        violation_id: ViolationId,
        description: Option<Text>,
        at: DateTime<Utc>,
    },
}

impl ChartEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "ControlChartDefined",
        "ControlLimitsSet",
        "ControlLimitsRecomputeRequested",
        "ControlRuleViolated",
    ];

    /// The event types that make a chart's limit history.
    pub const LIMIT_TYPES: &'static [&'static str] = &[
        "ControlChartDefined",
        "ControlLimitsSet",
        "ControlLimitsRecomputeRequested",
    ];

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            ChartEvent::ControlChartDefined { at, .. }
            | ChartEvent::ControlLimitsSet { at, .. }
            | ChartEvent::ControlLimitsRecomputeRequested { at, .. }
            | ChartEvent::ControlRuleViolated { at, .. } => *at,
        }
    }
}

impl EventType for ChartEvent {
    fn type_name(&self) -> &'static str {
        match self {
            ChartEvent::ControlChartDefined { .. } => "ControlChartDefined",
            ChartEvent::ControlLimitsSet { .. } => "ControlLimitsSet",
            ChartEvent::ControlLimitsRecomputeRequested { .. } => "ControlLimitsRecomputeRequested",
            ChartEvent::ControlRuleViolated { .. } => "ControlRuleViolated",
        }
    }
}
