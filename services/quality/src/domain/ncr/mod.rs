//! The nonconformance aggregate (`nonconformance`, an NCR): nonconforming units of a product,
//! opened from a failed inspection or by hand, contained by lot, dispositioned (scrap, rework,
//! use as is, return to supplier) and closed. No disposition quantity exceeds the nonconforming
//! quantity still undisposed, and an NCR closes only when every unit is dispositioned.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time, and a source
//! inspection arrives as a summary the caller loaded.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{DispositionLine, Nonconformance, NonconformanceState};
pub use commands::{Disposition, InspectionSummary, NcrCommand};
pub use error::NcrError;
pub use events::NcrEvent;
