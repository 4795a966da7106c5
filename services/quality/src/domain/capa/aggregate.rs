//! The CAPA's state, its decisions and its fold.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::{CapaCommand, CapaKind};
use super::error::CapaError;
use super::events::CapaEvent;
use crate::domain::ids::{CapaId, NcrId, Owner, Text};

/// A corrective / preventive action: the aggregate `capa`. Before it is opened it has no state
/// and rejects every command but `Open` with [`CapaError::NotFound`].
pub type Capa = Stream<Option<CapaState>>;

/// Where a CAPA stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapaStatus {
    /// The action is being worked on (again, after an ineffective verification).
    Open,
    /// The action is implemented and awaits verification.
    Implemented,
    /// The action was verified effective.
    Closed,
}

/// The state of an opened CAPA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapaState {
    id: CapaId,
    kind: CapaKind,
    title: Text,
    owner: Owner,
    due: DateTime<Utc>,
    ncrs: Vec<NcrId>,
    opened_at: DateTime<Utc>,
    status: CapaStatus,
}

impl CapaState {
    /// Returns the CAPA id.
    pub fn id(&self) -> CapaId {
        self.id
    }

    /// Returns whether the action is corrective or preventive.
    pub fn kind(&self) -> CapaKind {
        self.kind
    }

    /// Returns the title.
    pub fn title(&self) -> &Text {
        &self.title
    }

    /// Returns who is responsible.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Returns when the action is due.
    pub fn due(&self) -> DateTime<Utc> {
        self.due
    }

    /// Returns the linked NCRs, in the order they were linked.
    pub fn ncrs(&self) -> &[NcrId] {
        &self.ncrs
    }

    /// Returns where the CAPA stands.
    pub fn status(&self) -> CapaStatus {
        self.status
    }

    fn not_before_opened(&self, at: DateTime<Utc>) -> Result<(), CapaError> {
        if at < self.opened_at {
            return Err(CapaError::BeforeOpened {
                at,
                opened_at: self.opened_at,
            });
        }
        Ok(())
    }
}

impl Lifecycle for CapaState {
    const TYPE: &'static str = "capa";
    const NOUN: &'static str = "capa";
    type Command = CapaCommand;
    type Event = CapaEvent;
    type Error = CapaError;

    fn create(command: CapaCommand) -> Result<Vec<CapaEvent>, CapaError> {
        let CapaCommand::Open {
            capa,
            kind,
            title,
            owner,
            due,
            ncrs,
            at,
        } = command
        else {
            return Err(CapaError::NotFound);
        };
        if due < at {
            return Err(CapaError::DueBeforeOpened { due, at });
        }
        if kind == CapaKind::Corrective && ncrs.is_empty() {
            return Err(CapaError::CorrectiveWithoutNcr);
        }
        let mut seen = BTreeSet::new();
        if let Some(ncr) = ncrs.iter().find(|ncr| !seen.insert(**ncr)) {
            return Err(CapaError::DuplicateNcr { ncr: *ncr });
        }
        Ok(vec![CapaEvent::CapaOpened {
            capa_id: capa,
            kind,
            title,
            owner,
            due,
            ncr_ids: ncrs,
            at,
        }])
    }

    fn decide(&self, command: CapaCommand) -> Result<Vec<CapaEvent>, CapaError> {
        match command {
            CapaCommand::Open { .. } => Err(CapaError::AlreadyOpened { capa: self.id }),
            _ if self.status == CapaStatus::Closed => Err(CapaError::Closed),
            CapaCommand::LinkNcr { ncr, at } => {
                self.not_before_opened(at)?;
                if self.ncrs.contains(&ncr) {
                    return Err(CapaError::AlreadyLinked { ncr });
                }
                Ok(vec![CapaEvent::CapaNonconformanceLinked {
                    ncr_id: ncr,
                    at,
                }])
            }
            CapaCommand::Implement { note, at } => {
                self.not_before_opened(at)?;
                if self.status == CapaStatus::Implemented {
                    return Err(CapaError::AlreadyImplemented);
                }
                Ok(vec![CapaEvent::CapaActionImplemented { note, at }])
            }
            CapaCommand::Verify {
                effective,
                note,
                at,
            } => {
                self.not_before_opened(at)?;
                if self.status != CapaStatus::Implemented {
                    return Err(CapaError::NotImplemented);
                }
                Ok(vec![CapaEvent::CapaEffectivenessVerified {
                    effective,
                    note,
                    at,
                }])
            }
        }
    }

    fn born(event: CapaEvent) -> Option<Self> {
        match event {
            CapaEvent::CapaOpened {
                capa_id,
                kind,
                title,
                owner,
                due,
                ncr_ids,
                at,
            } => Some(CapaState {
                id: capa_id,
                kind,
                title,
                owner,
                due,
                ncrs: ncr_ids,
                opened_at: at,
                status: CapaStatus::Open,
            }),
            _ => None,
        }
    }

    fn evolve(&mut self, event: CapaEvent) {
        match event {
            // A second opening is never decided; nothing to fold.
            CapaEvent::CapaOpened { .. } => {}
            CapaEvent::CapaNonconformanceLinked { ncr_id, .. } => self.ncrs.push(ncr_id),
            CapaEvent::CapaActionImplemented { .. } => self.status = CapaStatus::Implemented,
            CapaEvent::CapaEffectivenessVerified { effective, .. } => {
                self.status = if effective {
                    CapaStatus::Closed
                } else {
                    CapaStatus::Open
                };
            }
        }
    }
}

#[cfg(test)]
mod tests;
