//! Events of an asset, one per message in `mom/maintenance/v1/events.proto`.

use std::fmt;

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AssetId, Description, PlanId, Reason, WorkOrderId};
use crate::domain::{Cycles, Millis};

/// A level of the ISA-95 equipment hierarchy, from the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AssetLevel {
    /// The enterprise: the root, without parent.
    Enterprise,
    /// A site of the enterprise.
    Site,
    /// An area of a site.
    Area,
    /// A work center (line, cell) of an area.
    WorkCenter,
    /// A work unit (the equipment production runs) of a work center.
    WorkUnit,
}

impl AssetLevel {
    /// Returns the level a parent of this level must have, or `None` for the enterprise.
    pub fn parent_level(self) -> Option<AssetLevel> {
        match self {
            AssetLevel::Enterprise => None,
            AssetLevel::Site => Some(AssetLevel::Enterprise),
            AssetLevel::Area => Some(AssetLevel::Site),
            AssetLevel::WorkCenter => Some(AssetLevel::Area),
            AssetLevel::WorkUnit => Some(AssetLevel::WorkCenter),
        }
    }
}

impl fmt::Display for AssetLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AssetLevel::Enterprise => "enterprise",
            AssetLevel::Site => "site",
            AssetLevel::Area => "area",
            AssetLevel::WorkCenter => "work center",
            AssetLevel::WorkUnit => "work unit",
        })
    }
}

/// What makes a preventive maintenance plan due, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    /// Every `days` days of calendar time from the plan's definition.
    CalendarDays { days: u64 },
    /// Every `cycles` machine cycles counted since the plan was defined or last due.
    Cycles { cycles: u64 },
    /// Every `hours` hours of run time since the plan was defined or last due.
    RunHours { hours: u64 },
}

impl Trigger {
    /// Returns the interval in the trigger's unit.
    pub fn every(self) -> u64 {
        match self {
            Trigger::CalendarDays { days } => days,
            Trigger::Cycles { cycles } => cycles,
            Trigger::RunHours { hours } => hours,
        }
    }
}

/// A fact about an asset. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssetEvent {
    /// The asset was registered in the hierarchy.
    AssetRegistered {
        asset: AssetId,
        level: AssetLevel,
        name: String,
        parent: Option<AssetId>,
        at: DateTime<Utc>,
    },
    /// The asset moved under another parent.
    AssetMoved {
        asset: AssetId,
        from_parent: AssetId,
        to_parent: AssetId,
        at: DateTime<Utc>,
    },
    /// The asset was retired.
    AssetRetired {
        asset: AssetId,
        reason: Reason,
        at: DateTime<Utc>,
    },
    /// A preventive maintenance plan was defined on the work unit.
    MaintenancePlanDefined {
        work_unit: AssetId,
        plan: PlanId,
        trigger: Trigger,
        description: Description,
        at: DateTime<Utc>,
    },
    /// Usage was added; the totals are the work unit's after this record.
    UsageRecorded {
        work_unit: AssetId,
        cycles: Cycles,
        run_time_ms: Millis,
        total_cycles: Cycles,
        total_run_time_ms: Millis,
        at: DateTime<Utc>,
    },
    /// A plan became due for the `occurrence`-th time.
    MaintenancePlanDue {
        work_unit: AssetId,
        plan: PlanId,
        occurrence: u32,
        trigger: Trigger,
        at: DateTime<Utc>,
    },
    /// The work order for a due plan occurrence was raised.
    PlanWorkOrderRaised {
        work_unit: AssetId,
        plan: PlanId,
        occurrence: u32,
        work_order: WorkOrderId,
        at: DateTime<Utc>,
    },
}

impl AssetEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &[
        "AssetRegistered",
        "AssetMoved",
        "AssetRetired",
        "MaintenancePlanDefined",
        "UsageRecorded",
        "MaintenancePlanDue",
        "PlanWorkOrderRaised",
    ];

    /// Returns when the fact happened on the floor.
    pub fn event_time(&self) -> DateTime<Utc> {
        match self {
            AssetEvent::AssetRegistered { at, .. }
            | AssetEvent::AssetMoved { at, .. }
            | AssetEvent::AssetRetired { at, .. }
            | AssetEvent::MaintenancePlanDefined { at, .. }
            | AssetEvent::UsageRecorded { at, .. }
            | AssetEvent::MaintenancePlanDue { at, .. }
            | AssetEvent::PlanWorkOrderRaised { at, .. } => *at,
        }
    }
}

impl EventType for AssetEvent {
    /// Returns the stored event type: the proto message name, written out so that renaming a
    /// variant never renames stored events.
    fn type_name(&self) -> &'static str {
        match self {
            AssetEvent::AssetRegistered { .. } => "AssetRegistered",
            AssetEvent::AssetMoved { .. } => "AssetMoved",
            AssetEvent::AssetRetired { .. } => "AssetRetired",
            AssetEvent::MaintenancePlanDefined { .. } => "MaintenancePlanDefined",
            AssetEvent::UsageRecorded { .. } => "UsageRecorded",
            AssetEvent::MaintenancePlanDue { .. } => "MaintenancePlanDue",
            AssetEvent::PlanWorkOrderRaised { .. } => "PlanWorkOrderRaised",
        }
    }
}
