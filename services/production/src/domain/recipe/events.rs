//! Events of a master recipe, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use super::parameter::{RecipeId, RecipeParameter};
use crate::domain::ids::{OperationNumber, ProductId, Reason};

/// A fact about a master recipe. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RecipeEvent {
    /// The master recipe was defined.
    RecipeDefined {
        recipe: RecipeId,
        product: ProductId,
        operation: OperationNumber,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equipment_class: Option<String>,
        at: DateTime<Utc>,
    },
    /// Version `version` was drafted.
    RecipeVersionDrafted {
        recipe: RecipeId,
        version: u32,
        parameters: Vec<RecipeParameter>,
        note: String,
        at: DateTime<Utc>,
    },
    /// Draft `version` was approved.
    RecipeVersionApproved {
        recipe: RecipeId,
        version: u32,
        at: DateTime<Utc>,
    },
    /// The previously approved `version` was superseded by `by_version`.
    RecipeVersionSuperseded {
        recipe: RecipeId,
        version: u32,
        by_version: u32,
        at: DateTime<Utc>,
    },
    /// `version` was retired.
    RecipeVersionRetired {
        recipe: RecipeId,
        version: u32,
        reason: Reason,
        at: DateTime<Utc>,
    },
}

impl RecipeEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "RecipeDefined",
        "RecipeVersionDrafted",
        "RecipeVersionApproved",
        "RecipeVersionSuperseded",
        "RecipeVersionRetired",
    ];

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            RecipeEvent::RecipeDefined { at, .. }
            | RecipeEvent::RecipeVersionDrafted { at, .. }
            | RecipeEvent::RecipeVersionApproved { at, .. }
            | RecipeEvent::RecipeVersionSuperseded { at, .. }
            | RecipeEvent::RecipeVersionRetired { at, .. } => *at,
        }
    }
}

impl EventType for RecipeEvent {
    fn type_name(&self) -> &'static str {
        match self {
            RecipeEvent::RecipeDefined { .. } => "RecipeDefined",
            RecipeEvent::RecipeVersionDrafted { .. } => "RecipeVersionDrafted",
            RecipeEvent::RecipeVersionApproved { .. } => "RecipeVersionApproved",
            RecipeEvent::RecipeVersionSuperseded { .. } => "RecipeVersionSuperseded",
            RecipeEvent::RecipeVersionRetired { .. } => "RecipeVersionRetired",
        }
    }
}
