//! The inspection aggregate (`inspection`): units checked against one revision of an inspection
//! plan. It copies the plan's characteristics when it starts, judges every recorded value
//! against its spec (any out-of-spec value rejects the units of that result) and names the
//! inspected units by lot and/or by the equipment and time they were made at, so that a reject
//! found hours later is charged to where and when the unit was made.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time, and the plan
//! arrives as a snapshot the caller loaded.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Inspection, InspectionState, InspectionStatus};
pub use commands::{InspectionCommand, PlanSnapshot, UnitsMade};
pub use error::InspectionError;
pub use events::InspectionEvent;
