//! The mapping between the inventory domain and its public contract in
//! `proto/mom/inventory/v1`: requests to commands, events to the `InventoryEvent` oneof and
//! aggregate state to the replies, one module per area (master data, lots, genealogy, supply).
//!
//! Invariant: pure and total. No I/O, no clock; every field problem becomes a
//! [`RequestError`] (or, for the few checks it has no variant for, an [`InvalidRequest`]) that
//! names the field, never a panic.

mod genealogy;
mod lot;
mod master_data;
mod supply;

use mom_grpc::{ParsedCommand, RequestError};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use thiserror::Error;

pub use genealogy::{
    genealogy_reply, get_genealogy, get_order_lots, order_lots_event_to_proto, order_lots_reply,
};
pub use lot::{
    consume_lot, get_lot, hold_lot, lot_event_to_proto, lot_reply, move_lot, produce_lot,
    receive_lot, release_hold, scrap_lot,
};
pub use master_data::{
    define_location, define_material, location_event_to_proto, material_event_to_proto,
};
pub use supply::{
    end_starvation, get_work_unit_supply, report_starvation, start_starvation,
    supply_event_to_proto, work_unit_supply_reply,
};

use crate::domain::{
    LocationCommand, LocationId, LotCommand, LotId, MaterialCommand, MaterialId, OrderId,
    SupplyCommand, Text, WorkUnitId,
};

/// Every inventory event type, in proto field order: the `ce_type` values on
/// `mom.inventory.v1` and the event types in the store.
pub const EVENT_TYPES: &[&str] = &[
    "MaterialDefined",
    "LocationDefined",
    "LotReceived",
    "LotMoved",
    "LotConsumed",
    "LotProduced",
    "LotHeld",
    "LotHoldReleased",
    "LotScrapped",
    "OrderInputLinked",
    "OrderOutputLinked",
    "MaterialStarvationStarted",
    "MaterialStarvationEnded",
];

/// A malformed request that [`RequestError`] has no variant for: an enum value outside the
/// ones a request allows, two fields that exclude each other, a number above its limit. Like a
/// [`RequestError`], it names the field and is reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidRequest {
    /// A field is missing or malformed.
    #[error(transparent)]
    Field(#[from] RequestError),
    /// An enum field holds an unknown or unspecified value.
    #[error("field {field} must be one of {allowed}, got {value}")]
    NotAllowed {
        field: String,
        allowed: &'static str,
        value: i32,
    },
    /// A field set together with a flag that excludes it.
    #[error("field {field} must be empty when {with} is set")]
    Conflicting { field: String, with: &'static str },
    /// A number beyond its limit.
    #[error("field {field} must be at most {max}, got {value}")]
    TooLarge { field: String, max: u32, value: u32 },
}

impl InvalidRequest {
    /// Returns the name of the offending field (`direction`, `quantity`, ...).
    pub fn field(&self) -> &str {
        match self {
            InvalidRequest::Field(err) => err.field(),
            InvalidRequest::NotAllowed { field, .. }
            | InvalidRequest::Conflicting { field, .. }
            | InvalidRequest::TooLarge { field, .. } => field,
        }
    }
}

impl From<InvalidRequest> for tonic::Status {
    fn from(err: InvalidRequest) -> Self {
        mom_grpc::invalid_argument(err.field(), err.to_string())
    }
}

/// A parsed material request.
pub type MaterialRequest = ParsedCommand<MaterialId, MaterialCommand>;
/// A parsed location request.
pub type LocationRequest = ParsedCommand<LocationId, LocationCommand>;
/// A parsed lot request.
pub type LotRequest = ParsedCommand<LotId, LotCommand>;
/// A parsed work unit supply request.
pub type SupplyRequest = ParsedCommand<WorkUnitId, SupplyCommand>;

/// Returns the event type (proto message name) of an `InventoryEvent.event` case; one of
/// [`EVENT_TYPES`].
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::MaterialDefined(_) => "MaterialDefined",
        Event::LocationDefined(_) => "LocationDefined",
        Event::LotReceived(_) => "LotReceived",
        Event::LotMoved(_) => "LotMoved",
        Event::LotConsumed(_) => "LotConsumed",
        Event::LotProduced(_) => "LotProduced",
        Event::LotHeld(_) => "LotHeld",
        Event::LotHoldReleased(_) => "LotHoldReleased",
        Event::LotScrapped(_) => "LotScrapped",
        Event::OrderInputLinked(_) => "OrderInputLinked",
        Event::OrderOutputLinked(_) => "OrderOutputLinked",
        Event::MaterialStarvationStarted(_) => "MaterialStarvationStarted",
        Event::MaterialStarvationEnded(_) => "MaterialStarvationEnded",
    }
}

/// Returns the reply to an accepted (or repeated) command: the aggregate id and its version
/// after the command.
pub fn command_reply(aggregate_id: &impl ToString, version: u64) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
    }
}

// Field helpers shared by the area modules.

/// Parses a required free text; a blank one counts as missing.
fn text(value: String, field: &str) -> Result<Text, RequestError> {
    if value.trim().is_empty() {
        return Err(mom_grpc::missing(field));
    }
    Text::new(value).map_err(|source| mom_grpc::invalid(field, source))
}

/// Parses an optional free text; a blank one counts as absent.
fn optional_text(value: String, field: &str) -> Result<Option<Text>, RequestError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    text(value, field).map(Some)
}

/// Parses the required `order_id`.
fn order_id(value: &str) -> Result<OrderId, RequestError> {
    mom_grpc::uuid_id(value, "order_id")
}

/// Parses an optional `order_id` (empty = none).
fn optional_order_id(value: &str) -> Result<Option<OrderId>, RequestError> {
    match value {
        "" => Ok(None),
        value => order_id(value).map(Some),
    }
}

/// Returns the wire form of an optional value: empty when absent.
fn optional_string(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests;
