//! The platform's wall clock: [`now`] is the one place a service, the simulator or a projection's
//! query side reads the time of day (recorded times, `as_of=now`, the plant simulator's start).
//!
//! In production it is `Utc::now()`. With `MOM_CLOCK_START` set to an RFC 3339 instant the
//! process's clock reads that instant when it starts and runs at real speed from there, so a test
//! (or a demonstration) can run the whole platform at a chosen time of day: just before an hour,
//! shift or day boundary, across a daylight-saving change, at a time a failure was seen. Every
//! process of one test is given the same instant; the clock of each starts there when it starts.
//!
//! Invariant: the offset is fixed for the life of the process (taken at the first reading), so
//! the clock never jumps and never runs backwards.

use std::sync::OnceLock;

mod policy;

pub use policy::{
    format_limit, parse_duration, parse_limit, parse_limit_arg, Limit, TimePolicy, TimePolicyArgs,
    TimeViolation, DEFAULT_MAX_EVENT_AGE, DEFAULT_MAX_FUTURE_SKEW, MAX_EVENT_AGE_VAR,
    MAX_FUTURE_SKEW_VAR,
};

use chrono::{DateTime, Duration, Utc};

/// The environment variable that starts the clock at an instant (RFC 3339).
pub const START_VAR: &str = "MOM_CLOCK_START";

static OFFSET: OnceLock<Duration> = OnceLock::new();

/// Returns the current time of the platform's clock.
pub fn now() -> DateTime<Utc> {
    Utc::now()
        + *OFFSET.get_or_init(|| offset_from(std::env::var(START_VAR).ok()).unwrap_or_default())
}

/// Checks `MOM_CLOCK_START` and starts the clock: returns an error that names the variable and
/// the value when it is set but is not an RFC 3339 instant (a binary calls this first and exits
/// with status 2 on the error, rather than running on the real clock by mistake).
pub fn init() -> Result<(), String> {
    let offset = offset_from(std::env::var(START_VAR).ok())?;
    let _ = OFFSET.set(offset);
    Ok(())
}

/// Returns true when the clock was started at a chosen instant (`MOM_CLOCK_START`).
pub fn is_shifted() -> bool {
    OFFSET.get().is_some_and(|offset| !offset.is_zero())
}

fn offset_from(value: Option<String>) -> Result<Duration, String> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(Duration::zero());
    };
    let start = DateTime::parse_from_rfc3339(value.trim()).map_err(|err| {
        format!(
            "{START_VAR}={value:?} is not an RFC 3339 instant (e.g. 2026-03-02T13:59:30Z): {err}"
        )
    })?;
    Ok(start.with_timezone(&Utc) - Utc::now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn no_value_is_the_real_clock() {
        assert_eq!(offset_from(None).unwrap(), Duration::zero());
        assert_eq!(offset_from(Some(" ".into())).unwrap(), Duration::zero());
    }

    #[test]
    fn a_start_shifts_the_clock_to_it() {
        let offset = offset_from(Some("2026-03-02T13:59:30Z".into())).unwrap();
        let shifted = Utc::now() + offset;
        let want = DateTime::parse_from_rfc3339("2026-03-02T13:59:30Z").unwrap();
        assert!((shifted - want.with_timezone(&Utc)).num_seconds().abs() <= 1);
    }

    #[test]
    fn a_bad_start_names_the_variable_and_value() {
        let err = offset_from(Some("yesterday".into())).unwrap_err();
        assert!(
            err.contains("MOM_CLOCK_START") && err.contains("yesterday"),
            "{err}"
        );
    }
}
