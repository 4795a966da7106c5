//! Commands an asset accepts.

use chrono::{DateTime, Utc};
use mom_domain::Timed;

use super::events::{AssetLevel, Trigger};
use crate::domain::ids::{AssetId, Description, PlanId, Reason};
use crate::domain::{Cycles, Millis};

/// Longest calendar interval of a plan, in days (100 years).
pub const MAX_CALENDAR_DAYS: u64 = 36_500;

/// Longest run-hours interval of a plan (about 114 years of continuous running).
pub const MAX_RUN_HOURS: u64 = 1_000_000;

/// A parent asset named by a command, with what the application found in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    /// The parent's id.
    pub id: AssetId,
    /// The parent's level and whether it is retired; `None` when it is not registered.
    pub found: Option<(AssetLevel, bool)>,
}

/// A request to change an asset; `at` is when it happened on the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetCommand {
    /// Registers the asset at `level`, under `parent` (none for an enterprise).
    Register {
        asset: AssetId,
        level: AssetLevel,
        name: String,
        parent: Option<ParentRef>,
        at: DateTime<Utc>,
    },
    /// Moves the asset under another parent of the level above it.
    Move {
        parent: ParentRef,
        at: DateTime<Utc>,
    },
    /// Retires the asset; it accepts no more commands.
    Retire { reason: Reason, at: DateTime<Utc> },
    /// Defines a preventive maintenance plan on a work unit.
    DefinePlan {
        plan: PlanId,
        trigger: Trigger,
        description: Description,
        at: DateTime<Utc>,
    },
    /// Adds usage of a work unit; usage plans that reach their interval become due.
    RecordUsage {
        cycles: Cycles,
        run_time: Millis,
        at: DateTime<Utc>,
    },
    /// Checks the calendar plans at `at`; those whose due date passed become due.
    CheckPlans { at: DateTime<Utc> },
}

impl Timed for AssetCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            AssetCommand::Register { at, .. }
            | AssetCommand::Move { at, .. }
            | AssetCommand::Retire { at, .. }
            | AssetCommand::DefinePlan { at, .. }
            | AssetCommand::RecordUsage { at, .. }
            | AssetCommand::CheckPlans { at } => *at,
        }
    }
}
