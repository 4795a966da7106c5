//! The production order's state, its decisions and its fold.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream, Units};
use serde::{Deserialize, Serialize};

use super::commands::{OrderCommand, RoutingOperation, StartingUnit};
use super::error::OrderError;
use super::events::OrderEvent;
use crate::domain::ids::{
    OperationNumber, OrderId, Priority, ProductId, Reason, WorkCenterId, WorkUnitId,
};
use crate::domain::recipe::BoundRecipe;

/// Where an order is in its life. Being on hold is tracked apart ([`OrderState::hold`]), so a
/// resumed order returns to exactly where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Created, not yet released to the floor.
    Created,
    /// Released; no operation started yet.
    Released,
    /// At least one operation started.
    InProgress,
    /// Every operation done and the order closed.
    Completed,
    /// Cancelled.
    Cancelled,
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderStatus::Created => "created",
            OrderStatus::Released => "released",
            OrderStatus::InProgress => "in progress",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        })
    }
}

/// Where an operation of the routing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationStatus {
    /// Not started.
    Pending,
    /// Running on a work unit.
    Running,
    /// Finished.
    Done,
}

impl fmt::Display for OperationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationStatus::Pending => "pending",
            OperationStatus::Running => "running",
            OperationStatus::Done => "done",
        })
    }
}

/// Progress of one operation; the work unit is known from the start on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Progress {
    Pending,
    Running { work_unit: WorkUnitId },
    Done { work_unit: WorkUnitId },
}

/// One operation of an order's routing with what was reported against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    routing: RoutingOperation,
    progress: Progress,
    good: Units,
    scrap: Units,
    /// The recipe version bound when the operation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipe: Option<BoundRecipe>,
    /// The work unit the pending operation is dispatched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dispatched: Option<WorkUnitId>,
    /// Whether its work unit's counts are its quantities (started on a registered unit).
    #[serde(default)]
    counted: bool,
}

impl Operation {
    fn pending(routing: RoutingOperation) -> Self {
        Self {
            routing,
            progress: Progress::Pending,
            good: Units::ZERO,
            scrap: Units::ZERO,
            recipe: None,
            dispatched: None,
            counted: false,
        }
    }

    /// Returns the work unit the operation is dispatched to, while it is not started.
    pub fn dispatched(&self) -> Option<&WorkUnitId> {
        self.dispatched.as_ref()
    }

    /// Returns whether the operation's quantities come from its work unit's counts.
    pub fn counted(&self) -> bool {
        self.counted
    }

    /// Returns the recipe version bound when the operation started, if any.
    pub fn recipe(&self) -> Option<&BoundRecipe> {
        self.recipe.as_ref()
    }

    /// Returns the operation number.
    pub fn number(&self) -> OperationNumber {
        self.routing.operation
    }

    /// Returns the operation's name.
    pub fn name(&self) -> &str {
        &self.routing.name
    }

    /// Returns the work units allowed to run the operation.
    pub fn eligible_work_units(&self) -> &[WorkUnitId] {
        &self.routing.eligible_work_units
    }

    /// Returns whether the operation is pending, running or done.
    pub fn status(&self) -> OperationStatus {
        match self.progress {
            Progress::Pending => OperationStatus::Pending,
            Progress::Running { .. } => OperationStatus::Running,
            Progress::Done { .. } => OperationStatus::Done,
        }
    }

    /// Returns the work unit that runs or ran the operation, once started.
    pub fn work_unit(&self) -> Option<&WorkUnitId> {
        match &self.progress {
            Progress::Pending => None,
            Progress::Running { work_unit } | Progress::Done { work_unit } => Some(work_unit),
        }
    }

    /// Returns the good pieces reported against the operation.
    pub fn good(&self) -> Units {
        self.good
    }

    /// Returns the scrap pieces reported against the operation.
    pub fn scrap(&self) -> Units {
        self.scrap
    }
}

/// The state of a created order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    id: OrderId,
    product: ProductId,
    quantity: Units,
    status: OrderStatus,
    hold: Option<Reason>,
    operations: Vec<Operation>,
    /// Dispatch priority (orders created before dispatching have the default).
    #[serde(default)]
    priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due: Option<DateTime<Utc>>,
    /// The order's position in each work center's queue it was sequenced in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    sequence: BTreeMap<WorkCenterId, u32>,
}

impl OrderState {
    /// Returns the order id.
    pub fn id(&self) -> OrderId {
        self.id
    }

    /// Returns the product the order makes.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// Returns the quantity to make.
    pub fn quantity(&self) -> Units {
        self.quantity
    }

    /// Returns where the order is in its life, ignoring a hold.
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// Returns the hold reason while the order is on hold.
    pub fn hold(&self) -> Option<&Reason> {
        self.hold.as_ref()
    }

    /// Returns the operations in routing order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Returns the dispatch priority (1 most urgent).
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Returns when the order is due, if a due date was given.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        self.due
    }

    /// Returns the order's position in the queue of each work center it was sequenced in.
    pub fn sequence(&self) -> &BTreeMap<WorkCenterId, u32> {
        &self.sequence
    }

    /// Returns the good output of the order: the good pieces of its last operation.
    pub fn good(&self) -> Units {
        self.operations.last().map_or(Units::ZERO, |op| op.good)
    }

    /// Returns the scrap of the order: the scrap pieces of all its operations.
    pub fn scrap(&self) -> Units {
        self.operations
            .iter()
            .fold(Units::ZERO, |sum, op| sum.saturating_add(op.scrap))
    }

    fn is_closed(&self) -> bool {
        matches!(self.status, OrderStatus::Completed | OrderStatus::Cancelled)
    }

    fn ensure_not_held(&self) -> Result<(), OrderError> {
        match &self.hold {
            Some(reason) => Err(OrderError::OnHold {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn operation(&self, operation: OperationNumber) -> Result<(usize, &Operation), OrderError> {
        self.operations
            .iter()
            .enumerate()
            .find(|(_, op)| op.number() == operation)
            .ok_or_else(|| OrderError::UnknownOperation {
                operation,
                routing: self.operations.iter().map(Operation::number).collect(),
            })
    }

    fn operation_mut(&mut self, operation: OperationNumber) -> Option<&mut Operation> {
        self.operations
            .iter_mut()
            .find(|op| op.number() == operation)
    }

    fn start_operation(
        &self,
        operation: OperationNumber,
        work_unit: WorkUnitId,
        recipe: Option<BoundRecipe>,
        unit: StartingUnit,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_not_held()?;
        if self.status == OrderStatus::Created {
            return Err(OrderError::NotReleased {
                status: self.status,
            });
        }
        let (index, op) = self.operation(operation)?;
        if !op.eligible_work_units().contains(&work_unit) {
            return Err(OrderError::IneligibleWorkUnit {
                operation,
                work_unit,
                eligible: op.eligible_work_units().to_vec(),
            });
        }
        match &op.progress {
            Progress::Pending => {}
            Progress::Running { work_unit } => {
                return Err(OrderError::OperationAlreadyRunning {
                    operation,
                    work_unit: work_unit.clone(),
                })
            }
            Progress::Done { .. } => return Err(OrderError::OperationAlreadyDone { operation }),
        }
        if let Some(previous) = index.checked_sub(1).and_then(|i| self.operations.get(i)) {
            if previous.status() != OperationStatus::Done {
                return Err(OrderError::PreviousOperationOpen {
                    operation,
                    previous: previous.number(),
                    status: previous.status(),
                });
            }
        }
        if let Some(dispatched) = op.dispatched.as_ref().filter(|d| **d != work_unit) {
            return Err(OrderError::DispatchedElsewhere {
                operation,
                dispatched: dispatched.clone(),
                work_unit,
            });
        }
        let counted = match unit {
            StartingUnit::Unregistered => false,
            StartingUnit::Registered { current_product } => {
                if let Some(unit_product) = current_product.filter(|p| *p != self.product) {
                    return Err(OrderError::ProductMismatch {
                        work_unit,
                        unit_product,
                        order_product: self.product.clone(),
                    });
                }
                true
            }
        };
        Ok(vec![OrderEvent::OperationStarted {
            operation,
            work_unit,
            recipe,
            counted,
            at,
        }])
    }

    fn report_quantity(
        &self,
        operation: OperationNumber,
        good: Units,
        scrap: Units,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if good == Units::ZERO && scrap == Units::ZERO {
            return Err(OrderError::NothingReported);
        }
        self.ensure_not_held()?;
        let (_, op) = self.operation(operation)?;
        let Progress::Running { work_unit } = &op.progress else {
            return Err(OrderError::OperationNotRunning {
                operation,
                status: op.status(),
            });
        };
        // A counted operation's good pieces are its unit's counts: by hand only scrap is
        // reported, and it is taken out of the counted pieces (a count is good and bad).
        if op.counted && good != Units::ZERO {
            return Err(OrderError::CountedOperation {
                operation,
                work_unit: work_unit.clone(),
            });
        }
        let fits = op.good.checked_add(good).is_some()
            && op.scrap.checked_add(scrap).is_some()
            && self.scrap().checked_add(scrap).is_some();
        if !fits {
            return Err(OrderError::QuantityOverflow { operation });
        }
        Ok(vec![OrderEvent::QuantityReported {
            operation,
            work_unit: work_unit.clone(),
            good,
            scrap,
            at,
            scrap_reason: None,
            scrap_reason_code: None,
        }])
    }
}

/// The rules of a production order. Before its creation it has no state and rejects every
/// command but `Create` with [`OrderError::NotFound`].
impl Lifecycle for OrderState {
    const TYPE: &'static str = "production_order";
    const NOUN: &'static str = "production order";
    const SHORT_NOUN: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn create(command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        let OrderCommand::Create {
            order,
            product,
            quantity,
            routing,
            priority,
            due,
            at,
        } = command
        else {
            return Err(OrderError::NotFound);
        };
        if quantity == Units::ZERO {
            return Err(OrderError::ZeroQuantity);
        }
        validate_routing(&routing)?;
        Ok(vec![OrderEvent::OrderCreated {
            order_id: order,
            product,
            quantity,
            routing,
            priority,
            due,
            at,
        }])
    }

    fn decide(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        match command {
            OrderCommand::Create { .. } => Err(OrderError::AlreadyCreated { order: self.id }),
            // Nothing but a second creation gets past a completed or cancelled order.
            _ if self.is_closed() => Err(OrderError::Closed {
                status: self.status,
            }),
            OrderCommand::Release { at } => {
                self.ensure_not_held()?;
                match self.status {
                    OrderStatus::Created => Ok(vec![OrderEvent::OrderReleased { at }]),
                    _ => Err(OrderError::AlreadyReleased),
                }
            }
            OrderCommand::StartOperation {
                operation,
                work_unit,
                recipe,
                unit,
                at,
            } => self.start_operation(operation, work_unit, recipe, unit, at),
            OrderCommand::ReportQuantity {
                operation,
                good,
                scrap,
                scrap_reason,
                at,
            } => {
                let mut events = self.report_quantity(operation, good, scrap, at)?;
                if let (
                    Some((reason, code)),
                    Some(OrderEvent::QuantityReported {
                        scrap_reason,
                        scrap_reason_code,
                        ..
                    }),
                ) = (scrap_reason, events.first_mut())
                {
                    *scrap_reason = Some(reason);
                    *scrap_reason_code = code;
                }
                Ok(events)
            }
            OrderCommand::CompleteOperation { operation, at } => {
                self.ensure_not_held()?;
                let (_, op) = self.operation(operation)?;
                match op.status() {
                    OperationStatus::Running => {
                        Ok(vec![OrderEvent::OperationCompleted { operation, at }])
                    }
                    status => Err(OrderError::OperationNotRunning { operation, status }),
                }
            }
            OrderCommand::Hold { reason, at } => {
                self.ensure_not_held()?;
                Ok(vec![OrderEvent::OrderHeld { reason, at }])
            }
            OrderCommand::Resume { at } => match self.hold {
                Some(_) => Ok(vec![OrderEvent::OrderResumed { at }]),
                None => Err(OrderError::NotOnHold),
            },
            OrderCommand::Complete { at } => {
                self.ensure_not_held()?;
                let open: Vec<OperationNumber> = self
                    .operations
                    .iter()
                    .filter(|op| op.status() != OperationStatus::Done)
                    .map(Operation::number)
                    .collect();
                if !open.is_empty() {
                    return Err(OrderError::OperationsOpen { open });
                }
                Ok(vec![OrderEvent::OrderCompleted {
                    good: self.good(),
                    scrap: self.scrap(),
                    at,
                }])
            }
            OrderCommand::Cancel { reason, at } => {
                Ok(vec![OrderEvent::OrderCancelled { reason, at }])
            }
            OrderCommand::ChangePlanning { priority, due, at } => {
                Ok(self.change_planning(priority, due, at))
            }
            OrderCommand::Sequence {
                work_center,
                position,
                at,
            } => self.sequence_in(work_center, position, at),
            OrderCommand::Dispatch {
                operation,
                work_unit,
                at,
            } => self.dispatch(operation, work_unit, at),
            OrderCommand::Redispatch {
                operation,
                work_unit,
                reason,
                at,
            } => self.redispatch(operation, work_unit, reason, at),
            OrderCommand::RecordCount {
                operation,
                work_unit,
                total,
                count_sequence,
                at,
            } => self.record_count(operation, work_unit, total, count_sequence, at),
        }
    }

    // Nothing but a creation starts a stream; anything else before it is ignored.
    fn born(event: OrderEvent) -> Option<Self> {
        let OrderEvent::OrderCreated {
            order_id,
            product,
            quantity,
            routing,
            priority,
            due,
            ..
        } = event
        else {
            return None;
        };
        Some(OrderState {
            id: order_id,
            product,
            quantity,
            status: OrderStatus::Created,
            hold: None,
            operations: routing.into_iter().map(Operation::pending).collect(),
            priority,
            due,
            sequence: BTreeMap::new(),
        })
    }

    fn evolve(&mut self, event: OrderEvent) {
        match event {
            // A second creation is never decided; the fold keeps the first one.
            OrderEvent::OrderCreated { .. } => {}
            OrderEvent::OrderReleased { .. } => self.status = OrderStatus::Released,
            OrderEvent::OperationStarted {
                operation,
                work_unit,
                recipe,
                counted,
                ..
            } => {
                self.status = OrderStatus::InProgress;
                if let Some(op) = self.operation_mut(operation) {
                    op.progress = Progress::Running { work_unit };
                    op.recipe = recipe;
                    op.dispatched = None;
                    op.counted = counted;
                }
            }
            OrderEvent::QuantityReported {
                operation,
                good,
                scrap,
                ..
            } => {
                if let Some(op) = self.operation_mut(operation) {
                    op.good = op.good.saturating_add(good);
                    op.scrap = op.scrap.saturating_add(scrap);
                    if op.counted {
                        op.good = op.good.saturating_sub(scrap);
                    }
                }
            }
            OrderEvent::OperationCompleted { operation, .. } => {
                if let Some(op) = self.operation_mut(operation) {
                    if let Progress::Running { work_unit } = &op.progress {
                        op.progress = Progress::Done {
                            work_unit: work_unit.clone(),
                        };
                    }
                }
            }
            OrderEvent::OrderHeld { reason, .. } => self.hold = Some(reason),
            OrderEvent::OrderResumed { .. } => self.hold = None,
            OrderEvent::OrderCompleted { .. } => self.status = OrderStatus::Completed,
            OrderEvent::OrderCancelled { .. } => {
                self.status = OrderStatus::Cancelled;
                self.hold = None;
            }
            OrderEvent::OrderPlanningChanged { .. }
            | OrderEvent::OrderSequenced { .. }
            | OrderEvent::OperationDispatched { .. }
            | OrderEvent::OperationRedispatched { .. }
            | OrderEvent::OperationCounted { .. } => self.evolve_dispatch(event),
        }
    }
}

/// A production order: the aggregate `production_order`, a [`Stream`] over its state, which is
/// `None` before the creation.
pub type ProductionOrder = Stream<Option<OrderState>>;

/// Checks a routing: at least one step, numbers positive and unique, names given, and each step
/// with at least one eligible work unit, none listed twice.
fn validate_routing(routing: &[RoutingOperation]) -> Result<(), OrderError> {
    if routing.is_empty() {
        return Err(OrderError::EmptyRouting);
    }
    let mut numbers = HashSet::with_capacity(routing.len());
    for step in routing {
        let operation = step.operation;
        if operation.0 == 0 {
            return Err(OrderError::ZeroOperationNumber);
        }
        if !numbers.insert(operation) {
            return Err(OrderError::DuplicateOperation { operation });
        }
        if step.name.trim().is_empty() {
            return Err(OrderError::UnnamedOperation { operation });
        }
        if step.eligible_work_units.is_empty() {
            return Err(OrderError::NoEligibleWorkUnits { operation });
        }
        let mut units = HashSet::with_capacity(step.eligible_work_units.len());
        for work_unit in &step.eligible_work_units {
            if !units.insert(work_unit) {
                return Err(OrderError::DuplicateEligibleWorkUnit {
                    operation,
                    work_unit: work_unit.clone(),
                });
            }
        }
    }
    Ok(())
}

mod dispatch;

pub use dispatch::MAX_POSITION;

#[cfg(test)]
mod tests;
