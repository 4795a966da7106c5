//! Forming subgroups from the time-ordered samples.

use chrono::{DateTime, Utc};

use crate::model::{ChartKind, Sample, SampleValue, Subgrouping};

/// One subgroup with the statistics the points and the limits need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subgroup {
    /// Subgroup start.
    pub start: DateTime<Utc>,
    /// Index of its first sample in the chart's sorted sample list.
    pub first_sample: usize,
    /// One past its last sample.
    pub end_sample: usize,
    /// Matching samples in it.
    pub samples: u32,
    /// Mean of the measured values (variables).
    pub mean: f64,
    /// Range (variables, two or more samples).
    pub range: Option<f64>,
    /// Sample standard deviation (variables, two or more samples).
    pub sd: Option<f64>,
    /// Units inspected (attributes).
    pub units: u64,
    /// Defectives or defects (attributes).
    pub count: u64,
}

/// Returns whether a sample's value suits the chart kind.
pub(crate) fn matches(kind: ChartKind, value: &SampleValue) -> bool {
    match value {
        SampleValue::Variable(_) => kind.is_variables(),
        SampleValue::Attribute { .. } => !kind.is_variables(),
    }
}

/// Milliseconds since the epoch of a time (floor).
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn window_key(t: DateTime<Utc>, w: u64) -> i64 {
    let w = i64::try_from(w).unwrap_or(i64::MAX);
    millis(t).div_euclid(w)
}

fn window_start(key: i64, w: u64) -> DateTime<Utc> {
    let w = i64::try_from(w).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(key.saturating_mul(w)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Appends to `out` the subgroups formed from `samples[from..]` (`from` is the first sample of
/// a subgroup). An incomplete trailing subgroup of a size-based chart is left out (pending).
pub(crate) fn build(
    kind: ChartKind,
    grouping: Subgrouping,
    samples: &[Sample],
    from: usize,
    out: &mut Vec<Subgroup>,
) {
    let mut i = from;
    while i < samples.len() {
        if !matches(kind, &samples[i].value) {
            i += 1;
            continue;
        }
        let first = i;
        let mut members: Vec<usize> = Vec::new();
        match grouping {
            Subgrouping::Size(k) => {
                let k = k.max(1) as usize;
                while i < samples.len() && members.len() < k {
                    if matches(kind, &samples[i].value) {
                        members.push(i);
                    }
                    i += 1;
                }
                if members.len() < k {
                    return;
                }
            }
            Subgrouping::WindowMs(w) => {
                let key = window_key(samples[first].at, w);
                while i < samples.len() && window_key(samples[i].at, w) == key {
                    if matches(kind, &samples[i].value) {
                        members.push(i);
                    }
                    i += 1;
                }
            }
        }
        let start = match grouping {
            Subgrouping::Size(_) => samples[first].at,
            Subgrouping::WindowMs(w) => window_start(window_key(samples[first].at, w), w),
        };
        out.push(stats(start, first, i, samples, &members));
    }
}

fn stats(
    start: DateTime<Utc>,
    first: usize,
    end: usize,
    samples: &[Sample],
    members: &[usize],
) -> Subgroup {
    let mut values = Vec::with_capacity(members.len());
    let mut units = 0u64;
    let mut count = 0u64;
    for &m in members {
        match samples[m].value {
            SampleValue::Variable(v) => values.push(v),
            SampleValue::Attribute { n, count: c } => {
                units += u64::from(n);
                count += u64::from(c);
            }
        }
    }
    let k = values.len();
    let mean = if k == 0 {
        0.0
    } else {
        values.iter().sum::<f64>() / k as f64
    };
    let (range, sd) = if k >= 2 {
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (Some(max - min), Some((ss / (k - 1) as f64).sqrt()))
    } else {
        (None, None)
    };
    Subgroup {
        start,
        first_sample: first,
        end_sample: end,
        samples: u32::try_from(members.len()).unwrap_or(u32::MAX),
        mean,
        range,
        sd,
        units,
        count,
    }
}
