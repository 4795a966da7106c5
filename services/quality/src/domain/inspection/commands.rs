//! Commands an inspection accepts.

use chrono::{DateTime, Utc};
use mom_domain::{CommandTime, Timed, Units};

use crate::domain::ids::{
    CharacteristicName, InspectionId, LotId, OperationNumber, PlanId, ProductId, WorkUnitId,
};
use crate::domain::plan::PlanState;
use crate::domain::spec::{Characteristic, Value};

/// The plan revision an inspection starts against, as loaded by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSnapshot {
    pub plan: PlanId,
    pub revision: u32,
    pub product: ProductId,
    pub operation: OperationNumber,
    pub characteristics: Vec<Characteristic>,
    pub sample_size: Units,
    pub retired: bool,
    pub open_ncr_on_failure: bool,
}

impl From<&PlanState> for PlanSnapshot {
    fn from(plan: &PlanState) -> Self {
        Self {
            plan: plan.id(),
            revision: plan.revision(),
            product: plan.product().clone(),
            operation: plan.operation(),
            characteristics: plan.characteristics().to_vec(),
            sample_size: plan.sample_size(),
            retired: plan.is_retired(),
            open_ncr_on_failure: plan.opens_ncr_on_failure(),
        }
    }
}

/// Where and when inspected units were made; each part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitsMade {
    /// The equipment (production's work unit id) that made them.
    pub work_unit: Option<WorkUnitId>,
    /// The lot they belong to.
    pub lot: Option<LotId>,
    /// When they were made.
    pub produced_at: Option<DateTime<Utc>>,
}

impl UnitsMade {
    /// Returns these values, each unknown one taken from `defaults`.
    pub fn or(self, defaults: &UnitsMade) -> UnitsMade {
        UnitsMade {
            work_unit: self.work_unit.or_else(|| defaults.work_unit.clone()),
            lot: self.lot.or_else(|| defaults.lot.clone()),
            produced_at: self.produced_at.or(defaults.produced_at),
        }
    }
}

/// A request to change an inspection; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectionCommand {
    /// Starts the inspection against `plan`; `made` gives the defaults of the results.
    Start {
        inspection: InspectionId,
        plan: PlanSnapshot,
        made: UnitsMade,
        at: DateTime<Utc>,
    },
    /// Records that `quantity` units showed `values` (one per characteristic of the plan).
    RecordResult {
        quantity: Units,
        values: Vec<(CharacteristicName, Value)>,
        made: UnitsMade,
        at: DateTime<Utc>,
    },
    /// Completes the inspection.
    Complete { at: DateTime<Utc> },
}

impl Timed for InspectionCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            InspectionCommand::Start { at, .. }
            | InspectionCommand::RecordResult { at, .. }
            | InspectionCommand::Complete { at } => *at,
        }
    }

    fn times(&self) -> Vec<CommandTime> {
        let produced_at = match self {
            InspectionCommand::Start { made, .. }
            | InspectionCommand::RecordResult { made, .. } => made.produced_at,
            InspectionCommand::Complete { .. } => None,
        };
        let mut times = vec![CommandTime::happened("at", self.at())];
        times.extend(produced_at.map(|t| CommandTime::happened("produced_at", t)));
        times
    }
}
