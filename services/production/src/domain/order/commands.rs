//! Commands a production order accepts.

use chrono::{DateTime, Utc};
use mom_domain::{Timed, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{
    OperationNumber, OrderId, Priority, ProductId, Reason, WorkCenterId, WorkUnitId,
};
use crate::domain::reason_catalogue::ReasonCode;
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
        /// Dispatch priority (1 most urgent).
        priority: Priority,
        /// When the order is due, if given.
        due: Option<DateTime<Utc>>,
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
        /// What the handler found out about the work unit before the start (its registration
        /// and current product): the product check and the count link depend on it.
        unit: StartingUnit,
        at: DateTime<Utc>,
    },
    /// Reports good and scrap pieces made by the running `operation` since the last report.
    ReportQuantity {
        operation: OperationNumber,
        good: Units,
        scrap: Units,
        /// Why the scrap, as reported, and the site catalogue's code of it (resolved by the
        /// production API; `None` without a catalogue).
        scrap_reason: Option<(Reason, Option<ReasonCode>)>,
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
    /// Changes the dispatch priority and/or the due date.
    ChangePlanning {
        priority: Option<Priority>,
        due: DueChange,
        at: DateTime<Utc>,
    },
    /// Puts the order at `position` in the queue of `work_center` (lower runs first).
    Sequence {
        work_center: WorkCenterId,
        position: u32,
        at: DateTime<Utc>,
    },
    /// Dispatches the pending `operation` to one of its eligible work units.
    Dispatch {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        at: DateTime<Utc>,
    },
    /// Moves a dispatched, not started `operation` to another eligible work unit.
    Redispatch {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        reason: Reason,
        at: DateTime<Utc>,
    },
    /// Records `total` units the work unit running `operation` counted (its UnitsCounted at
    /// `count_sequence` on the unit's stream) as the operation's produced quantity.
    RecordCount {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        total: Units,
        count_sequence: u64,
        at: DateTime<Utc>,
    },
}

/// The work unit an operation starts on, as the handler found it before the start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartingUnit {
    /// Not a registered work unit: it sends no counts, quantities are reported by hand.
    #[default]
    Unregistered,
    /// A registered work unit with its current product (`None`: not set up for any product).
    /// Its counts are the operation's quantities.
    Registered { current_product: Option<ProductId> },
}

/// What `ChangePlanning` does to the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueChange {
    /// Keeps the current due date.
    Keep,
    /// Sets a new due date.
    Set(DateTime<Utc>),
    /// Removes the due date.
    Clear,
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
            | OrderCommand::Cancel { at, .. }
            | OrderCommand::ChangePlanning { at, .. }
            | OrderCommand::Sequence { at, .. }
            | OrderCommand::Dispatch { at, .. }
            | OrderCommand::Redispatch { at, .. }
            | OrderCommand::RecordCount { at, .. } => *at,
        }
    }
}
