//! OEE and six-big-loss engine: folds shop-floor facts from production, maintenance, quality and
//! inventory into planned production time, the six big losses, availability, performance,
//! quality, OEE and TEEP per work unit and reporting period, in event time.
//!
//! Invariant: pure. No I/O, no clock, no async; callers pass facts with their event time in.
//! Internally all times are integer milliseconds ([`Millis`]), so PPT = fully productive time +
//! the six losses holds exactly; floats appear only in ratios.
//!
//! The engine is incremental ([`Engine::apply`] takes facts in any order, late ones included)
//! and for any arrival order gives the same figures as a batch recomputation. [`case`] reads the
//! neutral acceptance-case format and replays it through the same engine; [`bench`] measures it.
//! See `docs/oee.md` for the rules.

pub mod bench;
pub mod calendar;
pub mod case;
mod chunked;
pub mod config;
pub mod engine;
pub mod fact;
pub mod figures;
pub mod ids;
pub mod plant_calendar;
pub mod time;
mod timeline;
pub mod window;

pub use calendar::{Calendar, CalendarError, Granularity, Period, Shift, ShiftPattern};
pub use config::{
    CycleTime, CycleTimes, EngineConfig, EquipmentConfig, EquipmentPath, InvalidCycleTime,
    DEFAULT_MAX_SPAN,
};
pub use engine::{Change, Engine, EngineSnapshot, Scope, SnapshotVersion, SNAPSHOT_VERSION};
pub use fact::{Fact, FactKind, InvertedSpan, Span, Units};
pub use figures::{Figures, Flags, LossReason, Losses, Pareto, Reasons};
pub use ids::{
    AreaId, EquipmentId, FailureMode, MaterialId, ProductId, RejectReason, SiteId, StopReason,
    WorkCenterId,
};
pub use plant_calendar::{
    BreakSpec, CalendarVersion, CalendarVersionError, Calendars, PlantCalendar, ShiftInstance,
    ShiftSpec, UnitCalendar,
};
pub use time::{Millis, Range};
pub use window::{Refusal, Refused, Window};
