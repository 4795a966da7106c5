//! What a control chart is made of: its kind, source, subgroups, baseline, limits, spec limits
//! and rules, and the checks each of them passes before an event records it.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::Millis;
use serde::{Deserialize, Serialize};

use super::error::ChartError;
use crate::domain::ids::{
    CharacteristicName, OperationNumber, ParameterName, ProductId, WorkUnitId,
};

/// Shortest time window of a subgroup: one second.
pub const MIN_WINDOW: Millis = Millis(1_000);

/// Longest time window of a subgroup: 31 days.
pub const MAX_WINDOW: Millis = Millis(31 * 24 * Millis::HOUR);

/// Fewest subgroups a baseline (or a recomputation) takes.
pub const MIN_BASELINE: u32 = 2;

/// Most subgroups a baseline (or a recomputation) takes.
pub const MAX_BASELINE: u32 = 1_000;

/// Most points one violation names: the longest Nelson pattern (rule 7, fifteen in a row).
pub const MAX_POINTS: usize = 15;

/// The statistical chart type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Number of defects.
    C,
    /// Defects per unit.
    U,
}

impl ChartKind {
    /// Returns whether the chart plots measured values (I-MR, X̄-R, X̄-S) and so has a
    /// dispersion chart; attribute charts (p, np, c, u) count units or defects.
    pub fn is_variables(self) -> bool {
        matches!(self, ChartKind::IMr | ChartKind::XbarR | ChartKind::XbarS)
    }

    /// Returns the sizes a subgroup of this kind may have.
    fn sizes(self) -> (u32, u32) {
        match self {
            ChartKind::XbarR => (2, 25),
            ChartKind::XbarS => (2, 100),
            ChartKind::IMr | ChartKind::P | ChartKind::Np | ChartKind::C | ChartKind::U => (1, 1),
        }
    }
}

impl fmt::Display for ChartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChartKind::IMr => "I-MR",
            ChartKind::XbarR => "X̄-R",
            ChartKind::XbarS => "X̄-S",
            ChartKind::P => "p",
            ChartKind::Np => "np",
            ChartKind::C => "c",
            ChartKind::U => "u",
        })
    }
}

/// Where a chart's samples come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChartSource {
    /// A characteristic of the inspection results of `product` at `operation`.
    Characteristic {
        product: ProductId,
        operation: OperationNumber,
        characteristic: CharacteristicName,
    },
    /// Production's recorded values of `parameter`, on `work_unit` or (none) on any.
    Parameter {
        work_unit: Option<WorkUnitId>,
        parameter: ParameterName,
    },
}

/// How samples form subgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subgroup {
    /// Consecutive samples, this many per subgroup.
    Size(u32),
    /// The samples in the same window `[k·w, (k+1)·w)` since the Unix epoch.
    Window(Millis),
}

/// Where the first limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Baseline {
    /// Computed from the first this many subgroups in time order.
    Subgroups(u32),
    /// Given.
    Limits(ControlLimits),
}

/// The limits of the primary chart and, for variables charts, of the dispersion chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ControlLimits {
    pub center: f64,
    pub lower: f64,
    pub upper: f64,
    pub dispersion: Option<DispersionLimits>,
}

/// The limits of the MR, R or S chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DispersionLimits {
    pub center: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Which of a chart's two plots a violation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChartPart {
    /// The X, X̄, p, np, c or u chart.
    Primary,
    /// The MR, R or S chart.
    Dispersion,
}

impl fmt::Display for ChartPart {
    /// Writes the part as the violation id spells it: `primary` or `dispersion`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChartPart::Primary => "primary",
            ChartPart::Dispersion => "dispersion",
        })
    }
}

/// One plotted point: the subgroup's start and its statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    pub subgroup_start: DateTime<Utc>,
    pub value: f64,
}

/// Checks that `kind` takes `subgroup`.
pub(super) fn check_subgroup(kind: ChartKind, subgroup: Subgroup) -> Result<(), ChartError> {
    match subgroup {
        Subgroup::Size(size) => {
            let (min, max) = kind.sizes();
            if !(min..=max).contains(&size) {
                return Err(ChartError::SubgroupSize {
                    kind,
                    size,
                    min,
                    max,
                });
            }
        }
        Subgroup::Window(window) => {
            if kind == ChartKind::IMr {
                return Err(ChartError::WindowOnIndividuals);
            }
            if window < MIN_WINDOW || window > MAX_WINDOW {
                return Err(ChartError::Window { window });
            }
        }
    }
    Ok(())
}

/// Checks a baseline (or recomputation) size; `field` names it in the message.
pub(super) fn check_baseline_size(subgroups: u32, field: &'static str) -> Result<(), ChartError> {
    if (MIN_BASELINE..=MAX_BASELINE).contains(&subgroups) {
        Ok(())
    } else {
        Err(ChartError::BaselineSize { field, subgroups })
    }
}

/// Checks explicit limits for a chart of `kind`; `field` is the request field they came in
/// (`baseline.limits`, `limits`).
pub(super) fn check_limits(
    kind: ChartKind,
    limits: &ControlLimits,
    field: &'static str,
) -> Result<(), ChartError> {
    check_triple(limits.lower, limits.center, limits.upper, field, "")?;
    match limits.dispersion {
        None => Ok(()),
        Some(_) if !kind.is_variables() => Err(ChartError::DispersionOnAttributes { field, kind }),
        Some(dispersion) => check_triple(
            dispersion.lower,
            dispersion.center,
            dispersion.upper,
            field,
            "dispersion_",
        ),
    }
}

fn check_triple(
    lower: f64,
    center: f64,
    upper: f64,
    field: &'static str,
    prefix: &'static str,
) -> Result<(), ChartError> {
    for (name, value) in [("lower", lower), ("center", center), ("upper", upper)] {
        if !value.is_finite() {
            return Err(ChartError::NotFinite {
                field: format!("{field}.{prefix}{name}"),
                value,
            });
        }
    }
    if !(lower <= center && center <= upper && lower < upper) {
        return Err(ChartError::LimitsOrder {
            field: format!("{field}.{prefix}lower"),
            lower,
            center,
            upper,
        });
    }
    Ok(())
}

/// Checks the specification limits: finite, and the lower below the upper when both are given.
pub(super) fn check_spec(lower: Option<f64>, upper: Option<f64>) -> Result<(), ChartError> {
    for (field, value) in [("spec_lower", lower), ("spec_upper", upper)] {
        if let Some(value) = value.filter(|v| !v.is_finite()) {
            return Err(ChartError::NotFinite {
                field: field.to_owned(),
                value,
            });
        }
    }
    match (lower, upper) {
        (Some(lower), Some(upper)) if lower >= upper => Err(ChartError::SpecOrder { lower, upper }),
        _ => Ok(()),
    }
}

/// Checks the NCR rules: each 1 to 8, none twice.
pub(super) fn check_rules(rules: &[u32]) -> Result<(), ChartError> {
    let mut seen = BTreeSet::new();
    for (index, rule) in rules.iter().enumerate() {
        if !(1..=8).contains(rule) {
            return Err(ChartError::Rule {
                field: format!("ncr_rules[{index}]"),
                rule: *rule,
            });
        }
        if !seen.insert(*rule) {
            return Err(ChartError::RuleRepeated {
                field: format!("ncr_rules[{index}]"),
                rule: *rule,
            });
        }
    }
    Ok(())
}

/// Checks that a chart of `kind` takes samples from `source`.
pub(super) fn check_source(kind: ChartKind, source: &ChartSource) -> Result<(), ChartError> {
    match source {
        ChartSource::Parameter { .. } if !kind.is_variables() => {
            Err(ChartError::ParameterOnAttributes { kind })
        }
        _ => Ok(()),
    }
}

/// Returns the id of the violation of `rule` on `part` of `chart` whose last point starts at
/// `last`: `{chart}/{part}/{rule}/{last, RFC 3339 with milliseconds, UTC}`.
pub fn violation_id(chart: &str, part: ChartPart, rule: u32, last: DateTime<Utc>) -> String {
    format!(
        "{chart}/{part}/{rule}/{}",
        last.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}
