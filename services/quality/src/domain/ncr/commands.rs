//! Commands a nonconformance report accepts.

use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::{Meaning, SignatureRule, Timed, Units};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{InspectionId, LotId, NcrId, ProductId, Text, WorkUnitId};
use crate::domain::inspection::InspectionState;

/// What happens to nonconforming units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Disposition {
    /// Scrapped.
    Scrap,
    /// Reworked to conform.
    Rework,
    /// Used as they are (a concession).
    UseAsIs,
    /// Returned to the supplier.
    ReturnToSupplier,
}

impl Disposition {
    /// Returns whether the disposition moves material out of stock (scrap, return to supplier),
    /// so inventory needs to know the lot.
    pub fn moves_material(self) -> bool {
        matches!(self, Disposition::Scrap | Disposition::ReturnToSupplier)
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disposition::Scrap => "scrap",
            Disposition::Rework => "rework",
            Disposition::UseAsIs => "use as is",
            Disposition::ReturnToSupplier => "return to supplier",
        })
    }
}

/// The failed inspection an NCR is opened from, as loaded by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionSummary {
    pub inspection: InspectionId,
    pub product: ProductId,
    pub work_unit: Option<WorkUnitId>,
    pub rejected: Units,
    pub rejected_lots: Vec<LotId>,
}

impl From<&InspectionState> for InspectionSummary {
    fn from(inspection: &InspectionState) -> Self {
        Self {
            inspection: inspection.id(),
            product: inspection.product().clone(),
            work_unit: inspection.work_unit().cloned(),
            rejected: inspection.rejected(),
            rejected_lots: inspection.rejected_lots().iter().cloned().collect(),
        }
    }
}

/// A request to change an NCR; `at` is when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NcrCommand {
    /// Opens the NCR, from `source` when it comes from a failed inspection. Unset product,
    /// quantity and work unit, and an empty lot list, take the inspection's.
    Open {
        ncr: NcrId,
        source: Option<InspectionSummary>,
        product: Option<ProductId>,
        quantity: Option<Units>,
        description: Text,
        work_unit: Option<WorkUnitId>,
        contained_lots: Vec<LotId>,
        at: DateTime<Utc>,
    },
    /// Contains (holds) more lots; lots already contained are ignored.
    Contain { lots: Vec<LotId>, at: DateTime<Utc> },
    /// Dispositions `quantity` nonconforming units, of `lot` when given (or of the only
    /// contained lot).
    Disposition {
        disposition: Disposition,
        quantity: Units,
        lot: Option<LotId>,
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// Closes the NCR.
    Close { at: DateTime<Utc> },
}

impl Timed for NcrCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            NcrCommand::Open { at, .. }
            | NcrCommand::Contain { at, .. }
            | NcrCommand::Disposition { at, .. }
            | NcrCommand::Close { at } => *at,
        }
    }

    fn signature_rule(&self) -> Option<SignatureRule> {
        match self {
            NcrCommand::Disposition { .. } => Some(SignatureRule::new(
                Meaning::Approved,
                "the disposition of a nonconformance",
                &["NonconformanceOpened"],
            )),
            _ => None,
        }
    }
}
