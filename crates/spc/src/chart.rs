//! The streaming chart state: takes samples and definition / limit events in any order and says
//! after each what changed. [`compute`] is the batch computation it must always equal.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use thiserror::Error;

use crate::limits::{point_limits, schedule, segment_of, Segment};
use crate::model::{
    Baseline, ChartDefinition, ChartKind, LimitChange, LimitEvent, Part, Point, Sample, SampleId,
    SampleValue, Subgrouping,
};
use crate::rules::{bit, completing, violation_id, Evaluated, Violation, MAX_WINDOW};
use crate::subgroup::{self, Subgroup};

/// The most samples one chart holds; a further sample is refused with
/// [`ChartError::Full`] (the caller logs and counts it; the chart stays as it was).
pub const MAX_SAMPLES_PER_CHART: usize = 100_000;

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ChartError {
    /// The chart holds [`MAX_SAMPLES_PER_CHART`] samples.
    #[error("chart {chart} is full ({limit} samples); sample {sample} refused")]
    Full {
        /// Chart id.
        chart: String,
        /// The bound.
        limit: usize,
        /// The refused sample.
        sample: SampleId,
    },
    /// A measured value is NaN or infinite.
    #[error("sample {sample} of chart {chart} is not a finite number")]
    NotFinite {
        /// Chart id.
        chart: String,
        /// The refused sample.
        sample: SampleId,
    },
    /// An attribute sample with no inspected units.
    #[error("sample {sample} of chart {chart} inspected no units")]
    NoUnits {
        /// Chart id.
        chart: String,
        /// The refused sample.
        sample: SampleId,
    },
    /// A measured value on an attribute chart, or an inspection count on a variables chart.
    #[error("sample {sample} does not suit chart {chart} of kind {kind}")]
    WrongKind {
        /// Chart id.
        chart: String,
        /// The refused sample.
        sample: SampleId,
        /// The chart's kind.
        kind: &'static str,
    },
    /// A definition or limit change the engine cannot use.
    #[error("invalid definition of chart {chart}: {reason}")]
    InvalidDefinition {
        /// Chart id.
        chart: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One input to a chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `ControlChartDefined` (the highest `seq` wins when a chart is defined again).
    Defined {
        /// The event's sequence number in the chart's stream.
        seq: u64,
        /// The definition.
        definition: ChartDefinition,
    },
    /// `ControlLimitsSet` or `ControlLimitsRecomputeRequested`.
    Limits(LimitEvent),
    /// A sample routed to this chart.
    Sample(Sample),
}

/// What one input changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// Indices of points that are new or changed (value, limits or flags), ascending.
    pub points_changed: Vec<usize>,
    /// The number of points now; points at this index and beyond (if there were any) are gone.
    pub points_len: usize,
    /// The number of points before.
    pub points_len_before: usize,
    /// Violations that appeared, in point order.
    pub new_violations: Vec<Violation>,
    /// Violations that disappeared (a late sample or a limit change undid their pattern).
    pub cleared_violations: Vec<Violation>,
    /// The input was already known (a repeated sample id or event sequence) and was ignored.
    pub duplicate: bool,
}

impl Change {
    /// Returns whether nothing visible changed.
    pub fn is_empty(&self) -> bool {
        self.points_changed.is_empty()
            && self.points_len == self.points_len_before
            && self.new_violations.is_empty()
            && self.cleared_violations.is_empty()
    }
}

type ViolationKey = (usize, Part, u8);

/// Where a recomputation starts: the first subgroup to rebuild, the first point whose limits may
/// change, and the position of a new sample (`usize::MAX`: none).
#[derive(Debug, Clone, Copy)]
struct Refresh {
    subgroup: usize,
    point: usize,
    sample: usize,
}

impl Refresh {
    /// Everything from the start.
    const ALL: Refresh = Refresh {
        subgroup: 0,
        point: 0,
        sample: 0,
    };
}

/// One control chart's state.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    id: String,
    definition: Option<(u64, ChartDefinition)>,
    limit_events: BTreeMap<u64, LimitEvent>,
    samples: Vec<Sample>,
    sample_ids: HashSet<SampleId>,
    subgroups: Vec<Subgroup>,
    segments: Vec<Segment>,
    points: Vec<Point>,
    violations: BTreeMap<ViolationKey, Violation>,
    /// The ids of `violations`: subgroups with the same start give the same id, and the
    /// earliest such violation is the one kept.
    violation_ids: BTreeMap<String, ViolationKey>,
}

/// Computes a chart in one pass from all its inputs (the batch result the streaming chart
/// equals). Inputs the streaming chart would refuse are skipped.
pub fn compute(chart_id: &str, inputs: &[Input]) -> Chart {
    let mut chart = Chart::new(chart_id);
    for input in inputs {
        let _ = chart.record(input.clone());
    }
    chart.refresh_from(Refresh::ALL);
    chart
}

impl Chart {
    /// Returns an empty chart.
    pub fn new(chart_id: &str) -> Self {
        Self {
            id: chart_id.to_owned(),
            ..Self::default()
        }
    }

    /// Returns the chart id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the definition, once known.
    pub fn definition(&self) -> Option<&ChartDefinition> {
        self.definition.as_ref().map(|(_, d)| d)
    }

    /// Returns the recorded limit events, by sequence number.
    pub fn limit_events(&self) -> impl Iterator<Item = &LimitEvent> {
        self.limit_events.values()
    }

    /// Returns the plotted points, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Returns the violations, in point order (primary before dispersion, then by rule).
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations.values()
    }

    /// Returns the number of samples held (including a size-based chart's pending tail).
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Returns the samples, in time order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub(crate) fn subgroups(&self) -> &[Subgroup] {
        &self.subgroups
    }

    /// Applies one input and returns what changed. Work is bounded by the points from the
    /// first affected subgroup to the end (plus the baselines); a definition or limit event
    /// recomputes from the first point it can affect.
    pub fn apply(&mut self, input: Input) -> Result<Change, ChartError> {
        let before = self.points.len();
        let Some(refresh) = self.record(input)? else {
            return Ok(Change {
                points_len: before,
                points_len_before: before,
                duplicate: true,
                ..Change::default()
            });
        };
        Ok(self.refresh_from(refresh))
    }

    /// Stores an input. Returns `None` for a duplicate, else the first subgroup to rebuild and
    /// the first point whose limits may change.
    fn record(&mut self, input: Input) -> Result<Option<Refresh>, ChartError> {
        match input {
            Input::Defined { seq, definition } => {
                self.validate(&definition)?;
                if let Some((known, _)) = &self.definition {
                    if *known >= seq {
                        return Ok(None);
                    }
                }
                self.definition = Some((seq, definition));
                Ok(Some(Refresh::ALL))
            }
            Input::Limits(event) => {
                if let LimitChange::Recompute(n) = event.change {
                    if n < 2 {
                        return Err(self.invalid("a recompute needs at least 2 subgroups"));
                    }
                }
                if self.limit_events.contains_key(&event.seq) {
                    return Ok(None);
                }
                self.limit_events.insert(event.seq, event);
                let first = self.points.partition_point(|p| p.start < event.from);
                Ok(Some(Refresh {
                    subgroup: self.subgroups.len(),
                    point: first,
                    sample: usize::MAX,
                }))
            }
            Input::Sample(sample) => self.record_sample(sample),
        }
    }

    fn invalid(&self, reason: &'static str) -> ChartError {
        ChartError::InvalidDefinition {
            chart: self.id.clone(),
            reason,
        }
    }

    fn validate(&self, d: &ChartDefinition) -> Result<(), ChartError> {
        match d.subgroup {
            Subgrouping::Size(0) => return Err(self.invalid("subgroup size is 0")),
            Subgrouping::WindowMs(0) => return Err(self.invalid("subgroup window is 0 ms")),
            _ => {}
        }
        if let Baseline::Subgroups(n) = d.baseline {
            if n < 2 {
                return Err(self.invalid("the baseline needs at least 2 subgroups"));
            }
        }
        Ok(())
    }

    fn record_sample(&mut self, sample: Sample) -> Result<Option<Refresh>, ChartError> {
        if self.sample_ids.contains(&sample.id) {
            return Ok(None);
        }
        match sample.value {
            SampleValue::Variable(v) if !v.is_finite() => {
                return Err(ChartError::NotFinite {
                    chart: self.id.clone(),
                    sample: sample.id,
                })
            }
            SampleValue::Attribute { n: 0, .. } => {
                return Err(ChartError::NoUnits {
                    chart: self.id.clone(),
                    sample: sample.id,
                })
            }
            _ => {}
        }
        if let Some((_, d)) = &self.definition {
            if !subgroup::matches(d.kind, &sample.value) {
                return Err(ChartError::WrongKind {
                    chart: self.id.clone(),
                    sample: sample.id,
                    kind: d.kind.as_str(),
                });
            }
        }
        if self.samples.len() >= MAX_SAMPLES_PER_CHART {
            return Err(ChartError::Full {
                chart: self.id.clone(),
                limit: MAX_SAMPLES_PER_CHART,
                sample: sample.id,
            });
        }
        let key = (sample.at, &sample.id);
        let pos = self.samples.partition_point(|s| (s.at, &s.id) < key);
        // The subgroup holding the sample or the one before it; every earlier subgroup keeps
        // its samples because they all sort before this one.
        let j = self
            .subgroups
            .partition_point(|s| s.start < sample.at)
            .saturating_sub(1);
        self.sample_ids.insert(sample.id.clone());
        self.samples.insert(pos, sample);
        Ok(Some(Refresh {
            subgroup: j,
            point: j,
            sample: pos,
        }))
    }

    /// Rebuilds subgroups from `subgroup_from` and the limits; recomputes points from the first
    /// one that can differ, then the rules over them; reports the difference.
    fn refresh_from(&mut self, refresh: Refresh) -> Change {
        let Refresh {
            subgroup: subgroup_from,
            point: point_hint,
            sample: sample_floor,
        } = refresh;
        let before = self.points.len();
        let Some((_, definition)) = self.definition else {
            return Change {
                points_len: before,
                points_len_before: before,
                ..Change::default()
            };
        };
        let subgroup_from = subgroup_from.min(self.subgroups.len());
        // Rebuild the subgroups from `subgroup_from`: its first sample starts a subgroup (past
        // the last subgroup, the pending samples after it do).
        let rebuild_from = match self.subgroups.get(subgroup_from) {
            // A new sample may sort before the subgroup's first one (a time window's start lies
            // before its first sample), behind samples that do not suit the chart's kind.
            Some(s) => s.first_sample.min(sample_floor),
            None => self
                .subgroups
                .last()
                .map_or(0, |s| s.end_sample)
                .min(sample_floor),
        };
        self.subgroups.truncate(subgroup_from);
        subgroup::build(
            definition.kind,
            definition.subgroup,
            &self.samples,
            rebuild_from,
            &mut self.subgroups,
        );
        let events: Vec<LimitEvent> = self.limit_events.values().copied().collect();
        let segments = schedule(&definition, &events, &self.subgroups);
        // The first point whose limits can differ: the start of the first segment that changed.
        let mut first_point = subgroup_from.min(point_hint);
        let changed_segment = segments
            .iter()
            .zip(self.segments.iter())
            .position(|(a, b)| a != b)
            .or_else(|| {
                (segments.len() != self.segments.len())
                    .then(|| segments.len().min(self.segments.len()))
            });
        if let Some(s) = changed_segment {
            let from = segments
                .get(s)
                .and_then(|seg| seg.from)
                .or_else(|| self.segments.get(s).and_then(|seg| seg.from));
            let p = match from {
                None => 0,
                Some(t) => self.points.partition_point(|p| p.start < t),
            };
            first_point = first_point.min(p);
        }
        self.segments = segments;
        // A point's dispersion (I-MR's moving range) depends on the one before; the rules on
        // up to MAX_WINDOW − 1 before. Recompute points from `first_point`.
        let first_point = first_point.min(self.points.len()).min(self.subgroups.len());
        let old_tail = self.points.split_off(first_point);
        for i in first_point..self.subgroups.len() {
            let point = self.point(&definition, i);
            self.points.push(point);
        }
        // Rules: every window ending at or after `first_point`.
        let old_violations = self.violations.split_off(&(first_point, Part::Primary, 0));
        for v in old_violations.values() {
            self.violation_ids.remove(&v.id);
        }
        let mut new_violations = BTreeMap::new();
        for part in [Part::Primary, Part::Dispersion] {
            let lo = first_point.saturating_sub(MAX_WINDOW - 1);
            let series: Vec<Option<Evaluated>> = self.points[lo..]
                .iter()
                .map(|p| evaluated(p, part))
                .collect();
            for i in first_point..self.points.len() {
                for rule in completing(&series, i - lo) {
                    let len = rule.window();
                    let pts = &self.points[i + 1 - len..=i];
                    let at = self.points[i].start;
                    let v = Violation {
                        id: violation_id(&self.id, part, rule, at),
                        rule,
                        part,
                        last_index: i,
                        points: pts
                            .iter()
                            .map(|p| (p.start, part_value(p, part).unwrap_or(f64::NAN)))
                            .collect(),
                        at,
                    };
                    let flags = &mut self.points[i];
                    match part {
                        Part::Primary => flags.flags |= bit(rule),
                        Part::Dispersion => flags.dispersion_flags |= bit(rule),
                    }
                    if !self.violation_ids.contains_key(&v.id) {
                        self.violation_ids.insert(v.id.clone(), (i, part, rule.0));
                        new_violations.insert((i, part, rule.0), v);
                    }
                }
            }
        }
        let old_ids: BTreeSet<&str> = old_violations.values().map(|v| v.id.as_str()).collect();
        let new_ids: BTreeSet<&str> = new_violations.values().map(|v| v.id.as_str()).collect();
        let appeared: Vec<Violation> = new_violations
            .values()
            .filter(|v| !old_ids.contains(v.id.as_str()))
            .cloned()
            .collect();
        let cleared: Vec<Violation> = old_violations
            .values()
            .filter(|v| !new_ids.contains(v.id.as_str()))
            .cloned()
            .collect();
        self.violations.extend(new_violations);
        let points_changed = (first_point..self.points.len())
            .filter(|&i| old_tail.get(i - first_point) != Some(&self.points[i]))
            .collect();
        Change {
            points_changed,
            points_len: self.points.len(),
            points_len_before: before,
            new_violations: appeared,
            cleared_violations: cleared,
            duplicate: false,
        }
    }

    fn point(&self, definition: &ChartDefinition, i: usize) -> Point {
        let s = &self.subgroups[i];
        let kind = definition.kind;
        let (n, value, dispersion) = match kind {
            ChartKind::IMr => {
                let mr = (i > 0).then(|| (s.mean - self.subgroups[i - 1].mean).abs());
                (s.samples, s.mean, mr)
            }
            ChartKind::XbarR => (s.samples, s.mean, s.range),
            ChartKind::XbarS => (s.samples, s.mean, s.sd),
            ChartKind::P => (units(s), s.count as f64 / s.units.max(1) as f64, None),
            ChartKind::Np | ChartKind::C => (units(s), s.count as f64, None),
            ChartKind::U => (units(s), s.count as f64 / s.units.max(1) as f64, None),
        };
        let seg = segment_of(&self.segments, s.start);
        let effective = self.segments.get(seg).and_then(|x| x.effective);
        let (limits, dispersion_limits) = match effective
            .and_then(|e| self.segments.get(e))
            .and_then(|x| x.basis.as_ref())
        {
            Some(basis) => point_limits(kind, basis, n),
            None => (None, None),
        };
        // The I-MR moving range plots from the second point on.
        let dispersion_limits = dispersion.and(dispersion_limits);
        Point {
            start: s.start,
            n,
            value,
            dispersion,
            limits,
            dispersion_limits,
            segment: effective.and_then(|e| u32::try_from(e).ok()),
            flags: 0,
            dispersion_flags: 0,
        }
    }
}

fn units(s: &Subgroup) -> u32 {
    u32::try_from(s.units).unwrap_or(u32::MAX)
}

fn part_value(p: &Point, part: Part) -> Option<f64> {
    match part {
        Part::Primary => Some(p.value),
        Part::Dispersion => p.dispersion,
    }
}

fn evaluated(p: &Point, part: Part) -> Option<Evaluated> {
    let segment = p.segment?;
    let (value, limits) = match part {
        Part::Primary => (p.value, p.limits?),
        Part::Dispersion => (p.dispersion?, p.dispersion_limits?),
    };
    Some(Evaluated {
        value,
        limits,
        segment,
    })
}
