//! The maintenance domain: the `asset` and `work_order` aggregates, their commands, events and
//! errors. Each aggregate is a `mom_domain::Stream` over a state implementing
//! `mom_domain::Lifecycle` (both are created by a command): `decide` holds every business rule,
//! `evolve` only folds events, and the kernel keeps the version and idempotency guards.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod asset;
mod ids;
mod work_order;

pub use asset::{
    Asset, AssetCommand, AssetError, AssetEvent, AssetLevel, AssetState, ParentRef, Plan,
    RaisedWorkOrder, Trigger, MAX_CALENDAR_DAYS, MAX_RUN_HOURS,
};
pub use ids::{
    AssetId, Description, FailureMode, PlanId, ProductId, Reason, WorkOrderId, MAX_DESCRIPTION_LEN,
    MAX_ID_LEN, MAX_REASON_LEN,
};
/// A duration in whole milliseconds (run time).
pub use mom_domain::Millis;
/// A number of machine cycles (pieces counted on a work unit): the kernel's count, stored and
/// shown as a plain number.
pub use mom_domain::Units as Cycles;
pub use work_order::{
    Equipment, PlanOccurrence, WorkOrder, WorkOrderCommand, WorkOrderError, WorkOrderEvent,
    WorkOrderKind, WorkOrderState, WorkOrderStatus,
};
