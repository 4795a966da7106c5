//! The production domain: the `production_order` and `work_unit` aggregates, their commands,
//! events and errors. `decide` holds every business rule, `evolve` only folds events; the
//! `cqrs_es::Aggregate` impls forward to them.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod error;
mod ids;
mod order;
mod quantity;
mod versioned;
mod work_unit;

pub use error::ErrorKind;
pub use ids::{
    InvalidId, OperationNumber, OrderId, ProductId, Reason, WorkUnitId, MAX_ID_LEN, MAX_REASON_LEN,
};
pub use order::{
    Operation, OperationStatus, OrderCommand, OrderError, OrderEvent, OrderState, OrderStatus,
    ProductionOrder, RoutingOperation,
};
pub use quantity::{Millis, Units};
pub use versioned::Versioned;
pub use work_unit::{
    MachineState, WorkUnit, WorkUnitCommand, WorkUnitError, WorkUnitEvent, WorkUnitState,
    DEFAULT_MICRO_STOP_THRESHOLD, DEFAULT_STARTUP_WINDOW,
};
