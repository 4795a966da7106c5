//! Why a reason catalogue rejects a command.

use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use super::ids::{ReasonCode, SiteId};

/// A reason catalogue's rules rejecting a command; its [`DomainError::kind`] says how to
/// report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReasonCatalogueError {
    /// The site has no catalogue (a query).
    #[error("site has no reason catalogue")]
    NoCatalogue,
    /// The command names another site than the catalogue's (never sent by the API, which keys
    /// the catalogue by the command's site).
    #[error("command is for site {command} but the catalogue is site {catalogue}'s")]
    WrongSite { command: SiteId, catalogue: SiteId },
    /// A name is empty.
    #[error("field name must not be empty")]
    EmptyName,
    /// `unassigned` is reserved.
    #[error("code unassigned is reserved for reasons the catalogue does not know")]
    Reserved,
    /// The reason's category is not defined.
    #[error("category {category} is not defined; define it first")]
    UnknownCategory { category: ReasonCode },
    /// No such reason.
    #[error("reason {code} is not in the catalogue")]
    UnknownReason { code: ReasonCode },
    /// An alias already names another reason (its code or one of its aliases).
    #[error("alias {alias} already names reason {owner}")]
    AliasTaken {
        alias: ReasonCode,
        owner: ReasonCode,
    },
    /// A code is already another reason's alias.
    #[error("code {code} is already an alias of reason {owner}")]
    CodeIsAlias { code: ReasonCode, owner: ReasonCode },
    /// The catalogue is full.
    #[error("the catalogue holds the maximum of {max} {what}")]
    Full { what: &'static str, max: usize },
}

impl DomainError for ReasonCatalogueError {
    fn kind(&self) -> ErrorKind {
        match self {
            ReasonCatalogueError::NoCatalogue | ReasonCatalogueError::UnknownReason { .. } => {
                ErrorKind::NotFound
            }
            ReasonCatalogueError::WrongSite { .. }
            | ReasonCatalogueError::EmptyName
            | ReasonCatalogueError::Reserved
            | ReasonCatalogueError::AliasTaken { .. }
            | ReasonCatalogueError::CodeIsAlias { .. } => ErrorKind::InvalidArgument,
            ReasonCatalogueError::UnknownCategory { .. } | ReasonCatalogueError::Full { .. } => {
                ErrorKind::FailedPrecondition
            }
        }
    }
}
