//! The chart's inputs (definition, limit events, samples) and outputs (points).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::limits::PartLimits;

/// The kind of control chart (`ChartKind` in `mom.quality.v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Individuals and moving range.
    IMr,
    /// Subgroup means and ranges.
    XbarR,
    /// Subgroup means and standard deviations.
    XbarS,
    /// Fraction defective.
    P,
    /// Number defective.
    Np,
    /// Defects per subgroup.
    C,
    /// Defects per unit.
    U,
}

impl ChartKind {
    /// Returns whether the chart plots measured values (I-MR, X̄-R, X̄-S).
    pub fn is_variables(self) -> bool {
        matches!(self, Self::IMr | Self::XbarR | Self::XbarS)
    }

    /// Returns the kind of stable name `name` (see [`ChartKind::as_str`]), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::IMr,
            Self::XbarR,
            Self::XbarS,
            Self::P,
            Self::Np,
            Self::C,
            Self::U,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }

    /// Returns the kind's stable lower-case name (`i_mr`, `xbar_r`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IMr => "i_mr",
            Self::XbarR => "xbar_r",
            Self::XbarS => "xbar_s",
            Self::P => "p",
            Self::Np => "np",
            Self::C => "c",
            Self::U => "u",
        }
    }
}

/// How samples form subgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subgrouping {
    /// Consecutive samples in time order, `size` at a time (the last incomplete one is pending
    /// and not plotted).
    Size(u32),
    /// All samples whose time falls in `[k·w, (k+1)·w)` milliseconds since the Unix epoch.
    WindowMs(u64),
}

/// Where the limits of a chart's first segment come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Estimated from the first N subgroups in time order (none before N exist).
    Subgroups(u32),
    /// Given explicitly.
    Limits(ControlLimits),
}

/// Explicit control limits: the primary chart's, and optionally the dispersion chart's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ControlLimits {
    /// Primary center line.
    pub center: f64,
    /// Primary lower control limit.
    pub lower: f64,
    /// Primary upper control limit.
    pub upper: f64,
    /// Dispersion center line.
    pub dispersion_center: Option<f64>,
    /// Dispersion lower control limit.
    pub dispersion_lower: Option<f64>,
    /// Dispersion upper control limit.
    pub dispersion_upper: Option<f64>,
}

/// What the engine needs of a `ControlChartDefined` event (the source stays with the caller,
/// which routes samples to charts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChartDefinition {
    /// Chart kind.
    pub kind: ChartKind,
    /// Subgrouping.
    pub subgroup: Subgrouping,
    /// Baseline of the first limits.
    pub baseline: Baseline,
    /// Lower specification limit.
    pub spec_lower: Option<f64>,
    /// Upper specification limit.
    pub spec_upper: Option<f64>,
}

/// A recorded limit change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitChange {
    /// `ControlLimitsSet`: explicit limits.
    Set(ControlLimits),
    /// `ControlLimitsRecomputeRequested`: limits from the first N subgroups starting at or after
    /// `from`.
    Recompute(u32),
}

/// A limit change with its place in the chart's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LimitEvent {
    /// The event's sequence number in the chart's stream: it identifies the event (a repeat is
    /// ignored) and orders changes with the same `from`.
    pub seq: u64,
    /// The first subgroup start the change applies to.
    pub from: DateTime<Utc>,
    /// The change.
    pub change: LimitChange,
}

/// The identity of a sample (for deduplication): the source event's id and the index of the
/// measurement within it, or any other stable string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SampleId(pub String);

impl From<&str> for SampleId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for SampleId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Display for SampleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleValue {
    /// A measured value (variables charts).
    Variable(f64),
    /// An inspection: `n` units inspected, `count` defectives (p, np) or defects (c, u).
    Attribute {
        /// Units inspected.
        n: u32,
        /// Defectives or defects.
        count: u32,
    },
}

/// One sample of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Identity for deduplication.
    pub id: SampleId,
    /// Sample time (`produced_at` if set, else the result's `at`).
    pub at: DateTime<Utc>,
    /// Value.
    pub value: SampleValue,
}

/// The chart part a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The X / X̄ / p / np / c / u chart.
    Primary,
    /// The MR / R / S chart.
    Dispersion,
}

impl Part {
    /// Returns `primary` or `dispersion` (as in violation ids).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Dispersion => "dispersion",
        }
    }
}

/// One plotted subgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Subgroup start: the window's start, or the first sample's time.
    pub start: DateTime<Utc>,
    /// Samples in the subgroup (variables) or units inspected (attributes).
    pub n: u32,
    /// Plotted value: X, X̄, p, np, c or u.
    pub value: f64,
    /// Dispersion value: MR, R or S (none for attributes, for the first I-MR point, and for
    /// X̄-R / X̄-S subgroups of one sample).
    pub dispersion: Option<f64>,
    /// Primary limits that apply (none while the baseline is incomplete).
    pub limits: Option<PartLimits>,
    /// Dispersion limits that apply.
    pub dispersion_limits: Option<PartLimits>,
    /// The limit segment (index into the chart's limit schedule) the limits come from.
    pub segment: Option<u32>,
    /// Nelson rules (bit r−1 for rule r) whose primary pattern completes at this point.
    pub flags: u8,
    /// Nelson rules whose dispersion pattern completes at this point.
    pub dispersion_flags: u8,
}
