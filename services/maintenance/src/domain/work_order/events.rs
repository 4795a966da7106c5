//! Events of a work order, one per message in `mom/maintenance/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use super::commands::PlanOccurrence;
use crate::domain::ids::{
    AssetId, Description, FailureMode, PlanId, ProductId, Reason, WorkOrderId,
};

/// A fact about a work order. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkOrderEvent {
    /// A breakdown was reported; the corrective order is requested. The failure interval
    /// starts at `failure_start`.
    BreakdownReported {
        work_order: WorkOrderId,
        work_unit: AssetId,
        failure_mode: FailureMode,
        failure_start: DateTime<Utc>,
        product: Option<ProductId>,
        description: Option<Description>,
        at: DateTime<Utc>,
    },
    /// Preventive work was requested.
    PreventiveWorkRequested {
        work_order: WorkOrderId,
        work_unit: AssetId,
        plan: Option<PlanOccurrence>,
        description: Option<Description>,
        at: DateTime<Utc>,
    },
    /// The order was scheduled over `[from, until)` (corrective, or preventive not announced in
    /// advance).
    WorkOrderScheduled {
        work_unit: AssetId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A preventive window over `[from, until)` was announced in advance (`at <= from`): a
    /// planned shutdown of the work unit.
    PmWindowScheduled {
        work_unit: AssetId,
        plan: Option<PlanId>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: Reason,
        at: DateTime<Utc>,
    },
    /// Work started (for a corrective order, the repair start).
    WorkStarted {
        work_unit: AssetId,
        at: DateTime<Utc>,
    },
    /// A corrective order is done: the failure interval `[failure_start, repair_end)`.
    BreakdownRepaired {
        work_unit: AssetId,
        failure_mode: FailureMode,
        product: Option<ProductId>,
        failure_start: DateTime<Utc>,
        repair_start: DateTime<Utc>,
        repair_end: DateTime<Utc>,
    },
    /// A preventive order is done.
    PreventiveWorkCompleted {
        work_unit: AssetId,
        plan: Option<PlanId>,
        started: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The order was cancelled before work started.
    WorkOrderCancelled {
        work_unit: AssetId,
        reason: Reason,
        at: DateTime<Utc>,
    },
}

impl WorkOrderEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "BreakdownReported",
        "PreventiveWorkRequested",
        "WorkOrderScheduled",
        "PmWindowScheduled",
        "WorkStarted",
        "BreakdownRepaired",
        "PreventiveWorkCompleted",
        "WorkOrderCancelled",
    ];

    /// Returns when the fact happened on the floor (the repair end of a repaired breakdown).
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            WorkOrderEvent::BreakdownReported { at, .. }
            | WorkOrderEvent::PreventiveWorkRequested { at, .. }
            | WorkOrderEvent::WorkOrderScheduled { at, .. }
            | WorkOrderEvent::PmWindowScheduled { at, .. }
            | WorkOrderEvent::WorkStarted { at, .. }
            | WorkOrderEvent::PreventiveWorkCompleted { at, .. }
            | WorkOrderEvent::WorkOrderCancelled { at, .. } => *at,
            WorkOrderEvent::BreakdownRepaired { repair_end, .. } => *repair_end,
        }
    }
}

impl EventType for WorkOrderEvent {
    /// Returns the stored event type: the proto message name, written out so that renaming a
    /// variant never renames stored events.
    fn type_name(&self) -> &'static str {
        match self {
            WorkOrderEvent::BreakdownReported { .. } => "BreakdownReported",
            WorkOrderEvent::PreventiveWorkRequested { .. } => "PreventiveWorkRequested",
            WorkOrderEvent::WorkOrderScheduled { .. } => "WorkOrderScheduled",
            WorkOrderEvent::PmWindowScheduled { .. } => "PmWindowScheduled",
            WorkOrderEvent::WorkStarted { .. } => "WorkStarted",
            WorkOrderEvent::BreakdownRepaired { .. } => "BreakdownRepaired",
            WorkOrderEvent::PreventiveWorkCompleted { .. } => "PreventiveWorkCompleted",
            WorkOrderEvent::WorkOrderCancelled { .. } => "WorkOrderCancelled",
        }
    }
}
