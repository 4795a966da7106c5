//! Signal processing: machine values in, domain commands out. Pure (no I/O), so every rule —
//! state codes, counter rollover and reset, duplicates, device clocks — is tested without a broker.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mom_clock::TimePolicy;
use serde::{Deserialize, Serialize};

use crate::mapping::{CounterSpec, Mapping, Meaning, UnitState};

/// A value as a machine reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A text.
    Text(String),
}

impl Value {
    /// Returns the value as a state code's text (`1`, `RUN`, `true`); a float code is its
    /// integer when it has no fraction.
    pub fn code(&self) -> Option<String> {
        match self {
            Value::Int(n) => Some(n.to_string()),
            Value::UInt(n) => Some(n.to_string()),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 9.0e15 => {
                Some((*f as i64).to_string())
            }
            Value::Float(_) => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Text(t) => Some(t.trim().to_owned()),
        }
    }

    /// Returns the value as a process parameter's number: finite; a text is parsed.
    pub fn number(&self) -> Option<f64> {
        let number = match self {
            Value::Int(n) => *n as f64,
            Value::UInt(n) => *n as f64,
            Value::Float(f) => *f,
            Value::Bool(_) => return None,
            Value::Text(t) => t.trim().parse().ok()?,
        };
        number.is_finite().then_some(number)
    }

    /// Returns the value as a counter reading: a whole number ≥ 0.
    pub fn counter(&self) -> Option<u64> {
        match self {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::UInt(n) => Some(*n),
            Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19 => Some(*f as u64),
            Value::Float(_) | Value::Bool(_) => None,
            Value::Text(t) => t.trim().parse().ok(),
        }
    }
}

/// One value of one mapped signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the signal in [`Mapping::signals`].
    pub signal: usize,
    /// The value.
    pub value: Value,
    /// The device's timestamp, if it sent one.
    pub device_time: Option<DateTime<Utc>>,
    /// When the edge service received it.
    pub received: DateTime<Utc>,
    /// Store-and-forward data from the past (Sparkplug `is_historical`): its device time is
    /// believed as far as the platform's time policy allows, not only near the receive time.
    pub historical: bool,
}

/// What a source reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A value.
    Sample(Sample),
    /// The connection to the machine of `work_unit` is lost (Sparkplug death, OPC UA session
    /// lost): its state is unknown from `at`.
    Lost {
        /// The work unit.
        work_unit: String,
        /// When the loss was noticed (or the death certificate's time).
        at: DateTime<Utc>,
        /// Why (`NDEATH plant/press-line`, ...).
        reason: String,
    },
}

/// A command for the platform, as queued on disk and sent by the forwarder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// ReportRunning.
    Running {
        work_unit: String,
        product: Option<String>,
        at: DateTime<Utc>,
    },
    /// ReportStopped.
    Stopped {
        work_unit: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// StartSetup.
    SetupStarted {
        work_unit: String,
        at: DateTime<Utc>,
    },
    /// EndSetup.
    SetupEnded {
        work_unit: String,
        product: Option<String>,
        at: DateTime<Utc>,
    },
    /// SchedulePlannedShutdown over the planned stop the machine reported.
    PlannedShutdown {
        work_unit: String,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: String,
    },
    /// ReportCount of `total` units made since the previous count.
    Count {
        work_unit: String,
        product: Option<String>,
        total: u64,
        at: DateTime<Utc>,
    },
    /// A failed inspection result of `count` units made at `at` (StartInspection,
    /// RecordInspectionResult, CompleteInspection).
    Rejects {
        work_unit: String,
        plan: String,
        characteristic: String,
        count: u64,
        at: DateTime<Utc>,
    },
    /// ReportDisconnected.
    Disconnected {
        work_unit: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// ReportParameter: an actual value of a process parameter of the unit's bound recipe.
    Parameter {
        work_unit: String,
        parameter: String,
        value: f64,
        at: DateTime<Utc>,
    },
}

impl Command {
    /// Returns the work unit the command is about.
    pub fn work_unit(&self) -> &str {
        match self {
            Command::Running { work_unit, .. }
            | Command::Stopped { work_unit, .. }
            | Command::SetupStarted { work_unit, .. }
            | Command::SetupEnded { work_unit, .. }
            | Command::PlannedShutdown { work_unit, .. }
            | Command::Count { work_unit, .. }
            | Command::Rejects { work_unit, .. }
            | Command::Disconnected { work_unit, .. }
            | Command::Parameter { work_unit, .. } => work_unit,
        }
    }

    /// Returns the command's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Running { .. } => "running",
            Command::Stopped { .. } => "stopped",
            Command::SetupStarted { .. } => "setup_started",
            Command::SetupEnded { .. } => "setup_ended",
            Command::PlannedShutdown { .. } => "planned_shutdown",
            Command::Count { .. } => "count",
            Command::Rejects { .. } => "rejects",
            Command::Disconnected { .. } => "disconnected",
            Command::Parameter { .. } => "parameter",
        }
    }
}

/// What a signal last reported (persisted across restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalMemory {
    /// Event time (ms) of the last value taken; an older or equal one is a duplicate.
    pub last_ms: Option<i64>,
    /// The counter's last reading.
    pub reading: Option<u64>,
    /// The last state code or product tag.
    pub text: Option<String>,
}

/// The state of a work unit as the edge service last reported it (persisted across restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitMemory {
    /// The current product.
    pub product: Option<String>,
    /// The state last reported.
    pub state: Option<Reported>,
    /// Since when, and why, the unit is in a planned stop.
    pub planned_since: Option<(DateTime<Utc>, String)>,
    /// Event time of the latest command, so no command goes back in time for the unit.
    pub latest: Option<DateTime<Utc>>,
}

/// A state the edge service reported for a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reported {
    /// Running.
    Running,
    /// Stopped (also during a planned stop).
    Stopped,
    /// In setup.
    Setup,
    /// Connection lost.
    Unknown,
}

/// Something the processor noticed that is not a command: logged and counted by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A value older than (or as old as) the signal's last one: a redelivery.
    Duplicate {
        /// The signal's index.
        signal: usize,
    },
    /// A device timestamp not believed; `used` is the time taken instead.
    ClockOff {
        /// The signal's index.
        signal: usize,
        /// What the device said.
        device: DateTime<Utc>,
        /// The time used.
        used: DateTime<Utc>,
    },
    /// A value that does not fit its signal (a state code not in the table, a negative counter).
    Unusable {
        /// The signal's index.
        signal: usize,
        /// Why.
        reason: String,
    },
    /// A counter went down: the larger-than-rollover drop is taken as a reset to 0.
    CounterReset {
        /// The signal's index.
        signal: usize,
        /// The reading before.
        before: u64,
        /// The reading now.
        now: u64,
    },
    /// A counter rolled over at its width.
    CounterRollover {
        /// The signal's index.
        signal: usize,
    },
}

/// The processor: mapping, memories and time policy.
#[derive(Debug, Clone)]
pub struct Processor {
    mapping: Mapping,
    policy: TimePolicy,
    signals: Vec<SignalMemory>,
    units: HashMap<String, UnitMemory>,
}

/// What one input produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Commands to queue, in order.
    pub commands: Vec<Command>,
    /// Things to log and count.
    pub notices: Vec<Notice>,
    /// Signals whose memory changed (to persist).
    pub signals_changed: Vec<usize>,
    /// Units whose memory changed (to persist).
    pub units_changed: Vec<String>,
}

impl Processor {
    /// Returns a processor with empty memories.
    pub fn new(mapping: Mapping, policy: TimePolicy) -> Self {
        let signals = vec![SignalMemory::default(); mapping.signals.len()];
        Self {
            mapping,
            policy,
            signals,
            units: HashMap::new(),
        }
    }

    /// Returns the mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// Restores the memory of signal `index`.
    pub fn restore_signal(&mut self, index: usize, memory: SignalMemory) {
        if let Some(slot) = self.signals.get_mut(index) {
            *slot = memory;
        }
    }

    /// Restores the memory of `work_unit`.
    pub fn restore_unit(&mut self, work_unit: String, memory: UnitMemory) {
        self.units.insert(work_unit, memory);
    }

    /// Returns the memory of signal `index`.
    pub fn signal_memory(&self, index: usize) -> Option<&SignalMemory> {
        self.signals.get(index)
    }

    /// Returns the memory of `work_unit`.
    pub fn unit_memory(&self, work_unit: &str) -> Option<&UnitMemory> {
        self.units.get(work_unit)
    }

    /// Applies one input, adding to `out`.
    pub fn apply(&mut self, input: Input, out: &mut Outcome) {
        match input {
            Input::Sample(sample) => self.sample(sample, out),
            Input::Lost {
                work_unit,
                at,
                reason,
            } => self.lost(work_unit, at, reason, out),
        }
    }

    fn unit(&mut self, work_unit: &str) -> &mut UnitMemory {
        if !self.units.contains_key(work_unit) {
            let memory = UnitMemory {
                product: self.mapping.default_products.get(work_unit).cloned(),
                ..UnitMemory::default()
            };
            self.units.insert(work_unit.to_owned(), memory);
        }
        self.units
            .get_mut(work_unit)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// The event time of a sample: the device's when believable, else the receive time.
    fn event_time(&self, sample: &Sample, out: &mut Outcome) -> DateTime<Utc> {
        let Some(device) = sample.device_time else {
            return sample.received;
        };
        let skew = self.mapping.max_clock_skew;
        let believable = if sample.historical {
            // Old data may be old, but not ahead of the clock nor outside the platform's window.
            device <= sample.received + skew && self.policy.contains(device, sample.received)
        } else {
            (device - sample.received).abs() <= skew
        };
        if believable {
            device
        } else {
            out.notices.push(Notice::ClockOff {
                signal: sample.signal,
                device,
                used: sample.received,
            });
            sample.received
        }
    }

    fn sample(&mut self, sample: Sample, out: &mut Outcome) {
        let Some(signal) = self.mapping.signals.get(sample.signal).cloned() else {
            return;
        };
        let index = sample.signal;
        let mut at = self.event_time(&sample, out);
        let ms = at.timestamp_millis();
        if self.signals[index].last_ms.is_some_and(|last| ms <= last) {
            out.notices.push(Notice::Duplicate { signal: index });
            return;
        }
        // A unit's commands never go back in time (another signal of the unit may have been
        // later): such a value takes the unit's latest time.
        if let Some(latest) = self.units.get(&signal.work_unit).and_then(|u| u.latest) {
            at = at.max(latest);
        }
        self.signals[index].last_ms = Some(ms);
        out.signals_changed.push(index);
        let unit = signal.work_unit.as_str();
        match &signal.meaning {
            Meaning::State { codes, otherwise } => {
                let Some(code) = sample.value.code() else {
                    out.notices.push(Notice::Unusable {
                        signal: index,
                        reason: format!("{:?} is not a state code", sample.value),
                    });
                    return;
                };
                let Some(state) = codes.get(&code).or(otherwise.as_ref()).cloned() else {
                    out.notices.push(Notice::Unusable {
                        signal: index,
                        reason: format!("state code {code} is not in the mapping's table"),
                    });
                    return;
                };
                let unchanged = self.signals[index].text.as_deref() == Some(code.as_str())
                    && self.units.get(unit).and_then(|u| u.state) != Some(Reported::Unknown);
                self.signals[index].text = Some(code);
                if !unchanged {
                    self.change_state(unit, state, at, out);
                }
            }
            Meaning::Count(spec) => {
                if let Some(delta) = self.delta(index, spec, &sample.value, out) {
                    let product = self.unit(unit).product.clone();
                    self.push(
                        unit,
                        Command::Count {
                            work_unit: unit.to_owned(),
                            product,
                            total: delta,
                            at,
                        },
                        out,
                    );
                }
            }
            Meaning::Rejects {
                counter,
                plan,
                characteristic,
            } => {
                if let Some(delta) = self.delta(index, counter, &sample.value, out) {
                    self.push(
                        unit,
                        Command::Rejects {
                            work_unit: unit.to_owned(),
                            plan: plan.clone(),
                            characteristic: characteristic.clone(),
                            count: delta,
                            at,
                        },
                        out,
                    );
                }
            }
            Meaning::Product { names } => {
                let Some(tag) = sample.value.code().filter(|t| !t.is_empty()) else {
                    out.notices.push(Notice::Unusable {
                        signal: index,
                        reason: format!("{:?} is not a product tag", sample.value),
                    });
                    return;
                };
                let product = names.get(&tag).cloned().unwrap_or(tag.clone());
                self.signals[index].text = Some(tag);
                let memory = self.unit(unit);
                if memory.product.as_deref() == Some(product.as_str()) {
                    return;
                }
                // Counts name their product, so a change needs no command of its own (a running
                // unit cannot be reported running again).
                memory.product = Some(product);
                if !out.units_changed.iter().any(|u| u == unit) {
                    out.units_changed.push(unit.to_owned());
                }
            }
            Meaning::Parameter { name } => {
                let Some(value) = sample.value.number() else {
                    out.notices.push(Notice::Unusable {
                        signal: index,
                        reason: format!("{:?} is not a finite number", sample.value),
                    });
                    return;
                };
                self.push(
                    unit,
                    Command::Parameter {
                        work_unit: unit.to_owned(),
                        parameter: name.clone(),
                        value,
                        at,
                    },
                    out,
                );
            }
        }
    }

    /// Returns the units counted since the counter's last reading (none on the first reading,
    /// which only sets the baseline, and for a reading equal to the last).
    fn delta(
        &mut self,
        index: usize,
        spec: &CounterSpec,
        value: &Value,
        out: &mut Outcome,
    ) -> Option<u64> {
        let max = spec.max();
        let Some(now) = value.counter().filter(|n| *n <= max) else {
            out.notices.push(Notice::Unusable {
                signal: index,
                reason: format!(
                    "{value:?} is not a counter reading (a whole number from 0 to {max})"
                ),
            });
            return None;
        };
        let before = self.signals[index].reading.replace(now);
        let before = before?;
        if now >= before {
            return Some(now - before).filter(|d| *d > 0);
        }
        // Down: a rollover when the reading was in the top quarter of the register and is now
        // in the bottom quarter; anything else is a reset (a restarted PLC) counting from 0.
        let quarter = max / 4;
        if spec.width < 64 && before >= max - quarter && now <= quarter {
            out.notices.push(Notice::CounterRollover { signal: index });
            Some(max - before + 1 + now).filter(|d| *d > 0)
        } else {
            out.notices.push(Notice::CounterReset {
                signal: index,
                before,
                now,
            });
            Some(now).filter(|d| *d > 0)
        }
    }

    fn change_state(&mut self, unit: &str, state: UnitState, at: DateTime<Utc>, out: &mut Outcome) {
        let memory = self.unit(unit).clone();
        // Leaving a planned stop: the stop becomes a planned shutdown over its span.
        if let Some((from, reason)) = &memory.planned_since {
            if !matches!(&state, UnitState::Planned(r) if r == reason) && at > *from {
                self.push(
                    unit,
                    Command::PlannedShutdown {
                        work_unit: unit.to_owned(),
                        from: *from,
                        until: at,
                        reason: reason.clone(),
                    },
                    out,
                );
            }
        }
        let in_setup = memory.state == Some(Reported::Setup);
        let product = memory.product.clone();
        let mut planned_since = None;
        let (command, reported) = match state {
            UnitState::Setup if in_setup => return self.set_planned(unit, None, out),
            UnitState::Setup => (
                Command::SetupStarted {
                    work_unit: unit.to_owned(),
                    at,
                },
                Reported::Setup,
            ),
            other => {
                if in_setup {
                    self.push(
                        unit,
                        Command::SetupEnded {
                            work_unit: unit.to_owned(),
                            product: product.clone(),
                            at,
                        },
                        out,
                    );
                }
                match other {
                    UnitState::Running => (
                        Command::Running {
                            work_unit: unit.to_owned(),
                            product,
                            at,
                        },
                        Reported::Running,
                    ),
                    UnitState::Stopped(reason) => (
                        Command::Stopped {
                            work_unit: unit.to_owned(),
                            reason,
                            at,
                        },
                        Reported::Stopped,
                    ),
                    UnitState::Planned(reason) => {
                        planned_since = Some((at, reason.clone()));
                        (
                            Command::Stopped {
                                work_unit: unit.to_owned(),
                                reason,
                                at,
                            },
                            Reported::Stopped,
                        )
                    }
                    UnitState::Setup => return,
                }
            }
        };
        self.push(unit, command, out);
        let memory = self.unit(unit);
        memory.state = Some(reported);
        self.set_planned(unit, planned_since, out);
    }

    fn set_planned(
        &mut self,
        unit: &str,
        planned: Option<(DateTime<Utc>, String)>,
        out: &mut Outcome,
    ) {
        self.unit(unit).planned_since = planned;
        if !out.units_changed.iter().any(|u| u == unit) {
            out.units_changed.push(unit.to_owned());
        }
    }

    fn lost(&mut self, work_unit: String, at: DateTime<Utc>, reason: String, out: &mut Outcome) {
        if !self
            .mapping
            .signals
            .iter()
            .any(|s| s.work_unit == work_unit)
        {
            return;
        }
        let memory = self.unit(&work_unit).clone();
        if memory.state == Some(Reported::Unknown) {
            return;
        }
        let at = memory.latest.map_or(at, |latest| at.max(latest));
        if let Some((from, planned_reason)) = memory.planned_since {
            if at > from {
                self.push(
                    &work_unit,
                    Command::PlannedShutdown {
                        work_unit: work_unit.clone(),
                        from,
                        until: at,
                        reason: planned_reason,
                    },
                    out,
                );
            }
        }
        self.push(
            &work_unit,
            Command::Disconnected {
                work_unit: work_unit.clone(),
                reason,
                at,
            },
            out,
        );
        let memory = self.unit(&work_unit);
        memory.state = Some(Reported::Unknown);
        memory.planned_since = None;
        // The next state code is news even when it is the one before the loss.
        for (index, signal) in self.mapping.signals.iter().enumerate() {
            if signal.work_unit == work_unit && matches!(signal.meaning, Meaning::State { .. }) {
                self.signals[index].text = None;
                out.signals_changed.push(index);
            }
        }
        if !out.units_changed.contains(&work_unit) {
            out.units_changed.push(work_unit);
        }
    }

    fn push(&mut self, unit: &str, command: Command, out: &mut Outcome) {
        let at = match &command {
            Command::PlannedShutdown { until, .. } => *until,
            Command::Running { at, .. }
            | Command::Stopped { at, .. }
            | Command::SetupStarted { at, .. }
            | Command::SetupEnded { at, .. }
            | Command::Count { at, .. }
            | Command::Rejects { at, .. }
            | Command::Disconnected { at, .. }
            | Command::Parameter { at, .. } => *at,
        };
        let memory = self.unit(unit);
        memory.latest = Some(memory.latest.map_or(at, |latest| latest.max(at)));
        if !out.units_changed.iter().any(|u| u == unit) {
            out.units_changed.push(unit.to_owned());
        }
        out.commands.push(command);
    }
}

#[cfg(test)]
mod tests;
