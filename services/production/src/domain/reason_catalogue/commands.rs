//! Commands a reason catalogue accepts. Each names the site, so that any of them starts the
//! catalogue of a site that has none yet.

use chrono::{DateTime, Utc};
use mom_domain::Timed;

use super::ids::{LossClass, ReasonCode, SiteId, UnknownReasonPolicy};

/// A request to change a site's reason catalogue; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ReasonCatalogueCommand {
    /// Defines category `category` (or renames it).
    DefineCategory {
        site: SiteId,
        category: ReasonCode,
        name: String,
        at: DateTime<Utc>,
    },
    /// Defines reason `code` under `category`, or replaces its definition (a retired reason
    /// defined again is active again).
    DefineReason {
        site: SiteId,
        code: ReasonCode,
        name: String,
        category: ReasonCode,
        loss_class: LossClass,
        aliases: Vec<ReasonCode>,
        at: DateTime<Utc>,
    },
    /// Retires reason `code`: new reports may no longer use it; history keeps it.
    RetireReason {
        site: SiteId,
        code: ReasonCode,
        at: DateTime<Utc>,
    },
    /// Sets what the site does with codes it does not know.
    SetUnknownPolicy {
        site: SiteId,
        policy: UnknownReasonPolicy,
        at: DateTime<Utc>,
    },
}

impl ReasonCatalogueCommand {
    /// Returns the site the command is for.
    pub fn site(&self) -> &SiteId {
        match self {
            ReasonCatalogueCommand::DefineCategory { site, .. }
            | ReasonCatalogueCommand::DefineReason { site, .. }
            | ReasonCatalogueCommand::RetireReason { site, .. }
            | ReasonCatalogueCommand::SetUnknownPolicy { site, .. } => site,
        }
    }
}

impl Timed for ReasonCatalogueCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            ReasonCatalogueCommand::DefineCategory { at, .. }
            | ReasonCatalogueCommand::DefineReason { at, .. }
            | ReasonCatalogueCommand::RetireReason { at, .. }
            | ReasonCatalogueCommand::SetUnknownPolicy { at, .. } => *at,
        }
    }
}
