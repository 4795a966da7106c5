//! Process capability of a variables chart against its specification limits.

use serde::{Deserialize, Serialize};

use crate::chart::Chart;
use crate::constants::{c4, d2_d3};
use crate::model::{ChartKind, SampleValue};
use crate::subgroup::matches;

/// Capability figures. Indices are absent (never NaN) when a σ is unknown or zero, when fewer
/// than two samples exist, or when the spec limit they need is missing.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Capability {
    /// Samples in plotted subgroups.
    pub count: u64,
    /// Their mean.
    pub mean: Option<f64>,
    /// σ within subgroups: R̄/d2, S̄/c4 or MR̄/1.128 (mean of Rᵢ/d2(nᵢ) or Sᵢ/c4(nᵢ) when
    /// subgroup sizes vary).
    pub sigma_within: Option<f64>,
    /// Sample standard deviation of all the samples.
    pub sigma_overall: Option<f64>,
    /// Lower spec limit used.
    pub spec_lower: Option<f64>,
    /// Upper spec limit used.
    pub spec_upper: Option<f64>,
    /// (USL − LSL) / 6σ_within (both limits needed).
    pub cp: Option<f64>,
    /// min(USL − μ, μ − LSL) / 3σ_within, from the one side when only one limit exists.
    pub cpk: Option<f64>,
    /// (USL − LSL) / 6σ_overall.
    pub pp: Option<f64>,
    /// min(USL − μ, μ − LSL) / 3σ_overall.
    pub ppk: Option<f64>,
}

/// Returns the capability of a variables chart (`None` for attribute charts and charts not yet
/// defined). Deterministic: it sums in time order.
pub fn capability(chart: &Chart) -> Option<Capability> {
    let definition = chart.definition()?;
    if !definition.kind.is_variables() {
        return None;
    }
    let subgroups = chart.subgroups();
    let samples = chart.samples();
    let values: Vec<f64> = subgroups
        .iter()
        .flat_map(|s| samples[s.first_sample..s.end_sample].iter())
        .filter(|s| matches(definition.kind, &s.value))
        .filter_map(|s| match s.value {
            SampleValue::Variable(v) => Some(v),
            SampleValue::Attribute { .. } => None,
        })
        .collect();
    let count = values.len() as u64;
    let mut cap = Capability {
        count,
        spec_lower: definition.spec_lower,
        spec_upper: definition.spec_upper,
        ..Capability::default()
    };
    if values.is_empty() {
        return Some(cap);
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    cap.mean = Some(mean);
    if values.len() < 2 {
        return Some(cap);
    }
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let overall = (ss / (values.len() - 1) as f64).sqrt();
    let within = match definition.kind {
        ChartKind::IMr => {
            let mrs: Vec<f64> = subgroups
                .windows(2)
                .map(|w| (w[1].mean - w[0].mean).abs())
                .collect();
            (!mrs.is_empty()).then(|| mrs.iter().sum::<f64>() / mrs.len() as f64 / d2_d3(2).0)
        }
        kind => {
            let ests: Vec<f64> = subgroups
                .iter()
                .filter_map(|s| {
                    if kind == ChartKind::XbarR {
                        s.range.map(|r| r / d2_d3(s.samples).0)
                    } else {
                        s.sd.map(|sd| sd / c4(s.samples))
                    }
                })
                .collect();
            (!ests.is_empty()).then(|| ests.iter().sum::<f64>() / ests.len() as f64)
        }
    };
    let positive = |s: f64| (s > 0.0 && s.is_finite()).then_some(s);
    cap.sigma_within = within.and_then(positive);
    cap.sigma_overall = positive(overall);
    let (lsl, usl) = (definition.spec_lower, definition.spec_upper);
    let indices = |sigma: Option<f64>| -> (Option<f64>, Option<f64>) {
        let Some(s) = sigma else {
            return (None, None);
        };
        let cp = match (lsl, usl) {
            (Some(l), Some(u)) => Some((u - l) / (6.0 * s)),
            _ => None,
        };
        let upper = usl.map(|u| (u - mean) / (3.0 * s));
        let lower = lsl.map(|l| (mean - l) / (3.0 * s));
        let cpk = match (lower, upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (cp, cpk)
    };
    (cap.cp, cap.cpk) = indices(cap.sigma_within);
    (cap.pp, cap.ppk) = indices(cap.sigma_overall);
    Some(cap)
}
