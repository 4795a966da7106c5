//! The work order's state, its decisions and its fold.
//!
//! Transitions: requested → scheduled → in progress → done, and requested / scheduled →
//! cancelled. Work may start without a schedule (a breakdown is repaired at once). Scheduling a
//! preventive order announces a planned shutdown (`PmWindowScheduled`) when it is announced no
//! later than the window starts; otherwise, and for corrective orders, it is a plain
//! `WorkOrderScheduled`.

use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::{Equipment, PlanOccurrence, WorkOrderCommand};
use super::error::WorkOrderError;
use super::events::WorkOrderEvent;
use crate::domain::asset::AssetLevel;
use crate::domain::ids::{AssetId, Description, FailureMode, ProductId, Reason, WorkOrderId};

/// Where a work order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkOrderStatus {
    /// Requested, not scheduled yet.
    Requested,
    /// Scheduled over a window.
    Scheduled,
    /// Work is going on.
    InProgress,
    /// Work is done.
    Done,
    /// Cancelled before work started.
    Cancelled,
}

impl fmt::Display for WorkOrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkOrderStatus::Requested => "requested",
            WorkOrderStatus::Scheduled => "scheduled",
            WorkOrderStatus::InProgress => "in progress",
            WorkOrderStatus::Done => "done",
            WorkOrderStatus::Cancelled => "cancelled",
        })
    }
}

/// Corrective (from a breakdown) or preventive work, with what each kind knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkOrderKind {
    /// Repair of a breakdown.
    Corrective {
        failure_mode: FailureMode,
        failure_start: DateTime<Utc>,
        product: Option<ProductId>,
    },
    /// Preventive maintenance, from a due plan occurrence when `plan` is set.
    Preventive { plan: Option<PlanOccurrence> },
}

/// The state of an existing work order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrderState {
    id: WorkOrderId,
    work_unit: AssetId,
    kind: WorkOrderKind,
    description: Option<Description>,
    status: WorkOrderStatus,
    requested_at: DateTime<Utc>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    started: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    cancelled: Option<Reason>,
}

impl WorkOrderState {
    /// Returns the work order id.
    pub fn id(&self) -> WorkOrderId {
        self.id
    }

    /// Returns the work unit the work is on.
    pub fn work_unit(&self) -> &AssetId {
        &self.work_unit
    }

    /// Returns whether the order is corrective or preventive, with its details.
    pub fn kind(&self) -> &WorkOrderKind {
        &self.kind
    }

    /// Returns the description given at the request.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }

    /// Returns where the order is in its life.
    pub fn status(&self) -> WorkOrderStatus {
        self.status
    }

    /// Returns when the order was requested.
    pub fn requested_at(&self) -> DateTime<Utc> {
        self.requested_at
    }

    /// Returns the scheduled window `[from, until)`, if scheduled.
    pub fn window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.window
    }

    /// Returns when work started.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.started
    }

    /// Returns when work ended.
    pub fn completed(&self) -> Option<DateTime<Utc>> {
        self.completed
    }

    /// Returns why the order was cancelled, if it was.
    pub fn cancelled(&self) -> Option<&Reason> {
        self.cancelled.as_ref()
    }

    fn requested(
        id: WorkOrderId,
        work_unit: AssetId,
        kind: WorkOrderKind,
        description: Option<Description>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            work_unit,
            kind,
            description,
            status: WorkOrderStatus::Requested,
            requested_at: at,
            window: None,
            started: None,
            completed: None,
            cancelled: None,
        }
    }

    fn plan_id(&self) -> Option<crate::domain::ids::PlanId> {
        match &self.kind {
            WorkOrderKind::Preventive { plan } => plan.as_ref().map(|p| p.plan.clone()),
            WorkOrderKind::Corrective { .. } => None,
        }
    }

    fn transition_error(&self, action: &'static str) -> WorkOrderError {
        WorkOrderError::InvalidTransition {
            status: self.status,
            action,
        }
    }
}

/// Returns `text` as a reason, cut to the longest reason allowed.
fn truncated_reason(text: String) -> Reason {
    let cut: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(crate::domain::ids::MAX_REASON_LEN)
        .collect();
    Reason::new(cut).unwrap_or_else(|_| Reason::preventive_maintenance())
}

/// Checks what the registry knows about the work unit of a new order.
fn check_equipment(equipment: &Equipment) -> Result<(), WorkOrderError> {
    match equipment.found {
        None => Err(WorkOrderError::UnknownWorkUnit {
            work_unit: equipment.id.clone(),
        }),
        Some((level, _)) if level != AssetLevel::WorkUnit => Err(WorkOrderError::NotAWorkUnit {
            asset: equipment.id.clone(),
            level,
        }),
        Some((_, true)) => Err(WorkOrderError::WorkUnitRetired {
            work_unit: equipment.id.clone(),
        }),
        Some(_) => Ok(()),
    }
}

/// A work order: the aggregate `work_order`. Before its request it has no state and rejects
/// every command but `ReportBreakdown` and `RequestPreventive` with
/// [`WorkOrderError::NotFound`].
pub type WorkOrder = Stream<Option<WorkOrderState>>;

impl Lifecycle for WorkOrderState {
    const TYPE: &'static str = "work_order";
    const NOUN: &'static str = "work order";
    type Command = WorkOrderCommand;
    type Event = WorkOrderEvent;
    type Error = WorkOrderError;

    fn create(command: WorkOrderCommand) -> Result<Vec<WorkOrderEvent>, WorkOrderError> {
        match command {
            WorkOrderCommand::ReportBreakdown {
                work_order,
                equipment,
                failure_mode,
                failure_start,
                product,
                description,
                at,
            } => {
                check_equipment(&equipment)?;
                if failure_start > at {
                    return Err(WorkOrderError::FailureStartsAfterReport { failure_start, at });
                }
                Ok(vec![WorkOrderEvent::BreakdownReported {
                    work_order,
                    work_unit: equipment.id,
                    failure_mode,
                    failure_start,
                    product,
                    description,
                    at,
                }])
            }
            WorkOrderCommand::RequestPreventive {
                work_order,
                equipment,
                plan,
                description,
                at,
            } => {
                check_equipment(&equipment)?;
                Ok(vec![WorkOrderEvent::PreventiveWorkRequested {
                    work_order,
                    work_unit: equipment.id,
                    plan,
                    description,
                    at,
                }])
            }
            _ => Err(WorkOrderError::NotFound),
        }
    }

    fn decide(&self, command: WorkOrderCommand) -> Result<Vec<WorkOrderEvent>, WorkOrderError> {
        let work_unit = self.work_unit.clone();
        match command {
            WorkOrderCommand::ReportBreakdown { .. }
            | WorkOrderCommand::RequestPreventive { .. } => Err(WorkOrderError::AlreadyExists {
                work_order: self.id,
            }),
            WorkOrderCommand::Schedule { from, until, at } => {
                if self.status != WorkOrderStatus::Requested {
                    return Err(self.transition_error("schedule it"));
                }
                if until <= from {
                    return Err(WorkOrderError::EmptyWindow { from, until });
                }
                let event = match &self.kind {
                    WorkOrderKind::Preventive { plan } if at <= from => {
                        let reason = match (plan, &self.description) {
                            (Some(plan), _) => format!("preventive maintenance plan {}", plan.plan),
                            (None, Some(description)) => {
                                format!("preventive maintenance: {description}")
                            }
                            (None, None) => "preventive maintenance".to_owned(),
                        };
                        WorkOrderEvent::PmWindowScheduled {
                            work_unit,
                            plan: self.plan_id(),
                            from,
                            until,
                            reason: truncated_reason(reason),
                            at,
                        }
                    }
                    _ => WorkOrderEvent::WorkOrderScheduled {
                        work_unit,
                        from,
                        until,
                        at,
                    },
                };
                Ok(vec![event])
            }
            WorkOrderCommand::Start { at } => {
                if !matches!(
                    self.status,
                    WorkOrderStatus::Requested | WorkOrderStatus::Scheduled
                ) {
                    return Err(self.transition_error("start it"));
                }
                if let WorkOrderKind::Corrective { failure_start, .. } = &self.kind {
                    if at < *failure_start {
                        return Err(WorkOrderError::RepairBeforeFailure {
                            failure_start: *failure_start,
                            at,
                        });
                    }
                }
                Ok(vec![WorkOrderEvent::WorkStarted { work_unit, at }])
            }
            WorkOrderCommand::Complete { at } => {
                let (WorkOrderStatus::InProgress, Some(started)) = (self.status, self.started)
                else {
                    return Err(self.transition_error("complete it"));
                };
                if at < started {
                    return Err(WorkOrderError::EndsBeforeStart { started, at });
                }
                let event = match &self.kind {
                    WorkOrderKind::Corrective {
                        failure_mode,
                        failure_start,
                        product,
                    } => WorkOrderEvent::BreakdownRepaired {
                        work_unit,
                        failure_mode: failure_mode.clone(),
                        product: product.clone(),
                        failure_start: *failure_start,
                        repair_start: started,
                        repair_end: at,
                    },
                    WorkOrderKind::Preventive { .. } => WorkOrderEvent::PreventiveWorkCompleted {
                        work_unit,
                        plan: self.plan_id(),
                        started,
                        at,
                    },
                };
                Ok(vec![event])
            }
            WorkOrderCommand::Cancel { reason, at } => {
                if !matches!(
                    self.status,
                    WorkOrderStatus::Requested | WorkOrderStatus::Scheduled
                ) {
                    return Err(self.transition_error("cancel it"));
                }
                Ok(vec![WorkOrderEvent::WorkOrderCancelled {
                    work_unit,
                    reason,
                    at,
                }])
            }
        }
    }

    fn born(event: WorkOrderEvent) -> Option<Self> {
        match event {
            WorkOrderEvent::BreakdownReported {
                work_order,
                work_unit,
                failure_mode,
                failure_start,
                product,
                description,
                at,
            } => Some(WorkOrderState::requested(
                work_order,
                work_unit,
                WorkOrderKind::Corrective {
                    failure_mode,
                    failure_start,
                    product,
                },
                description,
                at,
            )),
            WorkOrderEvent::PreventiveWorkRequested {
                work_order,
                work_unit,
                plan,
                description,
                at,
            } => Some(WorkOrderState::requested(
                work_order,
                work_unit,
                WorkOrderKind::Preventive { plan },
                description,
                at,
            )),
            // Nothing but a request starts a stream; anything else before it is ignored.
            _ => None,
        }
    }

    fn evolve(&mut self, event: WorkOrderEvent) {
        match event {
            // A second request is never decided; the fold keeps the first one.
            WorkOrderEvent::BreakdownReported { .. }
            | WorkOrderEvent::PreventiveWorkRequested { .. } => {}
            WorkOrderEvent::WorkOrderScheduled { from, until, .. }
            | WorkOrderEvent::PmWindowScheduled { from, until, .. } => {
                self.status = WorkOrderStatus::Scheduled;
                self.window = Some((from, until));
            }
            WorkOrderEvent::WorkStarted { at, .. } => {
                self.status = WorkOrderStatus::InProgress;
                self.started = Some(at);
            }
            WorkOrderEvent::BreakdownRepaired { repair_end: at, .. }
            | WorkOrderEvent::PreventiveWorkCompleted { at, .. } => {
                self.status = WorkOrderStatus::Done;
                self.completed = Some(at);
            }
            WorkOrderEvent::WorkOrderCancelled { reason, .. } => {
                self.status = WorkOrderStatus::Cancelled;
                self.cancelled = Some(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests;
