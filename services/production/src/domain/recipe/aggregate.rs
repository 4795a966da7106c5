//! The master recipe's state, its decisions and its fold.
//!
//! Versions are numbered 1, 2, … in drafting order and go draft → approved → superseded (when a
//! later one is approved) and approved or superseded → retired. At most one version is approved;
//! only it runs. A version's parameters never change after drafting: a change is a new version.

use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::RecipeCommand;
use super::error::RecipeError;
use super::events::RecipeEvent;
use super::parameter::{check_parameters, RecipeId, RecipeParameter};
use crate::domain::ids::{OperationNumber, ProductId, Reason};

/// Most versions one master recipe keeps (a recipe revised daily for years fits).
pub const MAX_VERSIONS: usize = 2_000;

/// Where a recipe version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionStatus {
    /// Drafted, not yet approved; cannot run.
    Draft,
    /// The version that runs.
    Approved,
    /// Was approved; a later version replaced it.
    Superseded,
    /// Withdrawn; never runs again.
    Retired,
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Approved => "approved",
            VersionStatus::Superseded => "superseded",
            VersionStatus::Retired => "retired",
        })
    }
}

/// One version of a master recipe with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeVersionState {
    /// Its number, from 1.
    pub version: u32,
    /// Where it stands.
    pub status: VersionStatus,
    /// Its parameters, as drafted.
    pub parameters: Vec<RecipeParameter>,
    /// The drafter's note.
    pub note: String,
    /// When it was drafted.
    pub drafted_at: DateTime<Utc>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// When it was superseded, and by which version.
    pub superseded: Option<(DateTime<Utc>, u32)>,
    /// When and why it was retired.
    pub retired: Option<(DateTime<Utc>, Reason)>,
}

/// The state of a defined master recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeState {
    id: RecipeId,
    product: ProductId,
    operation: OperationNumber,
    name: String,
    equipment_class: Option<String>,
    versions: Vec<RecipeVersionState>,
}

impl RecipeState {
    /// Returns the recipe id `{product}/{operation}`.
    pub fn id(&self) -> &RecipeId {
        &self.id
    }

    /// Returns the product.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// Returns the operation number.
    pub fn operation(&self) -> OperationNumber {
        self.operation
    }

    /// Returns the display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the equipment class, when given.
    pub fn equipment_class(&self) -> Option<&str> {
        self.equipment_class.as_deref()
    }

    /// Returns every version, oldest first.
    pub fn versions(&self) -> &[RecipeVersionState] {
        &self.versions
    }

    /// Returns the approved version, the one that runs.
    pub fn approved(&self) -> Option<&RecipeVersionState> {
        self.versions
            .iter()
            .find(|v| v.status == VersionStatus::Approved)
    }

    /// Returns version `version`.
    pub fn version(&self, version: u32) -> Option<&RecipeVersionState> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// Describes every version's state for a message (`v1 retired, v2 draft`; `no versions`).
    pub fn describe_versions(&self) -> String {
        if self.versions.is_empty() {
            return "no versions".to_owned();
        }
        self.versions
            .iter()
            .map(|v| format!("v{} {}", v.version, v.status))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn existing(&self, version: u32) -> Result<&RecipeVersionState, RecipeError> {
        self.version(version)
            .ok_or(RecipeError::UnknownVersion { version })
    }
}

/// The rules of a master recipe. Before its definition it has no state and rejects every command
/// but `Define` with [`RecipeError::NotDefined`].
impl Lifecycle for RecipeState {
    const TYPE: &'static str = "recipe";
    const NOUN: &'static str = "recipe";
    type Command = RecipeCommand;
    type Event = RecipeEvent;
    type Error = RecipeError;

    fn create(command: RecipeCommand) -> Result<Vec<RecipeEvent>, RecipeError> {
        let RecipeCommand::Define {
            recipe,
            product,
            operation,
            name,
            equipment_class,
            at,
        } = command
        else {
            return Err(RecipeError::NotDefined);
        };
        if name.trim().is_empty() {
            return Err(RecipeError::EmptyName);
        }
        if recipe != RecipeId::of(&product, operation) {
            return Err(RecipeError::IdMismatch {
                recipe,
                product: product.to_string(),
                operation: operation.0,
            });
        }
        Ok(vec![RecipeEvent::RecipeDefined {
            recipe,
            product,
            operation,
            name,
            equipment_class: equipment_class.filter(|class| !class.trim().is_empty()),
            at,
        }])
    }

    fn decide(&self, command: RecipeCommand) -> Result<Vec<RecipeEvent>, RecipeError> {
        match command {
            RecipeCommand::Define { .. } => Err(RecipeError::AlreadyDefined {
                recipe: self.id.clone(),
            }),
            RecipeCommand::DraftVersion {
                parameters,
                note,
                at,
            } => {
                check_parameters(&parameters).map_err(RecipeError::Parameters)?;
                if self.versions.len() >= MAX_VERSIONS {
                    return Err(RecipeError::TooManyVersions { max: MAX_VERSIONS });
                }
                let version = self.versions.last().map_or(1, |v| v.version + 1);
                Ok(vec![RecipeEvent::RecipeVersionDrafted {
                    recipe: self.id.clone(),
                    version,
                    parameters,
                    note,
                    at,
                }])
            }
            RecipeCommand::ApproveVersion { version, at } => {
                let draft = self.existing(version)?;
                if draft.status != VersionStatus::Draft {
                    return Err(RecipeError::NotDraft {
                        version,
                        status: draft.status,
                    });
                }
                let mut events = vec![RecipeEvent::RecipeVersionApproved {
                    recipe: self.id.clone(),
                    version,
                    at,
                }];
                if let Some(previous) = self.approved() {
                    events.push(RecipeEvent::RecipeVersionSuperseded {
                        recipe: self.id.clone(),
                        version: previous.version,
                        by_version: version,
                        at,
                    });
                }
                Ok(events)
            }
            RecipeCommand::RetireVersion {
                version,
                reason,
                at,
            } => {
                let existing = self.existing(version)?;
                match existing.status {
                    VersionStatus::Approved | VersionStatus::Superseded => {
                        Ok(vec![RecipeEvent::RecipeVersionRetired {
                            recipe: self.id.clone(),
                            version,
                            reason,
                            at,
                        }])
                    }
                    status @ (VersionStatus::Draft | VersionStatus::Retired) => {
                        Err(RecipeError::NotRetirable { version, status })
                    }
                }
            }
        }
    }

    // Nothing but a definition starts a stream; anything else before it is ignored.
    fn born(event: RecipeEvent) -> Option<Self> {
        let RecipeEvent::RecipeDefined {
            recipe,
            product,
            operation,
            name,
            equipment_class,
            ..
        } = event
        else {
            return None;
        };
        Some(RecipeState {
            id: recipe,
            product,
            operation,
            name,
            equipment_class,
            versions: Vec::new(),
        })
    }

    fn evolve(&mut self, event: RecipeEvent) {
        match event {
            RecipeEvent::RecipeDefined { .. } => {}
            RecipeEvent::RecipeVersionDrafted {
                version,
                parameters,
                note,
                at,
                ..
            } => self.versions.push(RecipeVersionState {
                version,
                status: VersionStatus::Draft,
                parameters,
                note,
                drafted_at: at,
                approved_at: None,
                superseded: None,
                retired: None,
            }),
            RecipeEvent::RecipeVersionApproved { version, at, .. } => {
                if let Some(v) = self.versions.iter_mut().find(|v| v.version == version) {
                    v.status = VersionStatus::Approved;
                    v.approved_at = Some(at);
                }
            }
            RecipeEvent::RecipeVersionSuperseded {
                version,
                by_version,
                at,
                ..
            } => {
                if let Some(v) = self.versions.iter_mut().find(|v| v.version == version) {
                    v.status = VersionStatus::Superseded;
                    v.superseded = Some((at, by_version));
                }
            }
            RecipeEvent::RecipeVersionRetired {
                version,
                reason,
                at,
                ..
            } => {
                if let Some(v) = self.versions.iter_mut().find(|v| v.version == version) {
                    v.status = VersionStatus::Retired;
                    v.retired = Some((at, reason));
                }
            }
        }
    }
}

/// A master recipe: the aggregate `recipe`, a [`Stream`] over its state, which is `None` before
/// the definition.
pub type Recipe = Stream<Option<RecipeState>>;

#[cfg(test)]
mod tests;
