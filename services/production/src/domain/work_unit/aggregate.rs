//! The work unit's state, its decisions and its fold.
//!
//! Floor facts are taken pragmatically: the machine state follows the order in which reports
//! arrive (event time is recorded, not used to reorder), and repeated stop reports are not errors.
//! While stopped, a stop report that names a new reason emits `WorkUnitStopped` again (the stop
//! continues, its reason is given or changed); one without a reason or with the same reason
//! changes nothing and emits no event. A stop report during a setup emits nothing either: the
//! unit is not producing and the whole setup already counts as setup time.
//!
//! A lost machine connection (`ReportDisconnected`) makes the state unknown from any state; a
//! repeated report while unknown (a node's and its devices' death certificates, a retried
//! command) changes nothing and emits no event, like a repeated stop report. The next
//! `ReportRunning`, `ReportStopped` or `StartSetup` ends the unknown state as it would end a
//! stop; `EndSetup` is refused (no setup is known to run). Counts stay accepted while unknown:
//! a count buffered at the edge and forwarded after the reconnect is real.
//!
//! A recipe download (`DownloadRecipe`, sent by the production API on `StartOperation`) binds a
//! copy of an approved recipe version to the unit; reported parameter values are checked
//! against that copy until the binding ends (`UnloadRecipe`) or the next download replaces it.
//! A version approved later does not change the copy. An override changes the copy's setpoint.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Millis, Stream, Units};
use serde::{Deserialize, Serialize};

use super::commands::{WorkUnitCommand, DEFAULT_MICRO_STOP_THRESHOLD, DEFAULT_STARTUP_WINDOW};
use super::error::WorkUnitError;
use super::events::WorkUnitEvent;
use crate::domain::ids::{OperationNumber, OrderId, ProductId, Reason, WorkUnitId};
use crate::domain::recipe::{ParameterStatus, RecipeId, RecipeParameter};

/// Whether the work unit runs, stands still, is being set up or is out of contact, and since
/// when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MachineState {
    /// Not running; the reason code when one was reported.
    Stopped {
        reason: Option<Reason>,
        since: DateTime<Utc>,
    },
    /// Running.
    Running { since: DateTime<Utc> },
    /// In a changeover / setup, for `next_product` when known.
    Setup {
        next_product: Option<ProductId>,
        since: DateTime<Utc>,
    },
    /// Unknown: the machine's connection is lost; what was lost when reported.
    Unknown {
        reason: Option<Reason>,
        since: DateTime<Utc>,
    },
}

/// The recipe version bound to a work unit: its downloaded copy, with the overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Download {
    /// The order whose operation it is bound for.
    pub order_id: OrderId,
    /// The operation.
    pub operation: OperationNumber,
    /// The master recipe.
    pub recipe: RecipeId,
    /// The version downloaded.
    pub version: u32,
    /// Its parameters, with the setpoints operators overrode.
    pub parameters: Vec<RecipeParameter>,
}

impl Download {
    fn parameter(
        &self,
        name: &crate::domain::recipe::ParameterName,
    ) -> Result<&RecipeParameter, WorkUnitError> {
        self.parameters
            .iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| WorkUnitError::UnknownParameter {
                parameter: name.clone(),
                recipe: self.recipe.clone(),
                version: self.version,
            })
    }
}

/// The state of a registered work unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkUnitState {
    id: WorkUnitId,
    name: String,
    micro_stop_threshold: Millis,
    startup_window: Millis,
    machine: MachineState,
    current_product: Option<ProductId>,
    total: Units,
    counts: BTreeMap<ProductId, Units>,
    ideal_cycle_times: BTreeMap<ProductId, Millis>,
    /// The ideal cycle time of counts that name no product (single-product machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_ideal_cycle_time: Option<Millis>,
    /// The most recent planned shutdown windows, so that announcing one again (a redelivered
    /// PM window, a planner clicking twice) does nothing.
    #[serde(default)]
    recent_shutdowns: VecDeque<(DateTime<Utc>, DateTime<Utc>, Reason)>,
    /// The bound recipe version, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipe: Option<Download>,
    /// The order operation running on the unit, whose quantities its counts are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<OperationLink>,
}

/// How many planned shutdown windows a work unit remembers for de-duplication.
const RECENT_SHUTDOWNS: usize = 64;

impl WorkUnitState {
    /// Returns the equipment id.
    pub fn id(&self) -> &WorkUnitId {
        &self.id
    }

    /// Returns the display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the micro-stop threshold: shorter stops are small stops.
    pub fn micro_stop_threshold(&self) -> Millis {
        self.micro_stop_threshold
    }

    /// Returns the startup window: rejects made this long after a restart are startup rejects.
    pub fn startup_window(&self) -> Millis {
        self.startup_window
    }

    /// Returns whether the unit runs, stands still, is in setup or is unknown (disconnected).
    pub fn machine(&self) -> &MachineState {
        &self.machine
    }

    /// Returns the product the unit makes or was last set up for.
    pub fn current_product(&self) -> Option<&ProductId> {
        self.current_product.as_ref()
    }

    /// Returns the pieces counted over all products.
    pub fn total(&self) -> Units {
        self.total
    }

    /// Returns the pieces counted per product.
    pub fn counts(&self) -> &BTreeMap<ProductId, Units> {
        &self.counts
    }

    /// Returns the ideal cycle time per product.
    pub fn ideal_cycle_times(&self) -> &BTreeMap<ProductId, Millis> {
        &self.ideal_cycle_times
    }

    /// Returns the default ideal cycle time, if set.
    pub fn default_ideal_cycle_time(&self) -> Option<Millis> {
        self.default_ideal_cycle_time
    }

    /// Returns the bound recipe version, if any.
    pub fn recipe(&self) -> Option<&Download> {
        self.recipe.as_ref()
    }

    fn bound(&self) -> Result<&Download, WorkUnitError> {
        self.recipe.as_ref().ok_or(WorkUnitError::NoRecipeBound)
    }
}

/// The rules of a work unit. Before its registration it has no state and rejects every command
/// but `Register` with [`WorkUnitError::NotRegistered`].
impl Lifecycle for WorkUnitState {
    const TYPE: &'static str = "work_unit";
    const NOUN: &'static str = "work unit";
    type Command = WorkUnitCommand;
    type Event = WorkUnitEvent;
    type Error = WorkUnitError;

    fn create(command: WorkUnitCommand) -> Result<Vec<WorkUnitEvent>, WorkUnitError> {
        let WorkUnitCommand::Register {
            work_unit,
            name,
            micro_stop_threshold,
            startup_window,
            at,
        } = command
        else {
            return Err(WorkUnitError::NotRegistered);
        };
        if name.trim().is_empty() {
            return Err(WorkUnitError::EmptyName);
        }
        let micro_stop_threshold = micro_stop_threshold.unwrap_or(DEFAULT_MICRO_STOP_THRESHOLD);
        if micro_stop_threshold.0 == 0 {
            return Err(WorkUnitError::ZeroMicroStopThreshold);
        }
        let startup_window = startup_window.unwrap_or(DEFAULT_STARTUP_WINDOW);
        if startup_window.0 == 0 {
            return Err(WorkUnitError::ZeroStartupWindow);
        }
        Ok(vec![WorkUnitEvent::WorkUnitRegistered {
            work_unit,
            name,
            micro_stop_threshold_ms: micro_stop_threshold,
            startup_window_ms: startup_window,
            at,
        }])
    }

    fn decide(&self, command: WorkUnitCommand) -> Result<Vec<WorkUnitEvent>, WorkUnitError> {
        match command {
            WorkUnitCommand::Register { .. } => Err(WorkUnitError::AlreadyRegistered {
                work_unit: self.id.clone(),
            }),
            WorkUnitCommand::SetIdealCycleTime {
                product,
                ideal_cycle_time,
                at,
            } => {
                if ideal_cycle_time.0 == 0 {
                    return Err(WorkUnitError::ZeroCycleTime { product });
                }
                Ok(vec![WorkUnitEvent::IdealCycleTimeSet {
                    product,
                    ideal_cycle_time_ms: ideal_cycle_time,
                    at,
                }])
            }
            WorkUnitCommand::SetDefaultIdealCycleTime {
                ideal_cycle_time,
                at,
            } => {
                if ideal_cycle_time.0 == 0 {
                    return Err(WorkUnitError::ZeroDefaultCycleTime);
                }
                if self.default_ideal_cycle_time == Some(ideal_cycle_time) {
                    return Ok(vec![]);
                }
                Ok(vec![WorkUnitEvent::DefaultIdealCycleTimeSet {
                    ideal_cycle_time_ms: ideal_cycle_time,
                    at,
                }])
            }
            WorkUnitCommand::ReportRunning { product, at } => match &self.machine {
                MachineState::Stopped { .. } | MachineState::Unknown { .. } => {
                    Ok(vec![WorkUnitEvent::WorkUnitRunning { product, at }])
                }
                MachineState::Running { since } => {
                    Err(WorkUnitError::AlreadyRunning { since: *since })
                }
                MachineState::Setup { since, .. } => {
                    Err(WorkUnitError::SetupInProgress { since: *since })
                }
            },
            WorkUnitCommand::ReportStopped {
                reason,
                code: reason_code,
                at,
            } => match &self.machine {
                MachineState::Running { .. } | MachineState::Unknown { .. } => {
                    Ok(vec![WorkUnitEvent::WorkUnitStopped {
                        reason,
                        at,
                        reason_code,
                    }])
                }
                MachineState::Stopped {
                    reason: current, ..
                } => match reason {
                    Some(reason) if current.as_ref() != Some(&reason) => {
                        Ok(vec![WorkUnitEvent::WorkUnitStopped {
                            reason: Some(reason),
                            at,
                            reason_code,
                        }])
                    }
                    _ => Ok(vec![]),
                },
                MachineState::Setup { .. } => Ok(vec![]),
            },
            WorkUnitCommand::ReportDisconnected { reason, at } => match &self.machine {
                MachineState::Unknown { .. } => Ok(vec![]),
                _ => Ok(vec![WorkUnitEvent::WorkUnitDisconnected { reason, at }]),
            },
            WorkUnitCommand::StartSetup { next_product, at } => match &self.machine {
                MachineState::Setup { since, .. } => {
                    Err(WorkUnitError::SetupAlreadyStarted { since: *since })
                }
                _ => Ok(vec![WorkUnitEvent::SetupStarted { next_product, at }]),
            },
            WorkUnitCommand::EndSetup { product, at } => match &self.machine {
                MachineState::Setup { .. } => Ok(vec![WorkUnitEvent::SetupEnded { product, at }]),
                _ => Err(WorkUnitError::SetupNotStarted),
            },
            WorkUnitCommand::SchedulePlannedShutdown {
                from,
                until,
                reason,
            } => {
                if until <= from {
                    return Err(WorkUnitError::EmptyShutdown { from, until });
                }
                let window = (from, until, reason.clone());
                if self.recent_shutdowns.contains(&window) {
                    return Ok(vec![]);
                }
                Ok(vec![WorkUnitEvent::PlannedShutdownScheduled {
                    from,
                    until,
                    reason,
                }])
            }
            WorkUnitCommand::ReportCount { total, product, at } => {
                if total == Units::ZERO {
                    return Err(WorkUnitError::ZeroCount);
                }
                let product = product.or_else(|| self.current_product.clone());
                if product.is_none() && self.default_ideal_cycle_time.is_none() {
                    return Err(WorkUnitError::NoCurrentProduct);
                }
                let per_product = product
                    .as_ref()
                    .and_then(|product| self.counts.get(product).copied())
                    .unwrap_or_default();
                if self.total.checked_add(total).is_none()
                    || per_product.checked_add(total).is_none()
                {
                    return Err(WorkUnitError::CountOverflow);
                }
                Ok(vec![WorkUnitEvent::UnitsCounted { product, total, at }])
            }
            WorkUnitCommand::DownloadRecipe {
                order_id,
                operation,
                recipe,
                version,
                parameters,
                at,
            } => {
                let same = self.recipe.as_ref().is_some_and(|bound| {
                    bound.order_id == order_id
                        && bound.operation == operation
                        && bound.recipe == recipe
                        && bound.version == version
                });
                if same {
                    return Ok(vec![]);
                }
                Ok(vec![WorkUnitEvent::RecipeDownloaded {
                    work_unit: self.id.clone(),
                    order_id,
                    operation,
                    recipe,
                    version,
                    parameters,
                    at,
                }])
            }
            WorkUnitCommand::LinkOperation {
                order_id,
                operation,
                product,
                at,
            } => Ok(self.link_operation(order_id, operation, product, at)),
            WorkUnitCommand::UnlinkOperation {
                order_id,
                operation,
                at,
            } => Ok(self.unlink_operation(order_id, operation, at)),
            WorkUnitCommand::UnloadRecipe {
                order_id,
                operation,
                at,
            } => match &self.recipe {
                Some(bound) if bound.order_id == order_id && bound.operation == operation => {
                    Ok(vec![WorkUnitEvent::RecipeUnloaded {
                        work_unit: self.id.clone(),
                        order_id,
                        operation,
                        recipe: bound.recipe.clone(),
                        version: bound.version,
                        at,
                    }])
                }
                _ => Ok(vec![]),
            },
            WorkUnitCommand::ReportParameter {
                parameter,
                value,
                at,
            } => {
                let bound = self.bound()?;
                let definition = bound.parameter(&parameter)?;
                if !value.is_finite() {
                    return Err(WorkUnitError::NotFinite {
                        what: "value",
                        parameter,
                    });
                }
                let status = definition.status_of(value);
                let mut events = vec![WorkUnitEvent::ParameterRecorded {
                    work_unit: self.id.clone(),
                    order_id: bound.order_id,
                    operation: bound.operation,
                    recipe: bound.recipe.clone(),
                    version: bound.version,
                    parameter: parameter.clone(),
                    unit: definition.unit.clone(),
                    value,
                    setpoint: definition.setpoint,
                    lower: definition.lower,
                    upper: definition.upper,
                    status,
                    at,
                }];
                if status == ParameterStatus::Deviation {
                    events.push(WorkUnitEvent::ParameterDeviated {
                        work_unit: self.id.clone(),
                        order_id: bound.order_id,
                        operation: bound.operation,
                        recipe: bound.recipe.clone(),
                        version: bound.version,
                        parameter,
                        unit: definition.unit.clone(),
                        value,
                        setpoint: definition.setpoint,
                        lower: definition.lower,
                        upper: definition.upper,
                        hold_order: definition.hold_on_deviation,
                        at,
                    });
                }
                Ok(events)
            }
            WorkUnitCommand::OverrideParameter {
                parameter,
                setpoint,
                reason,
                at,
            } => {
                let bound = self.bound()?;
                let definition = bound.parameter(&parameter)?;
                if !setpoint.is_finite() {
                    return Err(WorkUnitError::NotFinite {
                        what: "setpoint",
                        parameter,
                    });
                }
                if setpoint < definition.lower || setpoint > definition.upper {
                    return Err(WorkUnitError::SetpointOutsideLimits {
                        parameter,
                        setpoint,
                        lower: definition.lower,
                        upper: definition.upper,
                    });
                }
                Ok(vec![WorkUnitEvent::ParameterOverridden {
                    work_unit: self.id.clone(),
                    order_id: bound.order_id,
                    operation: bound.operation,
                    recipe: bound.recipe.clone(),
                    version: bound.version,
                    parameter,
                    old_setpoint: definition.setpoint,
                    new_setpoint: setpoint,
                    reason,
                    at,
                }])
            }
        }
    }

    // Nothing but a registration starts a stream; anything else before it is ignored.
    fn born(event: WorkUnitEvent) -> Option<Self> {
        let WorkUnitEvent::WorkUnitRegistered {
            work_unit,
            name,
            micro_stop_threshold_ms,
            startup_window_ms,
            at,
        } = event
        else {
            return None;
        };
        Some(WorkUnitState {
            id: work_unit,
            name,
            micro_stop_threshold: micro_stop_threshold_ms,
            startup_window: startup_window_ms,
            machine: MachineState::Stopped {
                reason: None,
                since: at,
            },
            current_product: None,
            total: Units::ZERO,
            counts: BTreeMap::new(),
            ideal_cycle_times: BTreeMap::new(),
            default_ideal_cycle_time: None,
            recent_shutdowns: VecDeque::new(),
            recipe: None,
            link: None,
        })
    }

    fn evolve(&mut self, event: WorkUnitEvent) {
        match event {
            // A second registration is never decided; the fold keeps the first one.
            WorkUnitEvent::WorkUnitRegistered { .. } => {}
            WorkUnitEvent::IdealCycleTimeSet {
                product,
                ideal_cycle_time_ms,
                ..
            } => {
                self.ideal_cycle_times.insert(product, ideal_cycle_time_ms);
            }
            WorkUnitEvent::DefaultIdealCycleTimeSet {
                ideal_cycle_time_ms,
                ..
            } => {
                self.default_ideal_cycle_time = Some(ideal_cycle_time_ms);
            }
            WorkUnitEvent::WorkUnitRunning { product, at } => {
                self.machine = MachineState::Running { since: at };
                if product.is_some() {
                    self.current_product = product;
                }
            }
            WorkUnitEvent::WorkUnitStopped { reason, at, .. } => {
                self.machine = match &self.machine {
                    // The stop goes on; only its reason changes.
                    MachineState::Stopped { since, .. } => MachineState::Stopped {
                        reason,
                        since: *since,
                    },
                    _ => MachineState::Stopped { reason, since: at },
                };
            }
            WorkUnitEvent::SetupStarted { next_product, at } => {
                self.machine = MachineState::Setup {
                    next_product,
                    since: at,
                };
            }
            WorkUnitEvent::SetupEnded { product, at } => {
                self.machine = MachineState::Stopped {
                    reason: None,
                    since: at,
                };
                self.current_product = Some(product);
            }
            WorkUnitEvent::PlannedShutdownScheduled {
                from,
                until,
                reason,
            } => {
                if self.recent_shutdowns.len() == RECENT_SHUTDOWNS {
                    self.recent_shutdowns.pop_front();
                }
                self.recent_shutdowns.push_back((from, until, reason));
            }
            WorkUnitEvent::UnitsCounted { product, total, .. } => {
                self.total = self.total.saturating_add(total);
                if let Some(product) = product {
                    let count = self.counts.entry(product).or_default();
                    *count = count.saturating_add(total);
                }
            }
            WorkUnitEvent::WorkUnitDisconnected { reason, at } => {
                self.machine = MachineState::Unknown { reason, since: at };
            }
            WorkUnitEvent::RecipeDownloaded {
                order_id,
                operation,
                recipe,
                version,
                parameters,
                ..
            } => {
                self.recipe = Some(Download {
                    order_id,
                    operation,
                    recipe,
                    version,
                    parameters,
                });
            }
            WorkUnitEvent::RecipeUnloaded { .. } => self.recipe = None,
            WorkUnitEvent::OperationLinked { .. } | WorkUnitEvent::OperationUnlinked { .. } => {
                self.evolve_link(event);
            }
            WorkUnitEvent::ParameterOverridden {
                parameter,
                new_setpoint,
                ..
            } => {
                if let Some(p) = self
                    .recipe
                    .as_mut()
                    .and_then(|bound| bound.parameters.iter_mut().find(|p| p.name == parameter))
                {
                    p.setpoint = new_setpoint;
                }
            }
            WorkUnitEvent::ParameterRecorded { .. } | WorkUnitEvent::ParameterDeviated { .. } => {}
        }
    }
}

/// A work unit: the aggregate `work_unit`, a [`Stream`] over its state, which is `None` before
/// the registration.
pub type WorkUnit = Stream<Option<WorkUnitState>>;

mod link;

pub use link::OperationLink;

#[cfg(test)]
mod tests;
