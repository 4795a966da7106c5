//! Commands a work order accepts.

use chrono::{DateTime, Utc};
use mom_domain::{CommandSpan, CommandTime, Timed};
use serde::{Deserialize, Serialize};

use crate::domain::asset::AssetLevel;
use crate::domain::ids::{
    AssetId, Description, FailureMode, PlanId, ProductId, Reason, WorkOrderId,
};

/// The work unit a new work order is for, with what the application found in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equipment {
    /// The work unit's id (the id production uses).
    pub id: AssetId,
    /// Its level and whether it is retired; `None` when it is not registered.
    pub found: Option<(AssetLevel, bool)>,
}

/// The due plan occurrence a preventive work order carries out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOccurrence {
    /// The plan.
    pub plan: PlanId,
    /// How many times the plan had become due, this one included.
    pub occurrence: u32,
}

/// A request to change a work order; `at` is when it happened on the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkOrderCommand {
    /// Reports a breakdown of `equipment` that started at `failure_start`: a corrective order.
    ReportBreakdown {
        work_order: WorkOrderId,
        equipment: Equipment,
        failure_mode: FailureMode,
        failure_start: DateTime<Utc>,
        product: Option<ProductId>,
        description: Option<Description>,
        at: DateTime<Utc>,
    },
    /// Requests preventive work on `equipment`, for a due plan occurrence when `plan` is given.
    RequestPreventive {
        work_order: WorkOrderId,
        equipment: Equipment,
        plan: Option<PlanOccurrence>,
        description: Option<Description>,
        at: DateTime<Utc>,
    },
    /// Schedules the work over `[from, until)`.
    Schedule {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Work started (for a corrective order: the repair started).
    Start { at: DateTime<Utc> },
    /// Work ended (for a corrective order: the repair ended, the equipment runs again).
    Complete { at: DateTime<Utc> },
    /// Cancels the order before work started.
    Cancel { reason: Reason, at: DateTime<Utc> },
}

impl Timed for WorkOrderCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            WorkOrderCommand::ReportBreakdown { at, .. }
            | WorkOrderCommand::RequestPreventive { at, .. }
            | WorkOrderCommand::Schedule { at, .. }
            | WorkOrderCommand::Start { at }
            | WorkOrderCommand::Complete { at }
            | WorkOrderCommand::Cancel { at, .. } => *at,
        }
    }

    fn times(&self) -> Vec<CommandTime> {
        match self {
            WorkOrderCommand::ReportBreakdown {
                failure_start, at, ..
            } => vec![
                CommandTime::happened("failure_start", *failure_start),
                CommandTime::happened("at", *at),
            ],
            WorkOrderCommand::Schedule { from, until, at } => vec![
                CommandTime::happened("at", *at),
                CommandTime::planned("from", *from),
                CommandTime::planned("until", *until),
            ],
            _ => vec![CommandTime::happened("at", self.at())],
        }
    }

    fn span(&self) -> Option<CommandSpan> {
        match self {
            WorkOrderCommand::ReportBreakdown {
                failure_start, at, ..
            } => Some(CommandSpan {
                what: "breakdown reported after its start",
                field: "failure_start",
                from: *failure_start,
                until: *at,
                max: MAX_BREAKDOWN_REPORT_DELAY,
            }),
            WorkOrderCommand::Schedule { from, until, .. } => Some(CommandSpan {
                what: "maintenance window",
                field: "until",
                from: *from,
                until: *until,
                max: MAX_MAINTENANCE_WINDOW,
            }),
            _ => None,
        }
    }
}

/// The longest time between a failure's start and its report (31 days).
pub const MAX_BREAKDOWN_REPORT_DELAY: chrono::Duration = chrono::Duration::days(31);

/// The longest maintenance window one work order is scheduled for (92 days).
pub const MAX_MAINTENANCE_WINDOW: chrono::Duration = chrono::Duration::days(92);
