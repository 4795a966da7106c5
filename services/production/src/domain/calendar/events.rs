//! Events of a plant calendar, one per message in `mom/production/v1/events.proto`.

use chrono::{DateTime, Utc};
use mom_domain::EventType;
use mom_oee::CalendarVersion;
use serde::{Deserialize, Serialize};

use super::CalendarScope;

/// A fact about a plant calendar. Variant names are the proto message names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlantCalendarEvent {
    /// The calendar was defined or renamed.
    CalendarDefined {
        scope: CalendarScope,
        name: String,
        at: DateTime<Utc>,
    },
    /// A version was published.
    CalendarVersionPublished {
        scope: CalendarScope,
        version: Box<CalendarVersion>,
        at: DateTime<Utc>,
    },
}

impl PlantCalendarEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &["CalendarDefined", "CalendarVersionPublished"];

    /// Returns the scope the event is about.
    pub fn scope(&self) -> &CalendarScope {
        match self {
            PlantCalendarEvent::CalendarDefined { scope, .. }
            | PlantCalendarEvent::CalendarVersionPublished { scope, .. } => scope,
        }
    }
}

impl EventType for PlantCalendarEvent {
    fn type_name(&self) -> &'static str {
        match self {
            PlantCalendarEvent::CalendarDefined { .. } => "CalendarDefined",
            PlantCalendarEvent::CalendarVersionPublished { .. } => "CalendarVersionPublished",
        }
    }
}
