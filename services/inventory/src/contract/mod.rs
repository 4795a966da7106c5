//! The mapping between the inventory domain and its public contract in
//! `proto/mom/inventory/v1`: requests to commands, events to the `InventoryEvent` oneof and
//! aggregate state to the `Lot` / `OrderLots` replies.
//!
//! Invariant: pure and total. No I/O, no clock; every field problem becomes a [`RequestError`]
//! that names the field, never a panic.

use chrono::{DateTime, Utc};
use mom_domain::{parse_context, InvalidField, RawContext};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::time::{from_timestamp, to_timestamp, TimestampError};
use thiserror::Error;

use crate::domain::{
    ErrorKind, HoldRef, IdempotencyKey, InvalidId, LocationCommand, LocationEvent, LocationId, Lot,
    LotCommand, LotError, LotEvent, LotId, MaterialCommand, MaterialEvent, MaterialId, OrderId,
    OrderLots, OrderLotsError, OrderLotsEvent, Quantity, StarvationCause, SupplyCommand,
    SupplyEvent, Text, Versioned, WorkUnitId, WorkUnitSupply,
};
use crate::genealogy::{Direction, Link, MAX_DEPTH};

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

/// A request field that is missing or malformed; always reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A required field is empty or unset.
    #[error("field {field} is required")]
    Missing { field: String },
    /// A signed quantity is negative.
    #[error("field {field} must not be negative, got {value}")]
    Negative { field: String, value: i64 },
    /// A timestamp is outside the representable range.
    #[error("field {field} is not a valid timestamp")]
    BadTimestamp { field: String },
    /// An id or text is malformed.
    #[error("field {field} is invalid: {source}")]
    Invalid {
        field: String,
        #[source]
        source: InvalidId,
    },
    /// An enum field holds an unknown or unspecified value.
    #[error("field {field} must be one of {allowed}, got {value}")]
    BadEnum {
        field: String,
        allowed: &'static str,
        value: i32,
    },
    /// A field set together with a flag that excludes it.
    #[error("field {field} must be empty when {with} is set")]
    Conflicting { field: String, with: &'static str },
    /// A depth beyond the limit.
    #[error("field {field} must be at most {max}, got {value}")]
    TooLarge { field: String, max: u32, value: u32 },
}

impl RequestError {
    /// Returns the name of the offending field (`at`, `input_lots[1]`, ...).
    pub fn field(&self) -> &str {
        match self {
            RequestError::Missing { field }
            | RequestError::Negative { field, .. }
            | RequestError::BadTimestamp { field }
            | RequestError::Invalid { field, .. }
            | RequestError::BadEnum { field, .. }
            | RequestError::Conflicting { field, .. }
            | RequestError::TooLarge { field, .. } => field,
        }
    }

    /// Returns the class of the error: always [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl From<TimestampError> for RequestError {
    fn from(err: TimestampError) -> Self {
        match err {
            TimestampError::Missing { field } => RequestError::Missing {
                field: field.to_owned(),
            },
            TimestampError::OutOfRange { field } => RequestError::BadTimestamp {
                field: field.to_owned(),
            },
        }
    }
}

/// A request turned into a domain command: the target aggregate, the command with the caller's
/// guards, and the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand<I, C> {
    /// The aggregate the command is for (its `Display` is the aggregate id in the store).
    pub id: I,
    /// The command, with the request's expected version and idempotency key when given.
    pub command: Versioned<C>,
    /// Who sent it.
    pub caller: Caller,
}

/// A parsed material request.
pub type MaterialRequest = ParsedCommand<MaterialId, MaterialCommand>;
/// A parsed location request.
pub type LocationRequest = ParsedCommand<LocationId, LocationCommand>;
/// A parsed lot request.
pub type LotRequest = ParsedCommand<LotId, LotCommand>;
/// A parsed work unit supply request.
pub type SupplyRequest = ParsedCommand<WorkUnitId, SupplyCommand>;

// Requests to commands.

/// Parses `DefineMaterial`.
pub fn define_material(req: pb::DefineMaterialRequest) -> Result<MaterialRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let material = id(req.material, "material", MaterialId::new)?;
    let command = MaterialCommand::Define {
        material: material.clone(),
        name: text(req.name, "name")?,
        unit: text(req.unit, "unit")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(material, command, guards, caller))
}

/// Parses `DefineLocation`.
pub fn define_location(req: pb::DefineLocationRequest) -> Result<LocationRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let location = id(req.location, "location", LocationId::new)?;
    let command = LocationCommand::Define {
        location: location.clone(),
        name: text(req.name, "name")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(location, command, guards, caller))
}

/// Parses `ReceiveLot`; a negative quantity is rejected here, zero by the lot.
pub fn receive_lot(req: pb::ReceiveLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Receive {
        lot: lot.clone(),
        material: id(req.material, "material", MaterialId::new)?,
        supplier_lot: optional_text(req.supplier_lot, "supplier_lot")?,
        expiry: optional_at(req.expiry.as_ref(), "expiry")?,
        location: id(req.location, "location", LocationId::new)?,
        quantity: quantity(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `MoveLot`.
pub fn move_lot(req: pb::MoveLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Move {
        from: id(req.from_location, "from_location", LocationId::new)?,
        to: id(req.to_location, "to_location", LocationId::new)?,
        quantity: quantity(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `ConsumeLot`.
pub fn consume_lot(req: pb::ConsumeLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Consume {
        order: order_id(&req.order_id)?,
        work_unit: id(req.work_unit, "work_unit", WorkUnitId::new)?,
        location: id(req.location, "location", LocationId::new)?,
        quantity: quantity(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `ProduceLot`; an empty `lot` takes the order id. Empty `input_lots` stay empty here:
/// the service fills in the lots the order consumed.
pub fn produce_lot(req: pb::ProduceLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let order = order_id(&req.order_id)?;
    let lot = match req.lot.as_str() {
        "" => LotId::new(order.to_string()).map_err(|source| invalid("order_id", source))?,
        _ => id(req.lot, "lot", LotId::new)?,
    };
    let inputs = req
        .input_lots
        .into_iter()
        .enumerate()
        .map(|(index, input)| id(input, &format!("input_lots[{index}]"), LotId::new))
        .collect::<Result<Vec<_>, _>>()?;
    let command = LotCommand::Produce {
        lot: lot.clone(),
        material: id(req.material, "material", MaterialId::new)?,
        order,
        work_unit: optional_id(req.work_unit, "work_unit", WorkUnitId::new)?,
        location: id(req.location, "location", LocationId::new)?,
        quantity: quantity(req.quantity, "quantity")?,
        inputs,
        expiry: optional_at(req.expiry.as_ref(), "expiry")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `HoldLot`.
pub fn hold_lot(req: pb::HoldLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Hold {
        hold: id(req.hold, "hold", HoldRef::new)?,
        reason: text(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `ReleaseHold`.
pub fn release_hold(req: pb::ReleaseHoldRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = LotCommand::ReleaseHold {
        hold: id(req.hold, "hold", HoldRef::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `ScrapLot`; with `all`, neither a location nor a quantity may be given.
pub fn scrap_lot(req: pb::ScrapLotRequest) -> Result<LotRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let lot = id(req.lot, "lot", LotId::new)?;
    let command = if req.all {
        if !req.location.is_empty() {
            return Err(RequestError::Conflicting {
                field: "location".to_owned(),
                with: "all",
            });
        }
        if req.quantity != 0 {
            return Err(RequestError::Conflicting {
                field: "quantity".to_owned(),
                with: "all",
            });
        }
        LotCommand::ScrapAll {
            reason: text(req.reason, "reason")?,
            at: at(req.at.as_ref(), "at")?,
        }
    } else {
        LotCommand::Scrap {
            location: id(req.location, "location", LocationId::new)?,
            quantity: quantity(req.quantity, "quantity")?,
            reason: text(req.reason, "reason")?,
            at: at(req.at.as_ref(), "at")?,
        }
    };
    Ok(parsed(lot, command, guards, caller))
}

/// Parses `StartStarvation` (a reported starvation).
pub fn start_starvation(req: pb::StartStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let work_unit = id(req.work_unit, "work_unit", WorkUnitId::new)?;
    let order = match req.order_id.as_str() {
        "" => None,
        value => Some(order_id(value)?),
    };
    let command = SupplyCommand::StartStarvation {
        work_unit: work_unit.clone(),
        material: id(req.material, "material", MaterialId::new)?,
        order,
        cause: StarvationCause::Reported,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(work_unit, command, guards, caller))
}

/// Parses `EndStarvation`.
pub fn end_starvation(req: pb::EndStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let work_unit = id(req.work_unit, "work_unit", WorkUnitId::new)?;
    let command = SupplyCommand::EndStarvation {
        work_unit: work_unit.clone(),
        material: id(req.material, "material", MaterialId::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(work_unit, command, guards, caller))
}

/// Parses `ReportStarvation` (a reported interval).
pub fn report_starvation(req: pb::ReportStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let (caller, guards) = caller(req.context)?;
    let work_unit = id(req.work_unit, "work_unit", WorkUnitId::new)?;
    let order = match req.order_id.as_str() {
        "" => None,
        value => Some(order_id(value)?),
    };
    let command = SupplyCommand::ReportStarvation {
        work_unit: work_unit.clone(),
        material: id(req.material, "material", MaterialId::new)?,
        order,
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
    };
    Ok(parsed(work_unit, command, guards, caller))
}

/// Parses the work unit id of `GetWorkUnitSupply`.
pub fn get_work_unit_supply(
    req: &pb::GetWorkUnitSupplyRequest,
) -> Result<WorkUnitId, RequestError> {
    id(req.work_unit.clone(), "work_unit", WorkUnitId::new)
}

/// Parses the lot id of `GetLot`.
pub fn get_lot(req: &pb::GetLotRequest) -> Result<LotId, RequestError> {
    id(req.lot.clone(), "lot", LotId::new)
}

/// Parses the order id of `GetOrderLots`.
pub fn get_order_lots(req: &pb::GetOrderLotsRequest) -> Result<OrderId, RequestError> {
    order_id(&req.order_id)
}

/// Parses `GetGenealogy`: the lot, the direction and the depth (0 = [`MAX_DEPTH`]).
pub fn get_genealogy(
    req: &pb::GetGenealogyRequest,
) -> Result<(LotId, Direction, u32), RequestError> {
    let lot = id(req.lot.clone(), "lot", LotId::new)?;
    let direction = match pb::GenealogyDirection::try_from(req.direction) {
        Ok(pb::GenealogyDirection::Backward) => Direction::Backward,
        Ok(pb::GenealogyDirection::Forward) => Direction::Forward,
        _ => {
            return Err(RequestError::BadEnum {
                field: "direction".to_owned(),
                allowed: "GENEALOGY_DIRECTION_BACKWARD or GENEALOGY_DIRECTION_FORWARD",
                value: req.direction,
            })
        }
    };
    let depth = match req.max_depth {
        0 => MAX_DEPTH,
        depth if depth > MAX_DEPTH => {
            return Err(RequestError::TooLarge {
                field: "max_depth".to_owned(),
                max: MAX_DEPTH,
                value: depth,
            })
        }
        depth => depth,
    };
    Ok((lot, direction, depth))
}

// Events to the oneof.

/// Maps a material event to its `InventoryEvent.event` case.
pub fn material_event_to_proto(event: &MaterialEvent) -> Event {
    match event {
        MaterialEvent::MaterialDefined {
            material,
            name,
            unit,
            at,
        } => Event::MaterialDefined(pb::MaterialDefined {
            material: material.to_string(),
            name: name.to_string(),
            unit: unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Maps a location event to its `InventoryEvent.event` case.
pub fn location_event_to_proto(event: &LocationEvent) -> Event {
    match event {
        LocationEvent::LocationDefined { location, name, at } => {
            Event::LocationDefined(pb::LocationDefined {
                location: location.to_string(),
                name: name.to_string(),
                at: Some(to_timestamp(*at)),
            })
        }
    }
}

/// Maps a lot event to its `InventoryEvent.event` case.
pub fn lot_event_to_proto(event: &LotEvent) -> Event {
    match event {
        LotEvent::LotReceived {
            lot,
            material,
            supplier_lot,
            expiry,
            location,
            quantity,
            at,
        } => Event::LotReceived(pb::LotReceived {
            lot: lot.to_string(),
            material: material.to_string(),
            supplier_lot: optional_string(supplier_lot.as_ref()),
            expiry: expiry.map(to_timestamp),
            location: location.to_string(),
            quantity: quantity.0,
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotMoved {
            lot,
            material,
            from,
            to,
            quantity,
            at,
        } => Event::LotMoved(pb::LotMoved {
            lot: lot.to_string(),
            material: material.to_string(),
            from_location: from.to_string(),
            to_location: to.to_string(),
            quantity: quantity.0,
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotConsumed {
            lot,
            material,
            order,
            work_unit,
            location,
            quantity,
            at,
        } => Event::LotConsumed(pb::LotConsumed {
            lot: lot.to_string(),
            material: material.to_string(),
            order_id: order.to_string(),
            work_unit: work_unit.to_string(),
            location: location.to_string(),
            quantity: quantity.0,
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotProduced {
            lot,
            material,
            order,
            work_unit,
            location,
            quantity,
            inputs,
            expiry,
            at,
        } => Event::LotProduced(pb::LotProduced {
            lot: lot.to_string(),
            material: material.to_string(),
            order_id: order.to_string(),
            work_unit: optional_string(work_unit.as_ref()),
            location: location.to_string(),
            quantity: quantity.0,
            input_lots: inputs.iter().map(ToString::to_string).collect(),
            expiry: expiry.map(to_timestamp),
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotHeld {
            lot,
            material,
            hold,
            reason,
            at,
        } => Event::LotHeld(pb::LotHeld {
            lot: lot.to_string(),
            material: material.to_string(),
            hold: hold.to_string(),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotHoldReleased {
            lot,
            material,
            hold,
            still_held,
            at,
        } => Event::LotHoldReleased(pb::LotHoldReleased {
            lot: lot.to_string(),
            material: material.to_string(),
            hold: hold.to_string(),
            still_held: *still_held,
            at: Some(to_timestamp(*at)),
        }),
        LotEvent::LotScrapped {
            lot,
            material,
            location,
            quantity,
            reason,
            at,
        } => Event::LotScrapped(pb::LotScrapped {
            lot: lot.to_string(),
            material: material.to_string(),
            location: location.to_string(),
            quantity: quantity.0,
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Maps an order lots event to its `InventoryEvent.event` case.
pub fn order_lots_event_to_proto(event: &OrderLotsEvent) -> Event {
    match event {
        OrderLotsEvent::OrderInputLinked {
            order,
            lot,
            material,
            quantity,
            work_unit,
            at,
        } => Event::OrderInputLinked(pb::OrderInputLinked {
            order_id: order.to_string(),
            lot: lot.to_string(),
            material: material.to_string(),
            quantity: quantity.0,
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        OrderLotsEvent::OrderOutputLinked {
            order,
            lot,
            material,
            quantity,
            inputs,
            at,
        } => Event::OrderOutputLinked(pb::OrderOutputLinked {
            order_id: order.to_string(),
            lot: lot.to_string(),
            material: material.to_string(),
            quantity: quantity.0,
            input_lots: inputs.iter().map(ToString::to_string).collect(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Maps a work unit supply event to its `InventoryEvent.event` case.
pub fn supply_event_to_proto(event: &SupplyEvent) -> Event {
    match event {
        SupplyEvent::MaterialStarvationStarted {
            work_unit,
            material,
            order,
            cause,
            at,
        } => Event::MaterialStarvationStarted(pb::MaterialStarvationStarted {
            work_unit: work_unit.to_string(),
            material: material.to_string(),
            order_id: optional_string(order.as_ref()),
            cause: match cause {
                StarvationCause::Reported => pb::StarvationCause::Reported,
                StarvationCause::ConsumeNotServed => pb::StarvationCause::ConsumeNotServed,
            }
            .into(),
            at: Some(to_timestamp(*at)),
        }),
        SupplyEvent::MaterialStarvationEnded {
            work_unit,
            material,
            order,
            from,
            until,
        } => Event::MaterialStarvationEnded(pb::MaterialStarvationEnded {
            work_unit: work_unit.to_string(),
            material: material.to_string(),
            order_id: optional_string(order.as_ref()),
            from: Some(to_timestamp(*from)),
            until: Some(to_timestamp(*until)),
            at: Some(to_timestamp(*until)),
        }),
    }
}

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

// Aggregate state to replies.

/// Returns the `GetLot` reply for `lot` at its version, or [`LotError::NotFound`] when it was
/// never received or produced.
pub fn lot_reply(lot: &Lot) -> Result<pb::Lot, LotError> {
    let state = lot.state().as_ref().ok_or(LotError::NotFound)?;
    Ok(pb::Lot {
        lot: state.id().to_string(),
        material: state.material().to_string(),
        supplier_lot: optional_string(state.supplier_lot()),
        expiry: state.expiry().map(to_timestamp),
        quantities: state
            .quantities()
            .iter()
            .map(|(location, quantity)| pb::LocationQuantity {
                location: location.to_string(),
                quantity: quantity.0,
            })
            .collect(),
        total: state.total().0,
        holds: state
            .holds()
            .iter()
            .map(|(hold, active)| pb::ActiveHold {
                hold: hold.to_string(),
                reason: active.reason.to_string(),
                since: Some(to_timestamp(active.since)),
            })
            .collect(),
        produced_by_order: optional_string(state.produced_by().as_ref()),
        input_lots: state.inputs().iter().map(ToString::to_string).collect(),
        consumed_by_orders: state
            .consumed_by()
            .iter()
            .map(ToString::to_string)
            .collect(),
        version: lot.version(),
    })
}

/// Returns the `GetOrderLots` reply, or [`OrderLotsError::NotFound`] when the order has no lots.
pub fn order_lots_reply(lots: &OrderLots) -> Result<pb::OrderLots, OrderLotsError> {
    let state = lots.state();
    let order = state.order().ok_or(OrderLotsError::NotFound)?;
    let to_proto = |(lot, entry): (&LotId, &crate::domain::OrderLot)| pb::OrderLot {
        lot: lot.to_string(),
        material: entry.material.to_string(),
        quantity: entry.quantity.0,
        work_unit: optional_string(entry.work_unit.as_ref()),
    };
    Ok(pb::OrderLots {
        order_id: order.to_string(),
        inputs: state.inputs().iter().map(to_proto).collect(),
        outputs: state.outputs().iter().map(to_proto).collect(),
        version: lots.version(),
    })
}

/// Returns the `GetWorkUnitSupply` reply; a work unit inventory never heard of waits for
/// nothing.
pub fn work_unit_supply_reply(
    work_unit: &WorkUnitId,
    supply: &WorkUnitSupply,
) -> pb::WorkUnitSupply {
    pb::WorkUnitSupply {
        work_unit: work_unit.to_string(),
        starving: supply
            .state()
            .starving()
            .iter()
            .map(|(material, starving)| pb::Starvation {
                material: material.to_string(),
                since: Some(to_timestamp(starving.since)),
                order_id: optional_string(starving.order.as_ref()),
                reported: starving.cause == StarvationCause::Reported,
            })
            .collect(),
        version: supply.version(),
    }
}

/// Returns the `GetGenealogy` reply.
pub fn genealogy_reply(lot: &LotId, direction: Direction, links: &[Link]) -> pb::Genealogy {
    pb::Genealogy {
        lot: lot.to_string(),
        direction: match direction {
            Direction::Backward => pb::GenealogyDirection::Backward,
            Direction::Forward => pb::GenealogyDirection::Forward,
        }
        .into(),
        links: links
            .iter()
            .map(|link| pb::GenealogyLink {
                input_lot: link.input.to_string(),
                output_lot: link.output.to_string(),
                order_id: optional_string(link.order.as_ref()),
                depth: link.depth,
            })
            .collect(),
    }
}

/// Returns the reply to an accepted command.
pub fn command_reply(aggregate_id: &impl ToString, version: u64) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
    }
}

// Field helpers.

/// The guards a request's context sets on its command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Guards {
    expected_version: Option<u64>,
    idempotency_key: Option<IdempotencyKey>,
}

fn parsed<I, C>(id: I, command: C, guards: Guards, caller: Caller) -> ParsedCommand<I, C> {
    ParsedCommand {
        id,
        command: Versioned {
            command,
            expected_version: guards.expected_version,
            idempotency_key: guards.idempotency_key,
        },
        caller,
    }
}

fn caller(context: Option<pb::CommandContext>) -> Result<(Caller, Guards), RequestError> {
    let context = context.unwrap_or_default();
    let raw = RawContext {
        actor: context.actor,
        correlation_id: context.correlation_id,
        causation_id: context.causation_id,
        idempotency_key: context.idempotency_key,
        expected_version: context.expected_version,
    };
    let context = parse_context(raw, IdempotencyKey::new).map_err(invalid_field)?;
    Ok((
        context.caller,
        Guards {
            expected_version: context.expected_version,
            idempotency_key: context.idempotency_key,
        },
    ))
}

/// Maps a malformed field of the command context to the request error naming it.
fn invalid_field(err: InvalidField) -> RequestError {
    invalid(err.field, err.source)
}

fn at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, RequestError> {
    Ok(from_timestamp(timestamp, field)?)
}

fn optional_at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, RequestError> {
    match timestamp {
        None => Ok(None),
        Some(timestamp) => at(Some(timestamp), field).map(Some),
    }
}

fn id<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    parse(value).map_err(|source| invalid(field, source))
}

fn optional_id<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<Option<T>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    parse(value)
        .map(Some)
        .map_err(|source| invalid(field, source))
}

fn text(value: String, field: &str) -> Result<Text, RequestError> {
    if value.trim().is_empty() {
        return Err(missing(field));
    }
    Text::new(value).map_err(|source| invalid(field, source))
}

fn optional_text(value: String, field: &str) -> Result<Option<Text>, RequestError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    text(value, field).map(Some)
}

fn order_id(value: &str) -> Result<OrderId, RequestError> {
    if value.is_empty() {
        return Err(missing("order_id"));
    }
    value.parse().map_err(|source| invalid("order_id", source))
}

fn quantity(value: i64, field: &str) -> Result<Quantity, RequestError> {
    u64::try_from(value)
        .map(Quantity)
        .map_err(|_| RequestError::Negative {
            field: field.to_owned(),
            value,
        })
}

fn optional_string(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

fn missing(field: &str) -> RequestError {
    RequestError::Missing {
        field: field.to_owned(),
    }
}

fn invalid(field: &str, source: InvalidId) -> RequestError {
    RequestError::Invalid {
        field: field.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
