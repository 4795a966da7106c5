//! Events of a CAPA, one per message in `mom/quality/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use super::commands::CapaKind;
use crate::domain::ids::{CapaId, NcrId, Owner, Text};

/// A fact about a CAPA. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapaEvent {
    /// The CAPA was opened.
    CapaOpened {
        capa_id: CapaId,
        kind: CapaKind,
        title: Text,
        owner: Owner,
        due: DateTime<Utc>,
        ncr_ids: Vec<NcrId>,
        at: DateTime<Utc>,
    },
    /// One more NCR was linked.
    CapaNonconformanceLinked { ncr_id: NcrId, at: DateTime<Utc> },
    /// The action was implemented; it awaits verification.
    CapaActionImplemented {
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// The action's effectiveness was verified (effective closes, ineffective reopens).
    CapaEffectivenessVerified {
        effective: bool,
        note: Option<Text>,
        at: DateTime<Utc>,
    },
}

impl CapaEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "CapaOpened",
        "CapaNonconformanceLinked",
        "CapaActionImplemented",
        "CapaEffectivenessVerified",
    ];

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            CapaEvent::CapaOpened { at, .. }
            | CapaEvent::CapaNonconformanceLinked { at, .. }
            | CapaEvent::CapaActionImplemented { at, .. }
            | CapaEvent::CapaEffectivenessVerified { at, .. } => *at,
        }
    }
}

impl EventType for CapaEvent {
    fn type_name(&self) -> &'static str {
        match self {
            CapaEvent::CapaOpened { .. } => "CapaOpened",
            CapaEvent::CapaNonconformanceLinked { .. } => "CapaNonconformanceLinked",
            CapaEvent::CapaActionImplemented { .. } => "CapaActionImplemented",
            CapaEvent::CapaEffectivenessVerified { .. } => "CapaEffectivenessVerified",
        }
    }
}
