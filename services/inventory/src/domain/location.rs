//! The location aggregate (`location`): a place where lots are stored (warehouse bin, line-side
//! rack, quarantine area).

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind, EventType, Lifecycle, Stream, Timed};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::ids::{LocationId, Text};

/// A request to change a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationCommand {
    /// Defines the location.
    Define {
        location: LocationId,
        name: Text,
        at: DateTime<Utc>,
    },
}

impl Timed for LocationCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            LocationCommand::Define { at, .. } => *at,
        }
    }
}

/// A fact about a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocationEvent {
    /// The location was defined.
    LocationDefined {
        location: LocationId,
        name: Text,
        at: DateTime<Utc>,
    },
}

impl LocationEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &["LocationDefined"];
}

impl EventType for LocationEvent {
    fn type_name(&self) -> &'static str {
        match self {
            LocationEvent::LocationDefined { .. } => "LocationDefined",
        }
    }
}

/// A rejected location command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LocationError {
    /// The location is defined already.
    #[error("location {location} is already defined")]
    AlreadyDefined { location: LocationId },
    /// The location was never defined.
    #[error("location is not defined")]
    NotDefined,
}

impl DomainError for LocationError {
    fn kind(&self) -> ErrorKind {
        match self {
            LocationError::AlreadyDefined { .. } => ErrorKind::FailedPrecondition,
            LocationError::NotDefined => ErrorKind::NotFound,
        }
    }
}

/// A defined location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationState {
    /// The location id.
    pub id: LocationId,
    /// Its display name.
    pub name: Text,
}

impl Lifecycle for LocationState {
    const TYPE: &'static str = "location";
    const NOUN: &'static str = "location";
    type Command = LocationCommand;
    type Event = LocationEvent;
    type Error = LocationError;

    fn create(command: LocationCommand) -> Result<Vec<LocationEvent>, LocationError> {
        match command {
            LocationCommand::Define { location, name, at } => {
                Ok(vec![LocationEvent::LocationDefined { location, name, at }])
            }
        }
    }

    fn decide(&self, command: LocationCommand) -> Result<Vec<LocationEvent>, LocationError> {
        match command {
            LocationCommand::Define { .. } => Err(LocationError::AlreadyDefined {
                location: self.id.clone(),
            }),
        }
    }

    fn born(event: LocationEvent) -> Option<LocationState> {
        match event {
            LocationEvent::LocationDefined { location, name, .. } => {
                Some(LocationState { id: location, name })
            }
        }
    }

    fn evolve(&mut self, event: LocationEvent) {
        match event {
            // A second definition is never decided; the fold keeps the first one.
            LocationEvent::LocationDefined { .. } => {}
        }
    }
}

/// The location aggregate: `None` until defined.
pub type Location = Stream<Option<LocationState>>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use mom_domain::{Recorded, Versioned};

    use super::*;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    fn define() -> Versioned<LocationCommand> {
        LocationCommand::Define {
            location: LocationId::new("rack-1").unwrap(),
            name: Text::new("Rack 1").unwrap(),
            at: t(),
        }
        .into()
    }

    fn defined() -> Recorded<LocationEvent> {
        Recorded::new(LocationEvent::LocationDefined {
            location: LocationId::new("rack-1").unwrap(),
            name: Text::new("Rack 1").unwrap(),
            at: t(),
        })
    }

    #[test]
    fn define_records_the_location() {
        TestFramework::<Location>::with(())
            .given_no_previous_events()
            .when(define())
            .then_expect_events(vec![defined()]);
    }

    #[test]
    fn define_twice_is_rejected() {
        let err = TestFramework::<Location>::with(())
            .given(vec![defined()])
            .when(define())
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert_eq!(err.to_string(), "location rack-1 is already defined");
    }
}
