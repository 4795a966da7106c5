//! Commands a plant calendar accepts.

use chrono::{DateTime, Utc};
use mom_domain::Timed;
use mom_oee::CalendarVersion;

use super::CalendarScope;

/// A request to change a plant calendar; `at` is when it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum PlantCalendarCommand {
    /// Defines the calendar of `scope` (or renames it).
    Define {
        scope: CalendarScope,
        name: String,
        at: DateTime<Utc>,
    },
    /// Publishes a version, in force from its effective date on.
    PublishVersion {
        scope: CalendarScope,
        version: Box<CalendarVersion>,
        at: DateTime<Utc>,
    },
}

impl PlantCalendarCommand {
    /// Returns the scope the command is for.
    pub fn scope(&self) -> &CalendarScope {
        match self {
            PlantCalendarCommand::Define { scope, .. }
            | PlantCalendarCommand::PublishVersion { scope, .. } => scope,
        }
    }
}

impl Timed for PlantCalendarCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            PlantCalendarCommand::Define { at, .. }
            | PlantCalendarCommand::PublishVersion { at, .. } => *at,
        }
    }
}
