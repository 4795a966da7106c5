//! Commands a production order accepts.

use chrono::{DateTime, Utc};
use mom_domain::{Timed, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OperationNumber, OrderId, ProductId, Reason, WorkUnitId};
use crate::domain::recipe::BoundRecipe;

/// One step of a routing: its number, its name and the work units allowed to run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingOperation {
    /// Operation number, unique within the routing.
    pub operation: OperationNumber,
    /// What the step does, for people.
    pub name: String,
    /// Work units that may run the step, at least one.
    pub eligible_work_units: Vec<WorkUnitId>,
}

/// A request to change a production order; `at` is when it happened on the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Creates the order with its routing (operations run in list order).
    Create {
        order: OrderId,
        product: ProductId,
        quantity: Units,
        routing: Vec<RoutingOperation>,
        at: DateTime<Utc>,
    },
    /// Releases a created order to the floor.
    Release { at: DateTime<Utc> },
    /// Starts `operation` on `work_unit`, bound to the approved version of the product's master
    /// recipe for the operation when there is one (`None`: the operation runs unbound).
    StartOperation {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        recipe: Option<BoundRecipe>,
        at: DateTime<Utc>,
    },
    /// Reports good and scrap pieces made by the running `operation` since the last report.
    ReportQuantity {
        operation: OperationNumber,
        good: Units,
        scrap: Units,
        at: DateTime<Utc>,
    },
    /// Marks the running `operation` as done.
    CompleteOperation {
        operation: OperationNumber,
        at: DateTime<Utc>,
    },
    /// Puts the order on hold.
    Hold { reason: Reason, at: DateTime<Utc> },
    /// Resumes a held order where it was.
    Resume { at: DateTime<Utc> },
    /// Completes the order once every operation is done.
    Complete { at: DateTime<Utc> },
    /// Cancels the order.
    Cancel { reason: Reason, at: DateTime<Utc> },
}

impl Timed for OrderCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            OrderCommand::Create { at, .. }
            | OrderCommand::Release { at }
            | OrderCommand::StartOperation { at, .. }
            | OrderCommand::ReportQuantity { at, .. }
            | OrderCommand::CompleteOperation { at, .. }
            | OrderCommand::Hold { at, .. }
            | OrderCommand::Resume { at }
            | OrderCommand::Complete { at }
            | OrderCommand::Cancel { at, .. } => *at,
        }
    }
}
