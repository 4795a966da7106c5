//! Genealogy on the wire: the events and reply of an order's lots, and walking a lot's
//! genealogy.

use mom_grpc::RequestError;
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::time::to_timestamp;

use super::{optional_string, order_id, InvalidRequest};
use crate::domain::{LotId, OrderId, OrderLot, OrderLots, OrderLotsError, OrderLotsEvent};
use crate::genealogy::{Direction, Walked, MAX_DEPTH};

/// Parses the order id of `GetOrderLots`.
pub fn get_order_lots(req: &pb::GetOrderLotsRequest) -> Result<OrderId, RequestError> {
    order_id(&req.order_id)
}

/// Parses `GetGenealogy`: the lot, the direction and the depth (0 = [`MAX_DEPTH`]).
pub fn get_genealogy(
    req: &pb::GetGenealogyRequest,
) -> Result<(LotId, Direction, u32), InvalidRequest> {
    let lot = mom_grpc::required(req.lot.clone(), "lot", LotId::new)?;
    let direction = match pb::GenealogyDirection::try_from(req.direction) {
        Ok(pb::GenealogyDirection::Backward) => Direction::Backward,
        Ok(pb::GenealogyDirection::Forward) => Direction::Forward,
        _ => {
            return Err(InvalidRequest::NotAllowed {
                field: "direction".to_owned(),
                allowed: "GENEALOGY_DIRECTION_BACKWARD or GENEALOGY_DIRECTION_FORWARD",
                value: req.direction,
            })
        }
    };
    let depth = match req.max_depth {
        0 => MAX_DEPTH,
        depth if depth > MAX_DEPTH => {
            return Err(InvalidRequest::TooLarge {
                field: "max_depth".to_owned(),
                max: MAX_DEPTH,
                value: depth,
            })
        }
        depth => depth,
    };
    Ok((lot, direction, depth))
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

/// Returns the `GetOrderLots` reply, or [`OrderLotsError::NotFound`] when the order has no lots.
pub fn order_lots_reply(lots: &OrderLots) -> Result<pb::OrderLots, OrderLotsError> {
    let state = lots.state();
    let order = state.order().ok_or(OrderLotsError::NotFound)?;
    let to_proto = |(lot, entry): (&LotId, &OrderLot)| pb::OrderLot {
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

/// Returns the `GetGenealogy` reply.
pub fn genealogy_reply(lot: &LotId, direction: Direction, walked: &Walked) -> pb::Genealogy {
    pb::Genealogy {
        lot: lot.to_string(),
        direction: match direction {
            Direction::Backward => pb::GenealogyDirection::Backward,
            Direction::Forward => pb::GenealogyDirection::Forward,
        }
        .into(),
        truncated: walked.truncated,
        links: walked
            .links
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
