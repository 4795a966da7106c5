//! Commands a master recipe accepts.

use chrono::{DateTime, Utc};
use mom_domain::{Meaning, SignatureRule, Timed};

use super::parameter::{RecipeId, RecipeParameter};
use crate::domain::ids::{OperationNumber, ProductId, Reason};

/// A request to change a master recipe; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipeCommand {
    /// Defines the master recipe of `product` at `operation` (its id is `{product}/{operation}`).
    Define {
        recipe: RecipeId,
        product: ProductId,
        operation: OperationNumber,
        name: String,
        equipment_class: Option<String>,
        at: DateTime<Utc>,
    },
    /// Drafts the next version with `parameters`.
    DraftVersion {
        parameters: Vec<RecipeParameter>,
        note: String,
        at: DateTime<Utc>,
    },
    /// Approves draft `version`; the approved one before it becomes superseded.
    ApproveVersion { version: u32, at: DateTime<Utc> },
    /// Retires approved or superseded `version`.
    RetireVersion {
        version: u32,
        reason: Reason,
        at: DateTime<Utc>,
    },
}

/// The events whose principals drafted a version: the approver must be someone else.
const DRAFTED: &[&str] = &["RecipeVersionDrafted"];

impl Timed for RecipeCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            RecipeCommand::Define { at, .. }
            | RecipeCommand::DraftVersion { at, .. }
            | RecipeCommand::ApproveVersion { at, .. }
            | RecipeCommand::RetireVersion { at, .. } => *at,
        }
    }

    fn signature_rule(&self) -> Option<SignatureRule> {
        match self {
            RecipeCommand::ApproveVersion { version, .. } => Some(
                SignatureRule::new(
                    Meaning::Approved,
                    "the approval of a recipe version",
                    DRAFTED,
                )
                .matching("version", version.to_string()),
            ),
            _ => None,
        }
    }
}
