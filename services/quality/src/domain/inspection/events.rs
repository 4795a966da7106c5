//! Events of an inspection, one per message in `mom/quality/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{InspectionId, LotId, OperationNumber, PlanId, ProductId, WorkUnitId};
use crate::domain::spec::{Characteristic, Measurement};

/// A fact about an inspection. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InspectionEvent {
    /// The inspection started against a plan revision, whose checks it copies.
    InspectionStarted {
        inspection_id: InspectionId,
        plan_id: PlanId,
        plan_revision: u32,
        product: ProductId,
        operation: OperationNumber,
        characteristics: Vec<Characteristic>,
        sample_size: Units,
        work_unit: Option<WorkUnitId>,
        lot: Option<LotId>,
        produced_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        /// The plan revision's setting; absent in events stored before it existed: no NCR.
        #[serde(default)]
        open_ncr_on_failure: bool,
    },
    /// `quantity` units were inspected with these measurements; `rejected` is `quantity` when
    /// any value is out of spec, else zero. Where and when they were made is resolved (the
    /// inspection's defaults filled in).
    InspectionResultRecorded {
        product: ProductId,
        operation: OperationNumber,
        work_unit: Option<WorkUnitId>,
        lot: Option<LotId>,
        produced_at: Option<DateTime<Utc>>,
        quantity: Units,
        rejected: Units,
        measurements: Vec<Measurement>,
        at: DateTime<Utc>,
    },
    /// The inspection finished; accepted when no unit was rejected.
    InspectionCompleted {
        product: ProductId,
        work_unit: Option<WorkUnitId>,
        inspected: Units,
        rejected: Units,
        accepted: bool,
        at: DateTime<Utc>,
    },
}

impl InspectionEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "InspectionStarted",
        "InspectionResultRecorded",
        "InspectionCompleted",
    ];

    /// Returns when the fact happened (the inspection time, not the production time).
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            InspectionEvent::InspectionStarted { at, .. }
            | InspectionEvent::InspectionResultRecorded { at, .. }
            | InspectionEvent::InspectionCompleted { at, .. } => *at,
        }
    }
}

impl EventType for InspectionEvent {
    fn type_name(&self) -> &'static str {
        match self {
            InspectionEvent::InspectionStarted { .. } => "InspectionStarted",
            InspectionEvent::InspectionResultRecorded { .. } => "InspectionResultRecorded",
            InspectionEvent::InspectionCompleted { .. } => "InspectionCompleted",
        }
    }
}
