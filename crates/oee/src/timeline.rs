//! The facts of one work unit in ordered structures, and the fold of one period over them.
//!
//! Facts are stored by event time in [`ChunkMap`]s, so appending a fact in order costs O(1)
//! amortized, inserting a late fact O(log n), and the figures of a period are computed from the
//! facts near it only. [`Timeline::apply`] returns the
//! range of event time whose figures the fact can change; the engine uses it to mark periods dirty.
//!
//! Ties are resolved by content, never by arrival: at one instant a `running` fact wins over a
//! `stopped` fact, which wins over a `disconnected` fact (a state reported at the instant the
//! connection was lost is known), a setup start wins over a setup end, and of two products named
//! at one instant the greater name wins. That is what makes any arrival order give the same
//! figures.

use crate::chunked::ChunkMap;
use crate::config::EquipmentConfig;
use crate::fact::FactKind;
use crate::figures::{Figures, LossReason};
use crate::ids::{FailureMode, MaterialId, ProductId, RejectReason, StopReason};
use crate::plant_calendar::UnitCalendar;
use crate::time::{Millis, Range};
use crate::window::{Refusal, Window};
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Unbounded};

/// Running, stopped and disconnected facts at one instant. A mark that is not running is a
/// stop; it starts an unknown stretch when only a `disconnected` fact names the instant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateMark {
    running: bool,
    reason: Option<StopReason>,
    /// A `stopped` fact names the instant (read only beside `disconnected`: a mark stored
    /// before the field existed is a `running` or `stopped` fact's).
    #[serde(default, skip_serializing_if = "is_false")]
    stopped: bool,
    /// A `disconnected` fact names the instant.
    #[serde(default, skip_serializing_if = "is_false")]
    disconnected: bool,
}

impl StateMark {
    /// Returns true when the state from this instant on is unknown: the connection was lost and
    /// no running or stopped fact names the same instant.
    fn unknown(&self) -> bool {
        self.disconnected && !self.running && !self.stopped
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Setup started / ended facts at one instant.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct SetupMark {
    started: bool,
}

/// Labelled intervals indexed by start; `max_len` bounds how far back an overlap can begin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "L: Serialize", deserialize = "L: Deserialize<'de>"))]
struct Intervals<L> {
    by_start: ChunkMap<Millis, Slot<L>>,
    max_len: Millis,
    len: usize,
}

impl<L> Default for Intervals<L> {
    fn default() -> Self {
        Intervals {
            by_start: ChunkMap::default(),
            max_len: Millis::ZERO,
            len: 0,
        }
    }
}

impl<L: Ord + Clone> Intervals<L> {
    fn insert(&mut self, range: Range, label: L) {
        let (slot, _) = self
            .by_start
            .get_or_insert_with(range.start, || Slot::Many(Vec::new()));
        slot.insert(range.end, label);
        self.max_len = self.max_len.max(range.len());
        self.len += 1;
    }

    /// Forgets the intervals that end at or before `at` (they overlap nothing from `at` on).
    fn forget_ending_by(&mut self, at: Millis) {
        let mut forgotten = 0;
        self.by_start.retain_before(&at, |_, slot| {
            forgotten += slot.retain_ending_after(at);
            !slot.as_slice().is_empty()
        });
        self.len -= forgotten;
    }

    /// Calls `f` with every interval overlapping `range`, clipped to it, ordered by (start, end, label).
    fn overlapping<'a>(&'a self, range: Range, mut f: impl FnMut(Range, &'a L)) {
        let from = range.start - self.max_len;
        for (&start, slot) in self.by_start.range(from..range.end) {
            for (end, label) in slot.as_slice() {
                let r = Range::new(start, *end);
                if r.overlaps(range) {
                    f(r.clip(range), label);
                }
            }
        }
    }
}

/// The ends and labels of the intervals starting at one instant, ordered by (end, label): one
/// kept inline (the common case, no allocation), more in a `Vec`. Serialized as a list of
/// pairs, like the `Vec` it replaces.
#[derive(Debug, Clone)]
enum Slot<L> {
    One([(Millis, L); 1]),
    Many(Vec<(Millis, L)>),
}

impl<L> Slot<L> {
    fn as_slice(&self) -> &[(Millis, L)] {
        match self {
            Slot::One(one) => one,
            Slot::Many(many) => many,
        }
    }
}

impl<L: Ord> Slot<L> {
    /// Adds an interval ending at `end` (a repeated fact is kept twice).
    fn insert(&mut self, end: Millis, label: L) {
        match std::mem::replace(self, Slot::Many(Vec::new())) {
            Slot::Many(many) if many.is_empty() => *self = Slot::One([(end, label)]),
            Slot::One([one]) => {
                *self = Slot::Many(if (one.0, &one.1) < (end, &label) {
                    vec![one, (end, label)]
                } else {
                    vec![(end, label), one]
                });
            }
            Slot::Many(mut many) => {
                let pos = many.partition_point(|(e, l)| (*e, l) < (end, &label));
                many.insert(pos, (end, label));
                *self = Slot::Many(many);
            }
        }
    }

    /// Keeps the intervals that end after `at`; returns how many were dropped.
    fn retain_ending_after(&mut self, at: Millis) -> usize {
        match self {
            Slot::One([(end, _)]) if *end > at => 0,
            Slot::One(_) => {
                *self = Slot::Many(Vec::new());
                1
            }
            Slot::Many(many) => {
                let before = many.len();
                many.retain(|(end, _)| *end > at);
                before - many.len()
            }
        }
    }
}

impl<L: Serialize> Serialize for Slot<L> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl<'de, L: Deserialize<'de>> Deserialize<'de> for Slot<L> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut many = Vec::<(Millis, L)>::deserialize(deserializer)?;
        Ok(match (many.pop(), many.is_empty()) {
            (Some(one), true) => Slot::One([one]),
            (Some(last), false) => {
                many.push(last);
                Slot::Many(many)
            }
            (None, _) => Slot::Many(many),
        })
    }
}

/// One stop: a maximal stretch of stopped state.
#[derive(Debug, Clone)]
struct StopSpan {
    range: Range,
    /// True when a `running` fact ends the stop (only then can a startup window open).
    ended_by_running: bool,
    reason: Option<StopReason>,
}

/// What covers one elementary segment of a stop, by priority.
#[derive(Debug, Clone, Copy)]
enum Cover<'a> {
    Shutdown,
    Setup,
    Breakdown(&'a FailureMode),
    Starved(&'a MaterialId),
    Uncovered,
}

/// Reusable buffers for [`Timeline::compute`], so a fold allocates nothing in the steady state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    stops: Vec<StopSpan>,
    points: Vec<Millis>,
    shutdowns: Vec<Range>,
    setups: Vec<Range>,
    unknowns: Vec<Range>,
    windows: Vec<Range>,
    /// The non-working time of the last stop classified with a plant calendar: the hours of
    /// one long stop are folded one after the other, and ask for the same.
    calendar_memo: Option<((Range, u64), Vec<Range>)>,
}

/// All facts of one work unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Timeline {
    states: ChunkMap<Millis, StateMark>,
    products: ChunkMap<Millis, ProductId>,
    setups: ChunkMap<Millis, SetupMark>,
    shutdowns: Intervals<StopReason>,
    breakdowns: Intervals<FailureMode>,
    starvations: Intervals<MaterialId>,
    counts: ChunkMap<(Millis, Option<ProductId>), u64>,
    rejects: ChunkMap<(Millis, Option<RejectReason>), u64>,
    late: ChunkMap<Millis, u64>,
    /// Refused facts, by the instant they are counted at (see [`crate::window`]).
    refused: ChunkMap<Millis, u64>,
    watermark: Option<Millis>,
    latest: Option<Millis>,
    earliest: Option<Millis>,
}

impl Timeline {
    /// Returns how far `fact` may reach when judged against `limits`, or why it is refused:
    /// an event time outside the window, or further than the maximum span from this unit's
    /// other facts.
    /// `at` is the fact's instant (`Millis::from_datetime(fact.at())`, computed once by the caller).
    #[inline]
    pub(crate) fn admit(
        &self,
        fact: &FactKind,
        at: Millis,
        limits: &Window,
        max_span: Option<Millis>,
    ) -> Admission {
        // The fact's earliest and latest event time (a reject names two), and an interval's end.
        let (lo, hi, end) = match fact {
            FactKind::Rejected { produced_at, .. } => {
                let produced = Millis::from_datetime(*produced_at);
                (at.min(produced), at.max(produced), None)
            }
            FactKind::PlannedShutdown { span, .. }
            | FactKind::Breakdown { span, .. }
            | FactKind::Starved { span, .. } => (at, at, Some(Millis::from_datetime(span.until()))),
            _ => (at, at, None),
        };
        // The window is one interval: it holds both times when it holds the earliest and the latest.
        let inside = match fact {
            FactKind::PlannedShutdown { .. } => limits.contains_planned(at),
            _ => limits.contains(lo) && limits.contains(hi),
        };
        if !inside {
            return Admission::Refused(Refusal::OutsideWindow);
        }
        if let (Some(span), Some(max)) = (self.span(), max_span) {
            if lo < span.start - max || hi > span.end + max {
                return Admission::Refused(Refusal::BeyondMaxSpan);
            }
        }
        let max_len = max_span.unwrap_or(Millis::MAX);
        let (interval_end, reach, cut) = match end {
            Some(end) => {
                let kept = end.min(at + max_len);
                (kept, kept.min(limits.latest), kept < end)
            }
            // A point fact reaches its own times (`span_end` bounds nothing for it).
            None => (Millis::MAX, Millis::MAX, false),
        };
        // A fact changes periods at most the maximum span around its own times (an interval:
        // up to where it extends the timeline).
        let last = if end.is_some() { reach.max(hi) } else { hi };
        let changes = match max_span {
            Some(max) => Range::new(lo - max, last + max),
            None => Range::new(Millis::MIN, Millis::MAX),
        };
        Admission::Admitted(Reach {
            at,
            interval_end,
            span_end: reach,
            changes,
            cut,
        })
    }

    /// Counts a refused fact at `at` (the period holding it shows it); returns the range it
    /// changes.
    pub(crate) fn refuse(&mut self, at: Millis) -> Range {
        *self.refused.entry_or_default(at) += 1;
        Range::new(at, at + Millis(1))
    }

    /// Stores `fact`, admitted with `reach` ([`Timeline::admit`]), and returns the event-time
    /// range whose figures it can change.
    ///
    /// `window` is the startup window (a stop's class reaches that far past its end) and
    /// `horizon` the lateness horizon.
    pub(crate) fn apply(
        &mut self,
        fact: &FactKind,
        reach: &Reach,
        window: Millis,
        horizon: Option<Millis>,
    ) -> Range {
        let at = reach.at;
        let is_late = match (horizon, self.watermark) {
            (Some(h), Some(watermark)) => at < watermark - h,
            _ => false,
        };
        // A planned shutdown scheduled past the window's end moves neither the unit's latest
        // fact nor its timeline (the facts get there when it happens).
        if at <= reach.span_end {
            self.watermark = Some(self.watermark.map_or(at, |w| w.max(at)));
            self.extend_span(at);
        }
        let (affected, charged_at) = match fact {
            FactKind::Running { product, .. } => {
                let mut affected = self.state_change_range(at, window);
                if let Some(p) = product {
                    affected = hull(affected, self.insert_product(at, p));
                }
                let mark = self.states.entry_or_default(at);
                mark.running = true;
                (affected, at)
            }
            FactKind::Stopped { reason, .. } => {
                let affected = self.state_change_range(at, window);
                let mark = self.states.entry_or_default(at);
                mark.stopped = true;
                if reason.is_some() && (mark.reason.is_none() || reason > &mark.reason) {
                    mark.reason.clone_from(reason);
                }
                (affected, at)
            }
            FactKind::Disconnected { .. } => {
                let affected = self.state_change_range(at, window);
                let (mark, inserted) = self.states.get_or_insert_with(at, StateMark::default);
                if !inserted {
                    // A mark with neither a running nor a disconnected fact is a stopped
                    // fact's, also one stored before marks said so.
                    mark.stopped |= !mark.running && !mark.disconnected;
                }
                mark.disconnected = true;
                (affected, at)
            }
            FactKind::SetupStarted { .. } => {
                let affected = self.setup_change_range(at, window);
                self.setups.entry_or_default(at).started = true;
                (affected, at)
            }
            FactKind::SetupEnded { product, .. } => {
                let affected = self.setup_change_range(at, window);
                self.setups.entry_or_default(at);
                (hull(affected, self.insert_product(at, product)), at)
            }
            FactKind::PlannedShutdown { span, reason } => {
                let range = reach.interval(span);
                self.shutdowns.insert(range, reason.clone());
                self.extend_span_to(at, reach.span_end);
                (self.expand(range, window), at)
            }
            FactKind::Breakdown { span, failure_mode } => {
                let range = reach.interval(span);
                self.breakdowns.insert(range, failure_mode.clone());
                self.extend_span_to(at, reach.span_end);
                (self.expand(range, window), at)
            }
            FactKind::Starved { span, material } => {
                let range = reach.interval(span);
                self.starvations.insert(range, material.clone());
                self.extend_span_to(at, reach.span_end);
                (self.expand(range, window), at)
            }
            FactKind::Counted { total, product, .. } => {
                *self.counts.entry_or_default((at, product.clone())) += total.0;
                (Range::new(at, at + Millis(1)), at)
            }
            FactKind::Rejected {
                produced_at,
                count,
                reason,
                ..
            } => {
                let produced = Millis::from_datetime(*produced_at);
                *self.rejects.entry_or_default((produced, reason.clone())) += count.0;
                self.extend_span(produced);
                (Range::new(produced, produced + Millis(1)), produced)
            }
        };
        if is_late {
            *self.late.entry_or_default(charged_at) += 1;
        }
        affected
    }

    /// Returns the latest event time of a fact of this unit.
    pub(crate) fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// Returns the range of event time in which some fact of this unit lies.
    pub(crate) fn span(&self) -> Option<Range> {
        Some(Range::new(self.earliest?, self.latest? + Millis(1)))
    }

    /// Returns the instant up to which `range` can be split at any period edge without changing
    /// its figures, or `None` when it cannot be split at all.
    ///
    /// Splitting is exact when no stop is cut at an edge that no fact gives: there must be a
    /// state fact at or before the start of `range` (no prehistory inside it), and the split must
    /// stay before the start of a still-open stop (one with no `running` fact after it), whose
    /// end is the period's end and so differs between a part and the whole.
    pub(crate) fn splittable_until(&self, range: Range) -> Option<Millis> {
        let (&first, _) = self.states.first_key_value()?;
        if first > range.start {
            return None;
        }
        match self.states.last_key_value() {
            Some((_, mark)) if mark.running => Some(range.end),
            Some((&last, _)) => Some(self.stop_start_at(last).min(range.end)),
            None => None,
        }
    }

    /// Extends the timeline to `end` for an interval starting at `start`, unless the interval
    /// starts past it (scheduled ahead of the window).
    fn extend_span_to(&mut self, start: Millis, end: Millis) {
        if start <= end {
            self.extend_span(end);
        }
    }

    fn extend_span(&mut self, at: Millis) {
        self.latest = Some(self.latest.map_or(at, |l| l.max(at)));
        self.earliest = Some(self.earliest.map_or(at, |e| e.min(at)));
    }

    fn insert_product(&mut self, at: Millis, product: &ProductId) -> Range {
        let next = self
            .products
            .range((Excluded(at), Unbounded))
            .next()
            .map_or(Millis::MAX, |(t, _)| *t);
        let (p, inserted) = self.products.get_or_insert_with(at, || product.clone());
        if !inserted && product > p {
            p.clone_from(product);
        }
        Range::new(at, next)
    }

    /// Returns the range a new running/stopped fact at `at` can change: the stop that holds `at`
    /// before the change, up to the next `running` fact, plus the startup window after it.
    fn state_change_range(&self, at: Millis, window: Millis) -> Range {
        // In order (after every state fact): no running fact follows, and after a running
        // fact no stop holds `at`; two tree walks fewer for the common case.
        if let Some((&last, mark)) = self.states.last_key_value() {
            if at > last {
                let start = if mark.running {
                    at
                } else {
                    self.stop_start_at(at)
                };
                return Range::new(start, Millis::MAX + window);
            }
        }
        Range::new(self.stop_start_at(at), self.next_running_after(at) + window)
    }

    fn setup_change_range(&self, at: Millis, window: Millis) -> Range {
        let next = self
            .setups
            .range((Excluded(at), Unbounded))
            .next()
            .map_or(Millis::MAX, |(t, _)| *t);
        self.expand(Range::new(at, next), window)
    }

    /// Widens `range` to every stop overlapping it, plus the startup window after them.
    fn expand(&self, range: Range, window: Millis) -> Range {
        let end = match self.states.range(..=range.end).next_back() {
            Some((_, mark)) if mark.running => range.end,
            _ => self.next_running_after(range.end),
        };
        Range::new(self.stop_start_at(range.start), end + window)
    }

    /// Returns where the stop holding `at` starts: `at` itself when running, `Millis::MIN` before
    /// the first state fact.
    fn stop_start_at(&self, at: Millis) -> Millis {
        let mut start = at;
        let mut any = false;
        for (&t, mark) in self.states.range(..=at).rev() {
            any = true;
            if mark.running {
                return if t == at { at } else { start };
            }
            start = t;
        }
        if any {
            start
        } else {
            Millis::MIN
        }
    }

    fn next_running_after(&self, at: Millis) -> Millis {
        self.states
            .range((Excluded(at), Unbounded))
            .find(|(_, m)| m.running)
            .map_or(Millis::MAX, |(t, _)| *t)
    }

    fn product_at(&self, at: Millis) -> Option<&ProductId> {
        self.products.range(..=at).next_back().map(|(_, p)| p)
    }

    /// Collects the stops overlapping `scan`, with `period`'s edges for ends no fact gives.
    fn stops(&self, scan: Range, period: Range, out: &mut Vec<StopSpan>) {
        enum Cur {
            Running,
            Prehistory,
            Stopped(Millis, Option<StopReason>),
        }
        out.clear();
        let mut cur = match self.states.range(..=scan.start).next_back() {
            None => Cur::Prehistory,
            Some((_, mark)) if mark.running => Cur::Running,
            Some((&t, _)) => {
                let mut start = t;
                let mut reason = None;
                for (&u, mark) in self.states.range(..=t).rev() {
                    if mark.running {
                        break;
                    }
                    start = u;
                    if mark.reason.is_some() {
                        reason.clone_from(&mark.reason);
                    }
                }
                Cur::Stopped(start, reason)
            }
        };
        let mut push = |range: Range, ended_by_running: bool, reason: Option<StopReason>| {
            if !range.is_empty() {
                out.push(StopSpan {
                    range,
                    ended_by_running,
                    reason,
                });
            }
        };
        for (&t, mark) in self.states.range((Excluded(scan.start), Unbounded)) {
            match (&mut cur, mark.running) {
                (Cur::Running, true) => {
                    if t >= scan.end {
                        break;
                    }
                }
                (Cur::Running, false) => {
                    if t >= scan.end {
                        break;
                    }
                    cur = Cur::Stopped(t, mark.reason.clone());
                }
                (Cur::Prehistory, running) => {
                    push(Range::new(period.start, t), running, None);
                    if running || t >= scan.end {
                        cur = Cur::Running;
                        if t >= scan.end {
                            break;
                        }
                    } else {
                        cur = Cur::Stopped(t, mark.reason.clone());
                    }
                }
                (Cur::Stopped(start, reason), true) => {
                    push(Range::new(*start, t), true, reason.take());
                    cur = Cur::Running;
                    if t >= scan.end {
                        break;
                    }
                }
                (Cur::Stopped(_, reason), false) => {
                    if reason.is_none() {
                        reason.clone_from(&mark.reason);
                    }
                }
            }
        }
        match cur {
            Cur::Running => {}
            Cur::Prehistory => push(period, false, None),
            Cur::Stopped(start, reason) => push(Range::new(start, period.end), false, reason),
        }
    }

    /// Computes the figures of `period` from scratch.
    ///
    /// With a plant calendar, its non-working time (between shifts, breaks, holidays) counts
    /// like planned shutdowns.
    pub(crate) fn compute(
        &self,
        period: Range,
        config: &EquipmentConfig,
        scratch: &mut Scratch,
        calendar: Option<UnitCalendar<'_>>,
    ) -> Figures {
        let mut fig = Figures {
            calendar_time: period.len(),
            ..Figures::default()
        };
        let window = config.startup_window;
        let mut stops = std::mem::take(&mut scratch.stops);
        let mut windows = std::mem::take(&mut scratch.windows);
        windows.clear();
        self.stops(
            Range::new(period.start - window, period.end),
            period,
            &mut stops,
        );
        let mut excluded = Millis::ZERO;
        for stop in &stops {
            let held = self.classify(
                stop,
                period,
                (config, calendar),
                scratch,
                &mut fig,
                &mut excluded,
            );
            if held && stop.ended_by_running {
                windows.push(Range::new(stop.range.end, stop.range.end + window));
            }
        }
        fig.planned_production_time = period.len() - excluded;
        fig.run_time = fig.planned_production_time
            - fig.losses.equipment_failure
            - fig.losses.setup_and_adjustments;

        let cycle_times = &config.ideal_cycle_time;
        for ((at, product), total) in self.counts.range((period.start, None)..(period.end, None)) {
            fig.total_count = fig.total_count.saturating_add(*total);
            let product = product.as_ref().or_else(|| self.product_at(*at));
            match cycle_times.of(product) {
                Some(ct) => fig.net_run_time += ct.cost(*total),
                None => fig.flags.counts_without_cycle_time += total,
            }
        }
        for ((at, reason), count) in self.rejects.range((period.start, None)..(period.end, None)) {
            fig.rejected_count = fig.rejected_count.saturating_add(*count);
            let reason = reason
                .clone()
                .map_or(LossReason::Unspecified, LossReason::Reject);
            let cost = match cycle_times.of(self.product_at(*at)) {
                Some(ct) => ct.cost(*count),
                None => {
                    fig.flags.rejects_without_cycle_time += count;
                    Millis::ZERO
                }
            };
            if windows.iter().any(|w| w.contains(*at)) {
                fig.losses.startup_rejects += cost;
                fig.reasons.startup_rejects.add(&reason, cost);
            } else {
                fig.losses.production_rejects += cost;
                fig.reasons.production_rejects.add(&reason, cost);
            }
        }
        fig.fully_productive_time =
            fig.net_run_time - fig.losses.startup_rejects - fig.losses.production_rejects;
        fig.losses.reduced_speed = fig.run_time - fig.losses.small_stops - fig.net_run_time;
        fig.flags.late_facts = self
            .late
            .range(period.start..period.end)
            .map(|(_, n)| *n)
            .sum();
        fig.flags.refused_facts = self
            .refused
            .range(period.start..period.end)
            .map(|(_, n)| *n)
            .sum();
        scratch.stops = stops;
        scratch.windows = windows;
        fig
    }

    /// Classifies `stop` as a whole and charges its part inside `period` to `fig`.
    ///
    /// Returns true when the stop held setup or equipment-failure time anywhere.
    fn classify(
        &self,
        stop: &StopSpan,
        period: Range,
        (config, calendar): (&EquipmentConfig, Option<UnitCalendar<'_>>),
        scratch: &mut Scratch,
        fig: &mut Figures,
        excluded: &mut Millis,
    ) -> bool {
        let s = stop.range;
        let points = &mut scratch.points;
        let shutdowns = &mut scratch.shutdowns;
        let setups = &mut scratch.setups;
        let unknowns = &mut scratch.unknowns;
        points.clear();
        shutdowns.clear();
        setups.clear();
        unknowns.clear();
        points.push(s.start);
        points.push(s.end);
        self.shutdowns.overlapping(s, |r, _| {
            shutdowns.push(r);
            points.extend([r.start, r.end]);
        });
        // The calendar's non-working time: ordered and disjoint, so looked up by bisection.
        let off: &[Range] = match calendar {
            Some(calendar) => {
                let key = (s, calendar.memo_key());
                let memo = match &mut scratch.calendar_memo {
                    Some((known, memo)) if *known == key => memo,
                    slot => {
                        let mut memo = Vec::new();
                        calendar.non_working(s, &mut memo);
                        &mut slot.insert((key, memo)).1
                    }
                };
                for r in memo.iter() {
                    points.extend([r.start, r.end]);
                }
                memo
            }
            None => &[],
        };
        let off_at = |at: Millis| {
            let i = off.partition_point(|r| r.end <= at);
            off.get(i).is_some_and(|r| r.contains(at))
        };
        // Setup coverage: the state at the stop's start, then every setup mark inside it.
        let mut active_since = match self.setups.range(..=s.start).next_back() {
            Some((_, mark)) if mark.started => Some(s.start),
            _ => None,
        };
        for (&t, mark) in self.setups.range((Excluded(s.start), Excluded(s.end))) {
            match (active_since, mark.started) {
                (None, true) => active_since = Some(t),
                (Some(from), false) => {
                    setups.push(Range::new(from, t));
                    active_since = None;
                }
                _ => {}
            }
        }
        if let Some(from) = active_since {
            setups.push(Range::new(from, s.end));
        }
        for r in setups.iter() {
            points.extend([r.start, r.end]);
        }
        // Unknown stretches: from a lost connection to the next state fact or setup start.
        for (&t, mark) in self.states.range(s.start..s.end) {
            if !mark.unknown() {
                continue;
            }
            let next_state = self
                .states
                .range((Excluded(t), Unbounded))
                .next()
                .map_or(s.end, |(u, _)| (*u).min(s.end));
            let end = self
                .setups
                .range(t..next_state)
                .find(|(_, m)| m.started)
                .map_or(next_state, |(u, _)| *u);
            if end > t {
                unknowns.push(Range::new(t, end));
                points.extend([t, end]);
            }
        }
        // Covering breakdowns and starvations, in (start, end, name) order, so the first one
        // that holds an instant is the one that started first.
        let mut breakdowns: Vec<(Range, &FailureMode)> = Vec::new();
        self.breakdowns.overlapping(s, |r, mode| {
            breakdowns.push((r, mode));
            points.extend([r.start, r.end]);
        });
        let mut starvations: Vec<(Range, &MaterialId)> = Vec::new();
        self.starvations.overlapping(s, |r, material| {
            starvations.push((r, material));
            points.extend([r.start, r.end]);
        });
        points.sort_unstable();
        points.dedup();

        let cover_at = |at: Millis| -> Cover<'_> {
            if off_at(at) || shutdowns.iter().any(|r| r.contains(at)) {
                Cover::Shutdown
            } else if setups.iter().any(|r| r.contains(at)) {
                Cover::Setup
            } else if let Some((_, mode)) = breakdowns.iter().find(|(r, _)| r.contains(at)) {
                Cover::Breakdown(mode)
            } else if let Some((_, material)) = starvations.iter().find(|(r, _)| r.contains(at)) {
                Cover::Starved(material)
            } else {
                Cover::Uncovered
            }
        };
        let unknown_at = |at: Millis| unknowns.iter().any(|r| r.contains(at));
        let single = points.len() == 2;
        let first_cover = cover_at(s.start);
        let first_unknown = unknown_at(s.start);

        // First pass: the stop's planned production time, over its whole length. Unknown time
        // that nothing covers is equipment failure (reason `disconnected`) whatever the stop's
        // length: it is not known to be a short stop.
        let mut stop_ppt = Millis::ZERO;
        let mut held = false;
        let mut uncovered = false;
        for pair in points.windows(2) {
            let seg = Range::new(pair[0], pair[1]);
            let (cover, unknown) = if single {
                (first_cover, first_unknown)
            } else {
                (cover_at(seg.start), unknown_at(seg.start))
            };
            match cover {
                Cover::Shutdown => {}
                Cover::Uncovered if !unknown => {
                    stop_ppt += seg.len();
                    uncovered = true;
                }
                _ => {
                    stop_ppt += seg.len();
                    held = true;
                }
            }
        }
        let small = stop_ppt < config.micro_stop_threshold;
        if uncovered && !small {
            held = true;
        }
        if !s.overlaps(period) {
            return held;
        }
        // Second pass: charge the part inside the period.
        let stop_reason = stop
            .reason
            .clone()
            .map_or(LossReason::Unspecified, LossReason::Stop);
        for pair in points.windows(2) {
            let seg = Range::new(pair[0], pair[1]);
            let charged = seg.clip(period).len();
            if charged == Millis::ZERO {
                continue;
            }
            let losses = &mut fig.losses;
            let reasons = &mut fig.reasons;
            let (cover, unknown) = if single {
                (first_cover, first_unknown)
            } else {
                (cover_at(seg.start), unknown_at(seg.start))
            };
            if unknown && !matches!(cover, Cover::Shutdown) {
                fig.flags.disconnected_time += charged;
            }
            match cover {
                Cover::Shutdown => *excluded += charged,
                Cover::Setup => {
                    losses.setup_and_adjustments += charged;
                    reasons.setup_and_adjustments.add(&stop_reason, charged);
                }
                Cover::Breakdown(mode) => {
                    losses.equipment_failure += charged;
                    reasons
                        .equipment_failure
                        .add(&LossReason::FailureMode(mode.clone()), charged);
                }
                Cover::Starved(material) => {
                    losses.equipment_failure += charged;
                    reasons
                        .equipment_failure
                        .add(&LossReason::MaterialShortage(material.clone()), charged);
                }
                Cover::Uncovered if unknown => {
                    losses.equipment_failure += charged;
                    reasons
                        .equipment_failure
                        .add(&LossReason::Disconnected, charged);
                }
                Cover::Uncovered if small => {
                    losses.small_stops += charged;
                    reasons.small_stops.add(&stop_reason, charged);
                }
                // A long stop nothing else explains: the operator's reason names it (a reason
                // code from the site's catalogue, say `jam`); without one it is `unassigned`
                // and flagged, until a later fact classifies it.
                Cover::Uncovered if stop.reason.is_some() => {
                    losses.equipment_failure += charged;
                    reasons.equipment_failure.add(&stop_reason, charged);
                }
                Cover::Uncovered => {
                    losses.equipment_failure += charged;
                    reasons
                        .equipment_failure
                        .add(&LossReason::Unassigned, charged);
                    fig.flags.unassigned_stop_time += charged;
                }
            }
        }
        held
    }

    /// Drops the facts that only periods before `keep_from` need; the figures of every range
    /// from `keep_from` on stay exactly what they were. Kept are the facts from `keep_from`
    /// on, plus what a fold from there reads behind it: the whole stop in progress at
    /// `keep_from - window` (a stop is classified as a whole, and a restart's startup window
    /// reaches `window` past it), the product and setup state in force when that stop started,
    /// and the intervals overlapping it. Returns whether anything was dropped.
    pub(crate) fn compact(&mut self, keep_from: Millis, window: Millis) -> bool {
        let scan = keep_from - window;
        let from = match self.states.range(..=scan).next_back() {
            // No state fact before: the prehistory reaches into the kept range.
            None => return false,
            Some((&t, mark)) if mark.running => t,
            Some((&t, _)) => self.stop_start_at(t),
        };
        let before = self.fact_count();
        self.states = self.states.split_off(&from);
        // The product and setup state in force at `from`: its last fact at or before it.
        if let Some(&at) = self.products.range(..=from).next_back().map(|(t, _)| t) {
            self.products = self.products.split_off(&at);
        }
        if let Some(&at) = self.setups.range(..=from).next_back().map(|(t, _)| t) {
            self.setups = self.setups.split_off(&at);
        }
        self.shutdowns.forget_ending_by(from);
        self.breakdowns.forget_ending_by(from);
        self.starvations.forget_ending_by(from);
        self.counts = self.counts.split_off(&(keep_from, None));
        self.rejects = self.rejects.split_off(&(keep_from, None));
        self.late = self.late.split_off(&keep_from);
        self.refused = self.refused.split_off(&keep_from);
        self.fact_count() < before
    }

    /// Returns the number of stored fact entries (marks, intervals, counts, rejects).
    fn fact_count(&self) -> usize {
        self.states.len()
            + self.products.len()
            + self.setups.len()
            + self.counts.len()
            + self.rejects.len()
            + self.late.len()
            + self.refused.len()
            + self.shutdowns.len
            + self.breakdowns.len
            + self.starvations.len
    }

    /// Returns the start of the stop holding `at` (`at` itself when running).
    pub(crate) fn stop_start(&self, at: Millis) -> Millis {
        self.stop_start_at(at)
    }

    /// Returns an estimate of the heap bytes the stored facts hold.
    pub(crate) fn approx_heap_bytes(&self) -> usize {
        // A B-tree node holds up to 11 entries and is about two-thirds full on average.
        fn tree<K, V>(len: usize) -> usize {
            len * (std::mem::size_of::<K>() + std::mem::size_of::<V>()) * 3 / 2 + len * 8
        }
        // A start with more than one interval keeps them in a `Vec` (rare).
        fn intervals<L>(iv: &Intervals<L>) -> usize {
            chunked(&iv.by_start)
                + iv.len.saturating_sub(iv.by_start.len()) * 2 * std::mem::size_of::<(Millis, L)>()
        }
        // A chunk is full but for the tail and chunks split by late facts: about one entry in
        // eight is spare capacity; each chunk costs a tree entry (its first key and `Vec`).
        fn chunked<K, V>(map: &ChunkMap<K, V>) -> usize {
            map.len() * std::mem::size_of::<(K, V)>() * 9 / 8
                + tree::<K, Vec<(K, V)>>(map.chunk_count())
        }
        chunked(&self.states)
            + chunked(&self.products)
            + chunked(&self.setups)
            + intervals(&self.shutdowns)
            + intervals(&self.breakdowns)
            + intervals(&self.starvations)
            + chunked(&self.counts)
            + chunked(&self.rejects)
            + chunked(&self.late)
            + chunked(&self.refused)
    }

    /// Returns the number of stored fact entries and the length of the time the unit's facts
    /// span (what the work of a fold and of a change grows with).
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, Millis) {
        (
            self.fact_count(),
            self.span().map_or(Millis::ZERO, Range::len),
        )
    }
}

/// Whether a fact is stored, and how far it may reach ([`Timeline::admit`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admission {
    /// Kept out of the figures.
    Refused(Refusal),
    /// Stored within these limits.
    Admitted(Reach),
}

/// How far an admitted fact reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reach {
    /// The fact's instant.
    pub(crate) at: Millis,
    /// Where an interval's stored part ends (its start plus the maximum span at most).
    interval_end: Millis,
    /// How far the fact extends the unit's timeline (an interval: not past the window's end).
    pub(crate) span_end: Millis,
    /// The range of event time whose changes the fact reports.
    pub(crate) changes: Range,
    /// True when an interval was cut at the maximum span or the window's end.
    pub(crate) cut: bool,
}

impl Reach {
    /// Returns the stored part of an interval.
    fn interval(&self, span: &crate::fact::Span) -> Range {
        Range::new(
            Millis::from_datetime(span.at()),
            Millis::from_datetime(span.until()).min(self.interval_end),
        )
    }
}

fn hull(a: Range, b: Range) -> Range {
    Range::new(a.start.min(b.start), a.end.max(b.end))
}
