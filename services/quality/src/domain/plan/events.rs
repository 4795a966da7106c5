//! Events of an inspection plan, one per message in `mom/quality/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OperationNumber, PlanId, ProductId, Text};
use crate::domain::spec::{Characteristic, Frequency};

/// A fact about an inspection plan. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlanEvent {
    /// The plan was defined, at revision 1.
    InspectionPlanDefined {
        plan_id: PlanId,
        product: ProductId,
        operation: OperationNumber,
        characteristics: Vec<Characteristic>,
        sample_size: Units,
        frequency: Frequency,
        /// Absent in events stored before the setting existed: no NCR.
        #[serde(default)]
        open_ncr_on_failure: bool,
        at: DateTime<Utc>,
    },
    /// The plan's checks were replaced by revision `revision`.
    InspectionPlanRevised {
        product: ProductId,
        operation: OperationNumber,
        revision: u32,
        characteristics: Vec<Characteristic>,
        sample_size: Units,
        frequency: Frequency,
        /// Absent in events stored before the setting existed: no NCR.
        #[serde(default)]
        open_ncr_on_failure: bool,
        at: DateTime<Utc>,
    },
    /// The plan was retired.
    InspectionPlanRetired {
        product: ProductId,
        operation: OperationNumber,
        reason: Text,
        at: DateTime<Utc>,
    },
}

impl PlanEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "InspectionPlanDefined",
        "InspectionPlanRevised",
        "InspectionPlanRetired",
    ];

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            PlanEvent::InspectionPlanDefined { at, .. }
            | PlanEvent::InspectionPlanRevised { at, .. }
            | PlanEvent::InspectionPlanRetired { at, .. } => *at,
        }
    }
}

impl EventType for PlanEvent {
    fn type_name(&self) -> &'static str {
        match self {
            PlanEvent::InspectionPlanDefined { .. } => "InspectionPlanDefined",
            PlanEvent::InspectionPlanRevised { .. } => "InspectionPlanRevised",
            PlanEvent::InspectionPlanRetired { .. } => "InspectionPlanRetired",
        }
    }
}
