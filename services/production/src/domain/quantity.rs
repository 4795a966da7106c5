//! Quantities with their unit: pieces ([`Units`]) and durations in milliseconds ([`Millis`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number of pieces (good, scrap or total, as the field name says).
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
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A duration in whole milliseconds (thresholds, windows and ideal cycle times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
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
