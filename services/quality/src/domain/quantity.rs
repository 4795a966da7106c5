//! Quantities with their unit: pieces ([`Units`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number of pieces (inspected, rejected, nonconforming or dispositioned, as the field says).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Units(pub u64);

impl Units {
    /// No pieces.
    pub const ZERO: Units = Units(0);

    /// Returns the sum, or `None` when it does not fit in 64 bits.
    pub fn checked_add(self, other: Units) -> Option<Units> {
        self.0.checked_add(other.0).map(Units)
    }

    /// Returns the sum, capped at the largest count.
    pub fn saturating_add(self, other: Units) -> Units {
        Units(self.0.saturating_add(other.0))
    }

    /// Returns the difference, zero when `other` is larger.
    pub fn saturating_sub(self, other: Units) -> Units {
        Units(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
