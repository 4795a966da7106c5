//! Statistical process control: folds samples and chart definition / limit events into control
//! chart points (I-MR, X̄-R, X̄-S, p, np, c, u), their control limits, the eight Nelson rules and
//! the process capability (Cp, Cpk, Pp, Ppk).
//!
//! Invariant: pure and deterministic. No I/O, no clock, no async; callers pass every time in.
//! A chart is a function of the *set* of samples, its definition and its limit events, whatever
//! their arrival order: [`Chart::apply`] (streaming) and [`compute`] (batch) agree exactly.
//!
//! The contract shared with the quality service is in `docs/spc.md`: the chart kinds, the
//! subgrouping, the baseline and limit events, the rules and the violation ids; [`contract`] maps
//! its events to the engine.

pub mod capability;
pub mod chart;
pub mod constants;
pub mod contract;
pub mod limits;
pub mod model;
pub mod rules;
mod subgroup;

pub use capability::{capability, Capability};
pub use chart::{compute, Change, Chart, ChartError, Input, MAX_SAMPLES_PER_CHART};
pub use constants::Constants;
pub use limits::PartLimits;
pub use model::{
    Baseline, ChartDefinition, ChartKind, ControlLimits, LimitChange, LimitEvent, Part, Point,
    Sample, SampleId, SampleValue, Subgrouping,
};
pub use rules::{violation_id, Rule, Violation};
