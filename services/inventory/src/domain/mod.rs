//! The inventory domain: the `material`, `location`, `lot`, `order_lots` and
//! `work_unit_supply` aggregates, their commands, events and errors. Each state type holds its
//! business rules in `decide` and only folds in `evolve`; [`Stream`] adds the version guard and
//! idempotency keys and implements `cqrs_es::Aggregate`.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod error;
mod ids;
mod location;
mod lot;
mod material;
mod order_lots;
mod quantity;
mod stream;
mod supply;

pub use error::ErrorKind;
pub use ids::{
    HoldRef, IdempotencyKey, InvalidId, LocationId, LotId, MaterialId, OrderId, Text, WorkUnitId,
    MAX_ID_LEN, MAX_KEY_LEN, MAX_TEXT_LEN,
};
pub use location::{
    Location, LocationCommand, LocationError, LocationEvent, LocationRules, LocationState,
};
pub use lot::{Hold, Lot, LotCommand, LotError, LotEvent, LotRules, LotState};
pub use material::{
    Material, MaterialCommand, MaterialError, MaterialEvent, MaterialRules, MaterialState,
};
pub use order_lots::{
    OrderLot, OrderLots, OrderLotsCommand, OrderLotsError, OrderLotsEvent, OrderLotsRules,
};
pub use quantity::Quantity;
pub use stream::{Decide, EventName, Recorded, Stream, Versioned, REMEMBERED_KEYS};
pub use supply::{
    StarvationCause, Starving, SupplyCommand, SupplyError, SupplyEvent, SupplyRules, WorkUnitSupply,
};
