//! The limits the command kernel enforces on every request before a command reaches its
//! aggregate: the event-time policy (each time a command carries, named by its field, against
//! the server clock; each interval against the longest of its kind), caps on repeated fields and
//! names, and the largest request a server decodes.
//!
//! A service's limits travel with each request: the host adds them to the request's extensions
//! ([`ExtensionLayer`]) and a handler takes them, with the trace context, as its [`Call`].
//!
//! Invariant: every refusal is `INVALID_ARGUMENT` naming the field, the value and the limit.

use std::task::{Context, Poll};

use chrono::{DateTime, Duration, Utc};
use mom_auth::Verified;
use mom_clock::TimePolicy;
use mom_domain::{check_text, CommandSpan, TimeRole, Timed};
use tonic::Request;

use crate::request::{invalid, RequestError};

/// Largest request message a server decodes (tonic answers `OUT_OF_RANGE` above it, naming the
/// size and the limit): a command is a few hundred bytes, an order with a long routing a few tens
/// of kilobytes.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Most items a repeated request field may hold (routing operations, eligible work units,
/// characteristics, measured values, input lots, contained lots, ...).
pub const MAX_ITEMS: usize = 1_000;

/// Longest free-text name accepted (a work unit's or an operation's display name), in
/// characters.
pub const MAX_NAME_LEN: usize = 256;

/// How far ahead of the server clock a planned time (a planned shutdown, a maintenance window,
/// a due date) may lie while the future-skew limit is on.
pub const PLANNING_HORIZON: Duration = Duration::days(400);

/// What one request is handled with: its trace context, the service's event-time policy and
/// the verified caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// The request's W3C `traceparent`, or empty.
    pub traceparent: String,
    /// The event-time policy of the service that received it.
    pub time_policy: TimePolicy,
    /// Who the admission layer verified ([`mom_auth::GrpcAuthLayer`]); `None` only for a
    /// handler called directly, without a server.
    pub verified: Option<Verified>,
    /// The electronic-signature rules of the service (the default rules when none was
    /// attached).
    pub signatures: crate::SignaturePolicy,
}

/// Returns what `request` is handled with: its trace context, the policy the host attached
/// (the default policy when none was attached, as in a handler called directly) and the caller
/// the admission layer verified.
pub fn call<T>(request: &Request<T>) -> Call {
    Call {
        traceparent: crate::traceparent(request),
        time_policy: request
            .extensions()
            .get::<TimePolicy>()
            .copied()
            .unwrap_or_default(),
        verified: request.extensions().get::<Verified>().cloned(),
        signatures: request
            .extensions()
            .get::<crate::SignaturePolicy>()
            .copied()
            .unwrap_or_default(),
    }
}

/// Checks every time and the interval `command` carries against `policy` with the server clock
/// at `now`: a time that happened may be at most the skew ahead, a planned one at most the
/// [`PLANNING_HORIZON`], neither older than the age limit, and an interval at most as long as
/// its kind allows and not ending before it starts.
pub fn check_times(
    command: &impl Timed,
    policy: &TimePolicy,
    now: DateTime<Utc>,
) -> Result<(), RequestError> {
    for time in command.times() {
        let policy = match time.role {
            TimeRole::Happened => *policy,
            TimeRole::Planned => TimePolicy {
                max_future_skew: policy
                    .max_future_skew
                    .map(|skew| skew.max(PLANNING_HORIZON)),
                ..*policy
            },
        };
        policy
            .check(time.value, now)
            .map_err(|violation| RequestError::OutsideTimePolicy {
                field: time.field.to_owned(),
                reason: violation.to_string(),
            })?;
    }
    match command.span() {
        Some(span) => check_span(&span),
        None => Ok(()),
    }
}

fn check_span(span: &CommandSpan) -> Result<(), RequestError> {
    let length = span.until - span.from;
    if length > span.max {
        return Err(RequestError::TooLong {
            field: span.field.to_owned(),
            what: span.what,
            length: mom_clock::format_limit(length),
            max: mom_clock::format_limit(span.max),
        });
    }
    Ok(())
}

/// Parses a repeated field of at most [`MAX_ITEMS`] items with `parse`, which gets each item
/// with its field name (`routing[2]`); the error names the field and the cap.
pub fn items<T, U>(
    values: Vec<T>,
    field: &str,
    mut parse: impl FnMut(T, &str) -> Result<U, RequestError>,
) -> Result<Vec<U>, RequestError> {
    if values.len() > MAX_ITEMS {
        return Err(RequestError::TooMany {
            field: field.to_owned(),
            len: values.len(),
            max: MAX_ITEMS,
        });
    }
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| parse(value, &format!("{field}[{index}]")))
        .collect()
}

/// Checks a free-text display name: at most [`MAX_NAME_LEN`] characters and no control
/// characters; empty stays empty (a field that requires one checks that itself).
pub fn name(value: String, field: &str) -> Result<String, RequestError> {
    if !value.is_empty() {
        check_text(&value, MAX_NAME_LEN).map_err(|source| invalid(field, source))?;
    }
    Ok(value)
}

/// Adds a clone of a value to every request's extensions (the host's [`TimePolicy`]).
#[derive(Debug, Clone)]
pub struct ExtensionLayer<T> {
    value: T,
}

impl<T> ExtensionLayer<T> {
    /// Returns the layer adding `value`.
    pub fn new(value: T) -> Self {
        Self { value }
    }
}

impl<S, T: Clone> tower::Layer<S> for ExtensionLayer<T> {
    type Service = WithExtension<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        WithExtension {
            inner,
            value: self.value.clone(),
        }
    }
}

/// The service [`ExtensionLayer`] makes.
#[derive(Debug, Clone)]
pub struct WithExtension<S, T> {
    inner: S,
    value: T,
}

impl<S, B, T> tower::Service<http::Request<B>> for WithExtension<S, T>
where
    S: tower::Service<http::Request<B>>,
    T: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.value.clone());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mom_domain::CommandTime;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A command with a happened time, a planned window and its maximum.
    struct Window {
        at: DateTime<Utc>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    }

    impl Timed for Window {
        fn at(&self) -> DateTime<Utc> {
            self.at
        }
        fn times(&self) -> Vec<CommandTime> {
            vec![
                CommandTime::happened("at", self.at),
                CommandTime::planned("from", self.from),
                CommandTime::planned("until", self.until),
            ]
        }
        fn span(&self) -> Option<CommandSpan> {
            Some(CommandSpan {
                what: "planned shutdown",
                field: "until",
                from: self.from,
                until: self.until,
                max: Duration::days(92),
            })
        }
    }

    const NOW: &str = "2026-12-04T12:00:00Z";

    fn check(at: &str, from: &str, until: &str) -> Result<(), RequestError> {
        let window = Window {
            at: t(at),
            from: t(from),
            until: t(until),
        };
        check_times(&window, &TimePolicy::default(), t(NOW))
    }

    #[test]
    fn a_time_from_a_wrong_clock_is_refused_naming_field_value_and_limit() {
        let err = check("2100-01-01T00:00:00Z", NOW, NOW).unwrap_err();
        assert_eq!(err.field(), "at");
        assert_eq!(
            tonic::Status::from(err.clone()).code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            err.to_string(),
            "field at is outside the event-time policy: 2100-01-01T00:00:00.000Z is more than 5m \
             ahead of the server clock (2026-12-04T12:00:00.000Z; limit MOM_MAX_FUTURE_SKEW)"
        );
        let err = check("1971-01-01T00:00:00Z", NOW, NOW).unwrap_err();
        assert!(err.to_string().contains("400d older"), "{err}");
    }

    #[test]
    fn planned_times_may_lie_ahead_up_to_the_horizon_and_spans_are_capped() {
        assert!(check(NOW, "2027-06-01T00:00:00Z", "2027-06-15T00:00:00Z").is_ok());
        let far = check(NOW, "2100-01-01T00:00:00Z", "2100-01-02T00:00:00Z").unwrap_err();
        assert_eq!(far.field(), "from");
        let long = check(NOW, NOW, "2526-12-04T12:00:00Z").unwrap_err();
        assert_eq!(long.field(), "until");
        let long = check(NOW, "2026-12-05T00:00:00Z", "2027-12-05T00:00:00Z").unwrap_err();
        assert_eq!(
            long.to_string(),
            "field until makes a planned shutdown of 365d, longer than the maximum 92d"
        );
    }

    #[test]
    fn an_off_policy_accepts_any_time_but_still_caps_spans() {
        let window = Window {
            at: t("3000-01-01T00:00:00Z"),
            from: t("1971-01-01T00:00:00Z"),
            until: t("1971-01-02T00:00:00Z"),
        };
        assert!(check_times(&window, &TimePolicy::OFF, t(NOW)).is_ok());
    }

    #[test]
    fn repeated_fields_are_capped_and_items_named() {
        let err = items(vec![0; MAX_ITEMS + 1], "routing", |v, _| Ok(v)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field routing has 1001 items, more than the maximum 1000"
        );
        let err = items(vec!["a", ""], "lots", |v, field| {
            if v.is_empty() {
                Err(crate::missing(field))
            } else {
                Ok(v)
            }
        })
        .unwrap_err();
        assert_eq!(err.field(), "lots[1]");
        assert_eq!(name(String::new(), "name").unwrap(), "");
        assert!(name("Filler 3".into(), "name").is_ok());
        assert_eq!(
            name("x".repeat(MAX_NAME_LEN + 1), "name")
                .unwrap_err()
                .field(),
            "name"
        );
    }

    #[test]
    fn a_call_carries_the_policy_the_host_attached() {
        let mut request = Request::new(());
        assert_eq!(call(&request).time_policy, TimePolicy::default());
        request.extensions_mut().insert(TimePolicy::OFF);
        assert_eq!(call(&request).time_policy, TimePolicy::OFF);
    }
}
