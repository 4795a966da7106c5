//! A maintenance event as the read model applies it: `apply` checks and decodes an event into a
//! [`Change`] (one that breaks the contract is refused there, as poison) and keeps it for
//! `flush`, which applies it to the rows in memory ([`super::rows`]).

use mom_projection::ApplyError;
use mom_proto::maintenance::v1::maintenance_event::Event;

use super::{mode, trigger_name};
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
