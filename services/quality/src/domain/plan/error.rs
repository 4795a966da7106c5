//! Why an inspection plan rejects a command.

use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use crate::domain::ids::{CharacteristicName, PlanId};
use crate::domain::spec::SpecError;

/// A rejected inspection plan command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlanError {
    /// The plan was never defined.
    #[error("inspection plan not found")]
    NotFound,

    /// The plan is defined already.
    #[error("inspection plan {plan} is already defined")]
    AlreadyDefined { plan: PlanId },

    /// The plan checks nothing.
    #[error("an inspection plan needs at least one characteristic")]
    NoCharacteristics,

    /// Two characteristics share a name.
    #[error("characteristic {name} is listed twice")]
    DuplicateCharacteristic { name: CharacteristicName },

    /// A variable characteristic's spec is unusable.
    #[error("characteristic {name}: {source}")]
    BadSpec {
        name: CharacteristicName,
        #[source]
        source: SpecError,
    },

    /// The sample size is zero.
    #[error("sample size must be greater than zero")]
    ZeroSampleSize,

    /// The frequency is zero units or minutes.
    #[error("frequency must be greater than zero")]
    ZeroFrequency,

    /// The plan was retired.
    #[error("inspection plan is retired")]
    Retired,
}

impl DomainError for PlanError {
    fn kind(&self) -> ErrorKind {
        match self {
            PlanError::NotFound => ErrorKind::NotFound,
            PlanError::NoCharacteristics
            | PlanError::DuplicateCharacteristic { .. }
            | PlanError::BadSpec { .. }
            | PlanError::ZeroSampleSize
            | PlanError::ZeroFrequency => ErrorKind::InvalidArgument,
            PlanError::AlreadyDefined { .. } | PlanError::Retired => ErrorKind::FailedPrecondition,
        }
    }
}
