//! The event-time policy: how far ahead of the server clock and how far behind it an event time
//! may be. Every command service checks each event time a command carries against it (the
//! command kernel refuses the command naming the field), and the projections keep facts outside
//! it out of their figures, so one device with a wrong clock can neither stick a work unit nor
//! make a projection expand centuries of periods.
//!
//! `0` turns a limit off (imports of history).

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// The variable (and `--max-future-skew` flag) that sets how far ahead of the server clock an
/// event time may be.
pub const MAX_FUTURE_SKEW_VAR: &str = "MOM_MAX_FUTURE_SKEW";
/// The variable (and `--max-event-age` flag) that sets how old an event time may be.
pub const MAX_EVENT_AGE_VAR: &str = "MOM_MAX_EVENT_AGE";
/// The default of [`MAX_FUTURE_SKEW_VAR`]: 5 minutes.
pub const DEFAULT_MAX_FUTURE_SKEW: &str = "5m";
/// The default of [`MAX_EVENT_AGE_VAR`]: 400 days.
pub const DEFAULT_MAX_EVENT_AGE: &str = "400d";

/// How far event times may be from the server clock; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// Largest distance ahead of the server clock.
    pub max_future_skew: Option<Duration>,
    /// Largest distance behind the server clock.
    pub max_event_age: Option<Duration>,
}

impl Default for TimePolicy {
    /// Returns the shipped defaults: 5 minutes ahead, 400 days behind.
    fn default() -> Self {
        Self {
            max_future_skew: Some(Duration::minutes(5)),
            max_event_age: Some(Duration::days(400)),
        }
    }
}

impl TimePolicy {
    /// No limits at all (imports of history, tests that replay fixed dates).
    pub const OFF: TimePolicy = TimePolicy {
        max_future_skew: None,
        max_event_age: None,
    };

    /// Returns the policy the environment sets (`MOM_MAX_FUTURE_SKEW`, `MOM_MAX_EVENT_AGE`),
    /// each unset variable taking its default; an error names the variable and its value.
    pub fn from_env() -> Result<Self, String> {
        let read = |var: &str, default: &str| -> Result<Option<Duration>, String> {
            let value = std::env::var(var).unwrap_or_else(|_| default.to_owned());
            parse_limit(&value).map_err(|err| format!("{var}={value:?}: {err}"))
        };
        Ok(Self {
            max_future_skew: read(MAX_FUTURE_SKEW_VAR, DEFAULT_MAX_FUTURE_SKEW)?,
            max_event_age: read(MAX_EVENT_AGE_VAR, DEFAULT_MAX_EVENT_AGE)?,
        })
    }

    /// Returns the latest event time accepted when the server clock reads `now`.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_future_skew
            .and_then(|skew| now.checked_add_signed(skew))
    }

    /// Returns the earliest event time accepted when the server clock reads `now`.
    pub fn earliest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_event_age
            .and_then(|age| now.checked_sub_signed(age))
    }

    /// Checks one event time against the policy when the server clock reads `now`.
    pub fn check(&self, value: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), TimeViolation> {
        if let (Some(latest), Some(limit)) = (self.latest(now), self.max_future_skew) {
            if value > latest {
                return Err(TimeViolation::Ahead { value, now, limit });
            }
        }
        if let (Some(earliest), Some(limit)) = (self.earliest(now), self.max_event_age) {
            if value < earliest {
                return Err(TimeViolation::Old { value, now, limit });
            }
        }
        Ok(())
    }

    /// Returns true when `value` is inside the policy's window at `now`.
    pub fn contains(&self, value: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.check(value, now).is_ok()
    }
}

impl fmt::Display for TimePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |limit: Option<Duration>| limit.map_or_else(|| "off".to_owned(), format_limit);
        write!(
            f,
            "event times at most {} ahead and {} behind the server clock",
            show(self.max_future_skew),
            show(self.max_event_age)
        )
    }
}

/// An event time outside the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeViolation {
    /// Further ahead of the server clock than `limit`.
    Ahead {
        value: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: Duration,
    },
    /// Older than `limit`.
    Old {
        value: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: Duration,
    },
}

impl fmt::Display for TimeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stamp = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self {
            TimeViolation::Ahead { value, now, limit } => write!(
                f,
                "{} is more than {} ahead of the server clock ({}; limit {MAX_FUTURE_SKEW_VAR})",
                stamp(value),
                format_limit(*limit),
                stamp(now)
            ),
            TimeViolation::Old { value, now, limit } => write!(
                f,
                "{} is more than {} older than the server clock ({}; limit {MAX_EVENT_AGE_VAR})",
                stamp(value),
                format_limit(*limit),
                stamp(now)
            ),
        }
    }
}

impl std::error::Error for TimeViolation {}

/// Parses a limit: a whole number with a unit `ms`, `s`, `m`, `h` or `d` (`5m`, `400d`), a bare
/// number of seconds, or `0` / `off` for no limit.
pub fn parse_limit(value: &str) -> Result<Option<Duration>, String> {
    let value = value.trim();
    if value == "0" || value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let duration = parse_duration(value)?;
    Ok((!duration.is_zero()).then_some(duration))
}

/// Parses a duration: a whole number with a unit `ms`, `s`, `m`, `h` or `d`, or a bare number
/// of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration such as 90s, 5m, 12h or 400d"))?;
    let millis_per_unit: i64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{value:?} has unknown unit {unit:?} (use ms, s, m, h or d)"
            ))
        }
    };
    // Ten thousand years is more than any limit needs and keeps the product in range.
    const MAX_MILLIS: i64 = 10_000 * 366 * 86_400_000;
    number
        .checked_mul(millis_per_unit)
        .filter(|millis| *millis <= MAX_MILLIS)
        .map(Duration::milliseconds)
        .ok_or_else(|| format!("{value:?} is longer than 10000 years"))
}

/// Formats a limit the way [`parse_duration`] reads it (`5m`, `400d`, `90s`).
pub fn format_limit(limit: Duration) -> String {
    let millis = limit.num_milliseconds();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis % size == 0 {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// A limit as a command-line value: a duration, or none (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Duration>);

/// Parses a [`Limit`] (a clap value parser over [`parse_limit`]).
pub fn parse_limit_arg(value: &str) -> Result<Limit, String> {
    parse_limit(value).map(Limit)
}

/// The time-policy options of every service that takes or reads event times
/// (`--max-future-skew`, `--max-event-age`).
#[derive(Debug, Clone, clap::Args)]
pub struct TimePolicyArgs {
    /// Refuse event times further ahead of the server clock than this (e.g. 5m; 0 = no limit).
    #[arg(long, env = MAX_FUTURE_SKEW_VAR, default_value = DEFAULT_MAX_FUTURE_SKEW, value_parser = parse_limit_arg)]
    pub max_future_skew: Limit,
    /// Refuse event times older than this (e.g. 400d; 0 = no limit, for imports of history).
    #[arg(long, env = MAX_EVENT_AGE_VAR, default_value = DEFAULT_MAX_EVENT_AGE, value_parser = parse_limit_arg)]
    pub max_event_age: Limit,
}

impl TimePolicyArgs {
    /// Returns the policy these options give.
    pub fn policy(&self) -> TimePolicy {
        TimePolicy {
            max_future_skew: self.max_future_skew.0,
            max_event_age: self.max_event_age.0,
        }
    }
}

impl From<TimePolicy> for TimePolicyArgs {
    fn from(policy: TimePolicy) -> Self {
        Self {
            max_future_skew: Limit(policy.max_future_skew),
            max_event_age: Limit(policy.max_event_age),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn limits_parse_with_units_and_zero_turns_them_off() {
        assert_eq!(parse_limit("5m").unwrap(), Some(Duration::minutes(5)));
        assert_eq!(parse_limit("400d").unwrap(), Some(Duration::days(400)));
        assert_eq!(parse_limit("90").unwrap(), Some(Duration::seconds(90)));
        assert_eq!(
            parse_limit("250ms").unwrap(),
            Some(Duration::milliseconds(250))
        );
        assert_eq!(parse_limit("0").unwrap(), None);
        assert_eq!(parse_limit("0s").unwrap(), None);
        assert_eq!(parse_limit("off").unwrap(), None);
        assert!(parse_limit("5 weeks").unwrap_err().contains("unit"));
        assert!(parse_limit("-5m").is_err());
        assert!(parse_limit("99999999999999d")
            .unwrap_err()
            .contains("10000 years"));
        assert_eq!(format_limit(Duration::days(400)), "400d");
        assert_eq!(format_limit(Duration::seconds(90)), "90s");
    }

    #[test]
    fn the_default_window_is_five_minutes_ahead_and_400_days_behind() {
        let now = t("2026-12-04T12:00:00Z");
        let policy = TimePolicy::default();
        assert!(policy.check(t("2026-12-04T12:05:00Z"), now).is_ok());
        assert!(policy.check(t("2025-10-31T12:00:00Z"), now).is_ok());
        let ahead = policy.check(t("2100-01-01T00:00:00Z"), now).unwrap_err();
        assert_eq!(
            ahead.to_string(),
            "2100-01-01T00:00:00.000Z is more than 5m ahead of the server clock \
             (2026-12-04T12:00:00.000Z; limit MOM_MAX_FUTURE_SKEW)"
        );
        let old = policy.check(t("1971-01-01T00:00:00Z"), now).unwrap_err();
        assert!(old.to_string().contains("400d older"), "{old}");
        assert!(TimePolicy::OFF.contains(t("3000-01-01T00:00:00Z"), now));
    }
}
