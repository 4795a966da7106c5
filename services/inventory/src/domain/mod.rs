//! The inventory domain: the `material`, `location`, `lot`, `order_lots` and
//! `work_unit_supply` aggregates, their commands, events and errors. Each aggregate is a
//! [`mom_domain::Stream`] over its state: materials, locations and lots are created by a
//! command ([`mom_domain::Lifecycle`]), an order's genealogy and a work unit's supply exist from
//! their first event ([`mom_domain::Decide`]). The states hold the business rules; the stream
//! adds the version guard and idempotency keys.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod ids;
mod location;
mod lot;
mod material;
mod order_lots;
mod supply;

pub use ids::{
    HoldRef, LocationId, LotId, MaterialId, OrderId, Text, WorkUnitId, MAX_ID_LEN, MAX_TEXT_LEN,
};
pub use location::{Location, LocationCommand, LocationError, LocationEvent, LocationState};
pub use lot::{Hold, Lot, LotCommand, LotError, LotEvent, LotState};
pub use material::{Material, MaterialCommand, MaterialError, MaterialEvent, MaterialState};
/// An amount of one material, in the material's unit of measure.
pub use mom_domain::Units as Quantity;
pub use order_lots::{
    OrderLot, OrderLots, OrderLotsCommand, OrderLotsError, OrderLotsEvent, OrderLotsRules,
};
pub use supply::{
    StarvationCause, Starving, SupplyCommand, SupplyError, SupplyEvent, SupplyRules, WorkUnitSupply,
};

#[cfg(test)]
mod stored;
