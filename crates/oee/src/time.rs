//! Integer-millisecond time used inside the engine.
//!
//! The public API speaks `chrono::DateTime<Utc>`; the engine converts at its edge so that every
//! sum and difference inside it is exact.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// A point in time or a duration, in whole milliseconds (points count from the Unix epoch).
///
/// Arithmetic saturates, so the open ends `Millis::MIN` and `Millis::MAX` stand for minus and plus
/// infinity without overflow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The zero duration.
    pub const ZERO: Millis = Millis(0);
    /// Minus infinity: earlier than any fact.
    pub const MIN: Millis = Millis(i64::MIN);
    /// Plus infinity: later than any fact.
    pub const MAX: Millis = Millis(i64::MAX);

    /// Returns the instant of `at`, truncated to the millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Millis {
        Millis(at.timestamp_millis())
    }

    /// Returns the instant as a `DateTime<Utc>`, or `None` when it is outside chrono's range.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        Utc.timestamp_millis_opt(self.0).single()
    }

    /// Returns a duration of `seconds` whole seconds.
    pub const fn from_secs(seconds: i64) -> Millis {
        Millis(seconds.saturating_mul(1000))
    }

    /// Returns a duration given in (possibly fractional) seconds, rounded to the millisecond.
    pub fn from_secs_f64(seconds: f64) -> Millis {
        Millis((seconds * 1000.0).round() as i64)
    }

    /// Returns the value in seconds, for output at the edge.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Returns the length of `[self, end)`, or zero when `end` is not after `self`.
    pub fn until(self, end: Millis) -> Millis {
        if end > self {
            end - self
        } else {
            Millis::ZERO
        }
    }
}

impl Add for Millis {
    type Output = Millis;
    fn add(self, rhs: Millis) -> Millis {
        Millis(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Millis {
    type Output = Millis;
    fn sub(self, rhs: Millis) -> Millis {
        Millis(self.0.saturating_sub(rhs.0))
    }
}

impl AddAssign for Millis {
    fn add_assign(&mut self, rhs: Millis) {
        *self = *self + rhs;
    }
}

impl SubAssign for Millis {
    fn sub_assign(&mut self, rhs: Millis) {
        *self = *self - rhs;
    }
}

impl Neg for Millis {
    type Output = Millis;
    fn neg(self) -> Millis {
        Millis(self.0.saturating_neg())
    }
}

impl std::iter::Sum for Millis {
    fn sum<I: Iterator<Item = Millis>>(iter: I) -> Millis {
        iter.fold(Millis::ZERO, Add::add)
    }
}

/// A half-open time range `[start, end)` in engine time, with `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First instant inside the range.
    pub start: Millis,
    /// First instant after the range.
    pub end: Millis,
}

impl Range {
    /// Returns `[start, end)`, or an empty range at `start` when `end` is before `start`.
    pub fn new(start: Millis, end: Millis) -> Range {
        Range {
            start,
            end: end.max(start),
        }
    }

    /// Returns the length of the range.
    pub fn len(self) -> Millis {
        self.start.until(self.end)
    }

    /// Returns true when the range holds no instant.
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// Returns the part of `self` inside `other` (possibly empty).
    pub fn clip(self, other: Range) -> Range {
        Range::new(self.start.max(other.start), self.end.min(other.end))
    }

    /// Returns true when the two ranges share at least one instant.
    pub fn overlaps(self, other: Range) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Returns true when `at` is inside the range.
    pub fn contains(self, at: Millis) -> bool {
        self.start <= at && at < self.end
    }
}

/// Converts instants to [`Millis`] like [`Millis::from_datetime`], remembering the start of the
/// last date converted: consecutive facts mostly fall on one date, and the date is the costly
/// part of the conversion.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DayMemo(Option<(chrono::NaiveDate, i64)>);

impl DayMemo {
    /// Returns the instant of `at`, truncated to the millisecond.
    pub(crate) fn millis(&mut self, at: DateTime<Utc>) -> Millis {
        use chrono::Timelike;
        let naive = at.naive_utc();
        let date = naive.date();
        let day_start = match self.0 {
            Some((known, start)) if known == date => start,
            _ => {
                let start = date
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis();
                self.0 = Some((date, start));
                start
            }
        };
        let time = naive.time();
        // `nanosecond` exceeds a second in a leap second, as `timestamp_millis` counts it.
        Millis(
            day_start
                + i64::from(time.num_seconds_from_midnight()) * 1000
                + i64::from(time.nanosecond() / 1_000_000),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_memo_converts_like_from_datetime() {
        let mut memo = DayMemo::default();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..20_000i64 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            // Runs of instants on one date, jumps across dates and the epoch.
            let ms = if i % 50 == 0 {
                (state >> 20) as i64 - (1i64 << 43)
            } else {
                (i * 7_919_000) % 86_400_000 + (i / 1000) * 86_400_000 - 5 * 86_400_000
            };
            let Some(at) = Millis(ms).to_datetime() else {
                continue;
            };
            assert_eq!(memo.millis(at), Millis::from_datetime(at), "{at}");
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .map(|t| t.and_utc());
        if let Some(at) = leap {
            assert_eq!(memo.millis(at), Millis::from_datetime(at));
        }
    }

    #[test]
    fn arithmetic_saturates_at_the_open_ends() {
        assert_eq!(Millis::MAX + Millis(5), Millis::MAX);
        assert_eq!(Millis::MIN - Millis(5), Millis::MIN);
    }

    #[test]
    fn clip_of_disjoint_ranges_is_empty() {
        let a = Range::new(Millis(0), Millis(10));
        let b = Range::new(Millis(20), Millis(30));
        assert!(a.clip(b).is_empty());
        assert_eq!(a.clip(b).len(), Millis::ZERO);
    }
}
