//! The material aggregate (`material`): an ISA-95 material definition with its unit of measure.
//! Lots name a material; output lots name their product as a material.

use chrono::{DateTime, Utc};
use mom_domain::{DomainError, ErrorKind, EventType, Lifecycle, Stream, Timed};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::ids::{MaterialId, Text};

/// A request to change a material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaterialCommand {
    /// Defines the material.
    Define {
        material: MaterialId,
        name: Text,
        unit: Text,
        at: DateTime<Utc>,
    },
}

impl Timed for MaterialCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            MaterialCommand::Define { at, .. } => *at,
        }
    }
}

/// A fact about a material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaterialEvent {
    /// The material was defined.
    MaterialDefined {
        material: MaterialId,
        name: Text,
        unit: Text,
        at: DateTime<Utc>,
    },
}

impl MaterialEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] = &["MaterialDefined"];
}

impl EventType for MaterialEvent {
    fn type_name(&self) -> &'static str {
        match self {
            MaterialEvent::MaterialDefined { .. } => "MaterialDefined",
        }
    }
}

/// A rejected material command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MaterialError {
    /// The material is defined already.
    #[error("material {material} is already defined")]
    AlreadyDefined { material: MaterialId },
    /// The material was never defined.
    #[error("material is not defined")]
    NotDefined,
}

impl DomainError for MaterialError {
    fn kind(&self) -> ErrorKind {
        match self {
            MaterialError::AlreadyDefined { .. } => ErrorKind::FailedPrecondition,
            MaterialError::NotDefined => ErrorKind::NotFound,
        }
    }
}

/// A defined material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialState {
    /// The material id.
    pub id: MaterialId,
    /// Its display name.
    pub name: Text,
    /// Its unit of measure.
    pub unit: Text,
}

impl Lifecycle for MaterialState {
    const TYPE: &'static str = "material";
    const NOUN: &'static str = "material";
    type Command = MaterialCommand;
    type Event = MaterialEvent;
    type Error = MaterialError;

    fn create(command: MaterialCommand) -> Result<Vec<MaterialEvent>, MaterialError> {
        match command {
            MaterialCommand::Define {
                material,
                name,
                unit,
                at,
            } => Ok(vec![MaterialEvent::MaterialDefined {
                material,
                name,
                unit,
                at,
            }]),
        }
    }

    fn decide(&self, command: MaterialCommand) -> Result<Vec<MaterialEvent>, MaterialError> {
        match command {
            MaterialCommand::Define { .. } => Err(MaterialError::AlreadyDefined {
                material: self.id.clone(),
            }),
        }
    }

    fn born(event: MaterialEvent) -> Option<MaterialState> {
        match event {
            MaterialEvent::MaterialDefined {
                material,
                name,
                unit,
                ..
            } => Some(MaterialState {
                id: material,
                name,
                unit,
            }),
        }
    }

    fn evolve(&mut self, event: MaterialEvent) {
        match event {
            // A second definition is never decided; the fold keeps the first one.
            MaterialEvent::MaterialDefined { .. } => {}
        }
    }
}

/// The material aggregate: `None` until defined.
pub type Material = Stream<Option<MaterialState>>;

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

    fn define() -> Versioned<MaterialCommand> {
        MaterialCommand::Define {
            material: MaterialId::new("resin-a").unwrap(),
            name: Text::new("Resin A").unwrap(),
            unit: Text::new("g").unwrap(),
            at: t(),
        }
        .into()
    }

    fn defined() -> Recorded<MaterialEvent> {
        Recorded::new(MaterialEvent::MaterialDefined {
            material: MaterialId::new("resin-a").unwrap(),
            name: Text::new("Resin A").unwrap(),
            unit: Text::new("g").unwrap(),
            at: t(),
        })
    }

    #[test]
    fn define_records_the_material() {
        TestFramework::<Material>::with(())
            .given_no_previous_events()
            .when(define())
            .then_expect_events(vec![defined()]);
    }

    #[test]
    fn define_twice_is_rejected() {
        let err = TestFramework::<Material>::with(())
            .given(vec![defined()])
            .when(define())
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert_eq!(err.to_string(), "material resin-a is already defined");
    }
}
