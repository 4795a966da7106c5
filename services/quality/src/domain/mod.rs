//! The quality domain: the `inspection_plan`, `inspection`, `nonconformance`, `capa` and
//! `control_chart` aggregates, their commands, events and errors. `decide` holds every business rule, `evolve`
//! only folds events; every aggregate is a [`mom_domain::Stream`] over an `Option` of a state
//! that implements [`mom_domain::Lifecycle`], so the kernel checks the idempotency key and the
//! expected version before the state decides.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod capa;
mod chart;
mod ids;
mod inspection;
mod ncr;
mod plan;
mod spec;

pub use capa::{Capa, CapaCommand, CapaError, CapaEvent, CapaKind, CapaState, CapaStatus};
pub use chart::{
    violation_id, Baseline, ChartCommand, ChartError, ChartEvent, ChartKind, ChartPart, ChartPoint,
    ChartSource, ChartState, ControlChart, ControlLimits, DispersionLimits, Subgroup, Violation,
    KEPT_VIOLATIONS, MAX_BASELINE, MAX_POINTS, MAX_WINDOW, MIN_BASELINE, MIN_WINDOW,
};
pub use ids::{
    CapaId, CharacteristicName, ChartId, InspectionId, LotId, NcrId, OperationNumber, Owner,
    ParameterName, PlanId, ProductId, Text, UnitOfMeasure, ViolationId, WorkUnitId, MAX_ID_LEN,
    MAX_TEXT_LEN, MAX_UNIT_LEN, MAX_VIOLATION_ID_LEN,
};
pub use inspection::{
    Inspection, InspectionCommand, InspectionError, InspectionEvent, InspectionState,
    InspectionStatus, PlanSnapshot, UnitsMade,
};
pub use ncr::{
    Disposition, DispositionLine, InspectionSummary, NcrCommand, NcrError, NcrEvent,
    Nonconformance, NonconformanceState,
};
pub use plan::{InspectionPlan, PlanCommand, PlanError, PlanEvent, PlanState};
pub use spec::{Characteristic, Frequency, Measurement, Spec, SpecError, Value, ValueError};

/// Pieces inspected, rejected, nonconforming or dispositioned, as the field says.
pub use mom_domain::Units;

#[cfg(test)]
mod tests;
