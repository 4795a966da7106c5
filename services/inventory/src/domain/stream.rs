//! What every inventory aggregate shares: the optimistic version guard and idempotency keys.
//!
//! Each aggregate is a [`Stream`] over its own state type, which implements [`Decide`] with the
//! business rules. The stream checks, before the rules run, that a repeated idempotency key
//! changes nothing and that the caller's expected version holds. The key is stored on the last
//! event of the command it came with, so the stream's recent keys are rebuilt by the same fold as
//! the rest of the state, and a key is remembered in the very append that stores its events.

use std::collections::VecDeque;
use std::fmt::Debug;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::ids::IdempotencyKey;

/// How many idempotency keys an aggregate remembers (the most recent ones).
pub const REMEMBERED_KEYS: usize = 100;

/// A command plus its guards: the version the caller last saw, if it wants the command rejected
/// when someone else changed the aggregate in between, and an idempotency key, if a repeat of the
/// command must change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<C> {
    /// The command.
    pub command: C,
    /// The version (number of events) the aggregate must be at, or `None` for no check.
    pub expected_version: Option<u64>,
    /// The caller's key for this command, or `None`.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<C> Versioned<C> {
    /// Returns `command` guarded by `expected_version`, without idempotency key.
    pub fn new(command: C, expected_version: Option<u64>) -> Self {
        Self {
            command,
            expected_version,
            idempotency_key: None,
        }
    }

    /// Returns `command` that runs only when the aggregate is at `version`.
    pub fn expecting(command: C, version: u64) -> Self {
        Self::new(command, Some(version))
    }

    /// Returns the command with idempotency key `key`.
    pub fn keyed(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

impl<C> From<C> for Versioned<C> {
    /// Returns `command` without a version check or key.
    fn from(command: C) -> Self {
        Self::new(command, None)
    }
}

/// An event type of the inventory domain.
pub trait EventName {
    /// Returns the stored event type: the proto message name, written out so that renaming a
    /// variant never renames stored events.
    fn type_name(&self) -> &'static str;
}

/// The business rules of one aggregate: its state, what it decides and how it folds.
pub trait Decide:
    Default + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The aggregate type in the store.
    const TYPE: &'static str;
    /// Its commands.
    type Command: Clone + Debug + Send + Sync;
    /// Its events.
    type Event: EventName + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// Its rejections.
    type Error: std::error::Error + Send + Sync;

    /// Returns the rejection of a command whose expected version is not the actual one.
    fn version_conflict(expected: u64, actual: u64) -> Self::Error;

    /// Decides which events `command` causes, or why it is rejected.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn evolve(&mut self, event: Self::Event);
}

/// A stored event: the domain event plus, on the last event of a keyed command, its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// The domain event.
    pub event: E,
    /// The idempotency key of the command that caused it, on the command's last event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<E> Recorded<E> {
    /// Returns `event` without a key.
    pub fn new(event: E) -> Self {
        Self {
            event,
            idempotency_key: None,
        }
    }
}

impl<E> DomainEvent for Recorded<E>
where
    E: EventName + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync,
{
    fn event_type(&self) -> String {
        self.event.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// An aggregate: the state `S`, its version and the idempotency keys it saw last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stream<S> {
    state: S,
    version: u64,
    keys: VecDeque<(IdempotencyKey, u64)>,
}

impl<S: Decide> Stream<S> {
    /// Returns the state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Returns the number of events applied so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Returns the version the command with idempotency key `key` produced, when it is among the
    /// remembered keys.
    pub fn version_of(&self, key: &IdempotencyKey) -> Option<u64> {
        self.keys
            .iter()
            .find(|(known, _)| known == key)
            .map(|(_, version)| *version)
    }

    /// Decides which events `command` causes: none for a repeated idempotency key, else what the
    /// state decides once the version guard holds.
    pub fn decide(
        &self,
        command: Versioned<S::Command>,
    ) -> Result<Vec<Recorded<S::Event>>, S::Error> {
        if let Some(key) = &command.idempotency_key {
            if self.version_of(key).is_some() {
                return Ok(vec![]);
            }
        }
        if let Some(expected) = command.expected_version {
            if expected != self.version {
                return Err(S::version_conflict(expected, self.version));
            }
        }
        let mut events: Vec<Recorded<S::Event>> = self
            .state
            .decide(command.command)?
            .into_iter()
            .map(Recorded::new)
            .collect();
        if let Some(last) = events.last_mut() {
            last.idempotency_key = command.idempotency_key;
        }
        Ok(events)
    }

    /// Folds one stored event.
    pub fn evolve(&mut self, event: Recorded<S::Event>) {
        self.version += 1;
        self.state.evolve(event.event);
        if let Some(key) = event.idempotency_key {
            self.keys.push_back((key, self.version));
            while self.keys.len() > REMEMBERED_KEYS {
                self.keys.pop_front();
            }
        }
    }
}

impl<S: Decide> Aggregate for Stream<S> {
    const TYPE: &'static str = S::TYPE;
    type Command = Versioned<S::Command>;
    type Event = Recorded<S::Event>;
    type Error = S::Error;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.evolve(event);
    }
}
