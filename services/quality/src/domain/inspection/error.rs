//! Why an inspection rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind, Units};
use thiserror::Error;

use crate::domain::ids::{CharacteristicName, InspectionId, PlanId};
use crate::domain::spec::ValueError;

/// A rejected inspection command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InspectionError {
    /// The inspection was never started.
    #[error("inspection not found")]
    NotFound,

    /// The inspection started already.
    #[error("inspection {inspection} is already started")]
    AlreadyStarted { inspection: InspectionId },

    /// The plan is retired.
    #[error("inspection plan {plan} is retired")]
    PlanRetired { plan: PlanId },

    /// Units said to be made after they were inspected.
    #[error("produced_at {produced_at} is after the inspection time {at}")]
    ProducedAfterInspection {
        produced_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// A production time without the equipment that made the units.
    #[error("produced_at needs the work_unit that made the units")]
    ProducedAtWithoutWorkUnit,

    /// A result that names neither the lot nor the equipment and time of its units.
    #[error("a result must name its units by lot, or by work_unit and produced_at")]
    UnitsNotNamed,

    /// A result of zero units.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,

    /// The quantity would overflow the inspection's totals.
    #[error("quantity overflows the totals of the inspection")]
    QuantityOverflow,

    /// A value for a characteristic the plan does not have.
    #[error("characteristic {name} is not in the plan")]
    UnknownCharacteristic { name: CharacteristicName },

    /// Two values for one characteristic.
    #[error("characteristic {name} has more than one value")]
    DuplicateValue { name: CharacteristicName },

    /// No value for a characteristic of the plan.
    #[error("characteristic {name} has no value")]
    MissingValue { name: CharacteristicName },

    /// A value that cannot be judged against its spec.
    #[error("characteristic {name} {source}")]
    BadValue {
        name: CharacteristicName,
        #[source]
        source: ValueError,
    },

    /// A result or completion before the inspection started.
    #[error("time {at} is before the inspection started at {started_at}")]
    BeforeStart {
        at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    },

    /// The inspection is completed.
    #[error("inspection is completed")]
    Completed,

    /// Completion before the sample is inspected.
    #[error("only {inspected} of the sample size of {sample_size} units are inspected")]
    SampleIncomplete {
        inspected: Units,
        sample_size: Units,
    },
}

impl DomainError for InspectionError {
    fn kind(&self) -> ErrorKind {
        match self {
            InspectionError::NotFound => ErrorKind::NotFound,
            InspectionError::ProducedAfterInspection { .. }
            | InspectionError::ProducedAtWithoutWorkUnit
            | InspectionError::UnitsNotNamed
            | InspectionError::ZeroQuantity
            | InspectionError::QuantityOverflow
            | InspectionError::UnknownCharacteristic { .. }
            | InspectionError::DuplicateValue { .. }
            | InspectionError::MissingValue { .. }
            | InspectionError::BadValue { .. }
            | InspectionError::BeforeStart { .. } => ErrorKind::InvalidArgument,
            InspectionError::AlreadyStarted { .. }
            | InspectionError::PlanRetired { .. }
            | InspectionError::Completed
            | InspectionError::SampleIncomplete { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
