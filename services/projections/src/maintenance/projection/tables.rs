//! Reading the stored rows a transaction's maintenance events touch and writing the rows they
//! changed, many per statement.

use std::collections::BTreeSet;

use mom_projection::{fetch_in, ApplyError, Connection, Params};
use sqlx::Row;

use super::change::{Change, PmKey};
use super::rows::{next, FailureRow, OrderRow, PmRow, Rows};

/// Keys per multi-row read.
const READ_CHUNK: usize = 100;
/// Rows per multi-row upsert: work orders (14 columns), PM occurrences (8), failures (7), plans
/// (5).
const ORDER_CHUNK: usize = 40;
const ROW_CHUNK: usize = 80;

const ORDER_COLUMNS: &str = "work_order, kind, priority, status, work_unit, reason, description, \
     plan, occurrence, requested_ms, scheduled_from_ms, scheduled_until_ms, started_ms, closed_ms";
const PM_COLUMNS: &str =
    "work_unit, plan, occurrence, due_ms, work_order, completed_ms, cancelled, status";
const FAILURE_COLUMNS: &str = "work_order, work_unit, failure_mode, failure_start_ms, \
     repair_start_ms, repair_end_ms, status";

impl Rows {
    /// Reads the stored rows `changes` touch: their work orders, failures and PM occurrences
    /// (by key, with the next occurrence whose due time decides a status, and by work order).
    pub async fn load(
        &mut self,
        connection: &mut Connection,
        changes: &[Change],
    ) -> Result<(), ApplyError> {
        let mut orders = BTreeSet::new();
        let mut failures = BTreeSet::new();
        let mut pm_keys = BTreeSet::new();
        let mut pm_orders = BTreeSet::new();
        for change in changes {
            match change {
                Change::PlanDefined { .. } => {}
                Change::PlanDue { key, .. } => {
                    let (unit, plan, occurrence) = key;
                    for occurrence in [occurrence - 1, *occurrence, occurrence + 1] {
                        pm_keys.insert((unit.clone(), plan.clone(), occurrence));
                    }
                }
                Change::Linked { key, work_order } => {
                    pm_keys.insert(key.clone());
                    pm_keys.insert(next(key));
                    orders.insert(work_order.as_str());
                    pm_orders.insert(work_order.as_str());
                }
                Change::BreakdownReported { work_order, .. } => {
                    orders.insert(work_order.as_str());
                    failures.insert(work_order.as_str());
                }
                Change::PreventiveRequested {
                    work_order,
                    work_unit,
                    plan,
                    occurrence,
                    ..
                } => {
                    orders.insert(work_order.as_str());
                    if !plan.is_empty() {
                        let key = (work_unit.clone(), plan.clone(), *occurrence);
                        pm_keys.insert(next(&key));
                        pm_keys.insert(key);
                        pm_orders.insert(work_order.as_str());
                    }
                }
                Change::Scheduled { work_order, .. } | Change::Started { work_order, .. } => {
                    orders.insert(work_order.as_str());
                }
                Change::Repaired { work_order, .. } => {
                    orders.insert(work_order.as_str());
                    failures.insert(work_order.as_str());
                }
                Change::PreventiveCompleted { work_order, .. } => {
                    orders.insert(work_order.as_str());
                    pm_orders.insert(work_order.as_str());
                }
                Change::Cancelled { work_order, .. } => {
                    orders.insert(work_order.as_str());
                    failures.insert(work_order.as_str());
                    pm_orders.insert(work_order.as_str());
                }
            }
        }
        let orders: Vec<&str> = orders.into_iter().collect();
        self.load_orders(connection, &orders).await?;
        let failures: Vec<&str> = failures.into_iter().collect();
        self.load_failures(connection, &failures).await?;
        // No occurrence is linked to an empty work order (an event without one): the unlinked
        // occurrences have an empty work order, and none of them is that order's.
        let pm_orders: Vec<&str> = pm_orders.into_iter().filter(|o| !o.is_empty()).collect();
        let select = format!("SELECT {PM_COLUMNS} FROM maintenance_pm WHERE work_order");
        for chunk in pm_orders.chunks(READ_CHUNK) {
            for row in fetch_in(connection, &select, chunk).await? {
                let (key, row) = pm_row(&row)?;
                self.pm.insert(key, Some(row));
            }
        }
        // The occurrences found by work order decide their status with the next one's due time.
        let found: Vec<PmKey> = self.pm.keys().map(next).collect();
        pm_keys.extend(found);
        self.load_pm(connection, pm_keys).await
    }

    async fn load_orders(
        &mut self,
        connection: &mut Connection,
        orders: &[&str],
    ) -> Result<(), ApplyError> {
        let select =
            format!("SELECT {ORDER_COLUMNS} FROM maintenance_work_orders WHERE work_order");
        for chunk in orders.chunks(READ_CHUNK) {
            for order in chunk {
                self.orders.insert((*order).to_owned(), None);
            }
            for row in fetch_in(connection, &select, chunk).await? {
                let order = OrderRow {
                    kind: row.try_get(1)?,
                    priority: row.try_get(2)?,
                    status: row.try_get(3)?,
                    work_unit: row.try_get(4)?,
                    reason: row.try_get(5)?,
                    description: row.try_get(6)?,
                    plan: row.try_get(7)?,
                    occurrence: row.try_get(8)?,
                    requested_ms: row.try_get(9)?,
                    scheduled_from_ms: row.try_get(10)?,
                    scheduled_until_ms: row.try_get(11)?,
                    started_ms: row.try_get(12)?,
                    closed_ms: row.try_get(13)?,
                };
                self.orders.insert(row.try_get(0)?, Some(order));
            }
        }
        Ok(())
    }

    async fn load_failures(
        &mut self,
        connection: &mut Connection,
        failures: &[&str],
    ) -> Result<(), ApplyError> {
        let select = format!("SELECT {FAILURE_COLUMNS} FROM maintenance_failures WHERE work_order");
        for chunk in failures.chunks(READ_CHUNK) {
            for failure in chunk {
                self.failures.insert((*failure).to_owned(), None);
            }
            for row in fetch_in(connection, &select, chunk).await? {
                let failure = FailureRow {
                    work_unit: row.try_get(1)?,
                    failure_mode: row.try_get(2)?,
                    failure_start_ms: row.try_get(3)?,
                    repair_start_ms: row.try_get(4)?,
                    repair_end_ms: row.try_get(5)?,
                    status: row.try_get(6)?,
                };
                self.failures.insert(row.try_get(0)?, Some(failure));
            }
        }
        Ok(())
    }

    /// Reads the PM occurrences `keys` not read yet.
    pub(super) async fn load_pm(
        &mut self,
        connection: &mut Connection,
        keys: BTreeSet<PmKey>,
    ) -> Result<(), ApplyError> {
        let missing: Vec<PmKey> = keys
            .into_iter()
            .filter(|key| !self.pm.contains_key(key))
            .collect();
        let params = Params::of(connection);
        for chunk in missing.chunks(READ_CHUNK) {
            for key in chunk {
                self.pm.insert(key.clone(), None);
            }
            let sql = format!(
                "SELECT {PM_COLUMNS} FROM maintenance_pm \
                 WHERE {}",
                params.keys_in(&["work_unit", "plan", "occurrence"], chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for (unit, plan, occurrence) in chunk {
                query = query.bind(unit).bind(plan).bind(*occurrence);
            }
            for row in query.fetch_all(&mut *connection).await? {
                let (key, row) = pm_row(&row)?;
                self.pm.insert(key, Some(row));
            }
        }
        Ok(())
    }

    /// Writes the rows the changes changed, many per statement.
    pub async fn write(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let params = Params::of(connection);
        let plans: Vec<_> = self.plans.iter().collect();
        for chunk in plans.chunks(ROW_CHUNK) {
            let sql = format!(
                "INSERT INTO maintenance_plans (work_unit, plan, trigger_kind, every, \
                 description) VALUES {} ON CONFLICT (work_unit, plan) DO UPDATE SET \
                 trigger_kind = excluded.trigger_kind, every = excluded.every, \
                 description = excluded.description",
                params.rows(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for ((unit, plan), row) in chunk {
                query = query
                    .bind(unit)
                    .bind(plan)
                    .bind(row.trigger)
                    .bind(row.every)
                    .bind(&row.description);
            }
            query.execute(&mut *connection).await?;
        }
        let orders: Vec<(&String, &OrderRow)> = self
            .orders_changed
            .iter()
            .filter_map(|id| Some((id, self.orders.get(id)?.as_ref()?)))
            .collect();
        for chunk in orders.chunks(ORDER_CHUNK) {
            let sql = format!(
                "INSERT INTO maintenance_work_orders ({ORDER_COLUMNS}) VALUES {} \
                 ON CONFLICT (work_order) DO UPDATE SET kind = excluded.kind, \
                 priority = excluded.priority, status = excluded.status, \
                 work_unit = excluded.work_unit, reason = excluded.reason, \
                 description = excluded.description, plan = excluded.plan, \
                 occurrence = excluded.occurrence, requested_ms = excluded.requested_ms, \
                 scheduled_from_ms = excluded.scheduled_from_ms, \
                 scheduled_until_ms = excluded.scheduled_until_ms, \
                 started_ms = excluded.started_ms, closed_ms = excluded.closed_ms",
                params.rows(chunk.len(), 14)
            );
            let mut query = sqlx::query(&sql);
            for (id, row) in chunk {
                query = query
                    .bind(*id)
                    .bind(&row.kind)
                    .bind(&row.priority)
                    .bind(&row.status)
                    .bind(&row.work_unit)
                    .bind(&row.reason)
                    .bind(&row.description)
                    .bind(&row.plan)
                    .bind(row.occurrence)
                    .bind(row.requested_ms)
                    .bind(row.scheduled_from_ms)
                    .bind(row.scheduled_until_ms)
                    .bind(row.started_ms)
                    .bind(row.closed_ms);
            }
            query.execute(&mut *connection).await?;
        }
        let pm: Vec<(&PmKey, &PmRow)> = self
            .pm_changed
            .iter()
            .filter_map(|key| Some((key, self.pm.get(key)?.as_ref()?)))
            .collect();
        for chunk in pm.chunks(ROW_CHUNK) {
            let sql = format!(
                "INSERT INTO maintenance_pm ({PM_COLUMNS}) VALUES {} \
                 ON CONFLICT (work_unit, plan, occurrence) DO UPDATE SET \
                 due_ms = excluded.due_ms, work_order = excluded.work_order, \
                 completed_ms = excluded.completed_ms, cancelled = excluded.cancelled, \
                 status = excluded.status",
                params.rows(chunk.len(), 8)
            );
            let mut query = sqlx::query(&sql);
            for ((unit, plan, occurrence), row) in chunk {
                query = query
                    .bind(unit)
                    .bind(plan)
                    .bind(*occurrence)
                    .bind(row.due_ms)
                    .bind(&row.work_order)
                    .bind(row.completed_ms)
                    .bind(row.cancelled)
                    .bind(&row.status);
            }
            query.execute(&mut *connection).await?;
        }
        let failures: Vec<(&String, &FailureRow)> = self
            .failures_changed
            .iter()
            .filter_map(|id| Some((id, self.failures.get(id)?.as_ref()?)))
            .collect();
        for chunk in failures.chunks(ROW_CHUNK) {
            let sql = format!(
                "INSERT INTO maintenance_failures ({FAILURE_COLUMNS}) VALUES {} \
                 ON CONFLICT (work_order) DO UPDATE SET work_unit = excluded.work_unit, \
                 failure_mode = excluded.failure_mode, \
                 failure_start_ms = excluded.failure_start_ms, \
                 repair_start_ms = excluded.repair_start_ms, \
                 repair_end_ms = excluded.repair_end_ms, status = excluded.status",
                params.rows(chunk.len(), 7)
            );
            let mut query = sqlx::query(&sql);
            for (id, row) in chunk {
                query = query
                    .bind(*id)
                    .bind(&row.work_unit)
                    .bind(&row.failure_mode)
                    .bind(row.failure_start_ms)
                    .bind(row.repair_start_ms)
                    .bind(row.repair_end_ms)
                    .bind(&row.status);
            }
            query.execute(&mut *connection).await?;
        }
        Ok(())
    }
}

/// A stored row of `maintenance_pm` ([`PM_COLUMNS`]).
fn pm_row(row: &sqlx::any::AnyRow) -> Result<(PmKey, PmRow), ApplyError> {
    Ok((
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
        PmRow {
            due_ms: row.try_get(3)?,
            work_order: row.try_get(4)?,
            completed_ms: row.try_get(5)?,
            cancelled: row.try_get(6)?,
            status: row.try_get(7)?,
        },
    ))
}
