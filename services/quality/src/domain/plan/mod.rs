//! The inspection plan aggregate (`inspection_plan`): what to check on a product at one
//! operation (characteristics with their specs), on how many units and how often. Revisions
//! replace the checks; a retired plan takes no new inspections.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{InspectionPlan, PlanState};
pub use commands::PlanCommand;
pub use error::PlanError;
pub use events::PlanEvent;
