//! Events of a nonconformance report, one per message in `mom/quality/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::{EventType, Units};
use serde::{Deserialize, Serialize};

use super::commands::Disposition;
use crate::domain::ids::{InspectionId, LotId, NcrId, ProductId, Text, WorkUnitId};

/// A fact about an NCR. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NcrEvent {
    /// The NCR was opened, with everything resolved (no inspection defaults left open).
    NonconformanceOpened {
        ncr_id: NcrId,
        product: ProductId,
        quantity: Units,
        description: Text,
        inspection_id: Option<InspectionId>,
        work_unit: Option<WorkUnitId>,
        contained_lots: Vec<LotId>,
        at: DateTime<Utc>,
    },
    /// More lots were contained; only the newly contained ones are listed.
    NonconformanceContained {
        product: ProductId,
        lots: Vec<LotId>,
        at: DateTime<Utc>,
    },
    /// Units were dispositioned; `remaining` are still undisposed afterwards. The lot is
    /// resolved (the only contained lot when the command named none).
    NonconformanceDispositioned {
        product: ProductId,
        work_unit: Option<WorkUnitId>,
        disposition: Disposition,
        quantity: Units,
        lot: Option<LotId>,
        remaining: Units,
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// The NCR was closed.
    NonconformanceClosed {
        product: ProductId,
        at: DateTime<Utc>,
    },
}

impl NcrEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "NonconformanceOpened",
        "NonconformanceContained",
        "NonconformanceDispositioned",
        "NonconformanceClosed",
    ];

    /// Returns when the fact happened.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            NcrEvent::NonconformanceOpened { at, .. }
            | NcrEvent::NonconformanceContained { at, .. }
            | NcrEvent::NonconformanceDispositioned { at, .. }
            | NcrEvent::NonconformanceClosed { at, .. } => *at,
        }
    }
}

impl EventType for NcrEvent {
    fn type_name(&self) -> &'static str {
        match self {
            NcrEvent::NonconformanceOpened { .. } => "NonconformanceOpened",
            NcrEvent::NonconformanceContained { .. } => "NonconformanceContained",
            NcrEvent::NonconformanceDispositioned { .. } => "NonconformanceDispositioned",
            NcrEvent::NonconformanceClosed { .. } => "NonconformanceClosed",
        }
    }
}
