//! Settings of the read side's consumers and read-model connections, read from the environment
//! when a runner starts (the services' option structs are built in many places, so these are
//! environment variables rather than flags; docs/operations.md lists them). A value that does
//! not read is an error at start naming the variable, never a silent default.

use std::time::Duration;

use crate::ProjectionError;

/// The stable id of this instance of a service among the members of its consumer groups
/// (Kafka static membership, `group.instance.id`); unset or `off`: dynamic membership. Static
/// membership is opt-in: on tansu 0.6 a static member's heartbeats are answered "unknown
/// member" right after each assignment, so it rebalances for ever (the watchdog covers
/// tansu's lost assignments of dynamic members instead).
pub const INSTANCE_ID_VAR: &str = "MOM_CONSUMER_INSTANCE_ID";
/// How long a consumer may make no progress while messages wait before it reports itself
/// unhealthy and is re-created.
pub const STALL_TIMEOUT_VAR: &str = "MOM_CONSUMER_STALL_TIMEOUT";
/// How long the broker waits for a silent member before it hands its partitions to others.
pub const SESSION_TIMEOUT_VAR: &str = "MOM_CONSUMER_SESSION_TIMEOUT";
/// Longest the broker may hold a fetch that finds nothing new (`fetch.wait.max.ms`). Kafka
/// answers a held fetch as soon as data arrives, so this only bounds idle round trips there; tansu
/// 0.6 holds every fetch for the whole wait (its fetch loop sleeps out the remaining time after
/// each pass, data or not), so on tansu a new event reaches a consumer after 1 to 2 waits: the
/// freshness of every read model is about 1.5 × this, and an idle consumer fetches 1 / this
/// times a second.
pub const FETCH_WAIT_VAR: &str = "MOM_CONSUMER_FETCH_WAIT";
/// The most messages a Kafka consumer applies in one transaction (1 to 10 000): what it has
/// already received when a message arrives joins that message's transaction, so a backlog is
/// applied this many at a time and a lone event at once. `1` is one transaction per message.
pub const MAX_BATCH_VAR: &str = "MOM_CONSUMER_MAX_BATCH";
/// Longest a statement on a Postgres read model may run (`0`: no limit); the event store's
/// variable, read in one place.
pub use mom_eventstore::{DEFAULT_STATEMENT_TIMEOUT, STATEMENT_TIMEOUT_VAR};

/// Default of [`STALL_TIMEOUT_VAR`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Default of [`FETCH_WAIT_VAR`].
pub const DEFAULT_FETCH_WAIT: Duration = Duration::from_millis(10);
/// Default of [`MAX_BATCH_VAR`].
pub const DEFAULT_MAX_BATCH: usize = 500;
/// Default of [`SESSION_TIMEOUT_VAR`].
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// How a Kafka consumer of this process joins its group and is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// `group.instance.id` of this process's members (`None`: dynamic membership).
    pub instance_id: Option<String>,
    /// No progress for this long while messages wait: unhealthy, and the consumer is re-created.
    pub stall_timeout: Duration,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `fetch.wait.max.ms` (1 ms to 1 s).
    pub fetch_wait: Duration,
    /// Messages applied in one transaction at most.
    pub max_batch: usize,
}

impl ConsumerSettings {
    /// Reads the settings from the environment (`host` as the instance id takes the host's
    /// name).
    pub fn from_env() -> Result<Self, ProjectionError> {
        let instance_id = match std::env::var(INSTANCE_ID_VAR) {
            Ok(id) if id.trim().eq_ignore_ascii_case("host") => Some(hostname()),
            Ok(id) if id.trim().is_empty() || id.trim().eq_ignore_ascii_case("off") => None,
            Ok(id) => Some(id.trim().to_owned()),
            Err(_) => None,
        };
        Ok(Self {
            instance_id,
            stall_timeout: duration_var(STALL_TIMEOUT_VAR, DEFAULT_STALL_TIMEOUT)?
                .max(Duration::from_secs(1)),
            session_timeout: duration_var(SESSION_TIMEOUT_VAR, DEFAULT_SESSION_TIMEOUT)?
                .max(Duration::from_secs(1)),
            fetch_wait: duration_var(FETCH_WAIT_VAR, DEFAULT_FETCH_WAIT)?
                .clamp(Duration::from_millis(1), Duration::from_secs(1)),
            max_batch: max_batch()?,
        })
    }
}

/// Reads [`MAX_BATCH_VAR`]: a count from 1 to 10 000, [`DEFAULT_MAX_BATCH`] when not set.
fn max_batch() -> Result<usize, ProjectionError> {
    match std::env::var(MAX_BATCH_VAR) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ProjectionError::Source(format!(
                    "{MAX_BATCH_VAR}={text:?}: a number of messages from 1 to 10000"
                ))
            }),
        _ => Ok(DEFAULT_MAX_BATCH),
    }
}

/// Returns the statement timeout of read-model connections (`None`: no limit), as the event
/// stores read it ([`mom_eventstore::statement_timeout`]).
pub fn statement_timeout() -> Result<Option<Duration>, ProjectionError> {
    mom_eventstore::statement_timeout().map_err(ProjectionError::Source)
}

/// Reads a duration (`90s`, `5m`, `500ms`, a bare number of seconds) from `var`, `default` when
/// it is not set.
fn duration_var(var: &str, default: Duration) -> Result<Duration, ProjectionError> {
    match std::env::var(var) {
        Ok(text) if !text.trim().is_empty() => parse(&text)
            .map_err(|reason| ProjectionError::Source(format!("{var}={text:?}: {reason}"))),
        _ => Ok(default),
    }
}

fn parse(text: &str) -> Result<Duration, String> {
    mom_clock::parse_duration(text)?
        .to_std()
        .map_err(|_| "a duration cannot be negative".to_owned())
}

/// The host's name (the kernel's, then `$HOSTNAME`), `mom` when neither is known.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "mom".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units_and_bad_ones_name_the_variable() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("soon").is_err());
        assert!(!hostname().is_empty());
    }
}
