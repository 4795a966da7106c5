//! The quality domain: the `inspection_plan`, `inspection`, `nonconformance` and `capa`
//! aggregates, their commands, events and errors. `decide` holds every business rule, `evolve`
//! only folds events; every aggregate is a [`mom_domain::Stream`] over an `Option` of a state
//! that implements [`mom_domain::Lifecycle`], so the kernel checks the idempotency key and the
//! expected version before the state decides.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod capa;
mod ids;
mod inspection;
mod ncr;
mod plan;
mod spec;

pub use capa::{Capa, CapaCommand, CapaError, CapaEvent, CapaKind, CapaState, CapaStatus};
pub use ids::{
    CapaId, CharacteristicName, InspectionId, LotId, NcrId, OperationNumber, Owner, PlanId,
    ProductId, Text, UnitOfMeasure, WorkUnitId, MAX_ID_LEN, MAX_TEXT_LEN, MAX_UNIT_LEN,
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
