//! The nonconformance report's state, its decisions and its fold.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream, Units};
use serde::{Deserialize, Serialize};

use super::commands::{Disposition, NcrCommand};
use super::error::NcrError;
use super::events::NcrEvent;
use crate::domain::ids::{InspectionId, LotId, NcrId, ProductId, Text, WorkUnitId};

/// A nonconformance report: the aggregate `nonconformance`. Before it is opened it has no
/// state and rejects every command but `Open` with [`NcrError::NotFound`].
pub type Nonconformance = Stream<Option<NonconformanceState>>;

/// One disposition decided on an NCR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionLine {
    /// What happens to the units.
    pub disposition: Disposition,
    /// How many units.
    pub quantity: Units,
    /// Their lot, when named.
    pub lot: Option<LotId>,
}

/// The state of an opened NCR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonconformanceState {
    id: NcrId,
    product: ProductId,
    quantity: Units,
    description: Text,
    inspection: Option<InspectionId>,
    work_unit: Option<WorkUnitId>,
    contained_lots: Vec<LotId>,
    dispositions: Vec<DispositionLine>,
    dispositioned: Units,
    opened_at: DateTime<Utc>,
    closed: bool,
}

impl NonconformanceState {
    /// Returns the NCR id.
    pub fn id(&self) -> NcrId {
        self.id
    }

    /// Returns the nonconforming product.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// Returns the nonconforming quantity.
    pub fn quantity(&self) -> Units {
        self.quantity
    }

    /// Returns what is wrong.
    pub fn description(&self) -> &Text {
        &self.description
    }

    /// Returns the inspection the NCR comes from, if any.
    pub fn inspection(&self) -> Option<InspectionId> {
        self.inspection
    }

    /// Returns the equipment that made the units, when known.
    pub fn work_unit(&self) -> Option<&WorkUnitId> {
        self.work_unit.as_ref()
    }

    /// Returns the contained lots, in the order they were contained.
    pub fn contained_lots(&self) -> &[LotId] {
        &self.contained_lots
    }

    /// Returns the dispositions, in the order they were decided.
    pub fn dispositions(&self) -> &[DispositionLine] {
        &self.dispositions
    }

    /// Returns the nonconforming units not dispositioned yet.
    pub fn remaining(&self) -> Units {
        self.quantity.saturating_sub(self.dispositioned)
    }

    /// Returns whether the NCR is closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Resolves the lot of a disposition: a named lot must be contained (when any is), an
    /// unnamed one is the only contained lot, and scrap or return to supplier of one of several
    /// contained lots must say which, so that inventory can move it.
    fn disposed_lot(
        &self,
        disposition: Disposition,
        lot: Option<LotId>,
    ) -> Result<Option<LotId>, NcrError> {
        match (lot, self.contained_lots.as_slice()) {
            (Some(lot), []) => Ok(Some(lot)),
            (Some(lot), contained) if contained.contains(&lot) => Ok(Some(lot)),
            (Some(lot), _) => Err(NcrError::LotNotContained { lot }),
            (None, []) => Ok(None),
            (None, [only]) => Ok(Some(only.clone())),
            (None, contained) if disposition.moves_material() => Err(NcrError::LotRequired {
                disposition,
                contained: contained.len(),
            }),
            (None, _) => Ok(None),
        }
    }

    fn not_before_opened(&self, at: DateTime<Utc>) -> Result<(), NcrError> {
        if at < self.opened_at {
            return Err(NcrError::BeforeOpened {
                at,
                opened_at: self.opened_at,
            });
        }
        Ok(())
    }
}

/// Checks that no lot is listed twice.
fn distinct(lots: &[LotId]) -> Result<(), NcrError> {
    let mut seen = BTreeSet::new();
    match lots.iter().find(|lot| !seen.insert(*lot)) {
        Some(lot) => Err(NcrError::DuplicateLot { lot: lot.clone() }),
        None => Ok(()),
    }
}

impl Lifecycle for NonconformanceState {
    const TYPE: &'static str = "nonconformance";
    const NOUN: &'static str = "nonconformance";
    const SHORT_NOUN: &'static str = "ncr";
    type Command = NcrCommand;
    type Event = NcrEvent;
    type Error = NcrError;

    fn create(command: NcrCommand) -> Result<Vec<NcrEvent>, NcrError> {
        let NcrCommand::Open {
            ncr,
            source,
            product,
            quantity,
            description,
            work_unit,
            contained_lots,
            at,
        } = command
        else {
            return Err(NcrError::NotFound);
        };
        distinct(&contained_lots)?;
        let (product, quantity, work_unit, contained_lots, inspection) = match source {
            None => (
                product.ok_or(NcrError::MissingProduct)?,
                quantity.ok_or(NcrError::MissingQuantity)?,
                work_unit,
                contained_lots,
                None,
            ),
            Some(source) => {
                if source.rejected == Units::ZERO {
                    return Err(NcrError::InspectionWithoutRejects {
                        inspection: source.inspection,
                    });
                }
                if let Some(given) = product.filter(|given| *given != source.product) {
                    return Err(NcrError::ProductMismatch {
                        given,
                        inspected: source.product,
                    });
                }
                let lots = if contained_lots.is_empty() {
                    source.rejected_lots
                } else {
                    contained_lots
                };
                (
                    source.product,
                    quantity.unwrap_or(source.rejected),
                    work_unit.or(source.work_unit),
                    lots,
                    Some(source.inspection),
                )
            }
        };
        if quantity == Units::ZERO {
            return Err(NcrError::ZeroQuantity);
        }
        Ok(vec![NcrEvent::NonconformanceOpened {
            ncr_id: ncr,
            product,
            quantity,
            description,
            inspection_id: inspection,
            work_unit,
            contained_lots,
            at,
        }])
    }

    fn decide(&self, command: NcrCommand) -> Result<Vec<NcrEvent>, NcrError> {
        match command {
            NcrCommand::Open { .. } => Err(NcrError::AlreadyOpened { ncr: self.id }),
            _ if self.closed => Err(NcrError::Closed),
            NcrCommand::Contain { lots, at } => {
                if lots.is_empty() {
                    return Err(NcrError::NoLots);
                }
                distinct(&lots)?;
                self.not_before_opened(at)?;
                let new: Vec<LotId> = lots
                    .into_iter()
                    .filter(|lot| !self.contained_lots.contains(lot))
                    .collect();
                if new.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![NcrEvent::NonconformanceContained {
                    product: self.product.clone(),
                    lots: new,
                    at,
                }])
            }
            NcrCommand::Disposition {
                disposition,
                quantity,
                lot,
                note,
                at,
            } => {
                if quantity == Units::ZERO {
                    return Err(NcrError::ZeroQuantity);
                }
                self.not_before_opened(at)?;
                let remaining = self.remaining();
                if quantity > remaining {
                    return Err(NcrError::ExceedsRemaining {
                        quantity,
                        remaining,
                    });
                }
                let lot = self.disposed_lot(disposition, lot)?;
                Ok(vec![NcrEvent::NonconformanceDispositioned {
                    product: self.product.clone(),
                    work_unit: self.work_unit.clone(),
                    disposition,
                    quantity,
                    lot,
                    remaining: remaining.saturating_sub(quantity),
                    note,
                    at,
                }])
            }
            NcrCommand::Close { at } => {
                self.not_before_opened(at)?;
                let remaining = self.remaining();
                if remaining > Units::ZERO {
                    return Err(NcrError::Undisposed { remaining });
                }
                Ok(vec![NcrEvent::NonconformanceClosed {
                    product: self.product.clone(),
                    at,
                }])
            }
        }
    }

    fn born(event: NcrEvent) -> Option<Self> {
        match event {
            NcrEvent::NonconformanceOpened {
                ncr_id,
                product,
                quantity,
                description,
                inspection_id,
                work_unit,
                contained_lots,
                at,
            } => Some(NonconformanceState {
                id: ncr_id,
                product,
                quantity,
                description,
                inspection: inspection_id,
                work_unit,
                contained_lots,
                dispositions: Vec::new(),
                dispositioned: Units::ZERO,
                opened_at: at,
                closed: false,
            }),
            _ => None,
        }
    }

    fn evolve(&mut self, event: NcrEvent) {
        match event {
            // A second opening is never decided; nothing to fold.
            NcrEvent::NonconformanceOpened { .. } => {}
            NcrEvent::NonconformanceContained { lots, .. } => {
                for lot in lots {
                    if !self.contained_lots.contains(&lot) {
                        self.contained_lots.push(lot);
                    }
                }
            }
            NcrEvent::NonconformanceDispositioned {
                disposition,
                quantity,
                lot,
                ..
            } => {
                self.dispositioned = self.dispositioned.saturating_add(quantity);
                self.dispositions.push(DispositionLine {
                    disposition,
                    quantity,
                    lot,
                });
            }
            NcrEvent::NonconformanceClosed { .. } => self.closed = true,
        }
    }
}

#[cfg(test)]
mod tests;
