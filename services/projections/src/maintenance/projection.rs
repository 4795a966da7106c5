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
//!
//! Beside this file (the tables, the projection, PM status and reliability): `change` (an event
//! checked and decoded in `apply`), `rows` (the rows the transaction's changes touch, changed in
//! memory in `flush`) and `tables` (reading those rows and writing the changed ones).

mod change;
mod rows;
mod tables;

use std::collections::BTreeMap;

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use sqlx::Row;

use change::Change;
use rows::Rows;

use crate::events::{aggregate_id, decode, first_delivery, sequence_key};
use crate::feed::Changes;
use crate::sequence::Guarded;
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "maintenance";

/// The failure mode of the reliability row that sums every mode of a work unit.
pub const ALL_MODES: &str = "*";

const SCHEMA: [&str; 9] = [
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
    // The occurrence of a work order that ended is found by its work order.
    "CREATE INDEX IF NOT EXISTS maintenance_pm_work_order ON maintenance_pm (work_order)",
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

/// What the open transaction leaves for `flush`: its sequence guard and its changes, in order
/// (with their guards; `None`: an event without a sequence, always applied), applied in memory
/// and written once by `flush` ([`Rows`]).
type Page = Guarded<Change>;

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
        let envelope: mom_proto::maintenance::v1::MaintenanceEvent = decode(message)?;
        let metadata = envelope.metadata.as_ref();
        let aggregate = aggregate_id(metadata);
        let mut page = self.page.lock().await;
        let change = match envelope.event.map(|event| Change::of(event, aggregate)) {
            Some(Ok(Some(change))) => change,
            // An event that breaks the contract is refused when its guard lets it through,
            // like any event (one at or below the stored sequence is skipped).
            Some(Err(poison)) => {
                let Page { sequences, .. } = &mut *page;
                return match first_delivery(
                    sequences,
                    connection,
                    SEQUENCES,
                    &message.topic,
                    metadata,
                )
                .await?
                {
                    true => Err(poison),
                    false => Ok(()),
                };
            }
            // Left out of the read model: the guard only records it.
            Some(Ok(None)) | None => {
                if let Some((key, sequence)) = sequence_key(&message.topic, metadata) {
                    page.sequences.record(&key, sequence);
                }
                return Ok(());
            }
        };
        let guard = sequence_key(&message.topic, metadata)
            .map(|(key, sequence)| page.sequences.defer(&key, sequence));
        page.changes.push((guard, change));
        Ok(())
    }

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let (sequences, changes) = self
            .page
            .take()
            .await
            .keep_new(connection, SEQUENCES)
            .await?;
        if !changes.is_empty() {
            let mut rows = Rows::default();
            rows.load(connection, &changes).await?;
            for change in changes {
                rows.apply(change);
            }
            rows.decide(connection).await?;
            rows.write(connection).await?;
            let units: Vec<&str> = rows.reliability.iter().map(String::as_str).collect();
            refresh_reliability(connection, &units).await?;
            self.changes.mark();
        }
        sequences.write(connection, SEQUENCES).await
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

pub(super) fn trigger_name(trigger: mom_proto::maintenance::v1::PlanTrigger) -> &'static str {
    use mom_proto::maintenance::v1::PlanTrigger;
    match trigger {
        PlanTrigger::CalendarDays => "calendar_days",
        PlanTrigger::Cycles => "cycles",
        PlanTrigger::RunHours => "run_hours",
        PlanTrigger::Unspecified => "unspecified",
    }
}

pub(super) fn mode(failure_mode: &str) -> &str {
    if failure_mode.is_empty() || failure_mode == ALL_MODES {
        "unspecified"
    } else {
        failure_mode
    }
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
