//! Events of a work unit, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Millis, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{ProductId, Reason, WorkUnitId};

/// A fact about a work unit. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkUnitEvent {
    /// The work unit was registered, with its settings resolved (no defaults left open).
    WorkUnitRegistered {
        work_unit: WorkUnitId,
        name: String,
        micro_stop_threshold_ms: Millis,
        startup_window_ms: Millis,
        at: DateTime<Utc>,
    },
    /// The ideal cycle time of a product on this work unit was set.
    IdealCycleTimeSet {
        product: ProductId,
        ideal_cycle_time_ms: Millis,
        at: DateTime<Utc>,
    },
    /// The work unit started running (making `product`, when named).
    WorkUnitRunning {
        product: Option<ProductId>,
        at: DateTime<Utc>,
    },
    /// The work unit stopped, or, while stopped, its stop reason was given or changed.
    WorkUnitStopped {
        reason: Option<Reason>,
        at: DateTime<Utc>,
    },
    /// A changeover / setup began.
    SetupStarted {
        next_product: Option<ProductId>,
        at: DateTime<Utc>,
    },
    /// The setup ended; the work unit is set up for `product`.
    SetupEnded {
        product: ProductId,
        at: DateTime<Utc>,
    },
    /// No production is planned over `[from, until)`.
    PlannedShutdownScheduled {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: Reason,
    },
    /// `total` pieces of `product` were made since the previous count (the product is always
    /// resolved, from the command or the work unit's current product).
    UnitsCounted {
        product: ProductId,
        total: Units,
        at: DateTime<Utc>,
    },
    /// The machine's connection was lost; its state is unknown until the next running, stopped
    /// or setup start. `reason` says what was lost, when given.
    WorkUnitDisconnected {
        reason: Option<Reason>,
        at: DateTime<Utc>,
    },
}

impl WorkUnitEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "WorkUnitRegistered",
        "IdealCycleTimeSet",
        "WorkUnitRunning",
        "WorkUnitStopped",
        "SetupStarted",
        "SetupEnded",
        "PlannedShutdownScheduled",
        "UnitsCounted",
        "WorkUnitDisconnected",
    ];

    /// Returns when the fact happened on the floor (the start of a planned shutdown).
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            WorkUnitEvent::WorkUnitRegistered { at, .. }
            | WorkUnitEvent::IdealCycleTimeSet { at, .. }
            | WorkUnitEvent::WorkUnitRunning { at, .. }
            | WorkUnitEvent::WorkUnitStopped { at, .. }
            | WorkUnitEvent::SetupStarted { at, .. }
            | WorkUnitEvent::SetupEnded { at, .. }
            | WorkUnitEvent::UnitsCounted { at, .. }
            | WorkUnitEvent::WorkUnitDisconnected { at, .. } => *at,
            WorkUnitEvent::PlannedShutdownScheduled { from, .. } => *from,
        }
    }
}

impl EventType for WorkUnitEvent {
    fn type_name(&self) -> &'static str {
        match self {
            WorkUnitEvent::WorkUnitRegistered { .. } => "WorkUnitRegistered",
            WorkUnitEvent::IdealCycleTimeSet { .. } => "IdealCycleTimeSet",
            WorkUnitEvent::WorkUnitRunning { .. } => "WorkUnitRunning",
            WorkUnitEvent::WorkUnitStopped { .. } => "WorkUnitStopped",
            WorkUnitEvent::SetupStarted { .. } => "SetupStarted",
            WorkUnitEvent::SetupEnded { .. } => "SetupEnded",
            WorkUnitEvent::PlannedShutdownScheduled { .. } => "PlannedShutdownScheduled",
            WorkUnitEvent::UnitsCounted { .. } => "UnitsCounted",
            WorkUnitEvent::WorkUnitDisconnected { .. } => "WorkUnitDisconnected",
        }
    }
}
