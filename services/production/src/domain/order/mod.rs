//! The production order aggregate (`production_order`): an order to make a quantity of one
//! product through an ordered routing of operations, each run on one eligible work unit.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time `at`.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{
    Operation, OperationStatus, OrderState, OrderStatus, ProductionOrder, MAX_POSITION,
};
pub use commands::{DueChange, OrderCommand, RoutingOperation, StartingUnit};
pub use error::OrderError;
pub use events::OrderEvent;
