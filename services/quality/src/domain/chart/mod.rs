//! The control chart aggregate (`control_chart`): a statistical process control chart's
//! definition (what it plots, how samples form subgroups, where its limits come from, which rules
//! open an NCR), its limit changes (set explicitly or recomputed on request, each with a reason)
//! and the rule violations the `spc_watch` process manager records on it, each once.
//!
//! Invariant: pure. No I/O, no clock and no statistics: the charts are computed by `mom-spc`
//! outside this service; the aggregate records definitions and what was found.

mod aggregate;
mod commands;
mod definition;
mod error;
mod events;

pub use aggregate::{ChartState, ControlChart, Violation, KEPT_VIOLATIONS};
pub use commands::ChartCommand;
pub use definition::{
    violation_id, Baseline, ChartKind, ChartPart, ChartPoint, ChartSource, ControlLimits,
    DispersionLimits, Subgroup, MAX_BASELINE, MAX_POINTS, MAX_WINDOW, MIN_BASELINE, MIN_WINDOW,
};
pub use error::ChartError;
pub use events::ChartEvent;
