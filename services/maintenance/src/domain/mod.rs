//! The maintenance domain: the `asset` and `work_order` aggregates, their commands, events and
//! errors. `decide` holds every business rule, `evolve` only folds events; the
//! `cqrs_es::Aggregate` impls forward to them.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod asset;
mod error;
mod ids;
mod quantity;
mod versioned;
mod work_order;

pub use asset::{
    Asset, AssetCommand, AssetError, AssetEvent, AssetLevel, AssetState, ParentRef, Plan,
    RaisedWorkOrder, Trigger, MAX_CALENDAR_DAYS, MAX_RUN_HOURS,
};
pub use error::ErrorKind;
pub use ids::{
    AssetId, Description, FailureMode, IdempotencyKey, InvalidId, PlanId, ProductId, Reason,
    WorkOrderId, MAX_DESCRIPTION_LEN, MAX_ID_LEN, MAX_REASON_LEN,
};
pub use quantity::{Cycles, Millis};
pub use versioned::{IdempotencyLog, Recorded, Versioned, IDEMPOTENCY_KEYS_KEPT};
pub use work_order::{
    Equipment, PlanOccurrence, WorkOrder, WorkOrderCommand, WorkOrderError, WorkOrderEvent,
    WorkOrderKind, WorkOrderState, WorkOrderStatus,
};
