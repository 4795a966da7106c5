//! Why a nonconformance report rejects a command.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind, Units};
use thiserror::Error;

use crate::domain::ids::{InspectionId, LotId, NcrId, ProductId};
use crate::domain::ncr::commands::Disposition;

/// A rejected NCR command; [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NcrError {
    /// The NCR was never opened.
    #[error("nonconformance not found")]
    NotFound,

    /// The NCR is open already.
    #[error("nonconformance {ncr} is already opened")]
    AlreadyOpened { ncr: NcrId },

    /// No product, and no inspection to take it from.
    #[error("product is required when the nonconformance is not opened from an inspection")]
    MissingProduct,

    /// The product differs from the inspected one.
    #[error("product {given} differs from product {inspected} of the inspection")]
    ProductMismatch {
        given: ProductId,
        inspected: ProductId,
    },

    /// No quantity, and no inspection to take it from.
    #[error("quantity is required when the nonconformance is not opened from an inspection")]
    MissingQuantity,

    /// A quantity of zero units.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,

    /// The source inspection rejected nothing.
    #[error("inspection {inspection} has no rejected units")]
    InspectionWithoutRejects { inspection: InspectionId },

    /// A lot listed twice.
    #[error("lot {lot} is listed twice")]
    DuplicateLot { lot: LotId },

    /// A containment without lots.
    #[error("containment needs at least one lot")]
    NoLots,

    /// The NCR is closed.
    #[error("nonconformance is closed")]
    Closed,

    /// A disposition above the undisposed quantity.
    #[error("disposition of {quantity} units exceeds the {remaining} undisposed units")]
    ExceedsRemaining { quantity: Units, remaining: Units },

    /// A disposition of a lot the NCR does not contain.
    #[error("lot {lot} is not contained by this nonconformance")]
    LotNotContained { lot: LotId },

    /// A material-moving disposition that does not say which of several contained lots.
    #[error("a {disposition} disposition must name one of the {contained} contained lots")]
    LotRequired {
        disposition: Disposition,
        contained: usize,
    },

    /// A close with units still undisposed.
    #[error("{remaining} nonconforming units are not dispositioned yet")]
    Undisposed { remaining: Units },

    /// A command dated before the NCR was opened.
    #[error("time {at} is before the nonconformance was opened at {opened_at}")]
    BeforeOpened {
        at: DateTime<Utc>,
        opened_at: DateTime<Utc>,
    },
}

impl DomainError for NcrError {
    fn kind(&self) -> ErrorKind {
        match self {
            NcrError::NotFound => ErrorKind::NotFound,
            NcrError::MissingProduct
            | NcrError::ProductMismatch { .. }
            | NcrError::MissingQuantity
            | NcrError::ZeroQuantity
            | NcrError::DuplicateLot { .. }
            | NcrError::NoLots
            | NcrError::LotRequired { .. }
            | NcrError::ExceedsRemaining { .. }
            | NcrError::BeforeOpened { .. } => ErrorKind::InvalidArgument,
            NcrError::AlreadyOpened { .. }
            | NcrError::InspectionWithoutRejects { .. }
            | NcrError::Closed
            | NcrError::LotNotContained { .. }
            | NcrError::Undisposed { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
