//! The incremental engine: facts in, figures per work unit and period out.
//!
//! Each fact goes to its work unit's [`Timeline`](crate::timeline) and marks dirty the range of
//! event time it can change. Figures are computed lazily per period and cached; a query first
//! drops the cached periods that overlap a dirty range. So a late fact costs O(log n) to store
//! plus one fold per affected period, whatever the length of the history.

use crate::calendar::{Calendar, Granularity, Period};
use crate::config::{EngineConfig, EquipmentConfig};
use crate::fact::Fact;
use crate::figures::Figures;
use crate::ids::{AreaId, EquipmentId, SiteId, WorkCenterId};
use crate::plant_calendar::{CalendarVersion, Calendars, UnitCalendar};
use crate::time::{DayMemo, Millis, Range};
use crate::timeline::{Admission, Reach, Scratch, Timeline};
use crate::window::{Refusal, Refused, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The engine's map of work units: foldhash (seeded per process) instead of SipHash, which was a
/// fifth of the instructions of applying a fact.
type UnitMap = HashMap<EquipmentId, Unit, foldhash::fast::RandomState>;

const LEVELS: usize = 5;

/// A range of event time of one work unit whose figures changed since the last
/// [`Engine::take_changes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The work unit.
    pub equipment: EquipmentId,
    /// Start of the changed range.
    pub from: DateTime<Utc>,
    /// End of the changed range (exclusive).
    pub to: DateTime<Utc>,
}

/// A node of the ISA-95 equipment hierarchy to roll figures up to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One work unit.
    WorkUnit(EquipmentId),
    /// Every work unit of a work center.
    WorkCenter(WorkCenterId),
    /// Every work unit of an area.
    Area(AreaId),
    /// Every work unit of a site.
    Site(SiteId),
}

#[derive(Debug, Clone, Default)]
struct Unit {
    config: EquipmentConfig,
    timeline: Timeline,
    cache: [BTreeMap<(Millis, Millis), Figures>; LEVELS],
    max_len: [Millis; LEVELS],
    pending: Vec<Range>,
    changed: Vec<Range>,
    /// Set once [`Engine::compact`] dropped facts: periods starting before `exact_from` can no
    /// longer be folded, and a fact that changes anything before `safe_from` needs the unit's
    /// history back ([`Engine::take_incomplete`], [`Engine::restore`]).
    compacted: Option<Compacted>,
    /// The end of the day `safe_from` was last computed in: until "latest fact - horizon"
    /// reaches it, [`Engine::compact`] has nothing new to forget for this unit and skips it
    /// without asking the calendar (it runs after every transaction, one Kafka message each).
    compact_due: Option<Millis>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Compacted {
    exact_from: Millis,
    safe_from: Millis,
}

impl Unit {
    fn flush(&mut self) {
        for range in self.pending.drain(..) {
            for (cache, max_len) in self.cache.iter_mut().zip(self.max_len) {
                if cache.is_empty() {
                    continue;
                }
                let lo = (range.start - max_len, Millis::MIN);
                let stale: Vec<(Millis, Millis)> = cache
                    .range(lo..(range.end, Millis::MIN))
                    .map(|(k, _)| *k)
                    .filter(|(_, end)| *end > range.start)
                    .collect();
                for key in stale {
                    cache.remove(&key);
                }
            }
        }
    }
}

/// Pushes `range` onto `ranges`, merging it with the last one when they touch, and compacting
/// the list when it grows long, so in-order streams keep a single range.
///
/// Inlined for the common case, a range that touches the last one; [`push_apart`] does the rest.
#[inline]
fn push_merged(ranges: &mut Vec<Range>, range: Range) {
    if let Some(last) = ranges.last_mut() {
        if range.start <= last.end && last.start <= range.end {
            last.start = last.start.min(range.start);
            last.end = last.end.max(range.end);
            return;
        }
    }
    push_apart(ranges, range);
}

/// Pushes `range`, which does not touch the last range of `ranges` ([`push_merged`]).
#[inline(never)]
fn push_apart(ranges: &mut Vec<Range>, range: Range) {
    ranges.push(range);
    if ranges.len() > 256 {
        ranges.sort_unstable();
        let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
        for r in ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        *ranges = merged;
    }
}

/// Stores an admitted fact in `unit` and marks what it changes; returns the earliest instant
/// it changes (and the range, for the incompleteness check).
fn apply_to(unit: &mut Unit, fact: &Fact, reach: &Reach, config: &EngineConfig) -> Range {
    let before = unit.timeline.span();
    let affected = unit.timeline.apply(
        &fact.kind,
        reach,
        unit.config.startup_window,
        config.lateness_horizon,
    );
    push_merged(&mut unit.pending, affected);
    // Changes are reported no further than the maximum span from the fact (the cache is
    // invalidated over the whole range, which costs no period expansion).
    let report = |unit: &mut Unit, range: Range| {
        let clipped = range.clip(reach.changes);
        if !clipped.is_empty() {
            push_merged(&mut unit.changed, clipped);
        }
    };
    report(unit, affected);
    // A fact that moves either end of the unit's timeline (a reject recorded hours later, a
    // breakdown ending after the last state change) changes the periods between the old and
    // the new end, since the last state lasts until the latest fact.
    let mut earliest = affected.start.min(reach.at);
    if let (Some(old), Some(new)) = (before, unit.timeline.span()) {
        for extension in [
            Range::new(old.end - Millis(1), new.end),
            Range::new(new.start, old.start + Millis(1)),
        ] {
            if extension.len() > Millis(1) {
                push_merged(&mut unit.pending, extension);
                report(unit, extension);
                earliest = earliest.min(extension.start);
            }
        }
    }
    Range::new(earliest, affected.end)
}

/// Counts one refused fact (or cut interval) of `fact`'s unit and kind for
/// [`Engine::take_refusals`].
fn record(refusals: &mut Refusals, fact: &Fact, reason: Option<Refusal>, at: Millis) {
    let entry = refusals
        .entry((fact.equipment.clone(), fact.kind.name(), reason))
        .or_insert((0, at));
    entry.0 += 1;
    entry.1 = at;
}

/// Returns the plant calendar of the unit `id` with `config` (its place in the hierarchy).
fn unit_calendar<'a>(
    calendars: &'a Calendars,
    base: &'a Calendar,
    id: &EquipmentId,
    config: Option<&EquipmentConfig>,
) -> Option<UnitCalendar<'a>> {
    if calendars.is_empty() {
        return None;
    }
    let path = config.and_then(|c| c.path.as_ref());
    let scope = calendars.scope_for(
        id.as_str(),
        [
            path.map(|p| p.work_center.as_str()),
            path.map(|p| p.area.as_str()),
            path.map(|p| p.site.as_str()),
        ],
    )?;
    Some(UnitCalendar {
        plant: calendars.get(scope)?,
        base,
    })
}

/// Refused facts per work unit, kind and reason: their number and the last one's time.
type Refusals = BTreeMap<(EquipmentId, &'static str, Option<Refusal>), (u64, Millis)>;

/// The format version of [`EngineSnapshot`]; a snapshot of another version is refused.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A copy of the engine's facts and per-unit state ([`Engine::snapshot`]), serializable (with
/// serde) so that a projection can store it and restart from it ([`Engine::from_snapshot`])
/// instead of folding its whole input history again. Cached figures are left out (they are
/// folded again on demand); the calendar and the engine configuration come from the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineSnapshot {
    version: u32,
    units: Vec<UnitSnapshot>,
    incomplete: Vec<(EquipmentId, Millis)>,
    /// The plant calendars (absent from snapshots taken before they existed).
    #[serde(default, skip_serializing_if = "Calendars::is_empty")]
    calendars: Calendars,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UnitSnapshot {
    equipment: EquipmentId,
    config: EquipmentConfig,
    timeline: Timeline,
    compacted: Option<Compacted>,
    compact_due: Option<Millis>,
}

/// Returned by [`Engine::from_snapshot`] for a snapshot of another format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("engine snapshot version {found}, this engine reads version {SNAPSHOT_VERSION}")]
pub struct SnapshotVersion {
    /// The version the snapshot has.
    pub found: u32,
}

/// The OEE / six-big-loss engine over any number of work units.
///
/// Pure and deterministic: no I/O, no clock. For any arrival order of the same facts,
/// [`Engine::figures`] returns the same figures (except [`Flags::late_facts`](crate::Flags)),
/// equal to a batch recomputation.
#[derive(Debug, Clone)]
pub struct Engine {
    calendar: Calendar,
    /// Plant calendars: shift periods and non-working time per work unit.
    calendars: Calendars,
    config: EngineConfig,
    units: UnitMap,
    scratch: Scratch,
    /// Work units that got a fact changing figures before their `safe_from`, with the
    /// earliest event time it changes.
    incomplete: BTreeMap<EquipmentId, Millis>,
    /// Refused facts not yet taken ([`Engine::take_refusals`]).
    refusals: Refusals,
    /// The date of the last fact applied, for converting the next one's instant.
    day: DayMemo,
}

impl Engine {
    /// Returns an engine with no facts.
    pub fn new(calendar: Calendar, config: EngineConfig) -> Engine {
        Engine {
            calendar,
            calendars: Calendars::default(),
            config,
            units: UnitMap::default(),
            scratch: Scratch::default(),
            incomplete: BTreeMap::new(),
            refusals: BTreeMap::new(),
            day: DayMemo::default(),
        }
    }

    /// Returns a copy of the facts and per-unit state (not the cached figures, not the changes
    /// and refusals not yet taken).
    pub fn snapshot(&self) -> EngineSnapshot {
        let mut units: Vec<UnitSnapshot> = self
            .units
            .iter()
            .map(|(id, unit)| UnitSnapshot {
                equipment: id.clone(),
                config: unit.config.clone(),
                timeline: unit.timeline.clone(),
                compacted: unit.compacted,
                compact_due: unit.compact_due,
            })
            .collect();
        units.sort_by(|a, b| a.equipment.cmp(&b.equipment));
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            units,
            incomplete: self
                .incomplete
                .iter()
                .map(|(id, from)| (id.clone(), *from))
                .collect(),
            calendars: self.calendars.clone(),
        }
    }

    /// Returns the engine `snapshot` copied, with `calendar` and `config` (those it was taken
    /// with, for the same figures): what [`Engine::figures`] returns equals what the engine
    /// returned when the snapshot was taken, and facts applied after it are applied alike.
    pub fn from_snapshot(
        calendar: Calendar,
        config: EngineConfig,
        snapshot: EngineSnapshot,
    ) -> Result<Engine, SnapshotVersion> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotVersion {
                found: snapshot.version,
            });
        }
        let mut engine = Engine::new(calendar, config);
        for unit in snapshot.units {
            engine.units.insert(
                unit.equipment,
                Unit {
                    config: unit.config,
                    timeline: unit.timeline,
                    compacted: unit.compacted,
                    compact_due: unit.compact_due,
                    ..Unit::default()
                },
            );
        }
        engine.incomplete = snapshot.incomplete.into_iter().collect();
        engine.calendars = snapshot.calendars;
        Ok(engine)
    }

    /// Returns the calendar that defines the reporting periods (the shift periods of a work
    /// unit with a plant calendar are [`Engine::period_of`]'s).
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Returns the plant calendars.
    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }

    /// Adds a version of the plant calendar of `scope` (replacing one with the same effective
    /// date). The figures of every work unit become stale from the day before it takes
    /// effect (a night shift of that day may end in it) on; earlier periods keep theirs.
    pub fn set_calendar_version(&mut self, scope: &str, version: CalendarVersion) {
        if self.calendars.get(scope).and_then(|c| {
            c.versions()
                .find(|v| v.effective_from == version.effective_from)
        }) == Some(&version)
        {
            return; // A redelivery changes nothing.
        }
        let day_before = version
            .effective_from
            .pred_opt()
            .unwrap_or(version.effective_from);
        let from = crate::plant_calendar::local_instant(
            version.time_zone,
            day_before.and_time(chrono::NaiveTime::MIN),
        )
        .min(
            self.calendar
                .containing(
                    Granularity::Day,
                    crate::plant_calendar::local_instant(
                        self.calendar.time_zone(),
                        day_before.and_time(chrono::NaiveTime::MIN),
                    ),
                )
                .range()
                .start,
        );
        self.calendars.insert(scope, version);
        for (id, unit) in &mut self.units {
            if unit.compacted.is_some_and(|c| from < c.safe_from) {
                let entry = self.incomplete.entry(id.clone()).or_insert(from);
                *entry = (*entry).min(from);
            }
            for cache in &mut unit.cache {
                cache.clear();
            }
            unit.pending.clear();
            push_merged(&mut unit.changed, Range::new(from, Millis::MAX));
        }
    }

    /// Returns the period of `granularity` holding `at` for `equipment`: shift periods follow
    /// the unit's plant calendar, the others the engine's calendar.
    pub fn period_of(
        &self,
        equipment: &EquipmentId,
        granularity: Granularity,
        at: DateTime<Utc>,
    ) -> Period {
        self.containing_for(equipment, granularity, Millis::from_datetime(at))
    }

    /// Returns the periods of `granularity` of `equipment` overlapping `[from, to)`, in order.
    pub fn periods_of(
        &self,
        equipment: &EquipmentId,
        granularity: Granularity,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Period> {
        self.periods_for(
            equipment,
            granularity,
            Range::new(Millis::from_datetime(from), Millis::from_datetime(to)),
        )
    }

    /// Returns the plant calendar `equipment` follows, if any.
    pub fn unit_calendar(&self, equipment: &EquipmentId) -> Option<UnitCalendar<'_>> {
        unit_calendar(
            &self.calendars,
            &self.calendar,
            equipment,
            self.units.get(equipment).map(|u| &u.config),
        )
    }

    fn containing_for(
        &self,
        equipment: &EquipmentId,
        granularity: Granularity,
        at: Millis,
    ) -> Period {
        match (granularity, self.unit_calendar(equipment)) {
            (Granularity::Shift, Some(cal)) => cal.shift_period(at),
            _ => self.calendar.containing(granularity, at),
        }
    }

    fn periods_for(
        &self,
        equipment: &EquipmentId,
        granularity: Granularity,
        range: Range,
    ) -> Vec<Period> {
        let Some(cal) = self
            .unit_calendar(equipment)
            .filter(|_| granularity == Granularity::Shift)
        else {
            return self.calendar.periods_in(granularity, range);
        };
        let mut out = Vec::new();
        if range.is_empty() {
            return out;
        }
        let mut period = cal.shift_period(range.start);
        while period.range().start < range.end {
            let next_start = period.range().end;
            out.push(period);
            let next = cal.shift_period(next_start);
            if next.range().start < next_start || next.range().is_empty() {
                break;
            }
            period = next;
        }
        out
    }

    /// Sets the configuration of a work unit; all of its cached figures become stale.
    ///
    /// Facts for a unit that was never configured use [`EquipmentConfig::default`].
    pub fn configure(&mut self, equipment: EquipmentId, config: EquipmentConfig) {
        let unit = self.units.entry(equipment.clone()).or_default();
        if unit.compacted.is_some() {
            // The whole history is folded again with the new configuration.
            self.incomplete.insert(equipment, Millis::MIN);
        }
        unit.config = config;
        for cache in &mut unit.cache {
            cache.clear();
        }
        unit.pending.clear();
        push_merged(&mut unit.changed, Range::new(Millis::MIN, Millis::MAX));
    }

    /// Returns the hard cap on one fact ([`EngineConfig::max_span`]).
    pub fn max_span(&self) -> Option<Millis> {
        self.config.max_span
    }

    /// Returns the configuration of a work unit, if it is known.
    pub fn equipment_config(&self, equipment: &EquipmentId) -> Option<&EquipmentConfig> {
        self.units.get(equipment).map(|u| &u.config)
    }

    /// Applies one fact, in any order relative to the others, with no event-time window (the
    /// maximum span still bounds it); see [`Engine::apply_within`].
    pub fn apply(&mut self, fact: &Fact) -> Option<Refusal> {
        self.apply_within(fact, Window::OPEN)
    }

    /// Applies one fact judged against `window`, in any order relative to the others. A fact
    /// outside the window, or further than the maximum span from its unit's other facts, is
    /// kept out of the figures, counted in [`Flags::refused_facts`](crate::Flags) at the
    /// window's reference time (else the unit's latest fact) and reported by
    /// [`Engine::take_refusals`]; its refusal is returned.
    pub fn apply_within(&mut self, fact: &Fact, window: Window) -> Option<Refusal> {
        // One hash lookup per fact; a unit's first fact inserts it and comes back here.
        let Some(unit) = self.units.get_mut(&fact.equipment) else {
            self.units.insert(fact.equipment.clone(), Unit::default());
            return self.apply_within(fact, window);
        };
        let at = self.day.millis(fact.kind.at());
        let (changed, refusal) =
            match unit
                .timeline
                .admit(&fact.kind, at, &window, self.config.max_span)
            {
                Admission::Refused(reason) => {
                    let changed = window
                        .reference
                        .or(unit.timeline.watermark())
                        .map(|at| unit.timeline.refuse(at));
                    if let Some(range) = changed {
                        push_merged(&mut unit.pending, range);
                        push_merged(&mut unit.changed, range);
                    }
                    record(&mut self.refusals, fact, Some(reason), at);
                    (changed, Some(reason))
                }
                Admission::Admitted(reach) => {
                    if reach.cut {
                        record(&mut self.refusals, fact, None, at);
                    }
                    (Some(apply_to(unit, fact, &reach, &self.config)), None)
                }
            };
        if let (Some(compacted), Some(earliest)) = (unit.compacted, changed.map(|r| r.start)) {
            if earliest < compacted.safe_from {
                let from = self
                    .incomplete
                    .entry(fact.equipment.clone())
                    .or_insert(earliest);
                *from = (*from).min(earliest);
            }
        }
        refusal
    }

    /// Returns and forgets the facts refused (and the intervals cut) since the last call, one
    /// entry per work unit, kind and reason with their number: what a caller logs.
    pub fn take_refusals(&mut self) -> Vec<Refused> {
        std::mem::take(&mut self.refusals)
            .into_iter()
            .map(|((equipment, kind, reason), (count, last))| Refused {
                equipment,
                kind,
                reason,
                count,
                last_at: last.to_datetime().unwrap_or(DateTime::<Utc>::MIN_UTC),
            })
            .collect()
    }

    /// Forgets, per work unit, the facts that only periods ending more than the lateness
    /// horizon before its latest fact need (whole days, at most once a day per unit), and the
    /// figures cached for those periods. A later fact that changes anything in the forgotten
    /// range is still applied, but leaves the unit incomplete until its history is restored
    /// ([`Engine::take_incomplete`]). Without a lateness horizon nothing is forgotten. Returns
    /// the number of units compacted.
    pub fn compact(&mut self) -> usize {
        let Some(horizon) = self.config.lateness_horizon else {
            return 0;
        };
        let mut compacted = 0;
        for (id, unit) in &mut self.units {
            if self.incomplete.contains_key(id) {
                continue;
            }
            let Some(latest) = unit.timeline.watermark() else {
                continue;
            };
            let due = latest - horizon;
            if unit.compact_due.is_some_and(|day_end| due < day_end) {
                continue;
            }
            // The start of the day holding `latest - horizon` ...
            let day = self.calendar.containing(Granularity::Day, due).range();
            unit.compact_due = Some(day.end);
            let safe_from = day.start;
            if unit.compacted.is_some_and(|c| c.safe_from >= safe_from) {
                continue;
            }
            // ... and the earliest start of a stored period holding it (a night shift starts
            // the evening before).
            let shift_start =
                match unit_calendar(&self.calendars, &self.calendar, id, Some(&unit.config)) {
                    Some(cal) => cal.shift_period(safe_from).range().start,
                    None => {
                        self.calendar
                            .containing(Granularity::Shift, safe_from)
                            .range()
                            .start
                    }
                };
            let exact_from = [Granularity::Hour, Granularity::Day]
                .iter()
                .map(|g| self.calendar.containing(*g, safe_from).range().start)
                .fold(shift_start, Millis::min);
            if unit
                .timeline
                .compact(exact_from, unit.config.startup_window)
            {
                compacted += 1;
            }
            unit.compacted = Some(Compacted {
                exact_from,
                safe_from,
            });
            for cache in &mut unit.cache {
                cache.retain(|(start, _), _| *start >= exact_from);
            }
        }
        compacted
    }

    /// Returns the instant from which the figures of `equipment` can be folded: `None` when the
    /// unit is unknown, `Millis::MIN` when it holds its whole history.
    pub fn exact_from(&self, equipment: &EquipmentId) -> Option<DateTime<Utc>> {
        let unit = self.units.get(equipment)?;
        match unit.compacted {
            Some(c) if !self.incomplete.contains_key(equipment) => c.exact_from.to_datetime(),
            Some(_) => None,
            None => Some(DateTime::<Utc>::MIN_UTC),
        }
    }

    /// Returns and forgets the work units that got a fact changing figures before the facts
    /// they keep (see [`Engine::compact`]), with the earliest event time it changes. Their
    /// figures are not exact until [`Engine::restore`] gives them their history back.
    pub fn take_incomplete(&mut self) -> Vec<(EquipmentId, DateTime<Utc>)> {
        std::mem::take(&mut self.incomplete)
            .into_iter()
            .map(|(id, from)| {
                let from = from.to_datetime().unwrap_or(DateTime::<Utc>::MIN_UTC);
                (id, from)
            })
            .collect()
    }

    /// Replaces the facts of `equipment` with `facts`, its whole history (in the order they
    /// arrived, which only the late-fact flags and refusals depend on, each with the window it
    /// was judged against), and marks its figures changed from `changed_from` on (the earliest
    /// time a fact that made it incomplete changes).
    pub fn restore(
        &mut self,
        equipment: &EquipmentId,
        facts: impl IntoIterator<Item = (Fact, Window)>,
        changed_from: DateTime<Utc>,
    ) {
        let Some(unit) = self.units.get_mut(equipment) else {
            return;
        };
        let mut timeline = Timeline::default();
        for (fact, window) in facts {
            if fact.equipment != *equipment {
                continue;
            }
            let at = Millis::from_datetime(fact.kind.at());
            match timeline.admit(&fact.kind, at, &window, self.config.max_span) {
                Admission::Refused(_) => {
                    if let Some(at) = window.reference.or(timeline.watermark()) {
                        timeline.refuse(at);
                    }
                }
                Admission::Admitted(reach) => {
                    timeline.apply(
                        &fact.kind,
                        &reach,
                        unit.config.startup_window,
                        self.config.lateness_horizon,
                    );
                }
            }
        }
        unit.timeline = timeline;
        unit.compacted = None;
        unit.compact_due = None;
        for cache in &mut unit.cache {
            cache.clear();
        }
        unit.pending.clear();
        // What changed reaches back to the start of the stop holding the earliest change, and
        // a startup window before that.
        let from = Millis::from_datetime(changed_from);
        let from = unit.timeline.stop_start(from).min(from) - unit.config.startup_window;
        let from = unit.changed.iter().map(|r| r.start).fold(from, Millis::min);
        unit.changed = vec![Range::new(from, Millis::MAX)];
        self.incomplete.remove(equipment);
    }

    /// Returns the work units the engine knows, in name order.
    pub fn equipment(&self) -> Vec<EquipmentId> {
        let mut ids: Vec<EquipmentId> = self.units.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Returns the figures of one work unit for one period (cached until a fact touches it),
    /// or `None` for an unknown work unit or a period starting before the facts it keeps
    /// ([`Engine::exact_from`]).
    pub fn figures(&mut self, equipment: &EquipmentId, period: &Period) -> Option<Figures> {
        self.figures_ref(equipment, period).cloned()
    }

    /// Returns the figures like [`Engine::figures`], by reference to the cache.
    pub fn figures_ref(&mut self, equipment: &EquipmentId, period: &Period) -> Option<&Figures> {
        let range = period.range();
        let level = period.granularity().index();
        let key = (range.start, range.end);
        let unit = self.units.get_mut(equipment)?;
        if unit.compacted.is_some_and(|c| range.start < c.exact_from) {
            return None; // Folded from facts the unit no longer holds.
        }
        unit.flush();
        if !unit.cache[level].contains_key(&key) {
            let figures = self.fold(equipment, period)?;
            let unit = self.units.get_mut(equipment)?;
            unit.max_len[level] = unit.max_len[level].max(range.len());
            unit.cache[level].insert(key, figures);
        }
        self.units.get(equipment)?.cache[level].get(&key)
    }

    /// Computes the figures of a period that is not cached.
    ///
    /// Coarse periods are the sum of their (cached) finer periods as far as that is exact,
    /// plus a direct fold of the rest (usually the hour holding a still-open stop).
    fn fold(&mut self, equipment: &EquipmentId, period: &Period) -> Option<Figures> {
        let range = period.range();
        let finer: &[Granularity] = match period.granularity() {
            Granularity::Shift | Granularity::Day => &[Granularity::Hour],
            Granularity::Week => &[Granularity::Day, Granularity::Hour],
            Granularity::Hour | Granularity::Custom => &[],
        };
        let mut figures = Figures::default();
        let mut rest = range;
        if let Some(until) = self.units.get(equipment)?.timeline.splittable_until(range) {
            for g in finer {
                // Take the finer periods that tile `rest` from its start and end by `until`.
                let mut parts = self.calendar.periods_in(*g, Range::new(rest.start, until));
                if parts.first().is_none_or(|p| p.range().start != rest.start) {
                    continue;
                }
                let mut edge = rest.start;
                parts.retain(|p| {
                    let keep = p.range().start == edge && p.range().end <= until;
                    if keep {
                        edge = p.range().end;
                    }
                    keep
                });
                for part in &parts {
                    figures.add(self.figures_ref(equipment, part)?);
                }
                rest.start = edge;
            }
        }
        if !rest.is_empty() {
            let unit = self.units.get(equipment)?;
            let calendar = unit_calendar(
                &self.calendars,
                &self.calendar,
                equipment,
                Some(&unit.config),
            );
            figures.add(
                &unit
                    .timeline
                    .compute(rest, &unit.config, &mut self.scratch, calendar),
            );
        }
        Some(figures)
    }

    /// Returns the figures of one work unit for one period, folded from scratch without the
    /// cache: the batch recomputation that [`Engine::figures`] must always equal.
    pub fn recompute(&self, equipment: &EquipmentId, period: &Period) -> Option<Figures> {
        let unit = self.units.get(equipment)?;
        if unit
            .compacted
            .is_some_and(|c| period.range().start < c.exact_from)
        {
            return None;
        }
        let mut scratch = Scratch::default();
        let calendar = unit_calendar(
            &self.calendars,
            &self.calendar,
            equipment,
            Some(&unit.config),
        );
        Some(
            unit.timeline
                .compute(period.range(), &unit.config, &mut scratch, calendar),
        )
    }

    /// Returns the sum of the figures of every work unit in `scope` for `period`
    /// (times and counts add; ratios follow from the sums).
    pub fn rollup(&mut self, scope: &Scope, period: &Period) -> Figures {
        let members: Vec<EquipmentId> = self
            .units
            .iter()
            .filter(|(id, unit)| match (scope, &unit.config.path) {
                (Scope::WorkUnit(want), _) => *id == want,
                (Scope::WorkCenter(want), Some(path)) => path.work_center == *want,
                (Scope::Area(want), Some(path)) => path.area == *want,
                (Scope::Site(want), Some(path)) => path.site == *want,
                (_, None) => false,
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut total = Figures::default();
        for id in members {
            if let Some(f) = self.figures(&id, period) {
                total.add(&f);
            }
        }
        total
    }

    /// Returns and forgets the event-time ranges whose figures changed since the last call,
    /// clipped to the span of each unit's facts: from its earliest fact to its latest one. A
    /// period that starts after a unit's latest fact has no figures to store (the open-state
    /// rule of `docs/oee.md`), whatever the startup window after that fact.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        let mut ids: Vec<&EquipmentId> = self.units.keys().collect();
        ids.sort();
        let mut units: Vec<(EquipmentId, Vec<Range>, Option<Range>)> = Vec::new();
        for id in ids {
            if let Some(unit) = self.units.get(id) {
                units.push((id.clone(), unit.changed.clone(), unit.timeline.span()));
            }
        }
        for unit in self.units.values_mut() {
            unit.changed.clear();
        }
        for (id, ranges, span) in units {
            let Some(span) = span else { continue };
            for r in ranges {
                let clipped = r.clip(span);
                if clipped.is_empty() {
                    continue;
                }
                if let (Some(from), Some(to)) =
                    (clipped.start.to_datetime(), clipped.end.to_datetime())
                {
                    out.push(Change {
                        equipment: id.clone(),
                        from,
                        to,
                    });
                }
            }
        }
        out
    }

    /// Returns and forgets the changes as calendar periods of the given granularities:
    /// the periods a projection must re-read with [`Engine::figures`].
    pub fn take_changed_periods(
        &mut self,
        granularities: &[Granularity],
    ) -> Vec<(EquipmentId, Period)> {
        let mut out: Vec<(EquipmentId, Period)> = Vec::new();
        let mut unit_periods: Vec<Period> = Vec::new();
        let changes = self.take_changes();
        // Changes come grouped by unit; dedup the periods of each unit without comparing names.
        for (i, change) in changes.iter().enumerate() {
            let range = Range::new(
                Millis::from_datetime(change.from),
                Millis::from_datetime(change.to),
            );
            for g in granularities {
                unit_periods.extend(self.periods_for(&change.equipment, *g, range));
            }
            let last_of_unit = changes
                .get(i + 1)
                .is_none_or(|next| next.equipment != change.equipment);
            if last_of_unit {
                unit_periods.sort_unstable_by_key(|p| (p.granularity(), p.range()));
                unit_periods.dedup_by_key(|p| (p.granularity(), p.range()));
                out.extend(
                    unit_periods
                        .drain(..)
                        .map(|p| (change.equipment.clone(), p)),
                );
            }
        }
        out
    }

    /// Returns an estimate of the heap bytes held by stored facts and cached figures.
    pub fn approx_heap_bytes(&self) -> usize {
        self.units
            .values()
            .map(|u| {
                u.timeline.approx_heap_bytes()
                    + self.approx_cache_bytes_of(u)
                    + std::mem::size_of::<(EquipmentId, Unit)>()
            })
            .sum()
    }

    /// Returns an estimate of the heap bytes held by cached figures alone.
    pub fn approx_cache_bytes(&self) -> usize {
        self.units
            .values()
            .map(|u| self.approx_cache_bytes_of(u))
            .sum()
    }

    fn approx_cache_bytes_of(&self, unit: &Unit) -> usize {
        // A B-tree entry costs its size plus about half again for node slack and edges.
        let entry = std::mem::size_of::<((Millis, Millis), Figures)>() * 3 / 2;
        unit.cache
            .iter()
            .flat_map(BTreeMap::values)
            .map(|f| entry + f.reasons.approx_heap_bytes())
            .sum()
    }

    /// Drops cached figures of periods that end at or before `before` (they are recomputed
    /// on demand), bounding the memory a long-running projection holds.
    pub fn evict_cache_before(&mut self, before: DateTime<Utc>) {
        let before = Millis::from_datetime(before);
        for unit in self.units.values_mut() {
            for cache in &mut unit.cache {
                cache.retain(|(_, end), _| *end > before);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! A fact far from the others costs the periods of the window only, and is flagged.
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::DEFAULT_MAX_SPAN;
    use crate::fact::{FactKind, Span, Units};
    use chrono::TimeZone;

    const STORED: [Granularity; 3] = [Granularity::Hour, Granularity::Shift, Granularity::Day];

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
    }

    fn year(y: i32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap()
    }

    /// The shipped policy (5 minutes ahead, 400 days behind) taken at `now()`.
    fn window() -> Window {
        let now = now();
        Window::new(
            Some(now - chrono::Duration::days(400)),
            Some(now + chrono::Duration::minutes(5)),
            Some(now),
        )
    }

    fn fact(unit: &str, kind: FactKind) -> Fact {
        Fact {
            equipment: unit.into(),
            kind,
        }
    }

    fn count(unit: &str, at: DateTime<Utc>) -> Fact {
        fact(
            unit,
            FactKind::Counted {
                at,
                total: Units(10),
                product: None,
            },
        )
    }

    fn running(unit: &str, at: DateTime<Utc>) -> Fact {
        fact(unit, FactKind::Running { at, product: None })
    }

    fn stopped(unit: &str, at: DateTime<Utc>) -> Fact {
        fact(unit, FactKind::Stopped { at, reason: None })
    }

    fn shutdown(unit: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> Fact {
        fact(
            unit,
            FactKind::PlannedShutdown {
                span: Span::new(from, until).unwrap(),
                reason: "break".into(),
            },
        )
    }

    /// An engine holding two normal hours of `unit` up to `now()`, its changes taken.
    fn normal(unit: &str) -> Engine {
        let mut engine = Engine::new(Calendar::default(), EngineConfig::default());
        let start = now() - chrono::Duration::hours(2);
        engine.apply_within(&running(unit, start), window());
        for minutes in (10..=120).step_by(10) {
            engine.apply_within(
                &count(unit, start + chrono::Duration::minutes(minutes)),
                window(),
            );
        }
        engine.take_changed_periods(&STORED);
        engine
    }

    /// The figures of the day holding `now()`.
    fn today(engine: &mut Engine, unit: &str) -> Figures {
        let day = engine
            .calendar()
            .containing(Granularity::Day, Millis::from_datetime(now()));
        engine.figures(&unit.into(), &day).unwrap()
    }

    fn size(engine: &Engine, unit: &str) -> (usize, Millis) {
        engine.units[&EquipmentId::from(unit)].timeline.size()
    }

    #[test]
    fn a_count_in_the_year_3000_is_refused_flagged_and_costs_one_period_per_granularity() {
        for (policy, reason) in [
            (window(), Refusal::OutsideWindow),
            (Window::OPEN, Refusal::BeyondMaxSpan),
        ] {
            let mut engine = normal("m1");
            let before = size(&engine, "m1");
            assert_eq!(
                engine.apply_within(&count("m1", year(3000)), policy),
                Some(reason)
            );
            let changed = engine.take_changed_periods(&STORED);
            assert!(
                changed.len() <= STORED.len(),
                "{} periods changed",
                changed.len()
            );
            assert_eq!(size(&engine, "m1").1, before.1, "the timeline did not grow");
            let refusals = engine.take_refusals();
            assert_eq!(refusals.len(), 1);
            assert_eq!((refusals[0].kind, refusals[0].count), ("counted", 1));
            // A normal count after it is counted; the refused one is flagged, not counted.
            engine.apply_within(&count("m1", now()), window());
            let figures = today(&mut engine, "m1");
            assert_eq!(figures.total_count, 130);
            // Without a reference time it is counted at the unit's latest fact.
            assert_eq!(figures.flags.refused_facts, 1, "{policy:?}");
        }
    }

    #[test]
    fn a_stop_in_1971_is_refused_and_normal_counts_after_it_show() {
        // As the first fact of a unit: the window refuses it.
        let mut engine = Engine::new(Calendar::default(), EngineConfig::default());
        assert_eq!(
            engine.apply_within(&stopped("m2", year(1971)), window()),
            Some(Refusal::OutsideWindow)
        );
        engine.apply_within(&running("m2", now() - chrono::Duration::hours(1)), window());
        engine.apply_within(&count("m2", now()), window());
        let changed = engine.take_changed_periods(&STORED);
        assert!(
            changed.len() <= 2 * STORED.len(),
            "{} periods changed",
            changed.len()
        );
        let figures = today(&mut engine, "m2");
        assert_eq!((figures.total_count, figures.flags.refused_facts), (10, 1));
        assert_eq!(size(&engine, "m2").1, Millis::from_secs(3600) + Millis(1));

        // After normal facts, even without a window: the maximum span refuses it.
        let mut engine = normal("m1");
        assert_eq!(
            engine.apply_within(&stopped("m1", year(1971)), Window::OPEN),
            Some(Refusal::BeyondMaxSpan)
        );
        assert!(engine.take_changed_periods(&STORED).len() <= STORED.len());
        engine.apply_within(&count("m1", now()), window());
        assert_eq!(today(&mut engine, "m1").total_count, 130);
    }

    #[test]
    fn a_shutdown_over_500_years_is_cut_and_costs_the_periods_of_the_window_only() {
        let from = now() - chrono::Duration::hours(1);
        let until = year(2526);
        // With the window: the timeline reaches 5 minutes past the reference time.
        let mut engine = normal("m1");
        assert_eq!(
            engine.apply_within(&shutdown("m1", from, until), window()),
            None
        );
        let changed = engine.take_changed_periods(&STORED);
        assert!(
            changed.len() <= 2 * STORED.len(),
            "{} periods changed",
            changed.len()
        );
        let span = size(&engine, "m1").1;
        assert!(
            span <= Millis::from_secs(2 * 3600 + 300) + Millis(1),
            "{span:?}"
        );
        let refusals = engine.take_refusals();
        assert_eq!(
            (refusals[0].kind, refusals[0].reason),
            ("planned_shutdown", None)
        );
        engine.apply_within(&count("m1", now()), window());
        let figures = today(&mut engine, "m1");
        assert_eq!(figures.total_count, 130);
        assert_eq!(figures.flags.refused_facts, 0);

        // Without a window: cut to the maximum span, and one fact reports changes over at most
        // twice that span, whatever comes after it.
        let mut engine = normal("m1");
        assert_eq!(engine.apply(&shutdown("m1", from, until)), None);
        let bound = (2 * 400 + 2) * (24 + 3 + 1);
        let changed = engine.take_changed_periods(&STORED);
        assert!(changed.len() <= bound, "{} periods changed", changed.len());
        assert!(size(&engine, "m1").1 <= DEFAULT_MAX_SPAN + Millis::from_secs(3 * 3600));
        engine.apply(&stopped("m1", now()));
        let changed = engine.take_changed_periods(&STORED);
        assert!(changed.len() <= bound, "{} periods changed", changed.len());
    }

    #[test]
    fn an_engine_restarted_from_its_snapshot_gives_the_same_figures_and_goes_on_alike() {
        let config = EngineConfig {
            lateness_horizon: Some(Millis::from_secs(3600)),
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(Calendar::default(), config.clone());
        let start = now() - chrono::Duration::hours(6);
        engine.apply_within(&running("m1", start), window());
        for minutes in (10..=240).step_by(10) {
            engine.apply_within(
                &count("m1", start + chrono::Duration::minutes(minutes)),
                window(),
            );
        }
        engine.apply_within(&count("m1", year(3000)), window());
        engine.apply_within(
            &shutdown("m1", start, start + chrono::Duration::minutes(5)),
            window(),
        );
        engine.compact();
        let json = serde_json::to_vec(&engine.snapshot()).unwrap();
        let snapshot: EngineSnapshot = serde_json::from_slice(&json).unwrap();
        let mut restarted = Engine::from_snapshot(Calendar::default(), config, snapshot).unwrap();
        let later = [
            stopped("m1", start + chrono::Duration::minutes(250)),
            count("m1", start + chrono::Duration::minutes(255)),
            running("m1", start + chrono::Duration::minutes(300)),
        ];
        for fact in &later {
            engine.apply_within(fact, window());
            restarted.apply_within(fact, window());
        }
        let id: EquipmentId = "m1".into();
        for granularity in STORED {
            for hours in 0..8 {
                let at = Millis::from_datetime(start + chrono::Duration::hours(hours));
                let period = engine.calendar().containing(granularity, at);
                assert_eq!(
                    engine.figures(&id, &period),
                    restarted.figures(&id, &period),
                    "{period:?}"
                );
            }
        }
        assert_eq!(today(&mut restarted, "m1").flags.refused_facts, 1);
    }

    #[test]
    fn a_shutdown_scheduled_ahead_is_kept_and_moves_nothing_until_the_facts_get_there() {
        let planning = window().planning_until(Some(now() + chrono::Duration::days(400)));
        let tonight = now() + chrono::Duration::hours(10);
        let mut engine = normal("m1");
        let before = size(&engine, "m1");
        let shutdown = shutdown("m1", tonight, tonight + chrono::Duration::hours(8));
        assert_eq!(
            engine.apply_within(&shutdown, window()),
            Some(Refusal::OutsideWindow)
        );
        assert_eq!(engine.apply_within(&shutdown, planning), None);
        assert!(engine.take_changed_periods(&STORED).len() <= STORED.len());
        assert_eq!(size(&engine, "m1").1, before.1, "the timeline did not move");
        assert_eq!(
            engine.units[&EquipmentId::from("m1")].timeline.watermark(),
            Some(Millis::from_datetime(now()))
        );
        // When the facts get there, the shutdown excludes its time.
        engine.apply(&stopped("m1", tonight));
        engine.apply(&running("m1", tonight + chrono::Duration::hours(8)));
        let day = engine
            .calendar()
            .containing(Granularity::Day, Millis::from_datetime(tonight));
        let figures = engine.figures(&"m1".into(), &day).unwrap();
        // 22:00 to midnight of today.
        assert_eq!(
            figures.calendar_time - figures.planned_production_time,
            Millis::from_secs(2 * 3600)
        );
    }

    #[test]
    fn restore_refuses_what_apply_refused() {
        let mut engine = normal("m1");
        engine.apply_within(&count("m1", year(3000)), window());
        let kept = today(&mut engine, "m1");
        let start = now() - chrono::Duration::hours(2);
        let mut history = vec![(running("m1", start), window())];
        for minutes in (10..=120).step_by(10) {
            history.push((
                count("m1", start + chrono::Duration::minutes(minutes)),
                window(),
            ));
        }
        history.push((count("m1", year(3000)), window()));
        engine.restore(&"m1".into(), history, start);
        assert_eq!(today(&mut engine, "m1"), kept);
        assert_eq!(kept.flags.refused_facts, 1);
    }
}
