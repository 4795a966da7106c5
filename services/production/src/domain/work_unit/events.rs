//! Events of a work unit, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Millis, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OperationNumber, OrderId, ProductId, Reason, WorkUnitId};
use crate::domain::reason_catalogue::ReasonCode;
use crate::domain::recipe::{ParameterName, ParameterStatus, RecipeId, RecipeParameter};

/// A fact about a work unit. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The work unit's default ideal cycle time was set.
    DefaultIdealCycleTimeSet {
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
        /// The site catalogue's code of `reason` (`unassigned` when the site maps unknown
        /// codes); `None` without a catalogue or a reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason_code: Option<ReasonCode>,
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
    /// `total` pieces of `product` were made since the previous count (the product is resolved
    /// from the command or the work unit's current product; `None` when neither names one and
    /// the work unit's default ideal cycle time applies).
    UnitsCounted {
        product: Option<ProductId>,
        total: Units,
        at: DateTime<Utc>,
    },
    /// The machine's connection was lost; its state is unknown until the next running, stopped
    /// or setup start. `reason` says what was lost, when given.
    WorkUnitDisconnected {
        reason: Option<Reason>,
        at: DateTime<Utc>,
    },
    /// An approved recipe version was bound to the work unit for an order's operation.
    RecipeDownloaded {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        parameters: Vec<RecipeParameter>,
        at: DateTime<Utc>,
    },
    /// The binding of the order's operation ended.
    RecipeUnloaded {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        at: DateTime<Utc>,
    },
    /// An order operation started on the work unit: its counts of `product` go to the order.
    OperationLinked {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        product: ProductId,
        at: DateTime<Utc>,
    },
    /// The link to the order operation ended.
    OperationUnlinked {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        at: DateTime<Utc>,
    },
    /// An actual parameter value was checked against the bound recipe.
    ParameterRecorded {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        parameter: ParameterName,
        unit: String,
        value: f64,
        setpoint: f64,
        lower: f64,
        upper: f64,
        status: ParameterStatus,
        at: DateTime<Utc>,
    },
    /// The value lay outside [lower, upper]; `hold_order` is the parameter's hold flag.
    ParameterDeviated {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        parameter: ParameterName,
        unit: String,
        value: f64,
        setpoint: f64,
        lower: f64,
        upper: f64,
        hold_order: bool,
        at: DateTime<Utc>,
    },
    /// An operator changed a bound parameter's setpoint (who: the event's principal).
    ParameterOverridden {
        work_unit: WorkUnitId,
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        parameter: ParameterName,
        old_setpoint: f64,
        new_setpoint: f64,
        reason: Reason,
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
        "RecipeDownloaded",
        "RecipeUnloaded",
        "ParameterRecorded",
        "ParameterDeviated",
        "ParameterOverridden",
        "OperationLinked",
        "OperationUnlinked",
        "DefaultIdealCycleTimeSet",
    ];

    /// Returns when the fact happened on the floor (the start of a planned shutdown).
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            WorkUnitEvent::WorkUnitRegistered { at, .. }
            | WorkUnitEvent::IdealCycleTimeSet { at, .. }
            | WorkUnitEvent::DefaultIdealCycleTimeSet { at, .. }
            | WorkUnitEvent::WorkUnitRunning { at, .. }
            | WorkUnitEvent::WorkUnitStopped { at, .. }
            | WorkUnitEvent::SetupStarted { at, .. }
            | WorkUnitEvent::SetupEnded { at, .. }
            | WorkUnitEvent::UnitsCounted { at, .. }
            | WorkUnitEvent::WorkUnitDisconnected { at, .. }
            | WorkUnitEvent::RecipeDownloaded { at, .. }
            | WorkUnitEvent::RecipeUnloaded { at, .. }
            | WorkUnitEvent::OperationLinked { at, .. }
            | WorkUnitEvent::OperationUnlinked { at, .. }
            | WorkUnitEvent::ParameterRecorded { at, .. }
            | WorkUnitEvent::ParameterDeviated { at, .. }
            | WorkUnitEvent::ParameterOverridden { at, .. } => *at,
            WorkUnitEvent::PlannedShutdownScheduled { from, .. } => *from,
        }
    }
}

impl EventType for WorkUnitEvent {
    fn type_name(&self) -> &'static str {
        match self {
            WorkUnitEvent::WorkUnitRegistered { .. } => "WorkUnitRegistered",
            WorkUnitEvent::IdealCycleTimeSet { .. } => "IdealCycleTimeSet",
            WorkUnitEvent::DefaultIdealCycleTimeSet { .. } => "DefaultIdealCycleTimeSet",
            WorkUnitEvent::WorkUnitRunning { .. } => "WorkUnitRunning",
            WorkUnitEvent::WorkUnitStopped { .. } => "WorkUnitStopped",
            WorkUnitEvent::SetupStarted { .. } => "SetupStarted",
            WorkUnitEvent::SetupEnded { .. } => "SetupEnded",
            WorkUnitEvent::PlannedShutdownScheduled { .. } => "PlannedShutdownScheduled",
            WorkUnitEvent::UnitsCounted { .. } => "UnitsCounted",
            WorkUnitEvent::WorkUnitDisconnected { .. } => "WorkUnitDisconnected",
            WorkUnitEvent::RecipeDownloaded { .. } => "RecipeDownloaded",
            WorkUnitEvent::RecipeUnloaded { .. } => "RecipeUnloaded",
            WorkUnitEvent::OperationLinked { .. } => "OperationLinked",
            WorkUnitEvent::OperationUnlinked { .. } => "OperationUnlinked",
            WorkUnitEvent::ParameterRecorded { .. } => "ParameterRecorded",
            WorkUnitEvent::ParameterDeviated { .. } => "ParameterDeviated",
            WorkUnitEvent::ParameterOverridden { .. } => "ParameterOverridden",
        }
    }
}
