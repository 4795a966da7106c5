//! What the engine does with a fact whose event times lie far from the others: the event-time
//! window a fact is judged against, and the reasons a fact is kept out of the figures.
//!
//! Invariant: the work one fact costs is bounded. A fact with a time outside its [`Window`], or
//! one that would stretch its work unit's timeline by more than the engine's maximum span
//! ([`EngineConfig::max_span`](crate::EngineConfig)), is refused: kept out of the figures,
//! counted in [`Flags::refused_facts`](crate::Flags) of the period holding the window's
//! reference time, and reported once per work unit and kind by [`Engine::take_refusals`]
//! (crate::Engine::take_refusals). An interval is cut to the maximum span, and the timeline
//! reaches no further than the window's end, so a 500-year shutdown costs the periods of the
//! window only.

use crate::time::Millis;
use chrono::{DateTime, Utc};
use std::fmt;

/// The instants a fact's event times may lie in, and the instant the window was taken at.
///
/// The engine has no clock: the caller builds the window, for instance from the event-time
/// policy evaluated at the time the platform recorded the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub(crate) earliest: Millis,
    pub(crate) latest: Millis,
    /// The latest start of a planned interval (a planned shutdown is scheduled ahead).
    pub(crate) latest_planned: Millis,
    pub(crate) reference: Option<Millis>,
}

impl Default for Window {
    fn default() -> Self {
        Window::OPEN
    }
}

impl Window {
    /// No limit on either side and no reference (only the maximum span applies).
    pub const OPEN: Window = Window {
        earliest: Millis::MIN,
        latest: Millis::MAX,
        latest_planned: Millis::MAX,
        reference: None,
    };

    /// Returns the window `[earliest, latest]` (`None`: open on that side) taken at `reference`,
    /// the instant a refused fact is counted at. A planned shutdown may start as late as
    /// `latest` too, unless [`Window::planning_until`] says otherwise.
    pub fn new(
        earliest: Option<DateTime<Utc>>,
        latest: Option<DateTime<Utc>>,
        reference: Option<DateTime<Utc>>,
    ) -> Window {
        let latest = latest.map_or(Millis::MAX, Millis::from_datetime);
        Window {
            earliest: earliest.map_or(Millis::MIN, Millis::from_datetime),
            latest,
            latest_planned: latest,
            reference: reference.map(Millis::from_datetime),
        }
    }

    /// Returns the window letting a planned shutdown start as late as `latest_planned` (`None`:
    /// no limit), at least `latest`: shutdowns are scheduled ahead. The unit's timeline still
    /// reaches no further than `latest`.
    pub fn planning_until(mut self, latest_planned: Option<DateTime<Utc>>) -> Window {
        self.latest_planned = latest_planned
            .map_or(Millis::MAX, Millis::from_datetime)
            .max(self.latest);
        self
    }

    /// Returns true when `at`, a time that happened, lies inside the window.
    pub(crate) fn contains(&self, at: Millis) -> bool {
        self.earliest <= at && at <= self.latest
    }

    /// Returns true when `at`, the start of a planned interval, lies inside the window.
    pub(crate) fn contains_planned(&self, at: Millis) -> bool {
        self.earliest <= at && at <= self.latest_planned
    }
}

/// Why a fact was kept out of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// An event time of the fact lies outside its [`Window`].
    OutsideWindow,
    /// The fact lies further than the maximum span before or after its work unit's other facts.
    BeyondMaxSpan,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::OutsideWindow => "event time outside the event-time window",
            Refusal::BeyondMaxSpan => "event time beyond the maximum span of the unit's timeline",
        })
    }
}

/// Facts of one work unit and kind refused (or intervals cut) since the last
/// [`Engine::take_refusals`](crate::Engine::take_refusals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The work unit.
    pub equipment: crate::EquipmentId,
    /// The fact kind (`counted`, `planned_shutdown`, ...).
    pub kind: &'static str,
    /// Why; `None` for intervals that were kept but cut at the maximum span or the window.
    pub reason: Option<Refusal>,
    /// How many facts.
    pub count: u64,
    /// The event time of the last one.
    pub last_at: DateTime<Utc>,
}
