//! The inspection plan's state, its decisions and its fold.

use std::collections::BTreeSet;

use mom_domain::{Lifecycle, Stream, Units};
use serde::{Deserialize, Serialize};

use super::commands::PlanCommand;
use super::error::PlanError;
use super::events::PlanEvent;
use crate::domain::ids::{OperationNumber, PlanId, ProductId};
use crate::domain::spec::{Characteristic, Frequency};

/// An inspection plan: the aggregate `inspection_plan`. Before its definition it has no state
/// and rejects every command but `Define` with [`PlanError::NotFound`].
pub type InspectionPlan = Stream<Option<PlanState>>;

/// The state of a defined inspection plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanState {
    id: PlanId,
    product: ProductId,
    operation: OperationNumber,
    revision: u32,
    characteristics: Vec<Characteristic>,
    sample_size: Units,
    frequency: Frequency,
    retired: bool,
    /// Absent in snapshots taken before the setting existed: no NCR.
    #[serde(default)]
    open_ncr_on_failure: bool,
}

impl PlanState {
    /// Returns the plan id.
    pub fn id(&self) -> PlanId {
        self.id
    }

    /// Returns the product the plan inspects.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// Returns the operation after which the plan inspects.
    pub fn operation(&self) -> OperationNumber {
        self.operation
    }

    /// Returns the revision, 1 at definition.
    pub fn revision(&self) -> u32 {
        self.revision
    }

    /// Returns the characteristics, in plan order.
    pub fn characteristics(&self) -> &[Characteristic] {
        &self.characteristics
    }

    /// Returns how many units one inspection checks at least.
    pub fn sample_size(&self) -> Units {
        self.sample_size
    }

    /// Returns how often to inspect.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// Returns whether a failed inspection of the plan opens an NCR.
    pub fn opens_ncr_on_failure(&self) -> bool {
        self.open_ncr_on_failure
    }

    /// Returns whether the plan is retired.
    pub fn is_retired(&self) -> bool {
        self.retired
    }
}

/// Checks what a definition or revision asks to inspect.
fn check_plan(
    characteristics: &[Characteristic],
    sample_size: Units,
    frequency: Frequency,
) -> Result<(), PlanError> {
    if characteristics.is_empty() {
        return Err(PlanError::NoCharacteristics);
    }
    let mut names = BTreeSet::new();
    for characteristic in characteristics {
        if !names.insert(&characteristic.name) {
            return Err(PlanError::DuplicateCharacteristic {
                name: characteristic.name.clone(),
            });
        }
        characteristic
            .spec
            .check()
            .map_err(|source| PlanError::BadSpec {
                name: characteristic.name.clone(),
                source,
            })?;
    }
    if sample_size == Units::ZERO {
        return Err(PlanError::ZeroSampleSize);
    }
    if frequency.is_zero() {
        return Err(PlanError::ZeroFrequency);
    }
    Ok(())
}

impl Lifecycle for PlanState {
    const TYPE: &'static str = "inspection_plan";
    const NOUN: &'static str = "inspection plan";
    const SHORT_NOUN: &'static str = "plan";
    type Command = PlanCommand;
    type Event = PlanEvent;
    type Error = PlanError;

    fn create(command: PlanCommand) -> Result<Vec<PlanEvent>, PlanError> {
        let PlanCommand::Define {
            plan,
            product,
            operation,
            characteristics,
            sample_size,
            frequency,
            open_ncr_on_failure,
            at,
        } = command
        else {
            return Err(PlanError::NotFound);
        };
        check_plan(&characteristics, sample_size, frequency)?;
        Ok(vec![PlanEvent::InspectionPlanDefined {
            plan_id: plan,
            product,
            operation,
            characteristics,
            sample_size,
            frequency,
            open_ncr_on_failure,
            at,
        }])
    }

    fn decide(&self, command: PlanCommand) -> Result<Vec<PlanEvent>, PlanError> {
        match command {
            PlanCommand::Define { .. } => Err(PlanError::AlreadyDefined { plan: self.id }),
            _ if self.retired => Err(PlanError::Retired),
            PlanCommand::Revise {
                characteristics,
                sample_size,
                frequency,
                open_ncr_on_failure,
                at,
            } => {
                check_plan(&characteristics, sample_size, frequency)?;
                Ok(vec![PlanEvent::InspectionPlanRevised {
                    product: self.product.clone(),
                    operation: self.operation,
                    revision: self.revision.saturating_add(1),
                    characteristics,
                    sample_size,
                    frequency,
                    open_ncr_on_failure,
                    at,
                }])
            }
            PlanCommand::Retire { reason, at } => Ok(vec![PlanEvent::InspectionPlanRetired {
                product: self.product.clone(),
                operation: self.operation,
                reason,
                at,
            }]),
        }
    }

    fn born(event: PlanEvent) -> Option<Self> {
        match event {
            PlanEvent::InspectionPlanDefined {
                plan_id,
                product,
                operation,
                characteristics,
                sample_size,
                frequency,
                open_ncr_on_failure,
                ..
            } => Some(PlanState {
                id: plan_id,
                product,
                operation,
                revision: 1,
                characteristics,
                sample_size,
                frequency,
                retired: false,
                open_ncr_on_failure,
            }),
            _ => None,
        }
    }

    fn evolve(&mut self, event: PlanEvent) {
        match event {
            // A second definition is never decided; nothing to fold.
            PlanEvent::InspectionPlanDefined { .. } => {}
            PlanEvent::InspectionPlanRevised {
                revision,
                characteristics,
                sample_size,
                frequency,
                open_ncr_on_failure,
                ..
            } => {
                self.open_ncr_on_failure = open_ncr_on_failure;
                self.revision = revision;
                self.characteristics = characteristics;
                self.sample_size = sample_size;
                self.frequency = frequency;
            }
            PlanEvent::InspectionPlanRetired { .. } => self.retired = true,
        }
    }
}

#[cfg(test)]
mod tests;
