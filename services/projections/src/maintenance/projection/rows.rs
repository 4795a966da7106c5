//! The rows a transaction's maintenance events touch, in memory: `flush` reads them at once
//! ([`Rows::load`], in [`super::tables`]), applies the changes to them in order exactly as the
//! row updates would ([`Rows::apply`]), decides the status of the PM occurrences they touched
//! once ([`Rows::decide`]), and writes each changed row once ([`Rows::write`]): a handful of
//! statements per transaction instead of one to seven per event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mom_projection::{ApplyError, Connection};

use super::change::{Change, PmKey};
use super::pm_status;

/// A row of `maintenance_work_orders` (the key aside).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OrderRow {
    pub(super) kind: String,
    pub(super) priority: String,
    pub(super) status: String,
    pub(super) work_unit: String,
    pub(super) reason: String,
    pub(super) description: String,
    pub(super) plan: String,
    pub(super) occurrence: i64,
    pub(super) requested_ms: i64,
    pub(super) scheduled_from_ms: Option<i64>,
    pub(super) scheduled_until_ms: Option<i64>,
    pub(super) started_ms: Option<i64>,
    pub(super) closed_ms: Option<i64>,
}

/// A row of `maintenance_pm` (the key aside).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PmRow {
    pub(super) due_ms: i64,
    pub(super) work_order: String,
    pub(super) completed_ms: Option<i64>,
    pub(super) cancelled: i64,
    pub(super) status: String,
}

/// A row of `maintenance_failures` (the key aside).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FailureRow {
    pub(super) work_unit: String,
    pub(super) failure_mode: String,
    pub(super) failure_start_ms: i64,
    pub(super) repair_start_ms: Option<i64>,
    pub(super) repair_end_ms: Option<i64>,
    pub(super) status: String,
}

/// A row of `maintenance_plans` (the key aside).
#[derive(Debug)]
pub(super) struct PlanRow {
    pub(super) trigger: &'static str,
    pub(super) every: i64,
    pub(super) description: String,
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
    pub(super) orders: HashMap<String, Option<OrderRow>>,
    pub(super) orders_changed: BTreeSet<String>,
    pub(super) pm: BTreeMap<PmKey, Option<PmRow>>,
    pub(super) pm_changed: BTreeSet<PmKey>,
    /// The occurrences whose status is decided once every change is applied (a status
    /// depends only on the occurrence's completion and cancellation and on the next
    /// occurrence's due time, and every change to those decides it again).
    pub(super) decide: BTreeSet<PmKey>,
    pub(super) failures: HashMap<String, Option<FailureRow>>,
    pub(super) failures_changed: BTreeSet<String>,
    pub(super) plans: BTreeMap<(String, String), PlanRow>,
    /// The work units whose reliability rows are recomputed.
    pub(super) reliability: BTreeSet<String>,
}

impl Rows {
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
}

/// The occurrence after `key`.
pub(super) fn next(key: &PmKey) -> PmKey {
    (key.0.clone(), key.1.clone(), key.2 + 1)
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
