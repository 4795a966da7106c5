//! Queries on the maintenance read model.

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use crate::query::{one_of, KeyColumn, KeyValue, Keyset, Page, QueryError, TimeRange};

/// Statuses a work order can have.
pub const STATUSES: [&str; 5] = ["requested", "scheduled", "in_progress", "done", "cancelled"];

/// Status filters beyond the statuses themselves: `open` (the backlog) and `all`.
pub const STATUS_FILTERS: [&str; 7] = [
    "open",
    "all",
    "requested",
    "scheduled",
    "in_progress",
    "done",
    "cancelled",
];

/// Kinds of work order.
pub const KINDS: [&str; 2] = ["corrective", "preventive"];

/// `Some(value)` unless empty.
pub fn text(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

/// One work order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkOrder {
    /// Its id.
    pub work_order: String,
    /// corrective or preventive.
    pub kind: String,
    /// high or normal.
    pub priority: String,
    /// Its status.
    pub status: String,
    /// The work unit.
    pub work_unit: String,
    /// Failure mode or plan.
    pub reason: String,
    /// Description.
    pub description: String,
    /// Requested (milliseconds).
    pub requested_ms: i64,
    /// Age at query time, or until it closed.
    pub age_ms: i64,
    /// Scheduled window.
    pub scheduled_from_ms: Option<i64>,
    /// Scheduled window end.
    pub scheduled_until_ms: Option<i64>,
    /// Work started.
    pub started_ms: Option<i64>,
    /// Done or cancelled.
    pub closed_ms: Option<i64>,
}

/// Filters of the backlog.
#[derive(Debug, Clone, Default)]
pub struct BacklogFilter {
    /// Work unit.
    pub work_unit: Option<String>,
    /// A status, `open` (default) or `all`.
    pub status: String,
    /// Kind.
    pub kind: Option<String>,
    /// Requested in this range.
    pub range: TimeRange,
}

impl BacklogFilter {
    /// Returns the filter of request fields (empty = no filter; status defaults to `open`).
    pub fn new(
        work_unit: &str,
        status: &str,
        kind: &str,
        range: TimeRange,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            work_unit: (!work_unit.is_empty()).then(|| work_unit.to_owned()),
            status: one_of(status, "status", &STATUS_FILTERS)?.unwrap_or_else(|| "open".to_owned()),
            kind: one_of(kind, "kind", &KINDS)?,
            range,
        })
    }
}

/// One due occurrence of a PM plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmOccurrence {
    /// The work unit.
    pub work_unit: String,
    /// The plan.
    pub plan: String,
    /// Which occurrence (from 1).
    pub occurrence: i64,
    /// When it became due.
    pub due_ms: i64,
    /// Its work order.
    pub work_order: String,
    /// When it was completed.
    pub completed_ms: Option<i64>,
    /// open, on_time, late or missed.
    pub status: String,
}

/// Compliance of one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCompliance {
    /// The work unit.
    pub work_unit: String,
    /// The plan.
    pub plan: String,
    /// Occurrences done on time.
    pub on_time: u32,
    /// Done late.
    pub late: u32,
    /// Missed.
    pub missed: u32,
    /// Not decided yet.
    pub open: u32,
}

impl PlanCompliance {
    /// on_time / (on_time + late + missed); 0 when none was decided yet.
    pub fn compliance(&self) -> f64 {
        let decided = self.on_time + self.late + self.missed;
        if decided == 0 {
            0.0
        } else {
            f64::from(self.on_time) / f64::from(decided)
        }
    }
}

/// Reliability of one work unit and failure mode, as the HTTP API answers it too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ReliabilityEntry, example = json!({
    "work_unit": "press-1", "failure_mode": "hydraulics", "failures": 4, "repairs": 4,
    "mtbf_ms": 172800000, "mttr_ms": 1800000, "mean_downtime_ms": 2400000
}))]
pub struct Reliability {
    /// The work unit.
    pub work_unit: String,
    /// The failure mode (`*` = every mode).
    pub failure_mode: String,
    /// Failures reported (false alarms not counted).
    pub failures: i64,
    /// Repairs done.
    pub repairs: i64,
    /// Mean time between failures, in milliseconds (0 until a failure followed a repair).
    pub mtbf_ms: i64,
    /// Mean time to repair, in milliseconds.
    pub mttr_ms: i64,
    /// Mean downtime per repaired failure, in milliseconds.
    pub mean_downtime_ms: i64,
}

/// A row of `maintenance_pm` as selected.
type PmRow = (String, String, i64, i64, String, Option<i64>, String);

/// A plan's counts as selected: work unit, plan, on time, late, missed, open.
type PlanRow = (String, String, i64, i64, i64, i64);

/// The backlog's order: oldest request first, then work order.
const BACKLOG_KEYS: Keyset = Keyset {
    name: "maintenance.backlog",
    columns: &[
        KeyColumn::int("requested_ms"),
        KeyColumn::text("work_order"),
    ],
};

/// The PM occurrences' order: by work unit, plan and occurrence (the table's key).
const PM_KEYS: Keyset = Keyset {
    name: "maintenance.pm_compliance",
    columns: &[
        KeyColumn::text("work_unit"),
        KeyColumn::text("plan"),
        KeyColumn::int("occurrence"),
    ],
};

/// A row of `maintenance_reliability` as selected.
type ReliabilityRow = (String, String, i64, i64, i64, i64, i64, i64);

/// A row of `maintenance_work_orders` as selected.
type OrderRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Queries on the maintenance tables.
#[derive(Debug, Clone)]
pub struct MaintenanceQueries {
    pool: AnyPool,
}

impl MaintenanceQueries {
    /// Returns queries on `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of work orders that pass `filter`, oldest first, with their age as of
    /// `now`, and the next page's token.
    pub async fn backlog(
        &self,
        filter: &BacklogFilter,
        page: Page,
        now: DateTime<Utc>,
    ) -> Result<(Vec<WorkOrder>, String), QueryError> {
        let seek = page.seek(&BACKLOG_KEYS, 7)?;
        let status_clause = match filter.status.as_str() {
            "open" => "status IN ('requested', 'scheduled', 'in_progress')",
            "all" => "$3 = $3",
            _ => "status = $3",
        };
        let sql = format!(
            "SELECT work_order, kind, priority, status, work_unit, reason, description, \
             requested_ms, scheduled_from_ms, scheduled_until_ms, started_ms, closed_ms \
             FROM maintenance_work_orders \
             WHERE ($1 = '' OR work_unit = $1) AND ($2 = '' OR kind = $2) AND {status_clause} \
             AND requested_ms >= $4 AND requested_ms < $5{} \
             ORDER BY {} LIMIT $6",
            seek.sql(),
            BACKLOG_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(filter.work_unit.as_deref().unwrap_or(""))
            .bind(filter.kind.as_deref().unwrap_or(""))
            .bind(&filter.status)
            .bind(filter.range.from_ms())
            .bind(filter.range.to_ms())
            .bind(page.limit());
        let mut rows: Vec<OrderRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &BACKLOG_KEYS, |row| {
            vec![KeyValue::Int(row.7), KeyValue::Text(row.0.clone())]
        });
        let now_ms = now.timestamp_millis();
        let orders: Vec<WorkOrder> = rows
            .into_iter()
            .map(|row| WorkOrder {
                work_order: row.0,
                kind: row.1,
                priority: row.2,
                status: row.3,
                work_unit: row.4,
                reason: row.5,
                description: row.6,
                requested_ms: row.7,
                age_ms: (row.11.unwrap_or(now_ms) - row.7).max(0),
                scheduled_from_ms: row.8,
                scheduled_until_ms: row.9,
                started_ms: row.10,
                closed_ms: row.11,
            })
            .collect();
        Ok((orders, next))
    }

    /// Returns per plan the count of occurrences on time, late, missed and open due in
    /// `range` (bounded by [`TimeRange::bounded`] at `now`), a page of those occurrences and the
    /// next page's token; a `plan` (or `work_unit`) without any plan is NOT_FOUND.
    pub async fn pm_compliance(
        &self,
        work_unit: Option<&str>,
        plan: Option<&str>,
        range: TimeRange,
        now: DateTime<Utc>,
        page: Page,
    ) -> Result<(Vec<PlanCompliance>, Vec<PmOccurrence>, String), QueryError> {
        let range = range.bounded(now)?;
        let seek = page.seek(&PM_KEYS, 6)?;
        let (work_unit, plan) = (work_unit.unwrap_or(""), plan.unwrap_or(""));
        if !work_unit.is_empty() || !plan.is_empty() {
            let known: Option<String> = sqlx::query_scalar(
                "SELECT plan FROM maintenance_plans WHERE ($1 = '' OR work_unit = $1) \
                 AND ($2 = '' OR plan = $2) LIMIT 1",
            )
            .bind(work_unit)
            .bind(plan)
            .fetch_optional(&self.pool)
            .await?;
            if known.is_none() {
                let field = if plan.is_empty() {
                    format!("work_unit {work_unit:?} has no PM plan")
                } else {
                    format!("plan {plan:?} is not known")
                };
                return Err(QueryError::NotFound(field));
            }
        }
        const FILTER: &str = "($1 = '' OR work_unit = $1) AND ($2 = '' OR plan = $2) \
             AND due_ms >= $3 AND due_ms < $4";
        let count = |status: &str| {
            format!("CAST(SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END) AS BIGINT)")
        };
        let plans: Vec<PlanRow> = sqlx::query_as(&format!(
            "SELECT work_unit, plan, {}, {}, {}, \
             CAST(SUM(CASE WHEN status IN ('on_time', 'late', 'missed') THEN 0 ELSE 1 END) \
                 AS BIGINT) \
             FROM maintenance_pm WHERE {FILTER} GROUP BY work_unit, plan ORDER BY work_unit, plan",
            count("on_time"),
            count("late"),
            count("missed")
        ))
        .bind(work_unit)
        .bind(plan)
        .bind(range.from_ms())
        .bind(range.to_ms())
        .fetch_all(&self.pool)
        .await?;
        let small = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let plans = plans
            .into_iter()
            .map(
                |(work_unit, plan, on_time, late, missed, open)| PlanCompliance {
                    work_unit,
                    plan,
                    on_time: small(on_time),
                    late: small(late),
                    missed: small(missed),
                    open: small(open),
                },
            )
            .collect();
        let sql = format!(
            "SELECT work_unit, plan, occurrence, due_ms, work_order, completed_ms, status \
             FROM maintenance_pm WHERE {FILTER}{} ORDER BY {} LIMIT $5",
            seek.sql(),
            PM_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(work_unit)
            .bind(plan)
            .bind(range.from_ms())
            .bind(range.to_ms())
            .bind(page.limit());
        let mut rows: Vec<PmRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &PM_KEYS, |row| {
            vec![
                KeyValue::Text(row.0.clone()),
                KeyValue::Text(row.1.clone()),
                KeyValue::Int(row.2),
            ]
        });
        let occurrences = rows
            .into_iter()
            .map(
                |(work_unit, plan, occurrence, due_ms, work_order, completed_ms, status)| {
                    PmOccurrence {
                        work_unit,
                        plan,
                        occurrence,
                        due_ms,
                        work_order,
                        completed_ms,
                        status,
                    }
                },
            )
            .collect();
        Ok((plans, occurrences, next))
    }

    /// Returns MTBF and MTTR per work unit and failure mode (with `*` rows summing every mode).
    pub async fn reliability(
        &self,
        work_unit: Option<&str>,
        failure_mode: Option<&str>,
    ) -> Result<Vec<Reliability>, QueryError> {
        let rows: Vec<ReliabilityRow> = sqlx::query_as(
            "SELECT work_unit, failure_mode, failures, repairs, repair_ms, downtime_ms, \
             uptime_ms, uptime_gaps FROM maintenance_reliability \
             WHERE ($1 = '' OR work_unit = $1) AND ($2 = '' OR failure_mode = $2) \
             ORDER BY work_unit, failure_mode",
        )
        .bind(work_unit.unwrap_or(""))
        .bind(failure_mode.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mean = |sum: i64, n: i64| if n > 0 { sum / n } else { 0 };
        Ok(rows
            .into_iter()
            .map(
                |(
                    work_unit,
                    failure_mode,
                    failures,
                    repairs,
                    repair_ms,
                    downtime_ms,
                    uptime_ms,
                    gaps,
                )| {
                    Reliability {
                        work_unit,
                        failure_mode,
                        failures,
                        repairs,
                        mtbf_ms: mean(uptime_ms, gaps),
                        mttr_ms: mean(repair_ms, repairs),
                        mean_downtime_ms: mean(downtime_ms, repairs),
                    }
                },
            )
            .collect())
    }
}
