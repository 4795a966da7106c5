//! Why a lot rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use crate::domain::ids::{HoldRef, LocationId, LotId, MaterialId};
use crate::domain::Quantity;

/// A rejected lot command; its [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LotError {
    /// The lot was never received or produced.
    #[error("lot does not exist")]
    NotFound,

    /// A lot with this id exists already.
    #[error("lot {lot} exists already")]
    AlreadyExists { lot: LotId },

    /// A quantity of zero.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,

    /// The expiry is not after the receipt or production.
    #[error("expiry {expiry} must be after the lot's time {at}")]
    ExpiryNotAfterCreation {
        expiry: DateTime<Utc>,
        at: DateTime<Utc>,
    },

    /// A move to the location it comes from.
    #[error("cannot move from location {location} to itself")]
    SameLocation { location: LocationId },

    /// More than the lot holds at a location.
    #[error(
        "lot holds {available} of material {material} at location {location}, less than the {requested} asked for"
    )]
    InsufficientQuantity {
        material: MaterialId,
        location: LocationId,
        available: Quantity,
        requested: Quantity,
    },

    /// A move or consume of a lot on hold.
    #[error("lot is on hold ({holds}); release the hold first")]
    OnHold { holds: String },

    /// A consume of an expired lot.
    #[error("lot expired at {expiry}")]
    Expired { expiry: DateTime<Utc> },

    /// A hold with a reference that is active already.
    #[error("hold {hold} is already active on the lot")]
    HoldActive { hold: HoldRef },

    /// A release of a hold that is not active.
    #[error("hold {hold} is not active on the lot")]
    HoldNotActive { hold: HoldRef },

    /// A scrap of everything when the lot holds nothing.
    #[error("lot holds nothing to scrap")]
    Empty,

    /// An output lot named as its own input.
    #[error("lot {lot} cannot be an input of itself")]
    SelfInput { lot: LotId },

    /// An input lot named twice.
    #[error("input lot {lot} is named twice")]
    DuplicateInput { lot: LotId },
}

impl DomainError for LotError {
    fn kind(&self) -> ErrorKind {
        match self {
            LotError::NotFound => ErrorKind::NotFound,
            LotError::ZeroQuantity
            | LotError::ExpiryNotAfterCreation { .. }
            | LotError::SameLocation { .. }
            | LotError::InsufficientQuantity { .. }
            | LotError::SelfInput { .. }
            | LotError::DuplicateInput { .. } => ErrorKind::InvalidArgument,
            LotError::AlreadyExists { .. }
            | LotError::OnHold { .. }
            | LotError::Expired { .. }
            | LotError::HoldActive { .. }
            | LotError::HoldNotActive { .. }
            | LotError::Empty => ErrorKind::FailedPrecondition,
        }
    }
}
