//! Queries on the equipment read model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use crate::query::{one_of, KeyColumn, KeyValue, Keyset, Page, QueryError, TimeRange};

/// States a work unit can be in.
pub const STATES: [&str; 7] = [
    "running",
    "stopped",
    "setup",
    "down",
    "starved",
    "planned_shutdown",
    "unknown",
];

/// Kinds of downtime.
pub const KINDS: [&str; 3] = ["stop", "breakdown", "starvation"];

/// The current state of one work unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// The work unit.
    pub work_unit: String,
    /// Its name.
    pub name: String,
    /// Its work center (empty when maintenance did not register it).
    pub work_center: String,
    /// The work center's area.
    pub area: String,
    /// Effective state: down > starved > planned shutdown > production's state.
    pub state: String,
    /// Since when (milliseconds), when known.
    pub since_ms: Option<i64>,
    /// Stop reason, failure mode, material or shutdown reason.
    pub reason: String,
    /// Product being made or set up.
    pub product: String,
}

/// One state interval of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The state.
    pub state: String,
    /// Start (milliseconds).
    pub from_ms: i64,
    /// End (milliseconds); None while it lasts.
    pub to_ms: Option<i64>,
    /// Reason.
    pub reason: String,
    /// Reporting domain.
    pub source: String,
}

/// One stop, breakdown or starvation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downtime {
    /// The work unit.
    pub work_unit: String,
    /// stop, breakdown or starvation.
    pub kind: String,
    /// Reason (stop reason, failure mode or material).
    pub reason: String,
    /// Start (milliseconds).
    pub from_ms: i64,
    /// End (milliseconds); None while it lasts.
    pub to_ms: Option<i64>,
    /// Duration (0 while it lasts).
    pub duration_ms: i64,
    /// Reporting domain.
    pub source: String,
    /// Corrective work order of a breakdown.
    pub work_order: String,
}

/// Filters of the equipment list; None does not filter.
#[derive(Debug, Clone, Default)]
pub struct UnitFilter {
    /// Work center.
    pub work_center: Option<String>,
    /// Area.
    pub area: Option<String>,
    /// State (one of [`STATES`]).
    pub state: Option<String>,
}

impl UnitFilter {
    /// Returns the filter of request fields (empty = no filter), refusing an unknown state.
    pub fn new(work_center: &str, area: &str, state: &str) -> Result<Self, QueryError> {
        let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        Ok(Self {
            work_center: text(work_center),
            area: text(area),
            state: one_of(state, "state", &STATES)?,
        })
    }
}

/// Filters of the downtime log.
#[derive(Debug, Clone, Default)]
pub struct DowntimeFilter {
    /// Work unit.
    pub work_unit: Option<String>,
    /// Kind (one of [`KINDS`]).
    pub kind: Option<String>,
    /// Downtime overlapping this range.
    pub range: TimeRange,
}

impl DowntimeFilter {
    /// Returns the filter of request fields (empty = no filter), refusing an unknown kind.
    pub fn new(work_unit: &str, kind: &str, range: TimeRange) -> Result<Self, QueryError> {
        Ok(Self {
            work_unit: (!work_unit.is_empty()).then(|| work_unit.to_owned()),
            kind: one_of(kind, "kind", &KINDS)?,
            range,
        })
    }
}

/// Refuses an empty required field, naming it.
pub fn required_field(value: &str, field: &str) -> Result<String, QueryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(QueryError::invalid(field, format!("{field} is required")));
    }
    Ok(value.to_owned())
}

/// A row of `equipment_downtime` as selected (the id last: the key's tie-break).
type DowntimeRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    String,
    String,
    String,
);

/// A timeline row as selected (the id last: the key's tie-break).
type IntervalRow = (String, i64, Option<i64>, String, String, String);

/// The downtime list's order: newest first, then kind and id.
const DOWNTIME_KEYS: Keyset = Keyset {
    name: "equipment.downtime",
    columns: &[
        KeyColumn::int_desc("from_ms"),
        KeyColumn::text("kind"),
        KeyColumn::text("id"),
    ],
};

/// The timeline's order: by start, then state, source and id (unique: a production interval
/// and a breakdown or starvation never share state and source).
const TIMELINE_KEYS: Keyset = Keyset {
    name: "equipment.timeline",
    columns: &[
        KeyColumn::int("from_ms"),
        KeyColumn::text("state"),
        KeyColumn::text("source"),
        KeyColumn::text("id"),
    ],
};

/// A row of `equipment_units` joined with its place in the hierarchy.
type UnitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<i64>,
    String,
    Option<i64>,
    String,
);

/// Queries on the equipment tables.
#[derive(Debug, Clone)]
pub struct EquipmentQueries {
    pool: AnyPool,
}

impl EquipmentQueries {
    /// Returns queries on `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    async fn asset_exists(&self, asset: &str, level: &str) -> Result<bool, QueryError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT asset FROM equipment_assets WHERE asset = $1 AND level = $2",
        )
        .bind(asset)
        .bind(level)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn unit_exists(&self, work_unit: &str) -> Result<(), QueryError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT work_unit FROM equipment_units WHERE work_unit = $1")
                .bind(work_unit)
                .fetch_optional(&self.pool)
                .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(QueryError::NotFound(format!(
                "work_unit {work_unit:?} is not known"
            ))),
        }
    }

    /// Returns the current state of the work units that pass `filter`, by work unit, as of
    /// `now` (planned shutdowns are in effect when they cover `now`).
    pub async fn units(
        &self,
        filter: &UnitFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<UnitState>, QueryError> {
        if let Some(work_center) = &filter.work_center {
            if !self.asset_exists(work_center, "work_center").await? {
                return Err(QueryError::NotFound(format!(
                    "work_center {work_center:?} is not known"
                )));
            }
        }
        if let Some(area) = &filter.area {
            if !self.asset_exists(area, "area").await? {
                return Err(QueryError::NotFound(format!("area {area:?} is not known")));
            }
        }
        let rows: Vec<UnitRow> = sqlx::query_as(
            "SELECT u.work_unit, u.name, COALESCE(a.name, ''), COALESCE(a.parent, ''), \
             COALESCE(c.parent, ''), u.prod_state, u.prod_since_ms, u.prod_reason, u.product, \
             u.down_since_ms, COALESCE(u.down_reason, ''), u.starved_since_ms, \
             COALESCE(u.starved_material, '') \
             FROM equipment_units u \
             LEFT JOIN equipment_assets a ON a.asset = u.work_unit \
             LEFT JOIN equipment_assets c ON c.asset = a.parent \
             ORDER BY u.work_unit",
        )
        .fetch_all(&self.pool)
        .await?;
        let now_ms = now.timestamp_millis();
        let shutdowns: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT work_unit, reason, from_ms FROM equipment_intervals \
             WHERE state = 'planned_shutdown' AND from_ms <= $1 AND to_ms > $1 \
             ORDER BY work_unit, from_ms",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        let shutdowns: BTreeMap<String, (String, i64)> = shutdowns
            .into_iter()
            .map(|(unit, reason, from)| (unit, (reason, from)))
            .collect();
        let units = rows
            .into_iter()
            .map(|row| {
                let (work_unit, name, asset_name, work_center, area) =
                    (row.0, row.1, row.2, row.3, row.4);
                let (prod_state, prod_since, prod_reason, product) = (row.5, row.6, row.7, row.8);
                let (down_since, down_reason, starved_since, material) =
                    (row.9, row.10, row.11, row.12);
                let (state, since_ms, reason) = if down_since.is_some() {
                    ("down".to_owned(), down_since, down_reason)
                } else if starved_since.is_some() {
                    ("starved".to_owned(), starved_since, material)
                } else if let Some((reason, from)) = shutdowns.get(&work_unit) {
                    ("planned_shutdown".to_owned(), Some(*from), reason.clone())
                } else if prod_state.is_empty() {
                    ("unknown".to_owned(), None, String::new())
                } else {
                    (prod_state, prod_since, prod_reason)
                };
                UnitState {
                    name: if name.is_empty() { asset_name } else { name },
                    work_unit,
                    work_center,
                    area,
                    state,
                    since_ms,
                    reason,
                    product,
                }
            })
            .filter(|unit| {
                filter
                    .work_center
                    .as_ref()
                    .is_none_or(|wc| *wc == unit.work_center)
                    && filter.area.as_ref().is_none_or(|area| *area == unit.area)
                    && filter
                        .state
                        .as_ref()
                        .is_none_or(|state| *state == unit.state)
            })
            .collect();
        Ok(units)
    }

    /// Returns a page of the intervals of `work_unit` that overlap `range`, by start:
    /// production states and planned shutdowns, breakdowns as `down`, starvation as `starved`
    /// (layers may overlap), and the next page's token (empty on the last page).
    pub async fn timeline(
        &self,
        work_unit: &str,
        range: TimeRange,
        page: Page,
    ) -> Result<(Vec<Interval>, String), QueryError> {
        let seek = page.seek(&TIMELINE_KEYS, 5)?;
        self.unit_exists(work_unit).await?;
        let sql = format!(
            "SELECT state, from_ms, to_ms, reason, source, id FROM (\
               SELECT state, from_ms, to_ms, reason, 'production' AS source, id \
               FROM equipment_intervals WHERE work_unit = $1 \
               UNION ALL \
               SELECT CASE kind WHEN 'breakdown' THEN 'down' ELSE 'starved' END AS state, \
                      from_ms, to_ms, reason, source, id \
               FROM equipment_downtime WHERE work_unit = $1 AND kind <> 'stop'\
             ) t WHERE from_ms < $3 AND (to_ms IS NULL OR to_ms > $2){} \
             ORDER BY {} LIMIT $4",
            seek.sql(),
            TIMELINE_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(work_unit)
            .bind(range.from_ms())
            .bind(range.to_ms())
            .bind(page.limit());
        let mut rows: Vec<IntervalRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &TIMELINE_KEYS, |row| {
            vec![
                KeyValue::Int(row.1),
                KeyValue::Text(row.0.clone()),
                KeyValue::Text(row.4.clone()),
                KeyValue::Text(row.5.clone()),
            ]
        });
        let intervals = rows
            .into_iter()
            .map(|(state, from_ms, to_ms, reason, source, _)| Interval {
                state,
                from_ms,
                to_ms,
                reason,
                source,
            })
            .collect();
        Ok((intervals, next))
    }

    /// Returns a page of the downtime that passes `filter`, newest first, and the next page's
    /// token (empty on the last page).
    pub async fn downtime(
        &self,
        filter: &DowntimeFilter,
        page: Page,
    ) -> Result<(Vec<Downtime>, String), QueryError> {
        let seek = page.seek(&DOWNTIME_KEYS, 6)?;
        if let Some(work_unit) = &filter.work_unit {
            self.unit_exists(work_unit).await?;
        }
        let sql = format!(
            "SELECT work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order, id \
             FROM equipment_downtime \
             WHERE ($1 = '' OR work_unit = $1) AND ($2 = '' OR kind = $2) \
             AND from_ms < $4 AND (to_ms IS NULL OR to_ms > $3){} \
             ORDER BY {} LIMIT $5",
            seek.sql(),
            DOWNTIME_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(filter.work_unit.as_deref().unwrap_or(""))
            .bind(filter.kind.as_deref().unwrap_or(""))
            .bind(filter.range.from_ms())
            .bind(filter.range.to_ms())
            .bind(page.limit());
        let mut rows: Vec<DowntimeRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &DOWNTIME_KEYS, |row| {
            vec![
                KeyValue::Int(row.3),
                KeyValue::Text(row.1.clone()),
                KeyValue::Text(row.8.clone()),
            ]
        });
        let rows: Vec<Downtime> = rows
            .into_iter()
            .map(
                |(work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order, _)| {
                    Downtime {
                        work_unit,
                        kind,
                        reason,
                        from_ms,
                        to_ms,
                        duration_ms,
                        source,
                        work_order,
                    }
                },
            )
            .collect();
        Ok((rows, next))
    }
}
