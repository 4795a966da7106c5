//! The work order aggregate (`work_order`): corrective work from a breakdown report (failure
//! mode, failure start, repair start and end) and preventive work (by hand or from a due plan),
//! through requested → scheduled → in progress → done / cancelled.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time, and what the
//! asset registry knows about the work unit comes in the command, resolved by the application.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{WorkOrder, WorkOrderKind, WorkOrderState, WorkOrderStatus};
pub use commands::{Equipment, PlanOccurrence, WorkOrderCommand};
pub use error::WorkOrderError;
pub use events::WorkOrderEvent;
