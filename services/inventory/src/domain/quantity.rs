//! Quantities of material: whole multiples of the material's unit of measure.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of one material, in the material's unit of measure.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Quantity(pub u64);

impl Quantity {
    /// Nothing.
    pub const ZERO: Quantity = Quantity(0);

    /// Returns the sum, or `None` when it does not fit in 64 bits.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.0.checked_add(other.0).map(Quantity)
    }

    /// Returns the difference, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        self.0.checked_sub(other.0).map(Quantity)
    }

    /// Returns the sum, capped at the largest quantity.
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(other.0))
    }

    /// Returns the difference, floored at zero.
    pub fn saturating_sub(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
