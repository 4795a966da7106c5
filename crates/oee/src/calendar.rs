//! Reporting periods: hours, shifts, days and weeks in a time zone, plus custom periods.
//!
//! Periods are half-open `[start, end)` and tile time at each granularity, so a fact belongs to
//! exactly one period of each granularity. Boundaries follow the local clock of the calendar's
//! time zone, so a day across a daylight-saving change lasts 23 or 25 hours.

use crate::time::{Millis, Range};
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use std::sync::Arc;
use thiserror::Error;

/// The kinds of reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Granularity {
    /// A clock hour in the calendar's time zone.
    Hour,
    /// A shift of the calendar's shift pattern.
    Shift,
    /// A local calendar day.
    Day,
    /// A local week starting on the calendar's first weekday.
    Week,
    /// Any `[from, to)` the caller asks for (used by case replay).
    Custom,
}

impl Granularity {
    /// The granularities a [`Calendar`] generates, finest first.
    pub const CALENDAR: [Granularity; 4] = [
        Granularity::Hour,
        Granularity::Shift,
        Granularity::Day,
        Granularity::Week,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Granularity::Hour => 0,
            Granularity::Shift => 1,
            Granularity::Day => 2,
            Granularity::Week => 3,
            Granularity::Custom => 4,
        }
    }
}

/// One reporting period `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Period {
    granularity: Granularity,
    range: Range,
    label: Option<Arc<str>>,
}

/// Errors building calendars and periods.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// A period must hold at least one millisecond.
    #[error("period from {from} to {to} is empty")]
    EmptyPeriod {
        /// Start that was given.
        from: DateTime<Utc>,
        /// End that was given.
        to: DateTime<Utc>,
    },
    /// A shift pattern needs at least one shift.
    #[error("shift pattern has no shifts")]
    NoShifts,
    /// Two shifts of a pattern start at the same local time.
    #[error("shifts {first} and {second} both start at {start}")]
    DuplicateShiftStart {
        /// One shift.
        first: String,
        /// The other shift.
        second: String,
        /// Their common start.
        start: NaiveTime,
    },
}

impl Period {
    /// Returns a custom period `[from, to)`, or an error when it is empty.
    pub fn custom(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Period, CalendarError> {
        if to <= from {
            return Err(CalendarError::EmptyPeriod { from, to });
        }
        Ok(Period {
            granularity: Granularity::Custom,
            range: Range::new(Millis::from_datetime(from), Millis::from_datetime(to)),
            label: None,
        })
    }

    pub(crate) fn from_range(
        granularity: Granularity,
        range: Range,
        label: Option<Arc<str>>,
    ) -> Period {
        Period {
            granularity,
            range,
            label,
        }
    }

    /// Returns the kind of period.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// Returns the first instant of the period.
    pub fn start(&self) -> DateTime<Utc> {
        self.range
            .start
            .to_datetime()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Returns the first instant after the period.
    pub fn end(&self) -> DateTime<Utc> {
        self.range
            .end
            .to_datetime()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Returns the shift name for shift periods.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Returns the period in engine time.
    pub fn range(&self) -> Range {
        self.range
    }
}

/// One shift of a daily shift pattern; it lasts until the next shift of the pattern starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The shift's name, e.g. `early`.
    pub name: String,
    /// Local start time.
    pub start: NaiveTime,
}

/// A daily shift pattern: shifts ordered by start time, each ending when the next begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftPattern {
    shifts: Vec<(NaiveTime, Arc<str>)>,
}

impl ShiftPattern {
    /// Returns the pattern of the given shifts, or an error when it is empty or two start together.
    pub fn new(shifts: Vec<Shift>) -> Result<ShiftPattern, CalendarError> {
        if shifts.is_empty() {
            return Err(CalendarError::NoShifts);
        }
        let mut sorted: Vec<(NaiveTime, Arc<str>)> = shifts
            .into_iter()
            .map(|s| (s.start, Arc::from(s.name)))
            .collect();
        sorted.sort();
        for pair in sorted.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(CalendarError::DuplicateShiftStart {
                    first: pair[0].1.to_string(),
                    second: pair[1].1.to_string(),
                    start: pair[0].0,
                });
            }
        }
        Ok(ShiftPattern { shifts: sorted })
    }

    /// Returns the usual three eight-hour shifts starting 06:00 (`early`), 14:00 (`late`), 22:00 (`night`).
    pub fn three_shifts() -> ShiftPattern {
        let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        ShiftPattern {
            shifts: vec![
                (at(6), Arc::from("early")),
                (at(14), Arc::from("late")),
                (at(22), Arc::from("night")),
            ],
        }
    }
}

/// Defines the reporting periods: a time zone, a shift pattern and the first day of the week.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    shifts: ShiftPattern,
    week_starts_on: Weekday,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::new(chrono_tz::UTC, ShiftPattern::three_shifts(), Weekday::Mon)
    }
}

impl Calendar {
    /// Returns a calendar in `tz` with the given shift pattern and first weekday.
    pub fn new(tz: Tz, shifts: ShiftPattern, week_starts_on: Weekday) -> Calendar {
        Calendar {
            tz,
            shifts,
            week_starts_on,
        }
    }

    /// Returns the calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Returns the period of `granularity` that contains `at`.
    ///
    /// `Granularity::Custom` has no calendar periods; it is answered with the hour.
    pub fn period_containing(&self, granularity: Granularity, at: DateTime<Utc>) -> Period {
        self.containing(granularity, Millis::from_datetime(at))
    }

    /// Returns the periods of `granularity` that overlap `[from, to)`, in time order.
    pub fn periods(
        &self,
        granularity: Granularity,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Period> {
        self.periods_in(
            granularity,
            Range::new(Millis::from_datetime(from), Millis::from_datetime(to)),
        )
    }

    pub(crate) fn periods_in(&self, granularity: Granularity, range: Range) -> Vec<Period> {
        let mut out = Vec::new();
        if range.is_empty() {
            return out;
        }
        let mut period = self.containing(granularity, range.start);
        while period.range.start < range.end {
            let next_start = period.range.end;
            out.push(period);
            let next = self.containing(granularity, next_start);
            if next.range.start < next_start || next.range.is_empty() {
                // Guards against a calendar that would not advance; never expected for real zones.
                break;
            }
            period = next;
        }
        out
    }

    pub(crate) fn containing(&self, granularity: Granularity, at: Millis) -> Period {
        match granularity {
            Granularity::Hour | Granularity::Custom => self.hour(at),
            Granularity::Shift => self.shift(at),
            Granularity::Day => {
                let date = self.local_date(at);
                Period::from_range(
                    Granularity::Day,
                    Range::new(self.midnight(date), self.midnight(next_day(date))),
                    None,
                )
            }
            Granularity::Week => {
                let date = self.local_date(at);
                let back = (7 + date.weekday().num_days_from_monday()
                    - self.week_starts_on.num_days_from_monday())
                    % 7;
                let first = date
                    .checked_sub_days(Days::new(u64::from(back)))
                    .unwrap_or(date);
                let next = first.checked_add_days(Days::new(7)).unwrap_or(first);
                Period::from_range(
                    Granularity::Week,
                    Range::new(self.midnight(first), self.midnight(next)),
                    None,
                )
            }
        }
    }

    fn to_utc(&self, at: Millis) -> DateTime<Utc> {
        at.to_datetime().unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn hour(&self, at: Millis) -> Period {
        const HOUR: i64 = 3_600_000;
        let offset_ms = i64::from(
            self.tz
                .offset_from_utc_datetime(&self.to_utc(at).naive_utc())
                .fix()
                .local_minus_utc(),
        ) * 1000;
        let local = at.0.saturating_add(offset_ms);
        let start = local.div_euclid(HOUR) * HOUR - offset_ms;
        Period::from_range(
            Granularity::Hour,
            Range::new(Millis(start), Millis(start.saturating_add(HOUR))),
            None,
        )
    }

    fn shift(&self, at: Millis) -> Period {
        let date = self.local_date(at);
        let yesterday = date.pred_opt().unwrap_or(date);
        let mut best: Option<(Millis, usize, NaiveDate)> = None;
        for day in [yesterday, date] {
            for (i, (start, _)) in self.shifts.shifts.iter().enumerate() {
                let instant = self.local_instant(day.and_time(*start));
                if instant <= at && best.is_none_or(|(b, _, _)| instant >= b) {
                    best = Some((instant, i, day));
                }
            }
        }
        let (start, index, day) = best.unwrap_or((at, 0, date));
        let (end_day, end_index) = if index + 1 < self.shifts.shifts.len() {
            (day, index + 1)
        } else {
            (next_day(day), 0)
        };
        let end = self.local_instant(end_day.and_time(self.shifts.shifts[end_index].0));
        Period::from_range(
            Granularity::Shift,
            Range::new(start, end),
            Some(self.shifts.shifts[index].1.clone()),
        )
    }

    /// Returns the shifts of the daily pattern that start on `date`, each lasting until the
    /// next one starts.
    pub(crate) fn daily_shifts(&self, date: NaiveDate) -> Vec<(Range, Arc<str>)> {
        let shifts = &self.shifts.shifts;
        shifts
            .iter()
            .enumerate()
            .map(|(i, (start, name))| {
                let (end_day, end) = match shifts.get(i + 1) {
                    Some((next, _)) => (date, *next),
                    None => (next_day(date), shifts[0].0),
                };
                (
                    Range::new(
                        self.local_instant(date.and_time(*start)),
                        self.local_instant(end_day.and_time(end)),
                    ),
                    name.clone(),
                )
            })
            .collect()
    }

    fn local_date(&self, at: Millis) -> NaiveDate {
        self.to_utc(at).with_timezone(&self.tz).date_naive()
    }

    fn midnight(&self, date: NaiveDate) -> Millis {
        self.local_instant(date.and_time(NaiveTime::MIN))
    }

    /// Returns the instant of a local wall-clock time: the earlier one when the clock repeats it,
    /// and the moment the clock jumps forward when it skips it.
    fn local_instant(&self, local: NaiveDateTime) -> Millis {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                Millis::from_datetime(t.with_timezone(&Utc))
            }
            LocalResult::None => {
                let mut probe = local;
                for _ in 0..32 {
                    probe += chrono::Duration::minutes(15);
                    if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                        // The first valid quarter hour after the gap is the moment of the jump.
                        return Millis::from_datetime(t.with_timezone(&Utc));
                    }
                }
                Millis::from_datetime(local.and_utc())
            }
        }
    }
}

fn next_day(date: NaiveDate) -> NaiveDate {
    date.succ_opt().unwrap_or(date)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn night_shift_crosses_midnight() {
        let cal = Calendar::default();
        let p = cal.period_containing(Granularity::Shift, utc("2026-03-03T02:00:00Z"));
        assert_eq!(p.start(), utc("2026-03-02T22:00:00Z"));
        assert_eq!(p.end(), utc("2026-03-03T06:00:00Z"));
        assert_eq!(p.label(), Some("night"));
    }

    #[test]
    fn berlin_day_of_spring_forward_lasts_23_hours() {
        let cal = Calendar::new(
            chrono_tz::Europe::Berlin,
            ShiftPattern::three_shifts(),
            Weekday::Mon,
        );
        let p = cal.period_containing(Granularity::Day, utc("2026-03-29T12:00:00Z"));
        assert_eq!(p.start(), utc("2026-03-28T23:00:00Z"));
        assert_eq!(p.end(), utc("2026-03-29T22:00:00Z"));
        let hours = cal.periods(Granularity::Hour, p.start(), p.end());
        assert_eq!(hours.len(), 23);
    }

    #[test]
    fn berlin_day_of_fall_back_lasts_25_hours_and_hours_tile_it() {
        let cal = Calendar::new(
            chrono_tz::Europe::Berlin,
            ShiftPattern::three_shifts(),
            Weekday::Mon,
        );
        let p = cal.period_containing(Granularity::Day, utc("2026-10-25T12:00:00Z"));
        let hours = cal.periods(Granularity::Hour, p.start(), p.end());
        assert_eq!(hours.len(), 25);
        for pair in hours.windows(2) {
            assert_eq!(pair[0].end(), pair[1].start());
        }
        assert_eq!(hours.last().unwrap().end(), p.end());
    }

    #[test]
    fn india_hours_start_at_half_past_utc() {
        let cal = Calendar::new(
            chrono_tz::Asia::Kolkata,
            ShiftPattern::three_shifts(),
            Weekday::Mon,
        );
        let p = cal.period_containing(Granularity::Hour, utc("2026-03-03T10:10:00Z"));
        assert_eq!(p.start(), utc("2026-03-03T09:30:00Z"));
    }

    #[test]
    fn week_starts_on_the_configured_weekday() {
        let cal = Calendar::new(chrono_tz::UTC, ShiftPattern::three_shifts(), Weekday::Sun);
        let p = cal.period_containing(Granularity::Week, utc("2026-03-04T10:00:00Z"));
        assert_eq!(p.start(), utc("2026-03-01T00:00:00Z"));
        assert_eq!(p.end(), utc("2026-03-08T00:00:00Z"));
    }

    #[test]
    fn shift_pattern_rejects_duplicate_starts() {
        let t = NaiveTime::from_hms_opt(6, 0, 0).unwrap();
        let err = ShiftPattern::new(vec![
            Shift {
                name: "a".into(),
                start: t,
            },
            Shift {
                name: "b".into(),
                start: t,
            },
        ])
        .unwrap_err();
        assert!(matches!(err, CalendarError::DuplicateShiftStart { .. }));
    }
}
