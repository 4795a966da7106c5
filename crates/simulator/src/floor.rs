//! What a line and its work units share on the shop floor: the product the order running on a
//! unit wants it to make, and the units it made since the line last booked them to that order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Default)]
struct Station {
    wanted: Option<&'static str>,
    made: u64,
}

/// Shared between the plant's tasks; cheap to clone. The lock is never held across an await.
#[derive(Debug, Default, Clone)]
pub(crate) struct Floor(Arc<Mutex<BTreeMap<&'static str, Station>>>);

impl Floor {
    fn with<T>(&self, unit: &'static str, f: impl FnOnce(&mut Station) -> T) -> T {
        // A task that panicked while holding the lock left whole numbers behind; go on with them.
        let mut stations = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(stations.entry(unit).or_default())
    }

    /// Sets (or clears) the product the order running on `unit` wants.
    pub(crate) fn want(&self, unit: &'static str, product: Option<&'static str>) {
        self.with(unit, |station| station.wanted = product);
    }

    /// Returns the product the order running on `unit` wants, if any.
    pub(crate) fn wanted(&self, unit: &'static str) -> Option<&'static str> {
        self.with(unit, |station| station.wanted)
    }

    /// Adds `units` that `unit` made.
    pub(crate) fn made(&self, unit: &'static str, units: u64) {
        self.with(unit, |station| station.made += units);
    }

    /// Returns the units `unit` made since the last call, and starts counting again.
    pub(crate) fn take_made(&self, unit: &'static str) -> u64 {
        self.with(unit, |station| std::mem::take(&mut station.made))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_units_are_booked_once_and_the_wanted_product_follows_the_order() {
        let floor = Floor::default();
        assert_eq!(floor.wanted("press-1"), None);
        floor.want("press-1", Some("BRACKET-B"));
        floor.made("press-1", 20);
        floor.made("press-1", 5);
        assert_eq!(floor.take_made("press-1"), 25);
        assert_eq!(floor.take_made("press-1"), 0);
        assert_eq!(floor.wanted("press-1"), Some("BRACKET-B"));
        floor.want("press-1", None);
        assert_eq!(floor.wanted("press-1"), None);
    }
}
