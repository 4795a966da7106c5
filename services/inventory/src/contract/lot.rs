//! Lots on the wire: receiving, moving, consuming, producing, holding and scrapping them, their
//! events and the `GetLot` reply.

use mom_grpc::{at, guards, optional, optional_at, required, units, RequestError};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::time::to_timestamp;

use super::{optional_string, optional_text, order_id, text, InvalidRequest, LotRequest};
use crate::domain::{
    HoldRef, LocationId, Lot, LotCommand, LotError, LotEvent, LotId, MaterialId, WorkUnitId,
};

/// Parses `ReceiveLot`; a negative quantity is rejected here, zero by the lot.
pub fn receive_lot(req: pb::ReceiveLotRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Receive {
        lot: lot.clone(),
        material: required(req.material, "material", MaterialId::new)?,
        supplier_lot: optional_text(req.supplier_lot, "supplier_lot")?,
        expiry: optional_at(req.expiry.as_ref(), "expiry")?,
        location: required(req.location, "location", LocationId::new)?,
        quantity: units(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `MoveLot`.
pub fn move_lot(req: pb::MoveLotRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Move {
        from: required(req.from_location, "from_location", LocationId::new)?,
        to: required(req.to_location, "to_location", LocationId::new)?,
        quantity: units(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `ConsumeLot`.
pub fn consume_lot(req: pb::ConsumeLotRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Consume {
        order: order_id(&req.order_id)?,
        work_unit: required(req.work_unit, "work_unit", WorkUnitId::new)?,
        location: required(req.location, "location", LocationId::new)?,
        quantity: units(req.quantity, "quantity")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `ProduceLot`; an empty `lot` takes the order id. Empty `input_lots` stay empty here:
/// the service fills in the lots the order consumed.
pub fn produce_lot(req: pb::ProduceLotRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let order = order_id(&req.order_id)?;
    let lot = match req.lot.as_str() {
        "" => {
            LotId::new(order.to_string()).map_err(|source| mom_grpc::invalid("order_id", source))?
        }
        _ => required(req.lot, "lot", LotId::new)?,
    };
    let inputs = mom_grpc::items(req.input_lots, "input_lots", |input, field| {
        required(input, field, LotId::new)
    })?;
    let command = LotCommand::Produce {
        lot: lot.clone(),
        material: required(req.material, "material", MaterialId::new)?,
        order,
        work_unit: optional(req.work_unit, "work_unit", WorkUnitId::new)?,
        location: required(req.location, "location", LocationId::new)?,
        quantity: units(req.quantity, "quantity")?,
        inputs,
        expiry: optional_at(req.expiry.as_ref(), "expiry")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `HoldLot`.
pub fn hold_lot(req: pb::HoldLotRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = LotCommand::Hold {
        hold: required(req.hold, "hold", HoldRef::new)?,
        reason: text(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `ReleaseHold`.
pub fn release_hold(req: pb::ReleaseHoldRequest) -> Result<LotRequest, RequestError> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = LotCommand::ReleaseHold {
        hold: required(req.hold, "hold", HoldRef::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(lot, command))
}

/// Parses `ScrapLot`; with `all`, neither a location nor a quantity may be given.
pub fn scrap_lot(req: pb::ScrapLotRequest) -> Result<LotRequest, InvalidRequest> {
    let guards = guards(req.context)?;
    let lot = required(req.lot, "lot", LotId::new)?;
    let command = if req.all {
        if !req.location.is_empty() {
            return Err(InvalidRequest::Conflicting {
                field: "location".to_owned(),
                with: "all",
            });
        }
        if req.quantity != 0 {
            return Err(InvalidRequest::Conflicting {
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
            location: required(req.location, "location", LocationId::new)?,
            quantity: units(req.quantity, "quantity")?,
            reason: text(req.reason, "reason")?,
            at: at(req.at.as_ref(), "at")?,
        }
    };
    Ok(guards.parsed(lot, command))
}

/// Parses the lot id of `GetLot`.
pub fn get_lot(req: &pb::GetLotRequest) -> Result<LotId, RequestError> {
    required(req.lot.clone(), "lot", LotId::new)
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
