//! Commands a lot accepts.

use chrono::{DateTime, Utc};
use mom_domain::{Meaning, SignatureRule, Timed};

use crate::domain::ids::{HoldRef, LocationId, LotId, MaterialId, OrderId, Text, WorkUnitId};
use crate::domain::Quantity;

/// A request to change a lot; `at` is when it happened on the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotCommand {
    /// A new lot arrived from a supplier at `location`.
    Receive {
        lot: LotId,
        material: MaterialId,
        supplier_lot: Option<Text>,
        expiry: Option<DateTime<Utc>>,
        location: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// A new lot was made by production order `order` from `inputs`.
    Produce {
        lot: LotId,
        material: MaterialId,
        order: OrderId,
        work_unit: Option<WorkUnitId>,
        location: LocationId,
        quantity: Quantity,
        inputs: Vec<LotId>,
        expiry: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// `quantity` moved from one location to another.
    Move {
        from: LocationId,
        to: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// Production order `order` consumed `quantity` at `location` on `work_unit`.
    Consume {
        order: OrderId,
        work_unit: WorkUnitId,
        location: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// A hold with reference `hold` is put on the lot.
    Hold {
        hold: HoldRef,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// The hold with reference `hold` is released.
    ReleaseHold { hold: HoldRef, at: DateTime<Utc> },
    /// `quantity` at `location` is scrapped.
    Scrap {
        location: LocationId,
        quantity: Quantity,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// Everything the lot holds is scrapped, at every location.
    ScrapAll { reason: Text, at: DateTime<Utc> },
}

impl Timed for LotCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            LotCommand::Receive { at, .. }
            | LotCommand::Produce { at, .. }
            | LotCommand::Move { at, .. }
            | LotCommand::Consume { at, .. }
            | LotCommand::Hold { at, .. }
            | LotCommand::ReleaseHold { at, .. }
            | LotCommand::Scrap { at, .. }
            | LotCommand::ScrapAll { at, .. } => *at,
        }
    }

    fn signature_rule(&self) -> Option<SignatureRule> {
        match self {
            LotCommand::ReleaseHold { hold, .. } => Some(
                SignatureRule::new(Meaning::Approved, "the release of a hold", &["LotHeld"])
                    .matching("hold", hold.to_string()),
            ),
            _ => None,
        }
    }
}
