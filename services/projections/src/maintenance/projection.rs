//! The maintenance read model's tables and how events change them.
//!
//! - `maintenance_work_orders`: every work order with kind (corrective, preventive), priority
//!   (corrective orders are `high`, preventive `normal`: the contract carries no priority),
//!   status (requested, scheduled, in_progress, done, cancelled) and its times;
//! - `maintenance_plans`: PM plans (trigger, interval);
//! - `maintenance_pm`: each due occurrence of a plan with its work order, completion and status:
//!   `on_time` (completed before the next occurrence became due), `late` (completed after),
//!   `missed` (cancelled, or not completed when the next occurrence became due; it turns `late`
//!   if completed afterwards) or `open`;
//! - `maintenance_reliability`: per work unit and failure mode (`*` = every mode) the sums behind
//!   MTBF (uptime from a repair's end to the next failure's start), MTTR (repair start to end)
//!   and mean downtime (failure start to repair end).

use std::collections::BTreeMap;

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use sqlx::Row;

use crate::events::{aggregate_id, decode, first_delivery, ms, required};
use crate::feed::Changes;
use crate::sequence::PageSequences;
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "maintenance";

/// The failure mode of the reliability row that sums every mode of a work unit.
pub const ALL_MODES: &str = "*";

const SCHEMA: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS maintenance_sequences (aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS maintenance_work_orders (\
        work_order TEXT PRIMARY KEY, kind TEXT NOT NULL, priority TEXT NOT NULL, \
        status TEXT NOT NULL, work_unit TEXT NOT NULL, reason TEXT NOT NULL, \
        description TEXT NOT NULL, plan TEXT NOT NULL, occurrence BIGINT NOT NULL, \
        requested_ms BIGINT NOT NULL, scheduled_from_ms BIGINT, scheduled_until_ms BIGINT, \
        started_ms BIGINT, closed_ms BIGINT)",
    "CREATE INDEX IF NOT EXISTS maintenance_work_orders_requested \
        ON maintenance_work_orders (requested_ms)",
    "CREATE TABLE IF NOT EXISTS maintenance_plans (\
        work_unit TEXT NOT NULL, plan TEXT NOT NULL, trigger_kind TEXT NOT NULL, \
        every BIGINT NOT NULL, description TEXT NOT NULL, PRIMARY KEY (work_unit, plan))",
    "CREATE TABLE IF NOT EXISTS maintenance_pm (\
        work_unit TEXT NOT NULL, plan TEXT NOT NULL, occurrence BIGINT NOT NULL, \
        due_ms BIGINT NOT NULL, work_order TEXT NOT NULL, completed_ms BIGINT, \
        cancelled BIGINT NOT NULL, status TEXT NOT NULL, \
        PRIMARY KEY (work_unit, plan, occurrence))",
    "CREATE TABLE IF NOT EXISTS maintenance_failures (\
        work_order TEXT PRIMARY KEY, work_unit TEXT NOT NULL, failure_mode TEXT NOT NULL, \
        failure_start_ms BIGINT NOT NULL, repair_start_ms BIGINT, repair_end_ms BIGINT, \
        status TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS maintenance_failures_unit ON maintenance_failures (work_unit)",
    "CREATE TABLE IF NOT EXISTS maintenance_reliability (\
        work_unit TEXT NOT NULL, failure_mode TEXT NOT NULL, failures BIGINT NOT NULL, \
        repairs BIGINT NOT NULL, repair_ms BIGINT NOT NULL, downtime_ms BIGINT NOT NULL, \
        uptime_ms BIGINT NOT NULL, uptime_gaps BIGINT NOT NULL, last_repair_end_ms BIGINT, \
        PRIMARY KEY (work_unit, failure_mode))",
];

const TABLES: [&str; 6] = [
    "maintenance_failures",
    "maintenance_sequences",
    "maintenance_work_orders",
    "maintenance_plans",
    "maintenance_pm",
    "maintenance_reliability",
];

/// The maintenance projection.
#[derive(Debug)]
pub struct MaintenanceProjection {
    topics: Vec<String>,
    changes: Changes,
    page: TxState<Page>,
}

/// What the open transaction leaves for `flush`: its sequence guard, and the work units whose
/// reliability rows are recomputed once (a rebuild recomputed them for every failure event).
#[derive(Debug, Default)]
struct Page {
    sequences: PageSequences,
    reliability: std::collections::BTreeSet<String>,
}

const SEQUENCES: &str = "maintenance_sequences";

impl MaintenanceProjection {
    /// Returns the projection of the maintenance `topics`.
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            page: TxState::default(),
        }
    }

    /// Returns its change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

impl Projection for MaintenanceProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &TABLES
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        if apply(&mut *self.page.lock().await, connection, message).await? {
            self.changes.mark();
        }
        Ok(())
    }

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let page = self.page.take().await;
        let units: Vec<&str> = page.reliability.iter().map(String::as_str).collect();
        refresh_reliability(connection, &units).await?;
        page.sequences.write(connection, SEQUENCES).await
    }

    fn rolled_back(&self) {
        self.page.end();
        self.changes.rolled_back();
    }

    fn committed(&self) {
        self.page.end();
        self.changes.committed();
    }
}

fn trigger_name(trigger: mom_proto::maintenance::v1::PlanTrigger) -> &'static str {
    use mom_proto::maintenance::v1::PlanTrigger;
    match trigger {
        PlanTrigger::CalendarDays => "calendar_days",
        PlanTrigger::Cycles => "cycles",
        PlanTrigger::RunHours => "run_hours",
        PlanTrigger::Unspecified => "unspecified",
    }
}

fn mode(failure_mode: &str) -> &str {
    if failure_mode.is_empty() || failure_mode == ALL_MODES {
        "unspecified"
    } else {
        failure_mode
    }
}

/// A new work order.
struct NewOrder<'a> {
    work_order: &'a str,
    kind: &'a str,
    priority: &'a str,
    work_unit: &'a str,
    reason: &'a str,
    description: &'a str,
    plan: &'a str,
    occurrence: u32,
    requested_ms: i64,
}

async fn insert_order(connection: &mut Connection, order: NewOrder<'_>) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO maintenance_work_orders (work_order, kind, priority, status, work_unit, \
         reason, description, plan, occurrence, requested_ms) \
         VALUES ($1, $2, $3, 'requested', $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (work_order) DO NOTHING",
    )
    .bind(order.work_order)
    .bind(order.kind)
    .bind(order.priority)
    .bind(order.work_unit)
    .bind(order.reason)
    .bind(order.description)
    .bind(order.plan)
    .bind(i64::from(order.occurrence))
    .bind(order.requested_ms)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn apply(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::maintenance::v1::maintenance_event::Event;
    let envelope: mom_proto::maintenance::v1::MaintenanceEvent = decode(message)?;
    if !first_delivery(
        &mut page.sequences,
        connection,
        SEQUENCES,
        &message.topic,
        envelope.metadata.as_ref(),
    )
    .await?
    {
        return Ok(false);
    }
    let aggregate = aggregate_id(envelope.metadata.as_ref());
    match &envelope.event {
        Some(Event::MaintenancePlanDefined(plan)) => {
            sqlx::query(
                "INSERT INTO maintenance_plans (work_unit, plan, trigger_kind, every, description) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (work_unit, plan) DO UPDATE SET \
                 trigger_kind = excluded.trigger_kind, every = excluded.every, \
                 description = excluded.description",
            )
            .bind(required(&plan.work_unit, "work_unit")?)
            .bind(required(&plan.plan, "plan")?)
            .bind(trigger_name(plan.trigger()))
            .bind(i64::try_from(plan.every).unwrap_or(i64::MAX))
            .bind(&plan.description)
            .execute(&mut *connection)
            .await?;
        }
        Some(Event::MaintenancePlanDue(due)) => {
            let (work_unit, plan) = (
                required(&due.work_unit, "work_unit")?,
                required(&due.plan, "plan")?,
            );
            sqlx::query(
                "INSERT INTO maintenance_pm (work_unit, plan, occurrence, due_ms, work_order, \
                 cancelled, status) VALUES ($1, $2, $3, $4, '', 0, 'open') \
                 ON CONFLICT (work_unit, plan, occurrence) DO UPDATE SET due_ms = excluded.due_ms",
            )
            .bind(work_unit)
            .bind(plan)
            .bind(i64::from(due.occurrence))
            .bind(ms(due.at.as_ref(), "at")?)
            .execute(&mut *connection)
            .await?;
            let occurrence = i64::from(due.occurrence);
            decide(connection, work_unit, plan, occurrence - 1).await?;
            decide(connection, work_unit, plan, occurrence).await?;
        }
        Some(Event::PlanWorkOrderRaised(raised)) => {
            link_pm(
                connection,
                &raised.work_unit,
                &raised.plan,
                raised.occurrence,
                &raised.work_order,
            )
            .await?;
        }
        Some(Event::BreakdownReported(reported)) => {
            let work_unit = required(&reported.work_unit, "work_unit")?;
            let work_order = if reported.work_order.is_empty() {
                aggregate
            } else {
                &reported.work_order
            };
            insert_order(
                connection,
                NewOrder {
                    work_order,
                    kind: "corrective",
                    priority: "high",
                    work_unit,
                    reason: mode(&reported.failure_mode),
                    description: &reported.description,
                    plan: "",
                    occurrence: 0,
                    requested_ms: ms(reported.at.as_ref(), "at")?,
                },
            )
            .await?;
            sqlx::query(
                "INSERT INTO maintenance_failures (work_order, work_unit, failure_mode, \
                 failure_start_ms, status) VALUES ($1, $2, $3, $4, 'open') \
                 ON CONFLICT (work_order) DO NOTHING",
            )
            .bind(work_order)
            .bind(work_unit)
            .bind(mode(&reported.failure_mode))
            .bind(ms(reported.failure_start.as_ref(), "failure_start")?)
            .execute(&mut *connection)
            .await?;
            page.reliability.insert(work_unit.to_owned());
        }
        Some(Event::PreventiveWorkRequested(requested)) => {
            let work_unit = required(&requested.work_unit, "work_unit")?;
            let work_order = if requested.work_order.is_empty() {
                aggregate
            } else {
                &requested.work_order
            };
            insert_order(
                connection,
                NewOrder {
                    work_order,
                    kind: "preventive",
                    priority: "normal",
                    work_unit,
                    reason: &requested.plan,
                    description: &requested.description,
                    plan: &requested.plan,
                    occurrence: requested.occurrence,
                    requested_ms: ms(requested.at.as_ref(), "at")?,
                },
            )
            .await?;
            if !requested.plan.is_empty() {
                link_pm(
                    connection,
                    work_unit,
                    &requested.plan,
                    requested.occurrence,
                    work_order,
                )
                .await?;
            }
        }
        Some(Event::WorkOrderScheduled(scheduled)) => {
            schedule(
                connection,
                aggregate,
                ms(scheduled.from.as_ref(), "from")?,
                ms(scheduled.until.as_ref(), "until")?,
            )
            .await?;
        }
        Some(Event::PmWindowScheduled(window)) => {
            schedule(
                connection,
                aggregate,
                ms(window.from.as_ref(), "from")?,
                ms(window.until.as_ref(), "until")?,
            )
            .await?;
        }
        Some(Event::WorkStarted(started)) => {
            sqlx::query(
                "UPDATE maintenance_work_orders SET status = 'in_progress', started_ms = $2 \
                 WHERE work_order = $1",
            )
            .bind(aggregate)
            .bind(ms(started.at.as_ref(), "at")?)
            .execute(&mut *connection)
            .await?;
        }
        Some(Event::BreakdownRepaired(repaired)) => {
            let work_unit = required(&repaired.work_unit, "work_unit")?;
            let failure_start = ms(repaired.failure_start.as_ref(), "failure_start")?;
            let repair_end = ms(repaired.repair_end.as_ref(), "repair_end")?;
            let repair_start = repaired
                .repair_start
                .as_ref()
                .map(|ts| ms(Some(ts), "repair_start"))
                .transpose()?
                .unwrap_or(failure_start);
            sqlx::query(
                "UPDATE maintenance_work_orders SET status = 'done', closed_ms = $2, \
                 started_ms = COALESCE(started_ms, $3) WHERE work_order = $1",
            )
            .bind(aggregate)
            .bind(repair_end)
            .bind(repair_start)
            .execute(&mut *connection)
            .await?;
            sqlx::query(
                "INSERT INTO maintenance_failures (work_order, work_unit, failure_mode, \
                 failure_start_ms, repair_start_ms, repair_end_ms, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'repaired') ON CONFLICT (work_order) DO UPDATE \
                 SET failure_mode = excluded.failure_mode, \
                 failure_start_ms = excluded.failure_start_ms, \
                 repair_start_ms = excluded.repair_start_ms, \
                 repair_end_ms = excluded.repair_end_ms, status = excluded.status",
            )
            .bind(aggregate)
            .bind(work_unit)
            .bind(mode(&repaired.failure_mode))
            .bind(failure_start)
            .bind(repair_start)
            .bind(repair_end.max(repair_start))
            .execute(&mut *connection)
            .await?;
            page.reliability.insert(work_unit.to_owned());
        }
        Some(Event::PreventiveWorkCompleted(completed)) => {
            let at = ms(completed.at.as_ref(), "at")?;
            sqlx::query(
                "UPDATE maintenance_work_orders SET status = 'done', closed_ms = $2 \
                 WHERE work_order = $1",
            )
            .bind(aggregate)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            close_pm(connection, aggregate, Close::Completed(at)).await?;
        }
        Some(Event::WorkOrderCancelled(cancelled)) => {
            let at = ms(cancelled.at.as_ref(), "at")?;
            sqlx::query(
                "UPDATE maintenance_work_orders SET status = 'cancelled', closed_ms = $2 \
                 WHERE work_order = $1",
            )
            .bind(aggregate)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            // A cancelled corrective order was a false alarm: no failure to count.
            let false_alarm: Option<String> = sqlx::query_scalar(
                "UPDATE maintenance_failures SET status = 'cancelled' \
                 WHERE work_order = $1 AND status = 'open' RETURNING work_unit",
            )
            .bind(aggregate)
            .fetch_optional(&mut *connection)
            .await?;
            match false_alarm {
                Some(work_unit) => {
                    page.reliability.insert(work_unit);
                }
                None => close_pm(connection, aggregate, Close::Cancelled).await?,
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

async fn schedule(
    connection: &mut Connection,
    work_order: &str,
    from: i64,
    until: i64,
) -> Result<(), ApplyError> {
    sqlx::query(
        "UPDATE maintenance_work_orders SET scheduled_from_ms = $2, scheduled_until_ms = $3, \
         status = CASE WHEN status = 'requested' THEN 'scheduled' ELSE status END \
         WHERE work_order = $1",
    )
    .bind(work_order)
    .bind(from)
    .bind(until)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn link_pm(
    connection: &mut Connection,
    work_unit: &str,
    plan: &str,
    occurrence: u32,
    work_order: &str,
) -> Result<(), ApplyError> {
    sqlx::query(
        "UPDATE maintenance_pm SET work_order = $4 \
         WHERE work_unit = $1 AND plan = $2 AND occurrence = $3 AND work_order = ''",
    )
    .bind(work_unit)
    .bind(plan)
    .bind(i64::from(occurrence))
    .bind(work_order)
    .execute(&mut *connection)
    .await?;
    // The order may have ended before the link arrived (another aggregate, another partition).
    let ended: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT status, closed_ms FROM maintenance_work_orders WHERE work_order = $1",
    )
    .bind(work_order)
    .fetch_optional(&mut *connection)
    .await?;
    match ended {
        Some((status, Some(closed))) if status == "done" => {
            close_pm(connection, work_order, Close::Completed(closed)).await
        }
        Some((status, _)) if status == "cancelled" => {
            close_pm(connection, work_order, Close::Cancelled).await
        }
        _ => Ok(()),
    }
}

/// How a PM occurrence's work order ended.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// Completed at this time (milliseconds).
    Completed(i64),
    /// Cancelled.
    Cancelled,
}

/// Records how the PM occurrence of `work_order` ended and decides its status again.
async fn close_pm(
    connection: &mut Connection,
    work_order: &str,
    close: Close,
) -> Result<(), ApplyError> {
    let occurrence: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT work_unit, plan, occurrence FROM maintenance_pm WHERE work_order = $1",
    )
    .bind(work_order)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((work_unit, plan, occurrence)) = occurrence else {
        return Ok(());
    };
    let query = match close {
        Close::Completed(at) => sqlx::query(
            "UPDATE maintenance_pm SET completed_ms = $4 \
             WHERE work_unit = $1 AND plan = $2 AND occurrence = $3",
        )
        .bind(&work_unit)
        .bind(&plan)
        .bind(occurrence)
        .bind(at),
        Close::Cancelled => sqlx::query(
            "UPDATE maintenance_pm SET cancelled = 1 \
             WHERE work_unit = $1 AND plan = $2 AND occurrence = $3",
        )
        .bind(&work_unit)
        .bind(&plan)
        .bind(occurrence),
    };
    query.execute(&mut *connection).await?;
    decide(connection, &work_unit, &plan, occurrence).await
}

/// The status of a PM occurrence from its completion, cancellation and the next occurrence's
/// due time.
pub fn pm_status(
    completed_ms: Option<i64>,
    cancelled: bool,
    next_due_ms: Option<i64>,
) -> &'static str {
    match (completed_ms, next_due_ms) {
        (Some(done), Some(next)) if done > next => "late",
        (Some(_), _) => "on_time",
        (None, _) if cancelled => "missed",
        (None, Some(_)) => "missed",
        (None, None) => "open",
    }
}

async fn decide(
    connection: &mut Connection,
    work_unit: &str,
    plan: &str,
    occurrence: i64,
) -> Result<(), ApplyError> {
    let row: Option<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT completed_ms, cancelled FROM maintenance_pm \
         WHERE work_unit = $1 AND plan = $2 AND occurrence = $3",
    )
    .bind(work_unit)
    .bind(plan)
    .bind(occurrence)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((completed_ms, cancelled)) = row else {
        return Ok(());
    };
    let next_due: Option<i64> = sqlx::query_scalar(
        "SELECT due_ms FROM maintenance_pm WHERE work_unit = $1 AND plan = $2 AND occurrence = $3",
    )
    .bind(work_unit)
    .bind(plan)
    .bind(occurrence + 1)
    .fetch_optional(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE maintenance_pm SET status = $4 WHERE work_unit = $1 AND plan = $2 AND occurrence = $3",
    )
    .bind(work_unit)
    .bind(plan)
    .bind(occurrence)
    .bind(pm_status(completed_ms, cancelled != 0, next_due))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Sums behind MTBF and MTTR of one work unit and failure mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReliabilitySums {
    /// Failures (not false alarms).
    pub failures: i64,
    /// Failures repaired.
    pub repairs: i64,
    /// Σ repair end − repair start.
    pub repair_ms: i64,
    /// Σ repair end − failure start.
    pub downtime_ms: i64,
    /// Σ failure start − the previous repair end, over failures that started after it.
    pub uptime_ms: i64,
    /// How many such gaps.
    pub uptime_gaps: i64,
    /// The latest repair end.
    pub last_repair_end_ms: Option<i64>,
}

/// One failure of a work unit: mode, failure start and, once repaired, repair start and end.
pub type Failure = (String, i64, Option<(i64, i64)>);

/// Returns the sums per failure mode and over every mode ([`ALL_MODES`]) of `failures`, which
/// must be sorted by failure start (ties in a fixed order), so the result depends on the set
/// of failures only, not on the order their events arrived in.
pub fn reliability_sums(failures: &[Failure]) -> BTreeMap<String, ReliabilitySums> {
    let mut sums: BTreeMap<String, ReliabilitySums> = BTreeMap::new();
    for (failure_mode, start, repair) in failures {
        for key in [failure_mode.as_str(), ALL_MODES] {
            let entry = sums.entry(key.to_owned()).or_default();
            entry.failures += 1;
            let Some((repair_start, repair_end)) = repair else {
                continue;
            };
            if let Some(last) = entry.last_repair_end_ms {
                if *start >= last {
                    entry.uptime_ms += start - last;
                    entry.uptime_gaps += 1;
                }
            }
            entry.repairs += 1;
            entry.repair_ms += (repair_end - repair_start).max(0);
            entry.downtime_ms += (repair_end - start).max(0);
            entry.last_repair_end_ms = Some(
                entry
                    .last_repair_end_ms
                    .map_or(*repair_end, |last| last.max(*repair_end)),
            );
        }
    }
    sums
}

/// Work units per multi-row read of failures and delete of reliability rows, and reliability
/// rows per multi-row insert (9 columns).
const UNIT_CHUNK: usize = 50;
const RELIABILITY_CHUNK: usize = 50;

/// A failure with what orders a unit's failures: failure start, then work order.
type OrderedFailure = ((i64, String), Failure);

/// Writes the reliability rows of `work_units` from their failures: the failures of many units
/// read in one statement and their rows replaced in two, instead of a read, a delete and one
/// or two statements per failure mode for each unit.
async fn refresh_reliability(
    connection: &mut Connection,
    work_units: &[&str],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for units in work_units.chunks(UNIT_CHUNK) {
        let rows = fetch_in(
            connection,
            "SELECT work_unit, work_order, failure_mode, failure_start_ms, repair_start_ms, \
             repair_end_ms FROM maintenance_failures WHERE status <> 'cancelled' AND work_unit",
            units,
        )
        .await?;
        let mut by_unit: BTreeMap<String, Vec<OrderedFailure>> = BTreeMap::new();
        for row in rows {
            let start: i64 = row.try_get(3)?;
            let repair_start: Option<i64> = row.try_get(4)?;
            let repair_end: Option<i64> = row.try_get(5)?;
            by_unit.entry(row.try_get(0)?).or_default().push((
                (start, row.try_get(1)?),
                (row.try_get(2)?, start, repair_start.zip(repair_end)),
            ));
        }
        let mut sums = Vec::new();
        for (unit, mut failures) in by_unit {
            failures.sort_by(|a, b| a.0.cmp(&b.0));
            let failures: Vec<Failure> = failures.into_iter().map(|(_, f)| f).collect();
            sums.extend(
                reliability_sums(&failures)
                    .into_iter()
                    .map(|(mode, sums)| (unit.clone(), mode, sums)),
            );
        }
        let sql = format!(
            "DELETE FROM maintenance_reliability WHERE work_unit IN ({})",
            params.list(1, units.len())
        );
        let mut query = sqlx::query(&sql);
        for unit in units {
            query = query.bind(*unit);
        }
        query.execute(&mut *connection).await?;
        for chunk in sums.chunks(RELIABILITY_CHUNK) {
            let sql = format!(
                "INSERT INTO maintenance_reliability (work_unit, failure_mode, failures, \
                 repairs, repair_ms, downtime_ms, uptime_ms, uptime_gaps, last_repair_end_ms) \
                 VALUES {}",
                params.rows(chunk.len(), 9)
            );
            let mut query = sqlx::query(&sql);
            for (unit, mode, sums) in chunk {
                query = query
                    .bind(unit.as_str())
                    .bind(mode.as_str())
                    .bind(sums.failures)
                    .bind(sums.repairs)
                    .bind(sums.repair_ms)
                    .bind(sums.downtime_ms)
                    .bind(sums.uptime_ms)
                    .bind(sums.uptime_gaps)
                    .bind(sums.last_repair_end_ms);
            }
            query.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{pm_status, reliability_sums, ALL_MODES};

    #[test]
    fn mtbf_sums_count_uptime_from_a_repair_end_to_the_next_failure_start() {
        let failures = vec![
            ("leak".to_owned(), 0, Some((10, 60))),
            ("jam".to_owned(), 100, None),
            ("leak".to_owned(), 200, Some((200, 230))),
            // Starts while the previous repair was still going on: no uptime gap.
            ("leak".to_owned(), 220, Some((240, 250))),
        ];
        let sums = reliability_sums(&failures);
        let all = sums[ALL_MODES];
        assert_eq!((all.failures, all.repairs), (4, 3));
        assert_eq!((all.uptime_ms, all.uptime_gaps), (140, 1));
        assert_eq!(
            (all.repair_ms, all.downtime_ms),
            (50 + 30 + 10, 60 + 30 + 30)
        );
        assert_eq!(all.last_repair_end_ms, Some(250));
        let leak = sums["leak"];
        assert_eq!(
            (leak.failures, leak.uptime_gaps, leak.uptime_ms),
            (3, 1, 140)
        );
        let jam = sums["jam"];
        assert_eq!(
            (jam.failures, jam.repairs, jam.last_repair_end_ms),
            (1, 0, None)
        );
    }

    #[test]
    fn pm_occurrences_are_on_time_late_missed_or_open() {
        assert_eq!(pm_status(Some(10), false, None), "on_time");
        assert_eq!(pm_status(Some(10), false, Some(20)), "on_time");
        assert_eq!(pm_status(Some(30), false, Some(20)), "late");
        assert_eq!(pm_status(None, false, Some(20)), "missed");
        assert_eq!(pm_status(None, true, None), "missed");
        assert_eq!(pm_status(None, false, None), "open");
    }
}
