//! A breakdown stop longer than a threshold (production `WorkUnitStopped` with a breakdown
//! reason, lasting `MOM_BREAKDOWN_WORK_ORDER_AFTER_SECS`) → a corrective work order for the work
//! unit (maintenance `ReportBreakdown`), unless one reported by hand already covers the stop.
//!
//! What is a breakdown is one function, [`is_breakdown`]: a non-empty stop reason that is not
//! among the configured planned reasons (`MOM_BREAKDOWN_PLANNED_REASONS`: setup, changeover,
//! breaks, logistics). When production's reason catalogue classifies stops, this is the
//! function to switch to its loss class (equipment failure).
//!
//! State, in the manager's tables (same transaction as the checkpoint):
//! - `breakdown_stops`: per work unit, the time of its last state change and the breakdown stop
//!   it is in, if any (the stop event's id, reason, start). A further breakdown stop while
//!   stopped continues the stop (its start stays), and so does a disconnection (a broken
//!   machine is often switched off); any other state change (running, setup, a planned stop)
//!   ends it. A state change older than the work unit's last one
//!   is ignored (late event: the later change already decided the state).
//! - `breakdown_orders`: breakdown work orders maintenance reported (its topic: by hand or by
//!   this manager), with their failure start and, once repaired or cancelled, their end.
//!
//! When is the order reported:
//! - on the event that ends the stop, when the stop lasted the threshold (event times only, so
//!   a redelivery decides the same);
//! - while the stop is still open, by a timer (every `MOM_BREAKDOWN_CHECK_INTERVAL_SECS`) that
//!   compares the wall clock with the stop's start: a stop still open the threshold after its
//!   start is reported then. The timer only looks at stops that began within two thresholds of
//!   now, so a manager catching up on history (a restart, a redelivery) does not report a short
//!   stop of the past as open; an old stop still open is reported when it ends.
//!
//! Idempotency: the work order's id and idempotency key are the stop event's id, so the timer,
//! the ending event and any redelivery send the same order, which maintenance records once.
//! A breakdown order of the same work unit whose interval overlaps the stop (failure start
//! before the stop's end, not repaired or cancelled before the stop's start) means someone
//! reported it by hand: no second order. A report by hand the manager has not read yet (the
//! maintenance topic behind the production topic) is not seen; both orders then exist and the
//! planner cancels one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message, ReadModels};
use mom_proto::maintenance::v1 as maintenance;
use mom_proto::maintenance::v1::maintenance_event::Event as MaintenanceEventKind;
use mom_proto::maintenance::v1::MaintenanceEvent;
use mom_proto::production::v1::production_event::Event as ProductionEventKind;
use mom_proto::production::v1::{ProductionEvent, ReasonLossClass};
use tokio_util::sync::CancellationToken;

use super::{actor, decode, failed, Cause};
use crate::config::LoopsConfig;
use crate::Clients;

const NAME: &str = "breakdown_work_order";

/// Returns a stop reason normalized for comparison: trimmed, lowercase, `-` and blanks as `_`.
fn normalized(reason: &str) -> String {
    reason
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c == '-' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Whether a stop with `reason` is a breakdown. When the site's reason catalogue classifies
/// the stop's code (`loss_class`), it decides: a breakdown is an equipment failure. Otherwise
/// (no catalogue, code `unassigned`, a code the manager has not read yet) the reported text
/// decides: a breakdown is a given reason that is not one of the `planned` reasons; a stop
/// without a reason is unexplained, not a breakdown.
pub(crate) fn is_breakdown(
    reason: &str,
    loss_class: Option<ReasonLossClass>,
    planned: &[String],
) -> bool {
    if let Some(class) = loss_class {
        return class == ReasonLossClass::EquipmentFailure;
    }
    let reason = normalized(reason);
    !reason.is_empty() && !planned.iter().any(|p| normalized(p) == reason)
}

/// Returns the site of a work unit: the first segment of its id.
fn site(work_unit: &str) -> &str {
    work_unit.split('.').next().unwrap_or(work_unit)
}

/// A state change of a work unit, as far as breakdowns are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Stopped for a breakdown reason.
    Breakdown { reason: String },
    /// Running, in setup, or stopped for a planned reason.
    Other,
    /// Disconnected: the state is unknown, a breakdown stop goes on (a broken machine is often
    /// switched off for its repair).
    Unknown,
}

/// A breakdown stop of a work unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// The id of the event that began it: the work order's id and idempotency key.
    pub event_id: String,
    pub reason: String,
    /// When it began, in milliseconds since the epoch.
    pub since: i64,
}

/// The breakdown state of one work unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// Time of the last state change taken into account (ms).
    pub last: Option<i64>,
    /// The breakdown stop the work unit is in.
    pub stop: Option<Stop>,
}

impl UnitState {
    /// Applies `change` (event `event_id` at `at`); returns the stop it ends, if any. A late
    /// change (older than the last one) changes nothing.
    pub(crate) fn step(&mut self, change: Change, event_id: &str, at: i64) -> Option<Stop> {
        if self.last.is_some_and(|last| at < last) {
            return None;
        }
        self.last = Some(at);
        match change {
            // Still stopped for a breakdown: the stop goes on from its first start.
            Change::Breakdown { .. } if self.stop.is_some() => None,
            Change::Breakdown { reason } => {
                self.stop = Some(Stop {
                    event_id: event_id.to_owned(),
                    reason,
                    since: at,
                });
                None
            }
            Change::Other => self.stop.take(),
            Change::Unknown => None,
        }
    }
}

/// Whether a stop from `since` to `until` (ms) lasted `threshold`.
pub(crate) fn lasted(since: i64, until: i64, threshold: Duration) -> bool {
    let threshold = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    until.saturating_sub(since) >= threshold
}

/// A row of `breakdown_stops`: last change, stop event, reason, since, product.
type StopRow = (i64, Option<String>, Option<String>, Option<i64>, String);

/// Reports breakdown stops that last too long as corrective work orders.
#[derive(Debug)]
pub struct BreakdownWorkOrder {
    topics: Vec<String>,
    clients: Clients,
    threshold: Duration,
    planned: Vec<String>,
}

impl BreakdownWorkOrder {
    /// Returns the manager reading production's and maintenance's topics.
    pub fn new(names: &TopicNames, clients: Clients, config: &LoopsConfig) -> Self {
        Self {
            topics: vec![names.domain("production"), names.domain("maintenance")],
            clients,
            threshold: Duration::from_secs(config.breakdown_work_order_after_secs),
            planned: config.breakdown_planned_reasons.clone(),
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
            "CREATE TABLE IF NOT EXISTS breakdown_stops (work_unit TEXT PRIMARY KEY, \
             last_change BIGINT NOT NULL, stop_event TEXT, reason TEXT, since BIGINT, \
             product TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS breakdown_orders (work_order TEXT PRIMARY KEY, \
             work_unit TEXT NOT NULL, failure_start BIGINT NOT NULL, ended BIGINT)",
            "CREATE TABLE IF NOT EXISTS breakdown_reasons (site TEXT NOT NULL, code TEXT NOT NULL, \
             loss_class BIGINT NOT NULL, PRIMARY KEY (site, code))",
        ]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["breakdown_stops", "breakdown_orders", "breakdown_reasons"]
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        if self.topics.get(1) == Some(&message.topic) {
            return maintenance_fact(connection, decode(message)?).await;
        }
        self.production(connection, decode(message)?).await
    }

    async fn production(
        &self,
        connection: &mut Connection,
        envelope: ProductionEvent,
    ) -> Result<(), ApplyError> {
        let (change, at, product) = match &envelope.event {
            Some(ProductionEventKind::ReasonDefined(defined)) => {
                sqlx::query(
                    "INSERT INTO breakdown_reasons (site, code, loss_class) VALUES ($1, $2, $3) \
                     ON CONFLICT (site, code) DO UPDATE SET loss_class = excluded.loss_class",
                )
                .bind(&defined.site)
                .bind(&defined.code)
                .bind(i64::from(defined.loss_class))
                .execute(connection)
                .await?;
                return Ok(());
            }
            Some(ProductionEventKind::WorkUnitStopped(stopped)) => {
                let loss_class = self
                    .loss_class(&mut *connection, &envelope, &stopped.reason_code)
                    .await?;
                let change = if is_breakdown(&stopped.reason, loss_class, &self.planned) {
                    Change::Breakdown {
                        reason: stopped.reason.clone(),
                    }
                } else {
                    Change::Other
                };
                (change, stopped.at, None)
            }
            Some(ProductionEventKind::WorkUnitRunning(running)) => {
                (Change::Other, running.at, Some(running.product.clone()))
            }
            Some(ProductionEventKind::SetupStarted(setup)) => (Change::Other, setup.at, None),
            Some(ProductionEventKind::WorkUnitDisconnected(lost)) => {
                (Change::Unknown, lost.at, None)
            }
            _ => return Ok(()),
        };
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let at_ms = millis(at.as_ref())?;
        let work_unit = cause.aggregate_id.clone();
        let row: Option<StopRow> = sqlx::query_as(
            "SELECT last_change, stop_event, reason, since, product FROM breakdown_stops \
                 WHERE work_unit = $1",
        )
        .bind(&work_unit)
        .fetch_optional(&mut *connection)
        .await?;
        let (mut state, mut last_product) = match row {
            Some((last, event, reason, since, product)) => (
                UnitState {
                    last: Some(last),
                    stop: match (event, reason, since) {
                        (Some(event_id), Some(reason), Some(since)) => Some(Stop {
                            event_id,
                            reason,
                            since,
                        }),
                        _ => None,
                    },
                },
                product,
            ),
            None => (UnitState::default(), String::new()),
        };
        let before = state.clone();
        let ended = state.step(change, &cause.event_id, at_ms);
        if state == before {
            return Ok(());
        }
        if let Some(product) = product.filter(|p| !p.is_empty()) {
            last_product = product;
        }
        let stop = state.stop.as_ref();
        sqlx::query(
            "INSERT INTO breakdown_stops (work_unit, last_change, stop_event, reason, since, \
             product) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (work_unit) DO UPDATE SET \
             last_change = excluded.last_change, stop_event = excluded.stop_event, \
             reason = excluded.reason, since = excluded.since, product = excluded.product",
        )
        .bind(&work_unit)
        .bind(state.last.unwrap_or(at_ms))
        .bind(stop.map(|s| s.event_id.clone()))
        .bind(stop.map(|s| s.reason.clone()))
        .bind(stop.map(|s| s.since))
        .bind(&last_product)
        .execute(&mut *connection)
        .await?;
        let Some(ended) = ended else {
            return Ok(());
        };
        if !lasted(ended.since, at_ms, self.threshold)
            || covered(&mut *connection, &work_unit, ended.since, at_ms).await?
        {
            return Ok(());
        }
        let order = Order {
            work_unit,
            stop: ended,
            product: last_product,
            correlation_id: cause.correlation_id,
        };
        order.report(&self.clients, self.threshold, at).await
    }
}

impl BreakdownWorkOrder {
    /// Returns the loss class the catalogue of the stopped work unit's site gives `code`, if the
    /// manager has read it.
    async fn loss_class(
        &self,
        connection: &mut Connection,
        envelope: &ProductionEvent,
        code: &str,
    ) -> Result<Option<ReasonLossClass>, ApplyError> {
        if code.is_empty() || code == "unassigned" {
            return Ok(None);
        }
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let class: Option<i64> = sqlx::query_scalar(
            "SELECT loss_class FROM breakdown_reasons WHERE site = $1 AND code = $2",
        )
        .bind(site(&cause.aggregate_id))
        .bind(code)
        .fetch_optional(connection)
        .await?;
        Ok(class
            .and_then(|class| i32::try_from(class).ok())
            .and_then(|class| ReasonLossClass::try_from(class).ok())
            .filter(|class| *class != ReasonLossClass::Unspecified))
    }
}

/// Records a breakdown order maintenance reported, repaired or cancelled.
async fn maintenance_fact(
    connection: &mut Connection,
    envelope: MaintenanceEvent,
) -> Result<(), ApplyError> {
    match &envelope.event {
        Some(MaintenanceEventKind::BreakdownReported(reported)) => {
            let cause = Cause::of(envelope.metadata.as_ref())?;
            let start = reported.failure_start.as_ref().or(reported.at.as_ref());
            sqlx::query(
                "INSERT INTO breakdown_orders (work_order, work_unit, failure_start, ended) \
                 VALUES ($1, $2, $3, NULL) ON CONFLICT (work_order) DO NOTHING",
            )
            .bind(&cause.aggregate_id)
            .bind(&reported.work_unit)
            .bind(millis(start)?)
            .execute(connection)
            .await?;
        }
        Some(MaintenanceEventKind::BreakdownRepaired(repaired)) => {
            let end = repaired.repair_end.as_ref().or(repaired.at.as_ref());
            end_order(connection, &envelope, millis(end)?).await?;
        }
        Some(MaintenanceEventKind::WorkOrderCancelled(cancelled)) => {
            end_order(connection, &envelope, millis(cancelled.at.as_ref())?).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn end_order(
    connection: &mut Connection,
    envelope: &MaintenanceEvent,
    end: i64,
) -> Result<(), ApplyError> {
    let cause = Cause::of(envelope.metadata.as_ref())?;
    sqlx::query("UPDATE breakdown_orders SET ended = $2 WHERE work_order = $1")
        .bind(&cause.aggregate_id)
        .bind(end)
        .execute(connection)
        .await?;
    Ok(())
}

/// Whether a breakdown order of `work_unit` overlaps the stop `[since, until]`.
async fn covered(
    connection: &mut Connection,
    work_unit: &str,
    since: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM breakdown_orders WHERE work_unit = $1 AND failure_start <= $3 \
         AND (ended IS NULL OR ended >= $2)",
    )
    .bind(work_unit)
    .bind(since)
    .bind(until)
    .fetch_one(connection)
    .await?;
    Ok(count > 0)
}

fn millis(at: Option<&prost_types::Timestamp>) -> Result<i64, ApplyError> {
    mom_proto::time::from_timestamp(at, "at")
        .map(|at| at.timestamp_millis())
        .map_err(|err| ApplyError::Poison(format!("event without time: {err}")))
}

/// A corrective work order to report for a breakdown stop.
struct Order {
    work_unit: String,
    stop: Stop,
    product: String,
    correlation_id: String,
}

impl Order {
    async fn report(
        &self,
        clients: &Clients,
        threshold: Duration,
        at: Option<prost_types::Timestamp>,
    ) -> Result<(), ApplyError> {
        let since = DateTime::<Utc>::from_timestamp_millis(self.stop.since).unwrap_or_default();
        let request = maintenance::ReportBreakdownRequest {
            context: Some(maintenance::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: self.correlation_id.clone(),
                idempotency_key: self.stop.event_id.clone(),
                causation_id: self.stop.event_id.clone(),
                signature: None,
            }),
            work_order: self.stop.event_id.clone(),
            work_unit: self.work_unit.clone(),
            failure_mode: self.stop.reason.chars().take(256).collect(),
            failure_start: Some(mom_proto::time::to_timestamp(since)),
            product: self.product.clone(),
            description: format!(
                "stopped for {} since {} for longer than {} min (reported by {NAME})",
                self.stop.reason.chars().take(128).collect::<String>(),
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                threshold.as_secs() / 60
            ),
            at,
        };
        match clients.maintenance.clone().report_breakdown(request).await {
            Ok(_) => Ok(()),
            // A work unit maintenance does not know has no work orders.
            Err(status) if status.code() == tonic::Code::NotFound => {
                tracing::warn!(work_unit = %self.work_unit, %status, "breakdown not reported");
                Ok(())
            }
            Err(status) => Err(failed(
                &format!(
                    "report breakdown of {} for stop {}",
                    self.work_unit, self.stop.event_id
                ),
                status,
            )),
        }
    }
}

/// Reports, every `config.breakdown_check_interval_secs`, the breakdown stops still open for
/// the threshold that no order covers, until `shutdown`. A report that fails is logged and
/// tried again at the next tick.
pub async fn run_timer(
    models: ReadModels,
    clients: Clients,
    config: LoopsConfig,
    shutdown: CancellationToken,
) -> Result<(), mom_projection::ProjectionError> {
    let threshold = Duration::from_secs(config.breakdown_work_order_after_secs);
    let threshold_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(Duration::from_secs(
        config.breakdown_check_interval_secs.max(1),
    ));
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        // The timer is the one place that reads the clock: a stop still open has no end event.
        let now = mom_clock::now();
        let now_ms = now.timestamp_millis();
        let open: Vec<(String, String, String, i64, String)> = match sqlx::query_as(
            "SELECT work_unit, stop_event, reason, since, product FROM breakdown_stops \
             WHERE stop_event IS NOT NULL AND since <= $1 AND since >= $2 ORDER BY work_unit",
        )
        .bind(now_ms.saturating_sub(threshold_ms))
        .bind(now_ms.saturating_sub(threshold_ms.saturating_mul(2)))
        .fetch_all(models.pool())
        .await
        {
            Ok(rows) => rows,
            // The tables appear with the manager's first run.
            Err(err) => {
                tracing::debug!(error = %err, "no breakdown stops to check yet");
                continue;
            }
        };
        for (work_unit, event_id, reason, since, product) in open {
            let mut connection = match models.pool().acquire().await {
                Ok(connection) => connection,
                Err(err) => {
                    tracing::warn!(error = %err, "breakdown check cannot read its tables");
                    break;
                }
            };
            match covered(&mut connection, &work_unit, since, now_ms).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "breakdown check cannot read its tables");
                    break;
                }
            }
            drop(connection);
            let order = Order {
                work_unit: work_unit.clone(),
                stop: Stop {
                    event_id,
                    reason,
                    since,
                },
                product,
                correlation_id: String::new(),
            };
            let at = Some(mom_proto::time::to_timestamp(now));
            match order.report(&clients, threshold, at).await {
                Ok(()) => tracing::info!(work_unit, "breakdown stop reported as work order"),
                Err(err) => tracing::warn!(work_unit, error = ?err, "breakdown report failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MIN: i64 = 60_000;

    fn planned() -> Vec<String> {
        LoopsConfig::default().breakdown_planned_reasons
    }

    #[test]
    fn planned_and_empty_reasons_are_no_breakdowns() {
        assert!(is_breakdown("jam", None, &planned()));
        assert!(is_breakdown("Motor overload", None, &planned()));
        assert!(!is_breakdown("Setup", None, &planned()));
        assert!(!is_breakdown(" shift-change ", None, &planned()));
        assert!(!is_breakdown("No Order", None, &planned()));
        assert!(!is_breakdown("", None, &planned()));
    }

    #[test]
    fn the_catalogue_decides_when_it_classifies_the_code() {
        let failure = Some(ReasonLossClass::EquipmentFailure);
        assert!(is_breakdown("setup", failure, &planned()));
        assert!(!is_breakdown(
            "jam",
            Some(ReasonLossClass::SmallStops),
            &planned()
        ));
        assert!(!is_breakdown(
            "jam",
            Some(ReasonLossClass::Planned),
            &planned()
        ));
        assert_eq!(site("site1.area2.line3.filler"), "site1");
        assert_eq!(site("press-1"), "press-1");
    }

    #[test]
    fn a_breakdown_stop_lasts_until_the_next_other_state() {
        let jam = || Change::Breakdown {
            reason: "jam".to_owned(),
        };
        let mut unit = UnitState::default();
        assert_eq!(unit.step(jam(), "e1", 0), None);
        // A second breakdown stop continues the first.
        assert_eq!(unit.step(jam(), "e2", 5 * MIN), None);
        // A late event changes nothing.
        assert_eq!(unit.step(Change::Other, "e0", -MIN), None);
        // Switched off for the repair: still the same stop.
        assert_eq!(unit.step(Change::Unknown, "d1", 8 * MIN), None);
        let ended = unit.step(Change::Other, "e3", 12 * MIN).unwrap();
        assert_eq!((ended.event_id.as_str(), ended.since), ("e1", 0));
        assert!(lasted(ended.since, 12 * MIN, Duration::from_secs(600)));
        assert!(!lasted(ended.since, 9 * MIN, Duration::from_secs(600)));
        assert_eq!(unit.stop, None);
        assert_eq!(unit.step(Change::Other, "e4", 13 * MIN), None);
    }
}
