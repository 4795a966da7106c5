//! The asset's state, its decisions and its fold.
//!
//! Plans are evaluated whenever usage is recorded or plans are checked: a calendar plan is due
//! once its due date (definition time plus a whole number of intervals) has passed; a usage plan
//! is due once the cycles or run time since its definition or last due reach its interval.
//! A plan that missed several intervals becomes due once, and its next due date moves past the
//! time of the check, so one overdue plan raises one work order. Each due occurrence records its
//! work order (`PlanWorkOrderRaised`, id derived from plan and occurrence) in the same append;
//! the application then creates that work order, idempotently.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::{AssetCommand, ParentRef, MAX_CALENDAR_DAYS, MAX_RUN_HOURS};
use super::error::AssetError;
use super::events::{AssetEvent, AssetLevel, Trigger};
use crate::domain::ids::{AssetId, Description, PlanId, Reason, WorkOrderId};
use crate::domain::{Cycles, Millis};

/// A preventive maintenance plan of a work unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    trigger: Trigger,
    description: Description,
    defined_at: DateTime<Utc>,
    occurrences: u32,
    raised: u32,
    last_work_order: Option<(WorkOrderId, DateTime<Utc>)>,
    next_due: Option<DateTime<Utc>>,
    baseline: u64,
}

impl Plan {
    /// Returns what makes the plan due.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    /// Returns the plan's description.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Returns when the plan was defined.
    pub fn defined_at(&self) -> DateTime<Utc> {
        self.defined_at
    }

    /// Returns how many times the plan became due.
    pub fn occurrences(&self) -> u32 {
        self.occurrences
    }

    /// Returns the last occurrence a work order was raised for (0 for none).
    pub fn raised(&self) -> u32 {
        self.raised
    }

    /// Returns the work order raised for the last raised occurrence.
    pub fn last_work_order(&self) -> Option<WorkOrderId> {
        self.last_work_order.map(|(work_order, _)| work_order)
    }

    /// Returns when a calendar plan is next due (`None` for usage plans).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.next_due
    }

    /// Returns the cycles or run milliseconds left until a usage plan is due, given the work
    /// unit's meters (0 for calendar plans).
    pub fn remaining(&self, cycles: Cycles, run_time: Millis) -> u64 {
        match self.trigger {
            Trigger::CalendarDays { .. } => 0,
            Trigger::Cycles { cycles: every } => {
                every.saturating_sub(cycles.0.saturating_sub(self.baseline))
            }
            Trigger::RunHours { hours } => hours
                .saturating_mul(Millis::HOUR)
                .saturating_sub(run_time.0.saturating_sub(self.baseline)),
        }
    }

    /// Returns whether the plan is due at `at` with the given meters.
    fn is_due(&self, cycles: Cycles, run_time: Millis, at: DateTime<Utc>) -> bool {
        match self.trigger {
            Trigger::CalendarDays { .. } => self.next_due.is_some_and(|due| due <= at),
            Trigger::Cycles { .. } | Trigger::RunHours { .. } => {
                self.remaining(cycles, run_time) == 0
            }
        }
    }
}

/// The work order a due plan raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedWorkOrder {
    /// The plan.
    pub plan: PlanId,
    /// The occurrence of the plan the work order is for.
    pub occurrence: u32,
    /// The work order's id.
    pub work_order: WorkOrderId,
    /// The plan's description, for the work order.
    pub description: Description,
    /// When it was raised (the time of the usage record or check).
    pub at: DateTime<Utc>,
}

/// The state of a registered asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetState {
    id: AssetId,
    level: AssetLevel,
    name: String,
    parent: Option<AssetId>,
    retired: Option<Reason>,
    cycles: Cycles,
    run_time: Millis,
    plans: BTreeMap<PlanId, Plan>,
}

impl AssetState {
    /// Returns the equipment id.
    pub fn id(&self) -> &AssetId {
        &self.id
    }

    /// Returns the hierarchy level.
    pub fn level(&self) -> AssetLevel {
        self.level
    }

    /// Returns the display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the parent (`None` for an enterprise).
    pub fn parent(&self) -> Option<&AssetId> {
        self.parent.as_ref()
    }

    /// Returns why the asset was retired, if it was.
    pub fn retired(&self) -> Option<&Reason> {
        self.retired.as_ref()
    }

    /// Returns the cycles recorded since registration.
    pub fn cycles(&self) -> Cycles {
        self.cycles
    }

    /// Returns the run time recorded since registration.
    pub fn run_time(&self) -> Millis {
        self.run_time
    }

    /// Returns the preventive maintenance plans by id.
    pub fn plans(&self) -> &BTreeMap<PlanId, Plan> {
        &self.plans
    }

    /// Returns the work order raised last for each plan that raised one, with the plan, the
    /// occurrence and when it was raised.
    pub fn raised_work_orders(&self) -> Vec<RaisedWorkOrder> {
        self.plans
            .iter()
            .filter_map(|(id, plan)| {
                let (work_order, at) = plan.last_work_order?;
                Some(RaisedWorkOrder {
                    plan: id.clone(),
                    occurrence: plan.raised,
                    work_order,
                    description: plan.description.clone(),
                    at,
                })
            })
            .collect()
    }

    fn require_work_unit(&self) -> Result<(), AssetError> {
        match self.level {
            AssetLevel::WorkUnit => Ok(()),
            level => Err(AssetError::NotAWorkUnit { level }),
        }
    }

    /// Returns, for each plan due at `at` with the given meters, its due event and the event
    /// raising its work order (whose id derives from the plan occurrence, so creating it again
    /// finds the first one).
    fn due_plans(&self, cycles: Cycles, run_time: Millis, at: DateTime<Utc>) -> Vec<AssetEvent> {
        self.plans
            .iter()
            .filter(|(_, plan)| plan.is_due(cycles, run_time, at))
            .flat_map(|(id, plan)| {
                let occurrence = plan.occurrences.saturating_add(1);
                [
                    AssetEvent::MaintenancePlanDue {
                        work_unit: self.id.clone(),
                        plan: id.clone(),
                        occurrence,
                        trigger: plan.trigger,
                        at,
                    },
                    AssetEvent::PlanWorkOrderRaised {
                        work_unit: self.id.clone(),
                        plan: id.clone(),
                        occurrence,
                        work_order: WorkOrderId::for_plan_occurrence(&self.id, id, occurrence),
                        at,
                    },
                ]
            })
            .collect()
    }
}

/// Returns `at` plus `days` days, or `None` past the end of time (never due again).
fn add_days(at: DateTime<Utc>, days: u64) -> Option<DateTime<Utc>> {
    let days = i64::try_from(days).ok()?;
    at.checked_add_signed(Duration::try_days(days)?)
}

/// Returns the first of `due`, `due` + `days`, `due` + 2 × `days`, ... that lies after `at`, in
/// constant time however far `at` is from `due`; `None` past the end of time (never due again)
/// or for a period of zero days.
fn next_after(due: DateTime<Utc>, days: u64, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if due > at {
        return Some(due);
    }
    let step = i64::try_from(days).ok()?.checked_mul(86_400_000)?;
    if step == 0 {
        return None;
    }
    let steps = (at - due).num_milliseconds() / step + 1;
    due.checked_add_signed(Duration::try_milliseconds(steps.checked_mul(step)?)?)
}

/// Checks that `parent` exists, is active and sits one level above `level`.
fn check_parent(level: AssetLevel, parent: &ParentRef) -> Result<(), AssetError> {
    let Some(expected) = level.parent_level() else {
        return Err(AssetError::EnterpriseWithParent {
            parent: parent.id.clone(),
        });
    };
    let Some((actual, retired)) = parent.found else {
        return Err(AssetError::ParentNotFound {
            parent: parent.id.clone(),
        });
    };
    if actual != expected {
        return Err(AssetError::WrongParentLevel {
            parent: parent.id.clone(),
            level,
            expected,
            actual,
        });
    }
    if retired {
        return Err(AssetError::ParentRetired {
            parent: parent.id.clone(),
        });
    }
    Ok(())
}

/// An asset: the aggregate `asset`. Before its registration it has no state and rejects every
/// command but `Register` with [`AssetError::NotRegistered`].
pub type Asset = Stream<Option<AssetState>>;

impl Lifecycle for AssetState {
    const TYPE: &'static str = "asset";
    const NOUN: &'static str = "asset";
    type Command = AssetCommand;
    type Event = AssetEvent;
    type Error = AssetError;

    fn create(command: AssetCommand) -> Result<Vec<AssetEvent>, AssetError> {
        let AssetCommand::Register {
            asset,
            level,
            name,
            parent,
            at,
        } = command
        else {
            return Err(AssetError::NotRegistered);
        };
        if name.trim().is_empty() {
            return Err(AssetError::EmptyName);
        }
        match (level.parent_level(), &parent) {
            (None, None) => {}
            (Some(parent_level), None) => {
                return Err(AssetError::MissingParent {
                    level,
                    parent_level,
                })
            }
            (_, Some(parent)) => check_parent(level, parent)?,
        }
        Ok(vec![AssetEvent::AssetRegistered {
            asset,
            level,
            name,
            parent: parent.map(|parent| parent.id),
            at,
        }])
    }

    fn decide(&self, command: AssetCommand) -> Result<Vec<AssetEvent>, AssetError> {
        if let AssetCommand::Register { .. } = command {
            return Err(AssetError::AlreadyRegistered {
                asset: self.id.clone(),
            });
        }
        if self.retired.is_some() {
            return Err(AssetError::Retired);
        }
        match command {
            AssetCommand::Register { .. } => Err(AssetError::AlreadyRegistered {
                asset: self.id.clone(),
            }),
            AssetCommand::Move { parent, at } => {
                let Some(current) = &self.parent else {
                    return Err(AssetError::EnterpriseCannotMove);
                };
                if *current == parent.id {
                    return Err(AssetError::AlreadyUnderParent { parent: parent.id });
                }
                check_parent(self.level, &parent)?;
                Ok(vec![AssetEvent::AssetMoved {
                    asset: self.id.clone(),
                    from_parent: current.clone(),
                    to_parent: parent.id,
                    at,
                }])
            }
            AssetCommand::Retire { reason, at } => Ok(vec![AssetEvent::AssetRetired {
                asset: self.id.clone(),
                reason,
                at,
            }]),
            AssetCommand::DefinePlan {
                plan,
                trigger,
                description,
                at,
            } => {
                self.require_work_unit()?;
                if self.plans.contains_key(&plan) {
                    return Err(AssetError::PlanAlreadyDefined { plan });
                }
                let every = trigger.every();
                if every == 0 {
                    return Err(AssetError::ZeroInterval);
                }
                let max = match trigger {
                    Trigger::CalendarDays { .. } => MAX_CALENDAR_DAYS,
                    Trigger::RunHours { .. } => MAX_RUN_HOURS,
                    Trigger::Cycles { .. } => u64::MAX,
                };
                if every > max {
                    return Err(AssetError::IntervalOutOfRange { every, max });
                }
                Ok(vec![AssetEvent::MaintenancePlanDefined {
                    work_unit: self.id.clone(),
                    plan,
                    trigger,
                    description,
                    at,
                }])
            }
            AssetCommand::RecordUsage {
                cycles,
                run_time,
                at,
            } => {
                self.require_work_unit()?;
                if cycles.0 == 0 && run_time.0 == 0 {
                    return Err(AssetError::EmptyUsage);
                }
                let (Some(total_cycles), Some(total_run_time)) = (
                    self.cycles.checked_add(cycles),
                    self.run_time.0.checked_add(run_time.0).map(Millis),
                ) else {
                    return Err(AssetError::UsageOverflow);
                };
                let mut events = vec![AssetEvent::UsageRecorded {
                    work_unit: self.id.clone(),
                    cycles,
                    run_time_ms: run_time,
                    total_cycles,
                    total_run_time_ms: total_run_time,
                    at,
                }];
                events.extend(self.due_plans(total_cycles, total_run_time, at));
                Ok(events)
            }
            AssetCommand::CheckPlans { at } => {
                self.require_work_unit()?;
                Ok(self.due_plans(self.cycles, self.run_time, at))
            }
        }
    }

    fn born(event: AssetEvent) -> Option<Self> {
        // Nothing but a registration starts a stream; anything else before it is ignored.
        let AssetEvent::AssetRegistered {
            asset,
            level,
            name,
            parent,
            ..
        } = event
        else {
            return None;
        };
        Some(AssetState {
            id: asset,
            level,
            name,
            parent,
            retired: None,
            cycles: Cycles::ZERO,
            run_time: Millis(0),
            plans: BTreeMap::new(),
        })
    }

    fn evolve(&mut self, event: AssetEvent) {
        match event {
            // A second registration is never decided; the fold keeps the first one.
            AssetEvent::AssetRegistered { .. } => {}
            AssetEvent::AssetMoved { to_parent, .. } => self.parent = Some(to_parent),
            AssetEvent::AssetRetired { reason, .. } => self.retired = Some(reason),
            AssetEvent::MaintenancePlanDefined {
                plan,
                trigger,
                description,
                at,
                ..
            } => {
                let (next_due, baseline) = match trigger {
                    Trigger::CalendarDays { days } => (add_days(at, days), 0),
                    Trigger::Cycles { .. } => (None, self.cycles.0),
                    Trigger::RunHours { .. } => (None, self.run_time.0),
                };
                self.plans.insert(
                    plan,
                    Plan {
                        trigger,
                        description,
                        defined_at: at,
                        occurrences: 0,
                        raised: 0,
                        last_work_order: None,
                        next_due,
                        baseline,
                    },
                );
            }
            AssetEvent::UsageRecorded {
                total_cycles,
                total_run_time_ms,
                ..
            } => {
                self.cycles = total_cycles;
                self.run_time = total_run_time_ms;
            }
            AssetEvent::MaintenancePlanDue {
                plan,
                occurrence,
                at,
                ..
            } => {
                let (cycles, run_time) = (self.cycles, self.run_time);
                if let Some(plan) = self.plans.get_mut(&plan) {
                    plan.occurrences = occurrence;
                    match plan.trigger {
                        Trigger::CalendarDays { days } => {
                            plan.next_due = plan.next_due.and_then(|due| next_after(due, days, at));
                        }
                        Trigger::Cycles { .. } => plan.baseline = cycles.0,
                        Trigger::RunHours { .. } => plan.baseline = run_time.0,
                    }
                }
            }
            AssetEvent::PlanWorkOrderRaised {
                plan,
                occurrence,
                work_order,
                at,
                ..
            } => {
                if let Some(plan) = self.plans.get_mut(&plan) {
                    plan.raised = occurrence;
                    plan.last_work_order = Some((work_order, at));
                }
            }
        }
    }
}
#[cfg(test)]
mod tests;
