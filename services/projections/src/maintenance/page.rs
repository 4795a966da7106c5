//! A transaction's maintenance events, applied in memory: `apply` checks and decodes an event
//! into a [`Change`]; `flush` reads the stored rows of every work order, PM occurrence and
//! failure the transaction's changes touch at once ([`Rows::load`]), applies the changes to them
//! in order exactly as the row updates would ([`Rows::apply`]), decides the status of the PM
//! occurrences they touched once, and writes each changed row once, many per statement
//! ([`Rows::write`]): a handful of statements per transaction instead of one to seven per event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mom_projection::{fetch_in, ApplyError, Connection, Params};
use mom_proto::maintenance::v1::maintenance_event::Event;
use sqlx::Row;

use super::projection::{mode, pm_status, trigger_name};
use crate::events::{ms, required};

/// A PM occurrence: work unit, plan, occurrence.
pub type PmKey = (String, String, i64);

/// A maintenance event the read model applies, checked and decoded (a bad one is refused in
/// `apply`, as poison).
#[derive(Debug)]
pub enum Change {
    PlanDefined {
        work_unit: String,
        plan: String,
        trigger: &'static str,
        every: i64,
        description: String,
    },
    PlanDue {
        key: PmKey,
        due_ms: i64,
    },
    /// A plan's work order raised: linked to its occurrence.
    Linked {
        key: PmKey,
        work_order: String,
    },
    BreakdownReported {
        work_order: String,
        work_unit: String,
        failure_mode: String,
        description: String,
        requested_ms: i64,
        failure_start_ms: i64,
    },
    PreventiveRequested {
        work_order: String,
        work_unit: String,
        plan: String,
        occurrence: i64,
        description: String,
        requested_ms: i64,
    },
    Scheduled {
        work_order: String,
        from_ms: i64,
        until_ms: i64,
    },
    Started {
        work_order: String,
        at_ms: i64,
    },
    Repaired {
        work_order: String,
        work_unit: String,
        failure_mode: String,
        failure_start_ms: i64,
        repair_start_ms: i64,
        repair_end_ms: i64,
    },
    PreventiveCompleted {
        work_order: String,
        at_ms: i64,
    },
    Cancelled {
        work_order: String,
        at_ms: i64,
    },
}

impl Change {
    /// Returns the change `event` of the aggregate `aggregate` makes, `None` for the events the
    /// read model leaves out (usage, asset registrations).
    pub fn of(event: Event, aggregate: &str) -> Result<Option<Self>, ApplyError> {
        let order_or_aggregate = |work_order: String| {
            if work_order.is_empty() {
                aggregate.to_owned()
            } else {
                work_order
            }
        };
        Ok(Some(match event {
            Event::MaintenancePlanDefined(plan) => Change::PlanDefined {
                work_unit: required(&plan.work_unit, "work_unit")?.to_owned(),
                plan: required(&plan.plan, "plan")?.to_owned(),
                trigger: trigger_name(plan.trigger()),
                every: i64::try_from(plan.every).unwrap_or(i64::MAX),
                description: plan.description,
            },
            Event::MaintenancePlanDue(due) => Change::PlanDue {
                key: (
                    required(&due.work_unit, "work_unit")?.to_owned(),
                    required(&due.plan, "plan")?.to_owned(),
                    i64::from(due.occurrence),
                ),
                due_ms: ms(due.at.as_ref(), "at")?,
            },
            Event::PlanWorkOrderRaised(raised) => Change::Linked {
                key: (raised.work_unit, raised.plan, i64::from(raised.occurrence)),
                work_order: raised.work_order,
            },
            Event::BreakdownReported(reported) => Change::BreakdownReported {
                work_unit: required(&reported.work_unit, "work_unit")?.to_owned(),
                failure_mode: mode(&reported.failure_mode).to_owned(),
                requested_ms: ms(reported.at.as_ref(), "at")?,
                failure_start_ms: ms(reported.failure_start.as_ref(), "failure_start")?,
                work_order: order_or_aggregate(reported.work_order),
                description: reported.description,
            },
            Event::PreventiveWorkRequested(requested) => Change::PreventiveRequested {
                work_unit: required(&requested.work_unit, "work_unit")?.to_owned(),
                requested_ms: ms(requested.at.as_ref(), "at")?,
                work_order: order_or_aggregate(requested.work_order),
                plan: requested.plan,
                occurrence: i64::from(requested.occurrence),
                description: requested.description,
            },
            Event::WorkOrderScheduled(scheduled) => Change::Scheduled {
                work_order: aggregate.to_owned(),
                from_ms: ms(scheduled.from.as_ref(), "from")?,
                until_ms: ms(scheduled.until.as_ref(), "until")?,
            },
            Event::PmWindowScheduled(window) => Change::Scheduled {
                work_order: aggregate.to_owned(),
                from_ms: ms(window.from.as_ref(), "from")?,
                until_ms: ms(window.until.as_ref(), "until")?,
            },
            Event::WorkStarted(started) => Change::Started {
                work_order: aggregate.to_owned(),
                at_ms: ms(started.at.as_ref(), "at")?,
            },
            Event::BreakdownRepaired(repaired) => {
                let failure_start_ms = ms(repaired.failure_start.as_ref(), "failure_start")?;
                let repair_end_ms = ms(repaired.repair_end.as_ref(), "repair_end")?;
                let repair_start_ms = repaired
                    .repair_start
                    .as_ref()
                    .map(|ts| ms(Some(ts), "repair_start"))
                    .transpose()?
                    .unwrap_or(failure_start_ms);
                Change::Repaired {
                    work_order: aggregate.to_owned(),
                    work_unit: required(&repaired.work_unit, "work_unit")?.to_owned(),
                    failure_mode: mode(&repaired.failure_mode).to_owned(),
                    failure_start_ms,
                    repair_start_ms,
                    repair_end_ms,
                }
            }
            Event::PreventiveWorkCompleted(completed) => Change::PreventiveCompleted {
                work_order: aggregate.to_owned(),
                at_ms: ms(completed.at.as_ref(), "at")?,
            },
            Event::WorkOrderCancelled(cancelled) => Change::Cancelled {
                work_order: aggregate.to_owned(),
                at_ms: ms(cancelled.at.as_ref(), "at")?,
            },
            _ => return Ok(None),
        }))
    }
}

/// A row of `maintenance_work_orders` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct OrderRow {
    kind: String,
    priority: String,
    status: String,
    work_unit: String,
    reason: String,
    description: String,
    plan: String,
    occurrence: i64,
    requested_ms: i64,
    scheduled_from_ms: Option<i64>,
    scheduled_until_ms: Option<i64>,
    started_ms: Option<i64>,
    closed_ms: Option<i64>,
}

/// A row of `maintenance_pm` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct PmRow {
    due_ms: i64,
    work_order: String,
    completed_ms: Option<i64>,
    cancelled: i64,
    status: String,
}

/// A row of `maintenance_failures` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct FailureRow {
    work_unit: String,
    failure_mode: String,
    failure_start_ms: i64,
    repair_start_ms: Option<i64>,
    repair_end_ms: Option<i64>,
    status: String,
}

/// A row of `maintenance_plans` (the key aside).
#[derive(Debug)]
struct PlanRow {
    trigger: &'static str,
    every: i64,
    description: String,
}

/// How a PM occurrence's work order ended.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// Completed at this time (milliseconds).
    Completed(i64),
    /// Cancelled.
    Cancelled,
}

/// The rows a transaction's changes touch, as it sees them (`None`: no row), and which of
/// them it changed.
#[derive(Debug, Default)]
pub struct Rows {
    orders: HashMap<String, Option<OrderRow>>,
    orders_changed: BTreeSet<String>,
    pm: BTreeMap<PmKey, Option<PmRow>>,
    pm_changed: BTreeSet<PmKey>,
    /// The occurrences whose status is decided once every change is applied (a status
    /// depends only on the occurrence's completion and cancellation and on the next
    /// occurrence's due time, and every change to those decides it again).
    decide: BTreeSet<PmKey>,
    failures: HashMap<String, Option<FailureRow>>,
    failures_changed: BTreeSet<String>,
    plans: BTreeMap<(String, String), PlanRow>,
    /// The work units whose reliability rows are recomputed.
    pub reliability: BTreeSet<String>,
}

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
    async fn load_pm(
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

    /// Applies `change` as the table updates would: an update of a missing row changes nothing,
    /// an insert keeps an existing row.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::PlanDefined {
                work_unit,
                plan,
                trigger,
                every,
                description,
            } => {
                self.plans.insert(
                    (work_unit, plan),
                    PlanRow {
                        trigger,
                        every,
                        description,
                    },
                );
            }
            Change::PlanDue { key, due_ms } => {
                let entry = self.pm.entry(key.clone()).or_insert(None);
                match entry {
                    Some(row) => row.due_ms = due_ms,
                    None => {
                        *entry = Some(PmRow {
                            due_ms,
                            work_order: String::new(),
                            completed_ms: None,
                            cancelled: 0,
                            status: "open".to_owned(),
                        });
                    }
                }
                self.pm_changed.insert(key.clone());
                self.decide
                    .insert((key.0.clone(), key.1.clone(), key.2 - 1));
                self.decide.insert(key);
            }
            Change::Linked { key, work_order } => self.link_pm(key, &work_order),
            Change::BreakdownReported {
                work_order,
                work_unit,
                failure_mode,
                description,
                requested_ms,
                failure_start_ms,
            } => {
                self.insert_order(
                    &work_order,
                    OrderRow {
                        kind: "corrective".to_owned(),
                        priority: "high".to_owned(),
                        status: "requested".to_owned(),
                        work_unit: work_unit.clone(),
                        reason: failure_mode.clone(),
                        description,
                        plan: String::new(),
                        occurrence: 0,
                        requested_ms,
                        scheduled_from_ms: None,
                        scheduled_until_ms: None,
                        started_ms: None,
                        closed_ms: None,
                    },
                );
                let failure = self.failures.entry(work_order.clone()).or_insert(None);
                if failure.is_none() {
                    *failure = Some(FailureRow {
                        work_unit: work_unit.clone(),
                        failure_mode,
                        failure_start_ms,
                        repair_start_ms: None,
                        repair_end_ms: None,
                        status: "open".to_owned(),
                    });
                    self.failures_changed.insert(work_order);
                }
                self.reliability.insert(work_unit);
            }
            Change::PreventiveRequested {
                work_order,
                work_unit,
                plan,
                occurrence,
                description,
                requested_ms,
            } => {
                self.insert_order(
                    &work_order,
                    OrderRow {
                        kind: "preventive".to_owned(),
                        priority: "normal".to_owned(),
                        status: "requested".to_owned(),
                        work_unit: work_unit.clone(),
                        reason: plan.clone(),
                        description,
                        plan: plan.clone(),
                        occurrence,
                        requested_ms,
                        scheduled_from_ms: None,
                        scheduled_until_ms: None,
                        started_ms: None,
                        closed_ms: None,
                    },
                );
                if !plan.is_empty() {
                    self.link_pm((work_unit, plan, occurrence), &work_order);
                }
            }
            Change::Scheduled {
                work_order,
                from_ms,
                until_ms,
            } => self.order(&work_order, |order| {
                order.scheduled_from_ms = Some(from_ms);
                order.scheduled_until_ms = Some(until_ms);
                if order.status == "requested" {
                    order.status = "scheduled".to_owned();
                }
            }),
            Change::Started { work_order, at_ms } => self.order(&work_order, |order| {
                order.status = "in_progress".to_owned();
                order.started_ms = Some(at_ms);
            }),
            Change::Repaired {
                work_order,
                work_unit,
                failure_mode,
                failure_start_ms,
                repair_start_ms,
                repair_end_ms,
            } => {
                self.order(&work_order, |order| {
                    order.status = "done".to_owned();
                    order.closed_ms = Some(repair_end_ms);
                    order.started_ms = order.started_ms.or(Some(repair_start_ms));
                });
                let failure = self.failures.entry(work_order.clone()).or_insert(None);
                let stored_unit = failure
                    .as_ref()
                    .map_or_else(|| work_unit.clone(), |f| f.work_unit.clone());
                *failure = Some(FailureRow {
                    work_unit: stored_unit,
                    failure_mode,
                    failure_start_ms,
                    repair_start_ms: Some(repair_start_ms),
                    repair_end_ms: Some(repair_end_ms.max(repair_start_ms)),
                    status: "repaired".to_owned(),
                });
                self.failures_changed.insert(work_order);
                self.reliability.insert(work_unit);
            }
            Change::PreventiveCompleted { work_order, at_ms } => {
                self.order(&work_order, |order| {
                    order.status = "done".to_owned();
                    order.closed_ms = Some(at_ms);
                });
                self.close_pm(&work_order, Close::Completed(at_ms));
            }
            Change::Cancelled { work_order, at_ms } => {
                self.order(&work_order, |order| {
                    order.status = "cancelled".to_owned();
                    order.closed_ms = Some(at_ms);
                });
                // A cancelled corrective order was a false alarm: no failure to count.
                match self.failures.get_mut(&work_order) {
                    Some(Some(failure)) if failure.status == "open" => {
                        failure.status = "cancelled".to_owned();
                        self.reliability.insert(failure.work_unit.clone());
                        self.failures_changed.insert(work_order);
                    }
                    _ => self.close_pm(&work_order, Close::Cancelled),
                }
            }
        }
    }

    /// Inserts a work order's row unless it has one.
    fn insert_order(&mut self, work_order: &str, row: OrderRow) {
        let entry = self.orders.entry(work_order.to_owned()).or_insert(None);
        if entry.is_none() {
            *entry = Some(row);
            self.orders_changed.insert(work_order.to_owned());
        }
    }

    /// Changes a work order's row, if it exists.
    fn order(&mut self, work_order: &str, change: impl FnOnce(&mut OrderRow)) {
        if let Some(Some(order)) = self.orders.get_mut(work_order) {
            change(order);
            self.orders_changed.insert(work_order.to_owned());
        }
    }

    /// Links a work order to its PM occurrence (when it has none yet); an order that already
    /// ended (its events came first, from another aggregate) closes the occurrence now.
    fn link_pm(&mut self, key: PmKey, work_order: &str) {
        if let Some(Some(pm)) = self.pm.get_mut(&key) {
            if pm.work_order.is_empty() {
                pm.work_order = work_order.to_owned();
                self.pm_changed.insert(key);
            }
        }
        let ended = match self.orders.get(work_order) {
            Some(Some(order)) => match (order.status.as_str(), order.closed_ms) {
                ("done", Some(closed)) => Some(Close::Completed(closed)),
                ("cancelled", _) => Some(Close::Cancelled),
                _ => None,
            },
            _ => None,
        };
        if let Some(close) = ended {
            self.close_pm(work_order, close);
        }
    }

    /// Records how the PM occurrence of `work_order` (the first, when several name it) ended,
    /// and decides its status again.
    fn close_pm(&mut self, work_order: &str, close: Close) {
        if work_order.is_empty() {
            return;
        }
        let Some((key, pm)) = self.pm.iter_mut().find_map(|(key, pm)| match pm {
            Some(pm) if pm.work_order == work_order => Some((key, pm)),
            _ => None,
        }) else {
            return;
        };
        match close {
            Close::Completed(at) => pm.completed_ms = Some(at),
            Close::Cancelled => pm.cancelled = 1,
        }
        let key = key.clone();
        self.pm_changed.insert(key.clone());
        self.decide.insert(key);
    }

    /// Decides the status of every occurrence the changes touched, from its completion and
    /// cancellation and the next occurrence's due time; reads the next occurrences not read
    /// yet.
    pub async fn decide(&mut self, connection: &mut Connection) -> Result<(), ApplyError> {
        let following: BTreeSet<PmKey> = self.decide.iter().map(next).collect();
        self.load_pm(connection, following).await?;
        for key in std::mem::take(&mut self.decide) {
            let next_due = self
                .pm
                .get(&next(&key))
                .and_then(|pm| pm.as_ref().map(|pm| pm.due_ms));
            if let Some(Some(pm)) = self.pm.get_mut(&key) {
                let status = pm_status(pm.completed_ms, pm.cancelled != 0, next_due);
                if pm.status != status {
                    pm.status = status.to_owned();
                    self.pm_changed.insert(key);
                }
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

/// The occurrence after `key`.
fn next(key: &PmKey) -> PmKey {
    (key.0.clone(), key.1.clone(), key.2 + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(occurrence: i64) -> PmKey {
        ("oven".to_owned(), "clean".to_owned(), occurrence)
    }

    fn due(rows: &mut Rows, occurrence: i64) {
        rows.apply(Change::PlanDue {
            key: key(occurrence),
            due_ms: occurrence * 100,
        });
    }

    fn requested(rows: &mut Rows, work_order: &str, plan: &str, occurrence: i64) {
        rows.apply(Change::PreventiveRequested {
            work_order: work_order.into(),
            work_unit: "oven".into(),
            plan: plan.into(),
            occurrence,
            description: String::new(),
            requested_ms: 0,
        });
    }

    fn pm(rows: &Rows, occurrence: i64) -> &PmRow {
        rows.pm[&key(occurrence)]
            .as_ref()
            .expect("the occurrence has a row")
    }

    #[test]
    fn an_order_that_ended_before_its_link_closes_the_occurrence_when_linked() {
        let mut rows = Rows::default();
        due(&mut rows, 1);
        requested(&mut rows, "wo-1", "", 0);
        rows.apply(Change::PreventiveCompleted {
            work_order: "wo-1".into(),
            at_ms: 150,
        });
        assert_eq!(pm(&rows, 1).completed_ms, None, "not linked yet");
        rows.apply(Change::Linked {
            key: key(1),
            work_order: "wo-1".into(),
        });
        assert_eq!(
            (pm(&rows, 1).work_order.as_str(), pm(&rows, 1).completed_ms),
            ("wo-1", Some(150))
        );
        assert!(rows.decide.contains(&key(1)));
    }

    #[test]
    fn an_order_without_an_id_closes_no_unlinked_occurrence() {
        let mut rows = Rows::default();
        due(&mut rows, 1);
        rows.apply(Change::PreventiveCompleted {
            work_order: String::new(),
            at_ms: 150,
        });
        assert_eq!(pm(&rows, 1).completed_ms, None);
    }

    #[test]
    fn a_cancelled_breakdown_is_a_false_alarm_and_a_cancelled_pm_order_a_missed_occurrence() {
        let mut rows = Rows::default();
        rows.apply(Change::BreakdownReported {
            work_order: "b-1".into(),
            work_unit: "oven".into(),
            failure_mode: "burner".into(),
            description: String::new(),
            requested_ms: 10,
            failure_start_ms: 5,
        });
        rows.apply(Change::Cancelled {
            work_order: "b-1".into(),
            at_ms: 20,
        });
        let failure = rows.failures["b-1"].as_ref().expect("a failure row");
        assert_eq!(failure.status, "cancelled");
        assert!(rows.reliability.contains("oven"));
        assert_eq!(
            rows.orders["b-1"].as_ref().map(|o| o.status.as_str()),
            Some("cancelled")
        );

        due(&mut rows, 2);
        requested(&mut rows, "wo-2", "clean", 2);
        rows.apply(Change::Cancelled {
            work_order: "wo-2".into(),
            at_ms: 30,
        });
        assert_eq!(
            (pm(&rows, 2).work_order.as_str(), pm(&rows, 2).cancelled),
            ("wo-2", 1)
        );
    }

    #[test]
    fn a_second_due_event_moves_the_due_time_and_keeps_the_link() {
        let mut rows = Rows::default();
        due(&mut rows, 3);
        requested(&mut rows, "wo-3", "clean", 3);
        rows.apply(Change::PlanDue {
            key: key(3),
            due_ms: 999,
        });
        assert_eq!(
            (pm(&rows, 3).due_ms, pm(&rows, 3).work_order.as_str()),
            (999, "wo-3")
        );
        assert!(rows.decide.contains(&key(2)) && rows.decide.contains(&key(3)));
    }
}
