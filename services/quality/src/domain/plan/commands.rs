//! Commands an inspection plan accepts.

use chrono::{DateTime, Utc};
use mom_domain::{Timed, Units};

use crate::domain::ids::{OperationNumber, PlanId, ProductId, Text};
use crate::domain::spec::{Characteristic, Frequency};

/// A request to change an inspection plan; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanCommand {
    /// Defines the plan for `product` at `operation`.
    Define {
        plan: PlanId,
        product: ProductId,
        operation: OperationNumber,
        characteristics: Vec<Characteristic>,
        sample_size: Units,
        frequency: Frequency,
        /// Whether a failed inspection of the plan opens an NCR.
        open_ncr_on_failure: bool,
        at: DateTime<Utc>,
    },
    /// Replaces the characteristics, sample size and frequency (a new revision).
    Revise {
        characteristics: Vec<Characteristic>,
        sample_size: Units,
        frequency: Frequency,
        /// Whether a failed inspection of the new revision opens an NCR.
        open_ncr_on_failure: bool,
        at: DateTime<Utc>,
    },
    /// Retires the plan.
    Retire { reason: Text, at: DateTime<Utc> },
}

impl Timed for PlanCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            PlanCommand::Define { at, .. }
            | PlanCommand::Revise { at, .. }
            | PlanCommand::Retire { at, .. } => *at,
        }
    }
}
