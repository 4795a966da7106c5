//! Why a CAPA rejects a command.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::error::{DomainError, ErrorKind, GuardRejection};
use crate::domain::ids::{CapaId, NcrId};

/// A rejected CAPA command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CapaError {
    /// The command's idempotency key was applied before (answered with the original reply).
    #[error("command already applied at version {version}")]
    Replayed { version: u64 },

    /// The caller expected another version of the CAPA.
    #[error(
        "capa is at version {actual}, not the expected version {expected}; reload it and retry"
    )]
    VersionConflict { expected: u64, actual: u64 },

    /// The CAPA was never opened.
    #[error("capa not found")]
    NotFound,

    /// The CAPA is open already.
    #[error("capa {capa} is already opened")]
    AlreadyOpened { capa: CapaId },

    /// A due date before the opening.
    #[error("due date {due} is before the opening time {at}")]
    DueBeforeOpened {
        due: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// A corrective action that names no nonconformance.
    #[error("a corrective action needs at least one ncr")]
    CorrectiveWithoutNcr,

    /// An NCR listed twice.
    #[error("ncr {ncr} is listed twice")]
    DuplicateNcr { ncr: NcrId },

    /// An NCR linked already.
    #[error("ncr {ncr} is already linked")]
    AlreadyLinked { ncr: NcrId },

    /// The CAPA is closed.
    #[error("capa is closed")]
    Closed,

    /// The action is implemented and awaits verification.
    #[error("the action is already implemented and awaits verification")]
    AlreadyImplemented,

    /// A verification before the action is implemented.
    #[error("the action is not implemented yet")]
    NotImplemented,

    /// A command dated before the CAPA was opened.
    #[error("time {at} is before the capa was opened at {opened_at}")]
    BeforeOpened {
        at: DateTime<Utc>,
        opened_at: DateTime<Utc>,
    },
}

impl From<GuardRejection> for CapaError {
    fn from(rejection: GuardRejection) -> Self {
        match rejection {
            GuardRejection::Replayed { version } => CapaError::Replayed { version },
            GuardRejection::VersionConflict { expected, actual } => {
                CapaError::VersionConflict { expected, actual }
            }
        }
    }
}

impl DomainError for CapaError {
    fn kind(&self) -> ErrorKind {
        match self {
            CapaError::VersionConflict { .. } => ErrorKind::Conflict,
            CapaError::NotFound => ErrorKind::NotFound,
            CapaError::DueBeforeOpened { .. }
            | CapaError::CorrectiveWithoutNcr
            | CapaError::DuplicateNcr { .. }
            | CapaError::BeforeOpened { .. } => ErrorKind::InvalidArgument,
            CapaError::Replayed { .. }
            | CapaError::AlreadyOpened { .. }
            | CapaError::AlreadyLinked { .. }
            | CapaError::Closed
            | CapaError::AlreadyImplemented
            | CapaError::NotImplemented => ErrorKind::FailedPrecondition,
        }
    }

    fn replayed_version(&self) -> Option<u64> {
        match self {
            CapaError::Replayed { version } => Some(*version),
            _ => None,
        }
    }
}
