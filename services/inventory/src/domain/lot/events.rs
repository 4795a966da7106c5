//! Events of a lot, one per message in `mom/inventory/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{HoldRef, LocationId, LotId, MaterialId, OrderId, Text, WorkUnitId};
use crate::domain::Quantity;

/// A fact about a lot. Variant names are the proto message names; every event names the lot's
/// material so consumers need no lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LotEvent {
    /// The lot arrived from a supplier.
    LotReceived {
        lot: LotId,
        material: MaterialId,
        supplier_lot: Option<Text>,
        expiry: Option<DateTime<Utc>>,
        location: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// Part or all of the lot moved.
    LotMoved {
        lot: LotId,
        material: MaterialId,
        from: LocationId,
        to: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// A production order consumed part or all of the lot.
    LotConsumed {
        lot: LotId,
        material: MaterialId,
        order: OrderId,
        work_unit: WorkUnitId,
        location: LocationId,
        quantity: Quantity,
        at: DateTime<Utc>,
    },
    /// The lot was made by a production order from input lots.
    LotProduced {
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
    /// A hold was put on the lot.
    LotHeld {
        lot: LotId,
        material: MaterialId,
        hold: HoldRef,
        reason: Text,
        at: DateTime<Utc>,
    },
    /// A hold was released; `still_held` when other holds remain.
    LotHoldReleased {
        lot: LotId,
        material: MaterialId,
        hold: HoldRef,
        still_held: bool,
        at: DateTime<Utc>,
    },
    /// Part or all of the lot was scrapped.
    LotScrapped {
        lot: LotId,
        material: MaterialId,
        location: LocationId,
        quantity: Quantity,
        reason: Text,
        at: DateTime<Utc>,
    },
}

impl LotEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "LotReceived",
        "LotMoved",
        "LotConsumed",
        "LotProduced",
        "LotHeld",
        "LotHoldReleased",
        "LotScrapped",
    ];

    /// Returns when the fact happened on the floor.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            LotEvent::LotReceived { at, .. }
            | LotEvent::LotMoved { at, .. }
            | LotEvent::LotConsumed { at, .. }
            | LotEvent::LotProduced { at, .. }
            | LotEvent::LotHeld { at, .. }
            | LotEvent::LotHoldReleased { at, .. }
            | LotEvent::LotScrapped { at, .. } => *at,
        }
    }
}

impl EventType for LotEvent {
    fn type_name(&self) -> &'static str {
        match self {
            LotEvent::LotReceived { .. } => "LotReceived",
            LotEvent::LotMoved { .. } => "LotMoved",
            LotEvent::LotConsumed { .. } => "LotConsumed",
            LotEvent::LotProduced { .. } => "LotProduced",
            LotEvent::LotHeld { .. } => "LotHeld",
            LotEvent::LotHoldReleased { .. } => "LotHoldReleased",
            LotEvent::LotScrapped { .. } => "LotScrapped",
        }
    }
}
