//! Events of a production order, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Units};
use serde::{Deserialize, Serialize};

use super::commands::RoutingOperation;
use crate::domain::ids::{
    OperationNumber, OrderId, Priority, ProductId, Reason, WorkCenterId, WorkUnitId,
};
use crate::domain::reason_catalogue::ReasonCode;
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
        /// Orders created before dispatching have the default priority.
        #[serde(default)]
        priority: Priority,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<DateTime<Utc>>,
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
        /// The work unit is registered: its counts are the operation's quantities.
        #[serde(default)]
        counted: bool,
        at: DateTime<Utc>,
    },
    /// Good and scrap pieces were reported against a running operation.
    QuantityReported {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        good: Units,
        scrap: Units,
        at: DateTime<Utc>,
        /// Why the scrap, as reported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scrap_reason: Option<Reason>,
        /// The site catalogue's code of `scrap_reason`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scrap_reason_code: Option<ReasonCode>,
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
    /// The dispatch priority or due date changed (both as they are now).
    OrderPlanningChanged {
        priority: Priority,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// The order took a position in a work center's queue.
    OrderSequenced {
        work_center: WorkCenterId,
        position: u32,
        at: DateTime<Utc>,
    },
    /// A pending operation was dispatched to a work unit.
    OperationDispatched {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        at: DateTime<Utc>,
    },
    /// A dispatched operation moved to another work unit.
    OperationRedispatched {
        operation: OperationNumber,
        from_work_unit: WorkUnitId,
        work_unit: WorkUnitId,
        reason: Reason,
        at: DateTime<Utc>,
    },
    /// The running operation's work unit counted `total` units (its count `count_sequence`).
    OperationCounted {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        total: Units,
        count_sequence: u64,
        at: DateTime<Utc>,
    },
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
        "OrderPlanningChanged",
        "OrderSequenced",
        "OperationDispatched",
        "OperationRedispatched",
        "OperationCounted",
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
            | OrderEvent::OrderCancelled { at, .. }
            | OrderEvent::OrderPlanningChanged { at, .. }
            | OrderEvent::OrderSequenced { at, .. }
            | OrderEvent::OperationDispatched { at, .. }
            | OrderEvent::OperationRedispatched { at, .. }
            | OrderEvent::OperationCounted { at, .. } => *at,
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
            OrderEvent::OrderPlanningChanged { .. } => "OrderPlanningChanged",
            OrderEvent::OrderSequenced { .. } => "OrderSequenced",
            OrderEvent::OperationDispatched { .. } => "OperationDispatched",
            OrderEvent::OperationRedispatched { .. } => "OperationRedispatched",
            OrderEvent::OperationCounted { .. } => "OperationCounted",
        }
    }
}
