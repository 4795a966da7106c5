//! Why an asset rejects a command.

use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use super::events::AssetLevel;
use crate::domain::ids::{AssetId, PlanId};

/// An asset command the rules reject; its [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssetError {
    /// The asset was never registered.
    #[error("asset is not registered")]
    NotRegistered,

    /// The asset is registered already.
    #[error("asset {asset} is already registered")]
    AlreadyRegistered { asset: AssetId },

    /// The registration has no name.
    #[error("name must not be empty")]
    EmptyName,

    /// An enterprise was given a parent.
    #[error("an enterprise has no parent, got {parent}")]
    EnterpriseWithParent { parent: AssetId },

    /// An asset below the enterprise was registered without parent.
    #[error("an asset of level {level} needs a parent of level {parent_level}")]
    MissingParent {
        level: AssetLevel,
        parent_level: AssetLevel,
    },

    /// The parent is not registered.
    #[error("parent {parent} is not registered")]
    ParentNotFound { parent: AssetId },

    /// The parent is of the wrong level.
    #[error(
        "parent {parent} is of level {actual}, but an asset of level {level} needs a parent of level {expected}"
    )]
    WrongParentLevel {
        parent: AssetId,
        level: AssetLevel,
        expected: AssetLevel,
        actual: AssetLevel,
    },

    /// The parent is retired.
    #[error("parent {parent} is retired")]
    ParentRetired { parent: AssetId },

    /// The enterprise cannot move.
    #[error("an enterprise cannot move")]
    EnterpriseCannotMove,

    /// The asset already sits under that parent.
    #[error("asset is already under {parent}")]
    AlreadyUnderParent { parent: AssetId },

    /// The asset is retired.
    #[error("asset is retired")]
    Retired,

    /// Plans and usage belong to work units only.
    #[error("asset is of level {level}; maintenance plans and usage belong to work units")]
    NotAWorkUnit { level: AssetLevel },

    /// A plan with that id exists already.
    #[error("plan {plan} is already defined")]
    PlanAlreadyDefined { plan: PlanId },

    /// The plan's interval is zero.
    #[error("plan interval must be greater than zero")]
    ZeroInterval,

    /// The plan's interval is too long.
    #[error("plan interval {every} is out of range (at most {max})")]
    IntervalOutOfRange { every: u64, max: u64 },

    /// Usage of nothing.
    #[error("usage must add cycles or run time")]
    EmptyUsage,

    /// Usage would overflow the meters.
    #[error("usage overflows the meters of the work unit")]
    UsageOverflow,
}

impl DomainError for AssetError {
    fn kind(&self) -> ErrorKind {
        match self {
            AssetError::NotRegistered | AssetError::ParentNotFound { .. } => ErrorKind::NotFound,
            AssetError::EmptyName
            | AssetError::EnterpriseWithParent { .. }
            | AssetError::MissingParent { .. }
            | AssetError::WrongParentLevel { .. }
            | AssetError::ZeroInterval
            | AssetError::IntervalOutOfRange { .. }
            | AssetError::EmptyUsage
            | AssetError::UsageOverflow => ErrorKind::InvalidArgument,
            AssetError::AlreadyRegistered { .. }
            | AssetError::ParentRetired { .. }
            | AssetError::EnterpriseCannotMove
            | AssetError::AlreadyUnderParent { .. }
            | AssetError::Retired
            | AssetError::NotAWorkUnit { .. }
            | AssetError::PlanAlreadyDefined { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
