//! The order lots aggregate (`order_lots`, id = production order id): the genealogy of one
//! production order, the lots it consumed (inputs) and the lots it made (outputs). It is the index
//! that answers "which lots did this order use" when an output lot names no inputs, and "where did
//! this lot go" when walking a genealogy forward.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mom_domain::{Decide, DomainError, ErrorKind, EventType, Stream, Timed};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::ids::{LotId, MaterialId, OrderId, WorkUnitId};
use crate::domain::Quantity;

/// A request to change an order's genealogy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderLotsCommand {
    /// The order consumed `quantity` of `lot` on `work_unit`.
    LinkInput {
        order: OrderId,
        lot: LotId,
        material: MaterialId,
        quantity: Quantity,
        work_unit: WorkUnitId,
        at: DateTime<Utc>,
    },
    /// The order made output lot `lot` from `inputs`; linking the same output again changes
    /// nothing.
    LinkOutput {
        order: OrderId,
        lot: LotId,
        material: MaterialId,
        quantity: Quantity,
        inputs: Vec<LotId>,
        at: DateTime<Utc>,
    },
}

impl Timed for OrderLotsCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            OrderLotsCommand::LinkInput { at, .. } | OrderLotsCommand::LinkOutput { at, .. } => *at,
        }
    }
}

/// A fact about an order's genealogy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderLotsEvent {
    /// A consumed lot became an input of the order.
    OrderInputLinked {
        order: OrderId,
        lot: LotId,
        material: MaterialId,
        quantity: Quantity,
        work_unit: WorkUnitId,
        at: DateTime<Utc>,
    },
    /// An output lot joined the order's genealogy.
    OrderOutputLinked {
        order: OrderId,
        lot: LotId,
        material: MaterialId,
        quantity: Quantity,
        inputs: Vec<LotId>,
        at: DateTime<Utc>,
    },
}

impl OrderLotsEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &["OrderInputLinked", "OrderOutputLinked"];
}

impl EventType for OrderLotsEvent {
    fn type_name(&self) -> &'static str {
        match self {
            OrderLotsEvent::OrderInputLinked { .. } => "OrderInputLinked",
            OrderLotsEvent::OrderOutputLinked { .. } => "OrderOutputLinked",
        }
    }
}

/// A rejected order lots command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderLotsError {
    /// The order has neither consumed nor produced a lot.
    #[error("order has no lots")]
    NotFound,
    /// A quantity of zero.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,
}

impl DomainError for OrderLotsError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrderLotsError::NotFound => ErrorKind::NotFound,
            OrderLotsError::ZeroQuantity => ErrorKind::InvalidArgument,
        }
    }
}

/// A lot in an order's genealogy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLot {
    /// The lot's material.
    pub material: MaterialId,
    /// How much was consumed (summed over consumes) or made.
    pub quantity: Quantity,
    /// The work unit that consumed it (the last one, for inputs); `None` for outputs.
    pub work_unit: Option<WorkUnitId>,
    /// For an output, the lots that went into it; empty for inputs.
    pub inputs: Vec<LotId>,
}

/// The rules of an order's genealogy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLotsRules {
    order: Option<OrderId>,
    inputs: BTreeMap<LotId, OrderLot>,
    outputs: BTreeMap<LotId, OrderLot>,
}

impl OrderLotsRules {
    /// Returns the order, or `None` while it has no lots.
    pub fn order(&self) -> Option<OrderId> {
        self.order
    }

    /// Returns the lots the order consumed.
    pub fn inputs(&self) -> &BTreeMap<LotId, OrderLot> {
        &self.inputs
    }

    /// Returns the lots the order made.
    pub fn outputs(&self) -> &BTreeMap<LotId, OrderLot> {
        &self.outputs
    }
}

impl Decide for OrderLotsRules {
    const TYPE: &'static str = "order_lots";
    // The name gRPC messages have always used for an order's genealogy.
    const NOUN: &'static str = "order";
    type Command = OrderLotsCommand;
    type Event = OrderLotsEvent;
    type Error = OrderLotsError;

    fn decide(&self, command: OrderLotsCommand) -> Result<Vec<OrderLotsEvent>, OrderLotsError> {
        match command {
            OrderLotsCommand::LinkInput {
                order,
                lot,
                material,
                quantity,
                work_unit,
                at,
            } => {
                if quantity == Quantity::ZERO {
                    return Err(OrderLotsError::ZeroQuantity);
                }
                Ok(vec![OrderLotsEvent::OrderInputLinked {
                    order,
                    lot,
                    material,
                    quantity,
                    work_unit,
                    at,
                }])
            }
            OrderLotsCommand::LinkOutput {
                order,
                lot,
                material,
                quantity,
                inputs,
                at,
            } => {
                if quantity == Quantity::ZERO {
                    return Err(OrderLotsError::ZeroQuantity);
                }
                if self.outputs.contains_key(&lot) {
                    return Ok(vec![]);
                }
                Ok(vec![OrderLotsEvent::OrderOutputLinked {
                    order,
                    lot,
                    material,
                    quantity,
                    inputs,
                    at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: OrderLotsEvent) {
        match event {
            OrderLotsEvent::OrderInputLinked {
                order,
                lot,
                material,
                quantity,
                work_unit,
                ..
            } => {
                self.order.get_or_insert(order);
                let input = self.inputs.entry(lot).or_insert(OrderLot {
                    material,
                    quantity: Quantity::ZERO,
                    work_unit: None,
                    inputs: Vec::new(),
                });
                input.quantity = input.quantity.saturating_add(quantity);
                input.work_unit = Some(work_unit);
            }
            OrderLotsEvent::OrderOutputLinked {
                order,
                lot,
                material,
                quantity,
                inputs,
                ..
            } => {
                self.order.get_or_insert(order);
                self.outputs.insert(
                    lot,
                    OrderLot {
                        material,
                        quantity,
                        work_unit: None,
                        inputs,
                    },
                );
            }
        }
    }
}

/// The order lots aggregate.
pub type OrderLots = Stream<OrderLotsRules>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use mom_domain::Recorded;
    use uuid::Uuid;

    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn order() -> OrderId {
        OrderId::new(Uuid::from_u128(7))
    }

    fn lot(id: &str) -> LotId {
        LotId::new(id).unwrap()
    }

    fn link_input(id: &str, quantity: u64) -> OrderLotsCommand {
        OrderLotsCommand::LinkInput {
            order: order(),
            lot: lot(id),
            material: MaterialId::new("resin").unwrap(),
            quantity: Quantity(quantity),
            work_unit: WorkUnitId::new("press-1").unwrap(),
            at: t(1),
        }
    }

    fn link_output(id: &str) -> OrderLotsCommand {
        OrderLotsCommand::LinkOutput {
            order: order(),
            lot: lot(id),
            material: MaterialId::new("cap").unwrap(),
            quantity: Quantity(100),
            inputs: vec![lot("in-1")],
            at: t(2),
        }
    }

    fn run(aggregate: &mut OrderLots, command: OrderLotsCommand) -> usize {
        let events = aggregate.decide(command.into()).unwrap();
        let count = events.len();
        for event in events {
            aggregate.evolve(event);
        }
        count
    }

    #[test]
    fn inputs_sum_repeated_consumes_of_one_lot() {
        let mut aggregate = OrderLots::default();
        run(&mut aggregate, link_input("in-1", 5));
        run(&mut aggregate, link_input("in-1", 7));
        run(&mut aggregate, link_input("in-2", 1));
        let state = aggregate.state();
        assert_eq!(state.order(), Some(order()));
        assert_eq!(state.inputs()[&lot("in-1")].quantity, Quantity(12));
        assert_eq!(state.inputs().len(), 2);
    }

    #[test]
    fn linking_an_output_twice_changes_nothing() {
        let mut aggregate = OrderLots::default();
        assert_eq!(run(&mut aggregate, link_output("out-1")), 1);
        assert_eq!(run(&mut aggregate, link_output("out-1")), 0);
        assert_eq!(aggregate.version(), 1);
        assert!(aggregate.state().outputs().contains_key(&lot("out-1")));
    }

    #[test]
    fn zero_quantities_are_rejected() {
        let err = OrderLots::default()
            .decide(link_input("in-1", 0).into())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn stored_events_round_trip_through_json() {
        let event = Recorded::new(OrderLotsEvent::OrderInputLinked {
            order: order(),
            lot: lot("in-1"),
            material: MaterialId::new("resin").unwrap(),
            quantity: Quantity(3),
            work_unit: WorkUnitId::new("press-1").unwrap(),
            at: t(1),
        });
        let json = serde_json::to_value(&event).unwrap();
        let back: Recorded<OrderLotsEvent> = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
