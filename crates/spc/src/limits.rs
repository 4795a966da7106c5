//! Control limits: the schedule of limit segments (the definition's baseline, then each recorded
//! limit change from its `from` on) and the limits that apply to one point.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::constants::{c4, d2_d3};
use crate::model::{Baseline, ChartDefinition, ChartKind, ControlLimits, LimitChange, LimitEvent};
use crate::subgroup::Subgroup;

/// Center line and control limits of one chart part at one point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartLimits {
    /// Center line.
    pub center: f64,
    /// Lower control limit (clamped at 0 for attribute and dispersion charts).
    pub lower: f64,
    /// Upper control limit.
    pub upper: f64,
}

impl PartLimits {
    /// σ of the zones: (UCL − CL) / 3.
    pub fn sigma(&self) -> f64 {
        (self.upper - self.center) / 3.0
    }
}

/// What the limits of a segment are computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Basis {
    /// Explicit limits.
    Explicit(ControlLimits),
    /// Variables: center and σ within subgroups.
    Variables { center: f64, sigma: f64 },
    /// Attributes: p̄, c̄ or ū.
    Rate(f64),
}

/// One segment of the limit schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    /// First subgroup start it applies to (`None`: from the beginning).
    pub from: Option<DateTime<Utc>>,
    /// Its own basis (`None`: baseline incomplete).
    pub basis: Option<Basis>,
    /// The segment whose basis applies (itself, or an earlier one while its baseline is
    /// incomplete); `None` while no limits apply.
    pub effective: Option<usize>,
}

/// Builds the limit schedule from the definition, the limit events and the subgroups.
pub(crate) fn schedule(
    definition: &ChartDefinition,
    events: &[LimitEvent],
    subgroups: &[Subgroup],
) -> Vec<Segment> {
    let mut segments = Vec::with_capacity(events.len() + 1);
    let first = match definition.baseline {
        Baseline::Limits(l) => Some(Basis::Explicit(l)),
        Baseline::Subgroups(n) => estimate(definition.kind, first_n(subgroups, None, n)),
    };
    segments.push(Segment {
        from: None,
        basis: first,
        effective: first.map(|_| 0),
    });
    let mut sorted: Vec<&LimitEvent> = events.iter().collect();
    sorted.sort_by(|a, b| a.from.cmp(&b.from).then(a.seq.cmp(&b.seq)));
    for event in sorted {
        let basis = match event.change {
            LimitChange::Set(l) => Some(Basis::Explicit(l)),
            LimitChange::Recompute(n) => {
                estimate(definition.kind, first_n(subgroups, Some(event.from), n))
            }
        };
        let index = segments.len();
        let effective = match basis {
            Some(_) => Some(index),
            None => segments.last().and_then(|s| s.effective),
        };
        segments.push(Segment {
            from: Some(event.from),
            basis,
            effective,
        });
    }
    segments
}

/// Returns the first `n` subgroups starting at or after `from`, or `None` if fewer exist.
fn first_n(subgroups: &[Subgroup], from: Option<DateTime<Utc>>, n: u32) -> Option<&[Subgroup]> {
    let start = match from {
        None => 0,
        Some(t) => subgroups.partition_point(|s| s.start < t),
    };
    let n = n as usize;
    let rest = &subgroups[start..];
    if n == 0 || rest.len() < n {
        None
    } else {
        Some(&rest[..n])
    }
}

/// Estimates the basis from baseline subgroups.
fn estimate(kind: ChartKind, baseline: Option<&[Subgroup]>) -> Option<Basis> {
    let b = baseline?;
    if b.is_empty() {
        return None;
    }
    let m = b.len() as f64;
    match kind {
        ChartKind::IMr => {
            let center = b.iter().map(|s| s.mean).sum::<f64>() / m;
            if b.len() < 2 {
                return None;
            }
            let mr: f64 = b
                .windows(2)
                .map(|w| (w[1].mean - w[0].mean).abs())
                .sum::<f64>()
                / (b.len() - 1) as f64;
            Some(Basis::Variables {
                center,
                sigma: mr / d2_d3(2).0,
            })
        }
        ChartKind::XbarR | ChartKind::XbarS => {
            let center = b.iter().map(|s| s.mean).sum::<f64>() / m;
            let mut total = 0.0;
            let mut k = 0usize;
            for s in b {
                let est = if kind == ChartKind::XbarR {
                    s.range.map(|r| r / d2_d3(s.samples).0)
                } else {
                    s.sd.map(|sd| sd / c4(s.samples))
                };
                if let Some(e) = est {
                    total += e;
                    k += 1;
                }
            }
            if k == 0 {
                return None;
            }
            Some(Basis::Variables {
                center,
                sigma: total / k as f64,
            })
        }
        ChartKind::P | ChartKind::Np | ChartKind::U => {
            let units: u64 = b.iter().map(|s| s.units).sum();
            let count: u64 = b.iter().map(|s| s.count).sum();
            if units == 0 {
                return None;
            }
            Some(Basis::Rate(count as f64 / units as f64))
        }
        ChartKind::C => Some(Basis::Rate(
            b.iter().map(|s| s.count as f64).sum::<f64>() / m,
        )),
    }
}

/// Returns the index of the segment a subgroup starting at `start` falls in.
pub(crate) fn segment_of(segments: &[Segment], start: DateTime<Utc>) -> usize {
    // Segments 1.. are sorted by `from`; segment 0 starts at the beginning.
    segments[1..].partition_point(|s| s.from.is_some_and(|f| f <= start))
}

fn clamp0(l: PartLimits) -> PartLimits {
    PartLimits {
        lower: l.lower.max(0.0),
        ..l
    }
}

/// Returns the (primary, dispersion) limits for a point of `n` (samples for variables, units
/// for attributes) under `basis`.
pub(crate) fn point_limits(
    kind: ChartKind,
    basis: &Basis,
    n: u32,
) -> (Option<PartLimits>, Option<PartLimits>) {
    match *basis {
        Basis::Explicit(l) => {
            let primary = PartLimits {
                center: l.center,
                lower: l.lower,
                upper: l.upper,
            };
            let primary = if kind.is_variables() {
                primary
            } else {
                clamp0(primary)
            };
            let dispersion = match (l.dispersion_center, l.dispersion_lower, l.dispersion_upper) {
                (Some(center), Some(lower), Some(upper)) if kind.is_variables() => {
                    Some(clamp0(PartLimits {
                        center,
                        lower,
                        upper,
                    }))
                }
                _ => None,
            };
            (Some(primary), dispersion)
        }
        Basis::Variables { center, sigma } => match kind {
            ChartKind::IMr => {
                let (d2, d3) = d2_d3(2);
                (
                    Some(PartLimits {
                        center,
                        lower: center - 3.0 * sigma,
                        upper: center + 3.0 * sigma,
                    }),
                    Some(clamp0(PartLimits {
                        center: d2 * sigma,
                        lower: (d2 - 3.0 * d3) * sigma,
                        upper: (d2 + 3.0 * d3) * sigma,
                    })),
                )
            }
            ChartKind::XbarR | ChartKind::XbarS => {
                let half = 3.0 * sigma / f64::from(n.max(1)).sqrt();
                let primary = PartLimits {
                    center,
                    lower: center - half,
                    upper: center + half,
                };
                if n < 2 {
                    return (Some(primary), None);
                }
                let dispersion = if kind == ChartKind::XbarR {
                    let (d2, d3) = d2_d3(n);
                    PartLimits {
                        center: d2 * sigma,
                        lower: (d2 - 3.0 * d3) * sigma,
                        upper: (d2 + 3.0 * d3) * sigma,
                    }
                } else {
                    let c = c4(n);
                    let s = (1.0 - c * c).sqrt();
                    PartLimits {
                        center: c * sigma,
                        lower: (c - 3.0 * s) * sigma,
                        upper: (c + 3.0 * s) * sigma,
                    }
                };
                (Some(primary), Some(clamp0(dispersion)))
            }
            _ => (None, None),
        },
        Basis::Rate(r) => {
            let nf = f64::from(n);
            let (center, sd) = match kind {
                ChartKind::P if n > 0 => (r, (r * (1.0 - r) / nf).sqrt()),
                ChartKind::Np => (nf * r, (nf * r * (1.0 - r)).sqrt()),
                ChartKind::C => (r, r.sqrt()),
                ChartKind::U if n > 0 => (r, (r / nf).sqrt()),
                _ => return (None, None),
            };
            (
                Some(clamp0(PartLimits {
                    center,
                    lower: center - 3.0 * sd,
                    upper: center + 3.0 * sd,
                })),
                None,
            )
        }
    }
}
