//! Why a CAPA rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use crate::domain::ids::{CapaId, NcrId};

/// A rejected CAPA command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CapaError {
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

impl DomainError for CapaError {
    fn kind(&self) -> ErrorKind {
        match self {
            CapaError::NotFound => ErrorKind::NotFound,
            CapaError::DueBeforeOpened { .. }
            | CapaError::CorrectiveWithoutNcr
            | CapaError::DuplicateNcr { .. }
            | CapaError::BeforeOpened { .. } => ErrorKind::InvalidArgument,
            CapaError::AlreadyOpened { .. }
            | CapaError::AlreadyLinked { .. }
            | CapaError::Closed
            | CapaError::AlreadyImplemented
            | CapaError::NotImplemented => ErrorKind::FailedPrecondition,
        }
    }
}
