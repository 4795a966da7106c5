//! Dispatching rules of a production order: its priority and due date, its position in the
//! queues of its work centers, the dispatch of a pending operation to one of its eligible work
//! units (and its move to another), and the work unit's counts recorded as the running
//! operation's produced quantity (docs/dispatching.md).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mom_domain::Units;

use super::{OperationStatus, OrderState, OrderStatus, Progress};
use crate::domain::ids::{OperationNumber, Priority, Reason, WorkCenterId, WorkUnitId};
use crate::domain::order::commands::DueChange;
use crate::domain::order::error::OrderError;
use crate::domain::order::events::OrderEvent;

/// Highest position in a work center's queue.
pub const MAX_POSITION: u32 = 100_000;

impl OrderState {
    /// Returns the work centers of the order's operations not done yet: the parents of their
    /// eligible work units, sorted.
    pub fn work_centers(&self) -> Vec<WorkCenterId> {
        let centers: BTreeSet<WorkCenterId> = self
            .operations
            .iter()
            .filter(|op| op.status() != OperationStatus::Done)
            .flat_map(|op| op.eligible_work_units().iter().map(WorkUnitId::work_center))
            .collect();
        centers.into_iter().collect()
    }

    /// Changes the priority and due date; nothing when both stay as they are.
    pub(super) fn change_planning(
        &self,
        priority: Option<Priority>,
        due: DueChange,
        at: DateTime<Utc>,
    ) -> Vec<OrderEvent> {
        let priority = priority.unwrap_or(self.priority);
        let due = match due {
            DueChange::Keep => self.due,
            DueChange::Set(due) => Some(due),
            DueChange::Clear => None,
        };
        if priority == self.priority && due == self.due {
            return vec![];
        }
        vec![OrderEvent::OrderPlanningChanged { priority, due, at }]
    }

    /// Puts a released order at `position` in the queue of one of its work centers.
    pub(super) fn sequence_in(
        &self,
        work_center: WorkCenterId,
        position: u32,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if position == 0 || position > MAX_POSITION {
            return Err(OrderError::PositionOutOfRange {
                position,
                max: MAX_POSITION,
            });
        }
        self.ensure_released()?;
        let known = self.work_centers();
        if !known.contains(&work_center) {
            return Err(OrderError::UnknownWorkCenter { work_center, known });
        }
        if self.sequence.get(&work_center) == Some(&position) {
            return Ok(vec![]);
        }
        Ok(vec![OrderEvent::OrderSequenced {
            work_center,
            position,
            at,
        }])
    }

    /// Dispatches a pending operation of a released order, not on hold, to an eligible unit.
    pub(super) fn dispatch(
        &self,
        operation: OperationNumber,
        work_unit: WorkUnitId,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_dispatchable(operation, &work_unit)?;
        let (_, op) = self.operation(operation)?;
        match &op.dispatched {
            Some(current) if *current == work_unit => Ok(vec![]),
            Some(current) => Err(OrderError::AlreadyDispatched {
                operation,
                work_unit: current.clone(),
            }),
            None => Ok(vec![OrderEvent::OperationDispatched {
                operation,
                work_unit,
                at,
            }]),
        }
    }

    /// Moves a dispatched, not started operation to another eligible work unit.
    pub(super) fn redispatch(
        &self,
        operation: OperationNumber,
        work_unit: WorkUnitId,
        reason: Reason,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_dispatchable(operation, &work_unit)?;
        let (_, op) = self.operation(operation)?;
        let Some(from_work_unit) = op.dispatched.clone() else {
            return Err(OrderError::NotDispatched { operation });
        };
        if from_work_unit == work_unit {
            return Err(OrderError::SameWorkUnit {
                operation,
                work_unit,
            });
        }
        Ok(vec![OrderEvent::OperationRedispatched {
            operation,
            from_work_unit,
            work_unit,
            reason,
            at,
        }])
    }

    /// Records a count of the work unit running `operation`. A held order takes it too: the
    /// units were made whatever the order's state.
    pub(super) fn record_count(
        &self,
        operation: OperationNumber,
        work_unit: WorkUnitId,
        total: Units,
        count_sequence: u64,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if total == Units::ZERO {
            return Err(OrderError::NothingReported);
        }
        let (_, op) = self.operation(operation)?;
        let Progress::Running { work_unit: running } = &op.progress else {
            return Err(OrderError::OperationNotRunning {
                operation,
                status: op.status(),
            });
        };
        if *running != work_unit {
            return Err(OrderError::CountFromOtherUnit {
                operation,
                work_unit,
                running_on: running.clone(),
            });
        }
        if op.good.checked_add(total).is_none() {
            return Err(OrderError::QuantityOverflow { operation });
        }
        Ok(vec![OrderEvent::OperationCounted {
            operation,
            work_unit,
            total,
            count_sequence,
            at,
        }])
    }

    /// Folds the dispatching events.
    pub(super) fn evolve_dispatch(&mut self, event: OrderEvent) {
        match event {
            OrderEvent::OrderPlanningChanged { priority, due, .. } => {
                self.priority = priority;
                self.due = due;
            }
            OrderEvent::OrderSequenced {
                work_center,
                position,
                ..
            } => {
                self.sequence.insert(work_center, position);
            }
            OrderEvent::OperationDispatched {
                operation,
                work_unit,
                ..
            }
            | OrderEvent::OperationRedispatched {
                operation,
                work_unit,
                ..
            } => {
                if let Some(op) = self.operation_mut(operation) {
                    op.dispatched = Some(work_unit);
                }
            }
            OrderEvent::OperationCounted {
                operation, total, ..
            } => {
                if let Some(op) = self.operation_mut(operation) {
                    op.good = op.good.saturating_add(total);
                }
            }
            _ => {}
        }
    }

    fn ensure_released(&self) -> Result<(), OrderError> {
        if self.status == OrderStatus::Created {
            return Err(OrderError::NotReleased {
                status: self.status,
            });
        }
        Ok(())
    }

    /// Checks what a dispatch and a re-dispatch both need: a released order not on hold, a
    /// pending operation and an eligible work unit.
    fn ensure_dispatchable(
        &self,
        operation: OperationNumber,
        work_unit: &WorkUnitId,
    ) -> Result<(), OrderError> {
        self.ensure_not_held()?;
        self.ensure_released()?;
        let (_, op) = self.operation(operation)?;
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
        if !op.eligible_work_units().contains(work_unit) {
            return Err(OrderError::IneligibleWorkUnit {
                operation,
                work_unit: work_unit.clone(),
                eligible: op.eligible_work_units().to_vec(),
            });
        }
        Ok(())
    }
}
