//! Events of a production order, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Units};
use serde::{Deserialize, Serialize};

use super::commands::RoutingOperation;
use crate::domain::ids::{OperationNumber, OrderId, ProductId, Reason, WorkUnitId};
use crate::domain::recipe::BoundRecipe;

/// A fact about a production order. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// The order was created.
    OrderCreated {
        order_id: OrderId,
        product: ProductId,
        quantity: Units,
        routing: Vec<RoutingOperation>,
        at: DateTime<Utc>,
    },
    /// The order was released to the floor.
    OrderReleased { at: DateTime<Utc> },
    /// An operation started on a work unit, bound to a recipe version when `recipe` is given.
    OperationStarted {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipe: Option<BoundRecipe>,
        at: DateTime<Utc>,
    },
    /// Good and scrap pieces were reported against a running operation.
    QuantityReported {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        good: Units,
        scrap: Units,
        at: DateTime<Utc>,
    },
    /// An operation finished.
    OperationCompleted {
        operation: OperationNumber,
        at: DateTime<Utc>,
    },
    /// The order was put on hold.
    OrderHeld { reason: Reason, at: DateTime<Utc> },
    /// A held order was resumed.
    OrderResumed { at: DateTime<Utc> },
    /// The order was completed: `good` is the good output of the last operation, `scrap` the
    /// scrap of all operations.
    OrderCompleted {
        good: Units,
        scrap: Units,
        at: DateTime<Utc>,
    },
    /// The order was cancelled.
    OrderCancelled { reason: Reason, at: DateTime<Utc> },
}

impl OrderEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "OrderCreated",
        "OrderReleased",
        "OperationStarted",
        "QuantityReported",
        "OperationCompleted",
        "OrderHeld",
        "OrderResumed",
        "OrderCompleted",
        "OrderCancelled",
    ];

    /// Returns when the fact happened on the floor.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            OrderEvent::OrderCreated { at, .. }
            | OrderEvent::OrderReleased { at }
            | OrderEvent::OperationStarted { at, .. }
            | OrderEvent::QuantityReported { at, .. }
            | OrderEvent::OperationCompleted { at, .. }
            | OrderEvent::OrderHeld { at, .. }
            | OrderEvent::OrderResumed { at }
            | OrderEvent::OrderCompleted { at, .. }
            | OrderEvent::OrderCancelled { at, .. } => *at,
        }
    }
}

impl EventType for OrderEvent {
    fn type_name(&self) -> &'static str {
        match self {
            OrderEvent::OrderCreated { .. } => "OrderCreated",
            OrderEvent::OrderReleased { .. } => "OrderReleased",
            OrderEvent::OperationStarted { .. } => "OperationStarted",
            OrderEvent::QuantityReported { .. } => "QuantityReported",
            OrderEvent::OperationCompleted { .. } => "OperationCompleted",
            OrderEvent::OrderHeld { .. } => "OrderHeld",
            OrderEvent::OrderResumed { .. } => "OrderResumed",
            OrderEvent::OrderCompleted { .. } => "OrderCompleted",
            OrderEvent::OrderCancelled { .. } => "OrderCancelled",
        }
    }
}
