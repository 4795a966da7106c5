//! Why a work unit rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use crate::domain::ids::{ProductId, WorkUnitId};
use crate::domain::recipe::{ParameterName, RecipeId};

/// A work unit's rules rejecting a command; its [`DomainError::kind`] says how to report it (the
/// kernel's [`mom_domain::Rejected`] adds the version conflict and the repeated key).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WorkUnitError {
    /// The work unit was never registered.
    #[error("work unit is not registered")]
    NotRegistered,

    /// The work unit is registered already.
    #[error("work unit {work_unit} is already registered")]
    AlreadyRegistered { work_unit: WorkUnitId },

    /// The registration has no name.
    #[error("name must not be empty")]
    EmptyName,

    /// A zero micro-stop threshold was given explicitly.
    #[error("micro-stop threshold must be greater than zero")]
    ZeroMicroStopThreshold,

    /// A zero startup window was given explicitly.
    #[error("startup window must be greater than zero")]
    ZeroStartupWindow,

    /// The default ideal cycle time is zero.
    #[error("default ideal cycle time must be greater than zero")]
    ZeroDefaultCycleTime,

    /// The ideal cycle time is zero.
    #[error("ideal cycle time of product {product} must be greater than zero")]
    ZeroCycleTime { product: ProductId },

    /// The planned shutdown window is empty or inverted.
    #[error("planned shutdown must end after it starts (from {from}, until {until})")]
    EmptyShutdown {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },

    /// A count of zero pieces.
    #[error("count total must be greater than zero")]
    ZeroCount,

    /// The count would overflow the work unit's totals.
    #[error("count overflows the totals of the work unit")]
    CountOverflow,

    /// Running reported while the work unit runs.
    #[error("work unit is already running (since {since})")]
    AlreadyRunning { since: DateTime<Utc> },

    /// Running reported during a setup.
    #[error("work unit is in setup since {since}; end the setup first")]
    SetupInProgress { since: DateTime<Utc> },

    /// A setup started while one runs.
    #[error("a setup is already running since {since}")]
    SetupAlreadyStarted { since: DateTime<Utc> },

    /// A setup ended that did not start.
    #[error("no setup is running")]
    SetupNotStarted,

    /// A count without product on a work unit that has no current product.
    #[error("count names no product and the work unit has no current product nor a default ideal cycle time (SetDefaultIdealCycleTime)")]
    NoCurrentProduct,

    /// A parameter report or override on a work unit without a bound recipe.
    #[error("no recipe is bound to the work unit (start an operation whose product has an approved recipe)")]
    NoRecipeBound,

    /// The bound recipe version has no such parameter.
    #[error("parameter {parameter} is not in recipe {recipe} version {version}")]
    UnknownParameter {
        parameter: ParameterName,
        recipe: RecipeId,
        version: u32,
    },

    /// A reported value or a new setpoint is NaN or infinite.
    #[error("{what} of parameter {parameter} must be a finite number")]
    NotFinite {
        what: &'static str,
        parameter: ParameterName,
    },

    /// An override's new setpoint lies outside the parameter's limits.
    #[error(
        "setpoint {setpoint} of parameter {parameter} is outside its limits [{lower}, {upper}]"
    )]
    SetpointOutsideLimits {
        parameter: ParameterName,
        setpoint: f64,
        lower: f64,
        upper: f64,
    },
}

impl DomainError for WorkUnitError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkUnitError::NotRegistered => ErrorKind::NotFound,
            WorkUnitError::EmptyName
            | WorkUnitError::ZeroMicroStopThreshold
            | WorkUnitError::ZeroStartupWindow
            | WorkUnitError::ZeroCycleTime { .. }
            | WorkUnitError::ZeroDefaultCycleTime
            | WorkUnitError::EmptyShutdown { .. }
            | WorkUnitError::ZeroCount
            | WorkUnitError::CountOverflow
            | WorkUnitError::UnknownParameter { .. }
            | WorkUnitError::NotFinite { .. }
            | WorkUnitError::SetpointOutsideLimits { .. } => ErrorKind::InvalidArgument,
            WorkUnitError::AlreadyRegistered { .. }
            | WorkUnitError::AlreadyRunning { .. }
            | WorkUnitError::SetupInProgress { .. }
            | WorkUnitError::SetupAlreadyStarted { .. }
            | WorkUnitError::SetupNotStarted
            | WorkUnitError::NoCurrentProduct
            | WorkUnitError::NoRecipeBound => ErrorKind::FailedPrecondition,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            WorkUnitError::EmptyName => Some("name"),
            WorkUnitError::ZeroMicroStopThreshold => Some("micro_stop_threshold_ms"),
            WorkUnitError::ZeroStartupWindow => Some("startup_window_ms"),
            WorkUnitError::ZeroCycleTime { .. } | WorkUnitError::ZeroDefaultCycleTime => {
                Some("ideal_cycle_time_ms")
            }
            _ => None,
        }
    }
}
