//! The CAPA aggregate (`capa`): a corrective or preventive action with an owner and a due
//! date, linked to the NCRs it addresses, implemented and then verified for effectiveness. An
//! effective verification closes it; an ineffective one reopens it for another action.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Capa, CapaState, CapaStatus};
pub use commands::{CapaCommand, CapaKind};
pub use error::CapaError;
pub use events::CapaEvent;
