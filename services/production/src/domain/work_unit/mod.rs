//! The work unit aggregate (`work_unit`): one piece of ISA-95 equipment with its running /
//! stopped / setup / unknown (disconnected) state, the product it makes, its piece counts, ideal cycle times and the
//! settings the OEE projection reads (micro-stop threshold, startup window).
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::OperationLink;
pub use aggregate::{Download, MachineState, WorkUnit, WorkUnitState};
pub use commands::{WorkUnitCommand, DEFAULT_MICRO_STOP_THRESHOLD, DEFAULT_STARTUP_WINDOW};
pub use error::WorkUnitError;
pub use events::WorkUnitEvent;
