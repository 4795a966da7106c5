//! The asset aggregate (`asset`): one node of the ISA-95 equipment hierarchy (enterprise, site,
//! area, work center, work unit) with its parent, move and retirement; work units also carry
//! their usage meters (cycles, run time) and preventive maintenance plans.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time, and facts about
//! other assets (a parent) come in the command, resolved by the application.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Asset, AssetState, Plan, RaisedWorkOrder};
pub use commands::{AssetCommand, ParentRef, MAX_CALENDAR_DAYS, MAX_RUN_HOURS};
pub use error::AssetError;
pub use events::{AssetEvent, AssetLevel, Trigger};
