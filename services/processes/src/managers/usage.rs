//! Work units' cycles and run time (production) → usage of their preventive plans
//! (maintenance `RecordUsage`).
//!
//! - `UnitsCounted` → the counted cycles (idempotency key: the count event's id);
//! - the time a work unit runs: from its `WorkUnitRunning` to the next `WorkUnitStopped`,
//!   `SetupStarted` or `WorkUnitDisconnected` (which closes the running interval) → that run
//!   time in milliseconds (idempotency key: the id of the event that closed the interval).
//!
//! The running state of each work unit (since when it runs, the time of its last state change)
//! is kept in the table `pm_usage_run_state`, in the same transaction as the checkpoint, so a
//! redelivered event finds the state its first delivery left and sends the same command with
//! the same key. Times are the events' own times (`at`), never the manager's clock.
//!
//! Late and wrong-clock events ([`RunClock::step`]): a state change older than the work unit's
//! last one is ignored (its interval is unknown: the later change already decided the state);
//! a second `WorkUnitRunning` while running keeps the first start; one interval counts at most
//! [`MAX_INTERVAL_MS`] (24 h), so a clock that jumps forward adds at most a day of run time.
//!
//! `MOM_PM_USAGE_RUN_TIME=false` turns the run time off, for plants where another client
//! reports run hours (`mom dev`'s simulator): both would count them.

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message};
use mom_proto::maintenance::v1 as maintenance;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "pm_usage";

/// Longest run time one interval counts, in milliseconds (24 h).
pub(crate) const MAX_INTERVAL_MS: i64 = 24 * 60 * 60 * 1000;

/// Feeds usage-based preventive plans with the cycles and run time production reports.
#[derive(Debug)]
pub struct UsageCounter {
    topics: Vec<String>,
    clients: Clients,
    /// Whether run time is reported (`MOM_PM_USAGE_RUN_TIME`).
    run_time: bool,
}

/// A state change of a work unit, as far as run time is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `WorkUnitRunning`.
    Running,
    /// `WorkUnitStopped`, `SetupStarted` or `WorkUnitDisconnected`: not running any more.
    NotRunning,
}

/// The running state of one work unit, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunClock {
    /// When the current running interval began; `None` when not running.
    pub running_since: Option<i64>,
    /// Time of the last state change taken into account.
    pub last: Option<i64>,
}

impl RunClock {
    /// Applies `change` at `at`; returns the run time of the interval it closes, if any.
    pub(crate) fn step(&mut self, change: Change, at: i64) -> Option<i64> {
        if self.last.is_some_and(|last| at < last) {
            return None;
        }
        self.last = Some(at);
        match change {
            Change::Running => {
                self.running_since.get_or_insert(at);
                None
            }
            Change::NotRunning => {
                let since = self.running_since.take()?;
                let run = at.saturating_sub(since).min(MAX_INTERVAL_MS);
                (run > 0).then_some(run)
            }
        }
    }
}

impl UsageCounter {
    /// Returns the manager reading production's topic; with `run_time`, it reports run time
    /// as well as cycles.
    pub fn new(names: &TopicNames, clients: Clients, run_time: bool) -> Self {
        Self {
            topics: vec![names.domain("production")],
            clients,
            run_time,
        }
    }

    pub(crate) fn name(&self) -> &str {
        NAME
    }

    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) fn schema(&self) -> &[&str] {
        &[
            "CREATE TABLE IF NOT EXISTS pm_usage_run_state (work_unit TEXT PRIMARY KEY, \
           running_since BIGINT, last_change BIGINT)",
        ]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["pm_usage_run_state"]
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: ProductionEvent = decode(message)?;
        let (change, at) = match &envelope.event {
            Some(Event::UnitsCounted(counted)) => {
                let cause = Cause::of(envelope.metadata.as_ref())?;
                let cycles = i64::try_from(counted.total).unwrap_or(i64::MAX);
                return self.record(&cause, cycles, 0, counted.at).await;
            }
            Some(Event::WorkUnitRunning(running)) => (Change::Running, running.at),
            Some(Event::WorkUnitStopped(stopped)) => (Change::NotRunning, stopped.at),
            Some(Event::SetupStarted(setup)) => (Change::NotRunning, setup.at),
            Some(Event::WorkUnitDisconnected(lost)) => (Change::NotRunning, lost.at),
            _ => return Ok(()),
        };
        if !self.run_time {
            return Ok(());
        }
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let at_ms = mom_proto::time::from_timestamp(at.as_ref(), "at")
            .map_err(|err| ApplyError::Poison(format!("state change without time: {err}")))?
            .timestamp_millis();
        let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT running_since, last_change FROM pm_usage_run_state WHERE work_unit = $1",
        )
        .bind(&cause.aggregate_id)
        .fetch_optional(&mut *connection)
        .await?;
        let mut clock = row
            .map(|(running_since, last)| RunClock {
                running_since,
                last,
            })
            .unwrap_or_default();
        let before = clock;
        let run = clock.step(change, at_ms);
        if clock != before {
            sqlx::query(
                "INSERT INTO pm_usage_run_state (work_unit, running_since, last_change) \
                 VALUES ($1, $2, $3) ON CONFLICT (work_unit) DO UPDATE SET \
                 running_since = excluded.running_since, last_change = excluded.last_change",
            )
            .bind(&cause.aggregate_id)
            .bind(clock.running_since)
            .bind(clock.last)
            .execute(&mut *connection)
            .await?;
        } else if clock.last.is_some_and(|last| at_ms < last) {
            tracing::debug!(
                work_unit = %cause.aggregate_id,
                "state change older than the last one; run time unchanged"
            );
        }
        match run {
            Some(run_ms) => self.record(&cause, 0, run_ms, at).await,
            None => Ok(()),
        }
    }

    async fn record(
        &self,
        cause: &Cause,
        cycles: i64,
        run_time_ms: i64,
        at: Option<prost_types::Timestamp>,
    ) -> Result<(), ApplyError> {
        let request = maintenance::RecordUsageRequest {
            context: Some(maintenance::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            work_unit: cause.aggregate_id.clone(),
            cycles,
            run_time_ms,
            at,
        };
        match self.clients.maintenance.clone().record_usage(request).await {
            Ok(_) => Ok(()),
            // A work unit maintenance does not know has no plans to count for.
            Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
            Err(status) => Err(failed(
                &format!("record usage of {}", cause.aggregate_id),
                status,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn run_time_is_the_time_between_running_and_the_next_change() {
        let mut clock = RunClock::default();
        assert_eq!(clock.step(Change::Running, 0), None);
        // A second running event keeps the first start.
        assert_eq!(clock.step(Change::Running, 5 * MIN), None);
        assert_eq!(clock.step(Change::NotRunning, 30 * MIN), Some(30 * MIN));
        // Not running: a stop, then a setup close nothing.
        assert_eq!(clock.step(Change::NotRunning, 40 * MIN), None);
        assert_eq!(clock.step(Change::Running, 50 * MIN), None);
        assert_eq!(clock.step(Change::NotRunning, 60 * MIN), Some(10 * MIN));
    }

    #[test]
    fn late_events_are_ignored_and_intervals_are_capped() {
        let mut clock = RunClock::default();
        clock.step(Change::Running, 100 * MIN);
        // Older than the last change: ignored, the unit still runs since minute 100.
        assert_eq!(clock.step(Change::NotRunning, 90 * MIN), None);
        assert_eq!(clock.running_since, Some(100 * MIN));
        // A clock that jumped a week ahead counts one day.
        assert_eq!(
            clock.step(Change::NotRunning, 100 * MIN + 7 * 24 * 60 * MIN),
            Some(MAX_INTERVAL_MS)
        );
        // A zero-length interval sends nothing.
        let mut clock = RunClock::default();
        clock.step(Change::Running, MIN);
        assert_eq!(clock.step(Change::NotRunning, MIN), None);
    }
}
