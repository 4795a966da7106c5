//! Why a control chart rejects a command. Each message about a value names the request field it
//! came in.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind, Millis};
use thiserror::Error;

use super::definition::{ChartKind, MAX_BASELINE, MAX_POINTS, MIN_BASELINE};
use crate::domain::ids::ChartId;

/// A rejected control chart command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ChartError {
    /// The chart was never defined.
    #[error("control chart not found")]
    NotFound,

    /// The chart is defined already; a chart's definition never changes.
    #[error("control chart {chart} is already defined; define a new chart for a new definition")]
    AlreadyDefined { chart: ChartId },

    /// A subgroup size the kind does not take.
    #[error("field subgroup.size: a {kind} chart takes subgroups of {min} to {max}, got {size}")]
    SubgroupSize {
        kind: ChartKind,
        size: u32,
        min: u32,
        max: u32,
    },

    /// A time window on an individuals chart.
    #[error("field subgroup.window_ms: an I-MR chart takes subgroups of 1, not a time window")]
    WindowOnIndividuals,

    /// A time window outside 1 s to 31 days.
    #[error("field subgroup.window_ms must be 1 s to 31 days, got {window}")]
    Window { window: Millis },

    /// A baseline of too few or too many subgroups.
    #[error("field {field} must be {MIN_BASELINE} to {MAX_BASELINE} subgroups, got {subgroups}")]
    BaselineSize { field: &'static str, subgroups: u32 },

    /// A limit or spec limit that is not a finite number.
    #[error("field {field} must be a finite number, got {value}")]
    NotFinite { field: String, value: f64 },

    /// Limits out of order.
    #[error("field {field}: limits must be ordered lower <= center <= upper with lower < upper, got {lower}, {center}, {upper}")]
    LimitsOrder {
        field: String,
        lower: f64,
        center: f64,
        upper: f64,
    },

    /// Dispersion limits for an attribute chart, which has no dispersion chart.
    #[error("field {field}.dispersion_center: a {kind} chart has no dispersion chart")]
    DispersionOnAttributes {
        field: &'static str,
        kind: ChartKind,
    },

    /// Specification limits out of order.
    #[error("field spec_lower: {lower} must be below spec_upper {upper}")]
    SpecOrder { lower: f64, upper: f64 },

    /// A rule number outside 1 to 8.
    #[error("field {field}: rule {rule} is not one of the rules 1 to 8")]
    Rule { field: String, rule: u32 },

    /// A rule listed twice.
    #[error("field {field}: rule {rule} is listed twice")]
    RuleRepeated { field: String, rule: u32 },

    /// A process parameter source for an attribute chart.
    #[error("field parameter: a {kind} chart counts inspected units; only I-MR, X̄-R and X̄-S charts take a parameter source")]
    ParameterOnAttributes { kind: ChartKind },

    /// A violation on the dispersion chart of an attribute chart.
    #[error("field part: a {kind} chart has no dispersion chart")]
    DispersionPartOnAttributes { kind: ChartKind },

    /// A violation without points.
    #[error("field points must not be empty")]
    NoPoints,

    /// A violation with more points than any rule's pattern.
    #[error("field points has {len} points, more than the longest pattern ({MAX_POINTS})")]
    TooManyPoints { len: usize },

    /// A point whose value is not a finite number.
    #[error("field points[{index}].value must be a finite number, got {value}")]
    PointNotFinite { index: usize, value: f64 },

    /// Points not in subgroup order (two subgroups of a size-based chart may start at the same
    /// time).
    #[error("field points[{index}].subgroup_start: points must be oldest first")]
    PointsOrder { index: usize },

    /// A violation time other than its last point's subgroup start.
    #[error("field at: a violation is at its last point's subgroup start {last}, got {at}")]
    AtNotLastPoint {
        at: DateTime<Utc>,
        last: DateTime<Utc>,
    },

    /// A violation id other than the one the contract derives.
    #[error("field violation_id: expected {expected:?} for this chart, part, rule and last point, got {got:?}")]
    ViolationId { expected: String, got: String },
}

impl DomainError for ChartError {
    fn kind(&self) -> ErrorKind {
        match self {
            ChartError::NotFound => ErrorKind::NotFound,
            ChartError::AlreadyDefined { .. } => ErrorKind::FailedPrecondition,
            _ => ErrorKind::InvalidArgument,
        }
    }
}
