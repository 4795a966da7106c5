//! Reason codes (aggregate `reason_catalogue`, id = the site): a hierarchical catalogue per
//! site, category → reason, each reason with the six-loss class it belongs to and the aliases
//! that resolve to it, plus the site's policy for codes it does not know (refuse, or map to
//! `unassigned`). Stops are checked against it when they are reported (docs/reason-codes.md).
//!
//! Codes are normalized before anything compares them ([`normalize`]): "Jam", " jam " and
//! "JAM" are one code. A retired reason stays in the catalogue, so history keeps its name and
//! category, but new reports may no longer use it.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;
mod ids;

pub use aggregate::{ReasonCatalogue, ReasonCatalogueState, ReasonDefinition, Resolution};
pub use commands::ReasonCatalogueCommand;
pub use error::ReasonCatalogueError;
pub use events::ReasonCatalogueEvent;
pub use ids::{
    normalize, LossClass, ReasonCode, SiteId, UnknownReasonPolicy, MAX_ALIASES, UNASSIGNED,
};
