//! The lot's state, its decisions and its fold.
//!
//! A hold blocks moves and consumes but not scrap: scrapping is how a hold is disposed of. Several
//! holds may be active at once (one per reference, for example one per NCR); the lot is on hold
//! while any is. Emptied locations are dropped from the quantities, so a lot holds nothing at a
//! location it does not list.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::LotCommand;
use super::error::LotError;
use super::events::LotEvent;
use crate::domain::ids::{HoldRef, LocationId, LotId, MaterialId, OrderId, Text};
use crate::domain::Quantity;

/// An active hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why the lot is held.
    pub reason: Text,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// The state of an existing lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotState {
    id: LotId,
    material: MaterialId,
    supplier_lot: Option<Text>,
    expiry: Option<DateTime<Utc>>,
    quantities: BTreeMap<LocationId, Quantity>,
    holds: BTreeMap<HoldRef, Hold>,
    produced_by: Option<OrderId>,
    inputs: Vec<LotId>,
    consumed_by: BTreeSet<OrderId>,
}

impl LotState {
    /// Returns the lot id.
    pub fn id(&self) -> &LotId {
        &self.id
    }

    /// Returns the lot's material.
    pub fn material(&self) -> &MaterialId {
        &self.material
    }

    /// Returns the supplier's lot number, when known.
    pub fn supplier_lot(&self) -> Option<&Text> {
        self.supplier_lot.as_ref()
    }

    /// Returns when the lot expires, if it does.
    pub fn expiry(&self) -> Option<DateTime<Utc>> {
        self.expiry
    }

    /// Returns the quantity per location (only locations that hold some).
    pub fn quantities(&self) -> &BTreeMap<LocationId, Quantity> {
        &self.quantities
    }

    /// Returns the quantity over all locations.
    pub fn total(&self) -> Quantity {
        self.quantities
            .values()
            .fold(Quantity::ZERO, |sum, q| sum.saturating_add(*q))
    }

    /// Returns the active holds by reference.
    pub fn holds(&self) -> &BTreeMap<HoldRef, Hold> {
        &self.holds
    }

    /// Returns the order that produced the lot, for an output lot.
    pub fn produced_by(&self) -> Option<OrderId> {
        self.produced_by
    }

    /// Returns the lots that went into this one (empty for a received lot).
    pub fn inputs(&self) -> &[LotId] {
        &self.inputs
    }

    /// Returns the orders that consumed from the lot.
    pub fn consumed_by(&self) -> &BTreeSet<OrderId> {
        &self.consumed_by
    }

    fn available(&self, location: &LocationId) -> Quantity {
        self.quantities.get(location).copied().unwrap_or_default()
    }

    /// Checks that `quantity` is positive and the lot holds that much at `location`.
    fn take(&self, location: &LocationId, quantity: Quantity) -> Result<(), LotError> {
        if quantity == Quantity::ZERO {
            return Err(LotError::ZeroQuantity);
        }
        let available = self.available(location);
        if available < quantity {
            return Err(LotError::InsufficientQuantity {
                material: self.material.clone(),
                location: location.clone(),
                available,
                requested: quantity,
            });
        }
        Ok(())
    }

    fn not_held(&self) -> Result<(), LotError> {
        if self.holds.is_empty() {
            return Ok(());
        }
        let holds = self
            .holds
            .keys()
            .map(HoldRef::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Err(LotError::OnHold { holds })
    }

    fn add(&mut self, location: LocationId, quantity: Quantity) {
        let held = self.quantities.entry(location).or_default();
        *held = held.saturating_add(quantity);
    }

    fn remove(&mut self, location: &LocationId, quantity: Quantity) {
        if let Some(held) = self.quantities.get_mut(location) {
            *held = held.saturating_sub(quantity);
            if *held == Quantity::ZERO {
                self.quantities.remove(location);
            }
        }
    }
}

fn check_creation(
    quantity: Quantity,
    expiry: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<(), LotError> {
    if quantity == Quantity::ZERO {
        return Err(LotError::ZeroQuantity);
    }
    match expiry {
        Some(expiry) if expiry <= at => Err(LotError::ExpiryNotAfterCreation { expiry, at }),
        _ => Ok(()),
    }
}

impl Lifecycle for LotState {
    const TYPE: &'static str = "lot";
    const NOUN: &'static str = "lot";
    type Command = LotCommand;
    type Event = LotEvent;
    type Error = LotError;

    fn create(command: LotCommand) -> Result<Vec<LotEvent>, LotError> {
        match command {
            LotCommand::Receive {
                lot,
                material,
                supplier_lot,
                expiry,
                location,
                quantity,
                at,
            } => {
                check_creation(quantity, expiry, at)?;
                Ok(vec![LotEvent::LotReceived {
                    lot,
                    material,
                    supplier_lot,
                    expiry,
                    location,
                    quantity,
                    at,
                }])
            }
            LotCommand::Produce {
                lot,
                material,
                order,
                work_unit,
                location,
                quantity,
                inputs,
                expiry,
                at,
            } => {
                check_creation(quantity, expiry, at)?;
                let mut seen = BTreeSet::new();
                for input in &inputs {
                    if *input == lot {
                        return Err(LotError::SelfInput { lot });
                    }
                    if !seen.insert(input) {
                        return Err(LotError::DuplicateInput { lot: input.clone() });
                    }
                }
                Ok(vec![LotEvent::LotProduced {
                    lot,
                    material,
                    order,
                    work_unit,
                    location,
                    quantity,
                    inputs,
                    expiry,
                    at,
                }])
            }
            _ => Err(LotError::NotFound),
        }
    }

    fn decide(&self, command: LotCommand) -> Result<Vec<LotEvent>, LotError> {
        let lot = self.id.clone();
        let material = self.material.clone();
        match command {
            LotCommand::Receive { .. } | LotCommand::Produce { .. } => {
                Err(LotError::AlreadyExists { lot })
            }
            LotCommand::Move {
                from,
                to,
                quantity,
                at,
            } => {
                if from == to {
                    return Err(LotError::SameLocation { location: from });
                }
                self.take(&from, quantity)?;
                // A move never overflows the target: the lot's total never grows.
                self.not_held()?;
                Ok(vec![LotEvent::LotMoved {
                    lot,
                    material,
                    from,
                    to,
                    quantity,
                    at,
                }])
            }
            LotCommand::Consume {
                order,
                work_unit,
                location,
                quantity,
                at,
            } => {
                if quantity == Quantity::ZERO {
                    return Err(LotError::ZeroQuantity);
                }
                self.not_held()?;
                if let Some(expiry) = self.expiry {
                    if at >= expiry {
                        return Err(LotError::Expired { expiry });
                    }
                }
                self.take(&location, quantity)?;
                Ok(vec![LotEvent::LotConsumed {
                    lot,
                    material,
                    order,
                    work_unit,
                    location,
                    quantity,
                    at,
                }])
            }
            LotCommand::Hold { hold, reason, at } => {
                if self.holds.contains_key(&hold) {
                    return Err(LotError::HoldActive { hold });
                }
                Ok(vec![LotEvent::LotHeld {
                    lot,
                    material,
                    hold,
                    reason,
                    at,
                }])
            }
            LotCommand::ReleaseHold { hold, at } => {
                if !self.holds.contains_key(&hold) {
                    return Err(LotError::HoldNotActive { hold });
                }
                let still_held = self.holds.len() > 1;
                Ok(vec![LotEvent::LotHoldReleased {
                    lot,
                    material,
                    hold,
                    still_held,
                    at,
                }])
            }
            LotCommand::Scrap {
                location,
                quantity,
                reason,
                at,
            } => {
                self.take(&location, quantity)?;
                Ok(vec![LotEvent::LotScrapped {
                    lot,
                    material,
                    location,
                    quantity,
                    reason,
                    at,
                }])
            }
            LotCommand::ScrapAll { reason, at } => {
                if self.quantities.is_empty() {
                    return Err(LotError::Empty);
                }
                Ok(self
                    .quantities
                    .iter()
                    .map(|(location, quantity)| LotEvent::LotScrapped {
                        lot: lot.clone(),
                        material: material.clone(),
                        location: location.clone(),
                        quantity: *quantity,
                        reason: reason.clone(),
                        at,
                    })
                    .collect())
            }
        }
    }

    fn born(event: LotEvent) -> Option<LotState> {
        match event {
            LotEvent::LotReceived {
                lot,
                material,
                supplier_lot,
                expiry,
                location,
                quantity,
                ..
            } => Some(LotState {
                id: lot,
                material,
                supplier_lot,
                expiry,
                quantities: BTreeMap::from([(location, quantity)]),
                holds: BTreeMap::new(),
                produced_by: None,
                inputs: Vec::new(),
                consumed_by: BTreeSet::new(),
            }),
            LotEvent::LotProduced {
                lot,
                material,
                order,
                location,
                quantity,
                inputs,
                expiry,
                ..
            } => Some(LotState {
                id: lot,
                material,
                supplier_lot: None,
                expiry,
                quantities: BTreeMap::from([(location, quantity)]),
                holds: BTreeMap::new(),
                produced_by: Some(order),
                inputs,
                consumed_by: BTreeSet::new(),
            }),
            // Nothing but a creation starts a stream; anything else before it is ignored.
            _ => None,
        }
    }

    fn evolve(&mut self, event: LotEvent) {
        match event {
            // A second creation is never decided; the fold keeps the first one.
            LotEvent::LotReceived { .. } | LotEvent::LotProduced { .. } => {}
            LotEvent::LotMoved {
                from, to, quantity, ..
            } => {
                self.remove(&from, quantity);
                self.add(to, quantity);
            }
            LotEvent::LotConsumed {
                order,
                location,
                quantity,
                ..
            } => {
                self.remove(&location, quantity);
                self.consumed_by.insert(order);
            }
            LotEvent::LotHeld {
                hold, reason, at, ..
            } => {
                self.holds.insert(hold, Hold { reason, since: at });
            }
            LotEvent::LotHoldReleased { hold, .. } => {
                self.holds.remove(&hold);
            }
            LotEvent::LotScrapped {
                location, quantity, ..
            } => self.remove(&location, quantity),
        }
    }
}

/// The lot aggregate: `None` until received or produced, when every command but `Receive` and
/// `Produce` is rejected with [`LotError::NotFound`].
pub type Lot = Stream<Option<LotState>>;

#[cfg(test)]
mod tests;
