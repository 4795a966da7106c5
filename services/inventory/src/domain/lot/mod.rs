//! The lot aggregate (`lot`): an amount of one material with one history, spread over locations.
//! A lot is received from a supplier or produced by a production order from input lots (its
//! genealogy), then moved, consumed by orders, held and scrapped.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time `at`.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Hold, Lot, LotState};
pub use commands::LotCommand;
pub use error::LotError;
pub use events::LotEvent;
