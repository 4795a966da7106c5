//! Why a master recipe rejects a command.

use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use super::aggregate::VersionStatus;
use super::parameter::{ParameterError, RecipeId};

/// A master recipe's rules rejecting a command; its [`DomainError::kind`] says how to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecipeError {
    /// The recipe was never defined.
    #[error("recipe is not defined")]
    NotDefined,
    /// The recipe is defined already.
    #[error("recipe {recipe} is already defined")]
    AlreadyDefined { recipe: RecipeId },
    /// The definition has no name.
    #[error("name must not be empty")]
    EmptyName,
    /// The definition's id is not `{product}/{operation}`.
    #[error("recipe id {recipe} does not match product {product} and operation {operation}")]
    IdMismatch {
        recipe: RecipeId,
        product: String,
        operation: u32,
    },
    /// The drafted parameters are invalid.
    #[error("{0}")]
    Parameters(ParameterError),
    /// No such version.
    #[error("recipe has no version {version}")]
    UnknownVersion { version: u32 },
    /// Only a draft can be approved.
    #[error("version {version} is {status}; only a draft can be approved")]
    NotDraft { version: u32, status: VersionStatus },
    /// Only an approved or superseded version can be retired.
    #[error(
        "version {version} is {status}; only an approved or superseded version can be retired"
    )]
    NotRetirable { version: u32, status: VersionStatus },
    /// The recipe has too many versions.
    #[error("recipe has reached the maximum of {max} versions")]
    TooManyVersions { max: usize },
}

impl DomainError for RecipeError {
    fn kind(&self) -> ErrorKind {
        match self {
            RecipeError::NotDefined | RecipeError::UnknownVersion { .. } => ErrorKind::NotFound,
            RecipeError::EmptyName
            | RecipeError::IdMismatch { .. }
            | RecipeError::Parameters(_) => ErrorKind::InvalidArgument,
            RecipeError::AlreadyDefined { .. }
            | RecipeError::NotDraft { .. }
            | RecipeError::NotRetirable { .. }
            | RecipeError::TooManyVersions { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
