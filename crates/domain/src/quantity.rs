//! Quantities with their unit, as every domain counts them: pieces or material amounts
//! ([`Units`]) and durations in whole milliseconds ([`Millis`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A whole number of pieces, cycles or units of a material (the field name says which).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Units(pub u64);

impl Units {
    /// Nothing.
    pub const ZERO: Units = Units(0);

    /// Returns the sum, or `None` when it does not fit in 64 bits.
    pub fn checked_add(self, other: Units) -> Option<Units> {
        self.0.checked_add(other.0).map(Units)
    }

    /// Returns the difference, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Units) -> Option<Units> {
        self.0.checked_sub(other.0).map(Units)
    }

    /// Returns the sum, capped at the largest count.
    pub fn saturating_add(self, other: Units) -> Units {
        Units(self.0.saturating_add(other.0))
    }

    /// Returns the difference, floored at zero.
    pub fn saturating_sub(self, other: Units) -> Units {
        Units(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A duration in whole milliseconds (thresholds, windows, cycle and run times).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// Milliseconds in one hour.
    pub const HOUR: u64 = 3_600_000;

    /// Returns `minutes` as milliseconds.
    pub const fn from_minutes(minutes: u64) -> Millis {
        Millis(minutes * 60_000)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_add_and_subtract_without_wrapping() {
        assert_eq!(Units(u64::MAX).checked_add(Units(1)), None);
        assert_eq!(Units(u64::MAX).saturating_add(Units(1)), Units(u64::MAX));
        assert_eq!(Units(1).checked_sub(Units(2)), None);
        assert_eq!(Units(1).saturating_sub(Units(2)), Units::ZERO);
        assert_eq!(Units(3).checked_add(Units(4)), Some(Units(7)));
    }

    #[test]
    fn quantities_are_stored_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&Units(7)).ok().as_deref(), Some("7"));
        assert_eq!(Millis::from_minutes(2), Millis(120_000));
        assert_eq!(Millis(5).to_string(), "5 ms");
    }
}
