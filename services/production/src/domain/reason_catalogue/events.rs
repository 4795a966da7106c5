//! Events of a reason catalogue, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use super::ids::{LossClass, ReasonCode, SiteId, UnknownReasonPolicy};

/// A fact about a site's reason catalogue. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReasonCatalogueEvent {
    /// A category was defined or renamed.
    ReasonCategoryDefined {
        site: SiteId,
        category: ReasonCode,
        name: String,
        at: DateTime<Utc>,
    },
    /// A reason was defined or redefined.
    ReasonDefined {
        site: SiteId,
        code: ReasonCode,
        name: String,
        category: ReasonCode,
        loss_class: LossClass,
        aliases: Vec<ReasonCode>,
        at: DateTime<Utc>,
    },
    /// A reason was retired.
    ReasonRetired {
        site: SiteId,
        code: ReasonCode,
        at: DateTime<Utc>,
    },
    /// The policy for unknown codes was set.
    UnknownReasonPolicySet {
        site: SiteId,
        policy: UnknownReasonPolicy,
        at: DateTime<Utc>,
    },
}

impl ReasonCatalogueEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "ReasonCategoryDefined",
        "ReasonDefined",
        "ReasonRetired",
        "UnknownReasonPolicySet",
    ];

    /// Returns the site the event is about.
    pub fn site(&self) -> &SiteId {
        match self {
            ReasonCatalogueEvent::ReasonCategoryDefined { site, .. }
            | ReasonCatalogueEvent::ReasonDefined { site, .. }
            | ReasonCatalogueEvent::ReasonRetired { site, .. }
            | ReasonCatalogueEvent::UnknownReasonPolicySet { site, .. } => site,
        }
    }

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            ReasonCatalogueEvent::ReasonCategoryDefined { at, .. }
            | ReasonCatalogueEvent::ReasonDefined { at, .. }
            | ReasonCatalogueEvent::ReasonRetired { at, .. }
            | ReasonCatalogueEvent::UnknownReasonPolicySet { at, .. } => *at,
        }
    }
}

impl EventType for ReasonCatalogueEvent {
    fn type_name(&self) -> &'static str {
        match self {
            ReasonCatalogueEvent::ReasonCategoryDefined { .. } => "ReasonCategoryDefined",
            ReasonCatalogueEvent::ReasonDefined { .. } => "ReasonDefined",
            ReasonCatalogueEvent::ReasonRetired { .. } => "ReasonRetired",
            ReasonCatalogueEvent::UnknownReasonPolicySet { .. } => "UnknownReasonPolicySet",
        }
    }
}
