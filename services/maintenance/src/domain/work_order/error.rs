//! Why a work order rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use super::aggregate::WorkOrderStatus;
use crate::domain::asset::AssetLevel;
use crate::domain::ids::{AssetId, WorkOrderId};

/// A work order command the rules reject; its [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WorkOrderError {
    /// The work order does not exist.
    #[error("work order does not exist")]
    NotFound,

    /// The work order exists already.
    #[error("work order {work_order} already exists")]
    AlreadyExists { work_order: WorkOrderId },

    /// The work unit is not in the asset registry.
    #[error("work unit {work_unit} is not registered in the asset registry")]
    UnknownWorkUnit { work_unit: AssetId },

    /// The named asset is not a work unit.
    #[error("asset {asset} is of level {level}, not a work unit")]
    NotAWorkUnit { asset: AssetId, level: AssetLevel },

    /// The work unit is retired.
    #[error("work unit {work_unit} is retired")]
    WorkUnitRetired { work_unit: AssetId },

    /// The failure starts after it was reported.
    #[error("failure start {failure_start} is after the report time {at}")]
    FailureStartsAfterReport {
        failure_start: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// The schedule window is empty or inverted.
    #[error("schedule must end after it starts (from {from}, until {until})")]
    EmptyWindow {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },

    /// The repair starts before the failure.
    #[error("repair start {at} is before the failure start {failure_start}")]
    RepairBeforeFailure {
        failure_start: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// The work ends before it started.
    #[error("work end {at} is before its start {started}")]
    EndsBeforeStart {
        started: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// The order is not in a state that allows the command.
    #[error("work order is {status}; cannot {action}")]
    InvalidTransition {
        status: WorkOrderStatus,
        action: &'static str,
    },
}

impl DomainError for WorkOrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkOrderError::NotFound | WorkOrderError::UnknownWorkUnit { .. } => {
                ErrorKind::NotFound
            }
            WorkOrderError::FailureStartsAfterReport { .. }
            | WorkOrderError::EmptyWindow { .. }
            | WorkOrderError::RepairBeforeFailure { .. }
            | WorkOrderError::EndsBeforeStart { .. } => ErrorKind::InvalidArgument,
            WorkOrderError::AlreadyExists { .. }
            | WorkOrderError::NotAWorkUnit { .. }
            | WorkOrderError::WorkUnitRetired { .. }
            | WorkOrderError::InvalidTransition { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
