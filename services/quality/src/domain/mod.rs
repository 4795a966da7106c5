//! The quality domain: the `inspection_plan`, `inspection`, `nonconformance` and `capa`
//! aggregates, their commands, events and errors. `decide` holds every business rule, `evolve`
//! only folds events; every aggregate is a [`Tracked`] state, whose `cqrs_es::Aggregate` impl
//! checks the idempotency key and expected version and forwards to them.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod capa;
mod error;
mod ids;
mod inspection;
mod ncr;
mod plan;
mod quantity;
mod spec;
mod tracked;
mod versioned;

pub use capa::{Capa, CapaCommand, CapaError, CapaEvent, CapaKind, CapaState, CapaStatus};
pub use error::{DomainError, ErrorKind, GuardRejection};
pub use ids::{
    CapaId, CharacteristicName, IdempotencyKey, InspectionId, InvalidId, LotId, NcrId,
    OperationNumber, Owner, PlanId, ProductId, Text, UnitOfMeasure, WorkUnitId, MAX_ID_LEN,
    MAX_TEXT_LEN, MAX_UNIT_LEN,
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
pub use quantity::Units;
pub use spec::{Characteristic, Frequency, Measurement, Spec, SpecError, Value, ValueError};
pub use tracked::{Fact, Lifecycle, Recorded, SeenKeys, Tracked, KEPT_KEYS};
pub use versioned::Versioned;
