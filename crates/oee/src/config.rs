//! Per-equipment and engine-wide configuration.

use crate::ids::{AreaId, ProductId, SiteId, WorkCenterId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// An ideal cycle time, in whole microseconds so that sub-millisecond cycles stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CycleTime(u64);

/// Returned when an ideal cycle time is not a positive, finite number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[error("ideal cycle time {seconds} s is not a positive finite number")]
pub struct InvalidCycleTime {
    /// The value that was given.
    pub seconds: f64,
}

impl CycleTime {
    /// Returns the cycle time of `seconds`, rounded to the microsecond.
    pub fn from_secs_f64(seconds: f64) -> Result<CycleTime, InvalidCycleTime> {
        let micros = (seconds * 1e6).round();
        if seconds.is_finite() && seconds > 0.0 && (1.0..1e15).contains(&micros) {
            Ok(CycleTime(micros as u64))
        } else {
            Err(InvalidCycleTime { seconds })
        }
    }

    /// Returns the cycle time in microseconds.
    pub fn as_micros(self) -> u64 {
        self.0
    }

    /// Returns the ideal time to make `units` units, rounded to the millisecond.
    ///
    /// Rounding happens once per fact, so sums over adjacent periods stay exact.
    pub fn cost(self, units: u64) -> Millis {
        let micros = u128::from(units) * u128::from(self.0);
        let millis = (micros + 500) / 1000;
        Millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

/// Ideal cycle times of one piece of equipment: one per product, with an optional default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CycleTimes {
    /// Used for products without their own entry and for counts with no known product.
    pub default: Option<CycleTime>,
    /// Product-specific cycle times, by product name (ordered, so that an engine snapshot lists
    /// them in one order: a hash map wrote them in any).
    pub by_product: BTreeMap<ProductId, CycleTime>,
}

impl CycleTimes {
    /// Returns cycle times with only a default.
    pub fn with_default(default: CycleTime) -> CycleTimes {
        CycleTimes {
            default: Some(default),
            by_product: BTreeMap::new(),
        }
    }

    /// Returns the cycle time of `product` (its own, else the default), or `None` when neither exists.
    pub fn of(&self, product: Option<&ProductId>) -> Option<CycleTime> {
        product
            .and_then(|p| self.by_product.get(p).copied())
            .or(self.default)
    }
}

/// Where a work unit sits in the ISA-95 equipment hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EquipmentPath {
    /// The site.
    pub site: SiteId,
    /// The area inside the site.
    pub area: AreaId,
    /// The work center (line, cell) inside the area.
    pub work_center: WorkCenterId,
}

/// Configuration of one piece of equipment (work unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquipmentConfig {
    /// Ideal cycle time per product.
    pub ideal_cycle_time: CycleTimes,
    /// A stop holding less planned production time than this is a small stop (default 5 min).
    pub micro_stop_threshold: Millis,
    /// Length of the startup window after a restart from setup or failure (default 10 min).
    pub startup_window: Millis,
    /// Position in the ISA-95 hierarchy, for roll-ups; `None` keeps the unit out of them.
    pub path: Option<EquipmentPath>,
}

impl Default for EquipmentConfig {
    fn default() -> Self {
        EquipmentConfig {
            ideal_cycle_time: CycleTimes::default(),
            micro_stop_threshold: Millis::from_secs(300),
            startup_window: Millis::from_secs(600),
            path: None,
        }
    }
}

/// The default of [`EngineConfig::max_span`]: 400 days.
pub const DEFAULT_MAX_SPAN: Millis = Millis::from_secs(400 * 86_400);

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// A fact whose time is further than this behind the latest fact time seen for its
    /// equipment is still applied, but flagged as late in the periods it corrects.
    pub lateness_horizon: Option<Millis>,
    /// The hard cap on the work of one fact, whatever the event-time window: a fact further
    /// than this before or after its unit's other facts is refused, an interval is cut to this
    /// length, and a fact reports changes at most this far from its own times (see
    /// [`crate::window`]). `None` is no cap (default [`DEFAULT_MAX_SPAN`]).
    pub max_span: Option<Millis>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lateness_horizon: None,
            max_span: Some(DEFAULT_MAX_SPAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_time_rejects_zero_negative_and_nan() {
        assert!(CycleTime::from_secs_f64(0.0).is_err());
        assert!(CycleTime::from_secs_f64(-1.0).is_err());
        assert!(CycleTime::from_secs_f64(f64::NAN).is_err());
    }

    #[test]
    fn cost_rounds_once_to_the_millisecond() {
        let ct = CycleTime::from_secs_f64(1.2345).expect("positive finite");
        assert_eq!(ct.cost(1000), Millis(1_234_500));
        assert_eq!(ct.cost(1), Millis(1235));
    }

    #[test]
    fn product_cycle_time_falls_back_to_default() {
        let mut cts = CycleTimes::with_default(CycleTime::from_secs_f64(2.0).expect("valid"));
        cts.by_product
            .insert("B".into(), CycleTime::from_secs_f64(3.0).expect("valid"));
        assert_eq!(
            cts.of(Some(&"B".into())).map(CycleTime::as_micros),
            Some(3_000_000)
        );
        assert_eq!(
            cts.of(Some(&"A".into())).map(CycleTime::as_micros),
            Some(2_000_000)
        );
        assert_eq!(cts.of(None).map(CycleTime::as_micros), Some(2_000_000));
    }
}
