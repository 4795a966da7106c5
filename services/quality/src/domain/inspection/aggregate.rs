//! The inspection's state, its decisions and its fold.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream, Units};
use serde::{Deserialize, Serialize};

use super::commands::{InspectionCommand, PlanSnapshot, UnitsMade};
use super::error::InspectionError;
use super::events::InspectionEvent;
use crate::domain::ids::{
    CharacteristicName, InspectionId, LotId, OperationNumber, PlanId, ProductId, WorkUnitId,
};
use crate::domain::spec::{Characteristic, Measurement, Value};

/// An inspection: the aggregate `inspection`. Before it starts it has no state and rejects
/// every command but `Start` with [`InspectionError::NotFound`].
pub type Inspection = Stream<Option<InspectionState>>;

/// Whether the inspection is still recording results, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectionStatus {
    /// Results are being recorded.
    InProgress,
    /// Completed without rejected units.
    Accepted,
    /// Completed with rejected units.
    Rejected,
}

/// The state of a started inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionState {
    id: InspectionId,
    plan: PlanId,
    plan_revision: u32,
    product: ProductId,
    operation: OperationNumber,
    characteristics: Vec<Characteristic>,
    sample_size: Units,
    work_unit: Option<WorkUnitId>,
    lot: Option<LotId>,
    produced_at: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
    inspected: Units,
    rejected: Units,
    rejected_lots: BTreeSet<LotId>,
    status: InspectionStatus,
}

impl InspectionState {
    /// Returns the inspection id.
    pub fn id(&self) -> InspectionId {
        self.id
    }

    /// Returns the plan and the revision the inspection follows.
    pub fn plan(&self) -> (PlanId, u32) {
        (self.plan, self.plan_revision)
    }

    /// Returns the inspected product.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// Returns the operation after which the units were inspected.
    pub fn operation(&self) -> OperationNumber {
        self.operation
    }

    /// Returns the plan's sample size.
    pub fn sample_size(&self) -> Units {
        self.sample_size
    }

    /// Returns the default equipment of the results, when given at the start.
    pub fn work_unit(&self) -> Option<&WorkUnitId> {
        self.work_unit.as_ref()
    }

    /// Returns the units inspected so far.
    pub fn inspected(&self) -> Units {
        self.inspected
    }

    /// Returns the units rejected so far.
    pub fn rejected(&self) -> Units {
        self.rejected
    }

    /// Returns the lots of rejected units.
    pub fn rejected_lots(&self) -> &BTreeSet<LotId> {
        &self.rejected_lots
    }

    /// Returns whether the inspection runs or how it ended.
    pub fn status(&self) -> InspectionStatus {
        self.status
    }

    fn defaults(&self) -> UnitsMade {
        UnitsMade {
            work_unit: self.work_unit.clone(),
            lot: self.lot.clone(),
            produced_at: self.produced_at,
        }
    }

    fn not_before_start(&self, at: DateTime<Utc>) -> Result<(), InspectionError> {
        if at < self.started_at {
            return Err(InspectionError::BeforeStart {
                at,
                started_at: self.started_at,
            });
        }
        Ok(())
    }

    /// Judges one value per characteristic, in plan order.
    fn judge(
        &self,
        values: Vec<(CharacteristicName, Value)>,
    ) -> Result<Vec<Measurement>, InspectionError> {
        let mut given: BTreeMap<CharacteristicName, Value> = BTreeMap::new();
        for (name, value) in values {
            if !self.characteristics.iter().any(|c| c.name == name) {
                return Err(InspectionError::UnknownCharacteristic { name });
            }
            if given.contains_key(&name) {
                return Err(InspectionError::DuplicateValue { name });
            }
            given.insert(name, value);
        }
        self.characteristics
            .iter()
            .map(|characteristic| {
                let name = &characteristic.name;
                let value = *given
                    .get(name)
                    .ok_or_else(|| InspectionError::MissingValue { name: name.clone() })?;
                let conforming = characteristic.spec.conforms(&value).map_err(|source| {
                    InspectionError::BadValue {
                        name: name.clone(),
                        source,
                    }
                })?;
                Ok(Measurement {
                    characteristic: name.clone(),
                    value,
                    conforming,
                })
            })
            .collect()
    }
}

/// Checks that units are named by lot or by equipment and time, and not made after `at`.
fn check_units_made(made: &UnitsMade, at: DateTime<Utc>) -> Result<(), InspectionError> {
    if let Some(produced_at) = made.produced_at {
        if made.work_unit.is_none() {
            return Err(InspectionError::ProducedAtWithoutWorkUnit);
        }
        if produced_at > at {
            return Err(InspectionError::ProducedAfterInspection { produced_at, at });
        }
    }
    Ok(())
}

impl Lifecycle for InspectionState {
    const TYPE: &'static str = "inspection";
    const NOUN: &'static str = "inspection";
    type Command = InspectionCommand;
    type Event = InspectionEvent;
    type Error = InspectionError;

    fn create(command: InspectionCommand) -> Result<Vec<InspectionEvent>, InspectionError> {
        let InspectionCommand::Start {
            inspection,
            plan,
            made,
            at,
        } = command
        else {
            return Err(InspectionError::NotFound);
        };
        let PlanSnapshot {
            plan,
            revision,
            product,
            operation,
            characteristics,
            sample_size,
            retired,
            open_ncr_on_failure,
        } = plan;
        if retired {
            return Err(InspectionError::PlanRetired { plan });
        }
        check_units_made(&made, at)?;
        Ok(vec![InspectionEvent::InspectionStarted {
            inspection_id: inspection,
            plan_id: plan,
            plan_revision: revision,
            product,
            operation,
            characteristics,
            sample_size,
            work_unit: made.work_unit,
            lot: made.lot,
            produced_at: made.produced_at,
            at,
            open_ncr_on_failure,
        }])
    }

    fn decide(&self, command: InspectionCommand) -> Result<Vec<InspectionEvent>, InspectionError> {
        match command {
            InspectionCommand::Start { .. } => Err(InspectionError::AlreadyStarted {
                inspection: self.id,
            }),
            _ if self.status != InspectionStatus::InProgress => Err(InspectionError::Completed),
            InspectionCommand::RecordResult {
                quantity,
                values,
                made,
                at,
            } => {
                if quantity == Units::ZERO {
                    return Err(InspectionError::ZeroQuantity);
                }
                self.inspected
                    .checked_add(quantity)
                    .ok_or(InspectionError::QuantityOverflow)?;
                self.not_before_start(at)?;
                let made = made.or(&self.defaults());
                check_units_made(&made, at)?;
                if made.lot.is_none() && made.produced_at.is_none() {
                    return Err(InspectionError::UnitsNotNamed);
                }
                let measurements = self.judge(values)?;
                let rejected = if measurements.iter().all(|m| m.conforming) {
                    Units::ZERO
                } else {
                    quantity
                };
                Ok(vec![InspectionEvent::InspectionResultRecorded {
                    product: self.product.clone(),
                    operation: self.operation,
                    work_unit: made.work_unit,
                    lot: made.lot,
                    produced_at: made.produced_at,
                    quantity,
                    rejected,
                    measurements,
                    at,
                }])
            }
            InspectionCommand::Complete { at } => {
                self.not_before_start(at)?;
                if self.inspected < self.sample_size {
                    return Err(InspectionError::SampleIncomplete {
                        inspected: self.inspected,
                        sample_size: self.sample_size,
                    });
                }
                Ok(vec![InspectionEvent::InspectionCompleted {
                    product: self.product.clone(),
                    work_unit: self.work_unit.clone(),
                    inspected: self.inspected,
                    rejected: self.rejected,
                    accepted: self.rejected == Units::ZERO,
                    at,
                }])
            }
        }
    }

    fn born(event: InspectionEvent) -> Option<Self> {
        match event {
            InspectionEvent::InspectionStarted {
                inspection_id,
                plan_id,
                plan_revision,
                product,
                operation,
                characteristics,
                sample_size,
                work_unit,
                lot,
                produced_at,
                at,
                ..
            } => Some(InspectionState {
                id: inspection_id,
                plan: plan_id,
                plan_revision,
                product,
                operation,
                characteristics,
                sample_size,
                work_unit,
                lot,
                produced_at,
                started_at: at,
                inspected: Units::ZERO,
                rejected: Units::ZERO,
                rejected_lots: BTreeSet::new(),
                status: InspectionStatus::InProgress,
            }),
            _ => None,
        }
    }

    fn evolve(&mut self, event: InspectionEvent) {
        match event {
            // A second start is never decided; nothing to fold.
            InspectionEvent::InspectionStarted { .. } => {}
            InspectionEvent::InspectionResultRecorded {
                quantity,
                rejected,
                lot,
                ..
            } => {
                self.inspected = self.inspected.saturating_add(quantity);
                self.rejected = self.rejected.saturating_add(rejected);
                if rejected > Units::ZERO {
                    self.rejected_lots.extend(lot);
                }
            }
            InspectionEvent::InspectionCompleted { accepted, .. } => {
                self.status = if accepted {
                    InspectionStatus::Accepted
                } else {
                    InspectionStatus::Rejected
                };
            }
        }
    }
}

#[cfg(test)]
mod tests;
