//! Commands a work unit accepts.

use chrono::{DateTime, Utc};
use mom_domain::{CommandSpan, CommandTime, Millis, Timed, Units};

use crate::domain::ids::{OperationNumber, OrderId, ProductId, Reason, WorkUnitId};
use crate::domain::reason_catalogue::ReasonCode;
use crate::domain::recipe::{ParameterName, RecipeId, RecipeParameter};

/// The longest planned shutdown one command schedules (92 days: a summer or year-end shutdown
/// fits; a longer one is several commands).
pub const MAX_PLANNED_SHUTDOWN: chrono::Duration = chrono::Duration::days(92);

/// Stops shorter than this are small stops, unless the registration says otherwise (5 min).
pub const DEFAULT_MICRO_STOP_THRESHOLD: Millis = Millis::from_minutes(5);

/// Rejects made this long after a changeover or restart are startup rejects, unless the
/// registration says otherwise (10 min).
pub const DEFAULT_STARTUP_WINDOW: Millis = Millis::from_minutes(10);

/// A request to change a work unit; `at` is when it happened on the floor.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkUnitCommand {
    /// Registers the work unit; `None` settings take the defaults.
    Register {
        work_unit: WorkUnitId,
        name: String,
        micro_stop_threshold: Option<Millis>,
        startup_window: Option<Millis>,
        at: DateTime<Utc>,
    },
    /// Sets the ideal time per piece of `product` on this work unit.
    SetIdealCycleTime {
        product: ProductId,
        ideal_cycle_time: Millis,
        at: DateTime<Utc>,
    },
    /// Sets the work unit's default ideal time per piece: counts that name no product while the
    /// unit has no current product use it.
    SetDefaultIdealCycleTime {
        ideal_cycle_time: Millis,
        at: DateTime<Utc>,
    },
    /// The work unit started running; `product`, when given, becomes the current product.
    ReportRunning {
        product: Option<ProductId>,
        at: DateTime<Utc>,
    },
    /// The work unit stopped, with the operator's or machine's reason code if any; `code` is
    /// the site catalogue's code the reason resolved to (set by the production API, `None` when
    /// the site has no catalogue).
    ReportStopped {
        reason: Option<Reason>,
        code: Option<ReasonCode>,
        at: DateTime<Utc>,
    },
    /// The machine's connection was lost (an edge node or device died, an OPC UA session
    /// dropped); `reason` says what was lost, when given. The state is unknown until the next
    /// `ReportRunning`, `ReportStopped` or `StartSetup`.
    ReportDisconnected {
        reason: Option<Reason>,
        at: DateTime<Utc>,
    },
    /// A changeover / setup began, for `next_product` when known.
    StartSetup {
        next_product: Option<ProductId>,
        at: DateTime<Utc>,
    },
    /// The setup ended; the work unit is now set up for `product`.
    EndSetup {
        product: ProductId,
        at: DateTime<Utc>,
    },
    /// No production is planned over `[from, until)`.
    SchedulePlannedShutdown {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: Reason,
    },
    /// `total` pieces (good and bad) were made since the previous count; `product` defaults to
    /// the current product.
    ReportCount {
        total: Units,
        product: Option<ProductId>,
        at: DateTime<Utc>,
    },
    /// Binds an approved recipe version to the work unit for an order's operation (the
    /// download on `StartOperation`); the same binding again changes nothing.
    DownloadRecipe {
        order_id: OrderId,
        operation: OperationNumber,
        recipe: RecipeId,
        version: u32,
        parameters: Vec<RecipeParameter>,
        at: DateTime<Utc>,
    },
    /// Ends the binding of the order's operation (on `CompleteOperation`); nothing when the
    /// work unit holds another binding or none.
    UnloadRecipe {
        order_id: OrderId,
        operation: OperationNumber,
        at: DateTime<Utc>,
    },
    /// Links the work unit to the order operation that started on it: its counts of `product`
    /// go to the order until the link ends (docs/dispatching.md).
    LinkOperation {
        order_id: OrderId,
        operation: OperationNumber,
        product: ProductId,
        at: DateTime<Utc>,
    },
    /// Ends the link to the order operation when it is the current one.
    UnlinkOperation {
        order_id: OrderId,
        operation: OperationNumber,
        at: DateTime<Utc>,
    },
    /// An actual value of a bound recipe's parameter.
    ReportParameter {
        parameter: ParameterName,
        value: f64,
        at: DateTime<Utc>,
    },
    /// An operator's change of a bound parameter's setpoint, within its limits.
    OverrideParameter {
        parameter: ParameterName,
        setpoint: f64,
        reason: Reason,
        at: DateTime<Utc>,
    },
}

impl Timed for WorkUnitCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            WorkUnitCommand::Register { at, .. }
            | WorkUnitCommand::SetIdealCycleTime { at, .. }
            | WorkUnitCommand::SetDefaultIdealCycleTime { at, .. }
            | WorkUnitCommand::ReportRunning { at, .. }
            | WorkUnitCommand::ReportStopped { at, .. }
            | WorkUnitCommand::ReportDisconnected { at, .. }
            | WorkUnitCommand::StartSetup { at, .. }
            | WorkUnitCommand::EndSetup { at, .. }
            | WorkUnitCommand::ReportCount { at, .. }
            | WorkUnitCommand::DownloadRecipe { at, .. }
            | WorkUnitCommand::UnloadRecipe { at, .. }
            | WorkUnitCommand::LinkOperation { at, .. }
            | WorkUnitCommand::UnlinkOperation { at, .. }
            | WorkUnitCommand::ReportParameter { at, .. }
            | WorkUnitCommand::OverrideParameter { at, .. } => *at,
            WorkUnitCommand::SchedulePlannedShutdown { from, .. } => *from,
        }
    }

    fn times(&self) -> Vec<CommandTime> {
        match self {
            WorkUnitCommand::SchedulePlannedShutdown { from, until, .. } => vec![
                CommandTime::planned("from", *from),
                CommandTime::planned("until", *until),
            ],
            _ => vec![CommandTime::happened("at", self.at())],
        }
    }

    fn span(&self) -> Option<CommandSpan> {
        match self {
            WorkUnitCommand::SchedulePlannedShutdown { from, until, .. } => Some(CommandSpan {
                what: "planned shutdown",
                field: "until",
                from: *from,
                until: *until,
                max: MAX_PLANNED_SHUTDOWN,
            }),
            _ => None,
        }
    }
}
