//! The production order aggregate (`production_order`): an order to make a quantity of one
//! product through an ordered routing of operations, each run on one eligible work unit.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time `at`.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Operation, OperationStatus, OrderState, OrderStatus, ProductionOrder};
pub use commands::{OrderCommand, RoutingOperation};
pub use error::OrderError;
pub use events::OrderEvent;
