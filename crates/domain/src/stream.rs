//! The command kernel every aggregate of every service runs on: a [`Stream`] over a state that
//! implements [`Decide`] (or [`Lifecycle`], for aggregates that a command creates).
//!
//! Before the state's rules run, the stream applies the two guards a command may carry
//! ([`Versioned`]):
//!
//! - **Idempotency key.** A keyed command stamps its key on the last event it causes, so the key
//!   is stored in the same append as the events and folding the stream rebuilds the keys. A key
//!   among the aggregate's last [`KEPT_KEYS`] keys is a repeat: the stream stores nothing and
//!   rejects it as [`Rejected::Replayed`] with the version the first run produced, which the API
//!   answers with the original reply. This holds after a restart (the keys are folded from the
//!   store) and for concurrent repeats (the store's optimistic append lets one win; the other
//!   reloads and sees the key). A key names one command: reusing it for another command on the
//!   same aggregate returns the first command's reply. A keyed command that causes no event
//!   records no key; its repeat changes nothing again.
//! - **Expected version.** A command that names the version the caller last saw is rejected as
//!   [`Rejected::VersionConflict`] when the aggregate moved on. The key is checked first, so a
//!   retry of an applied command is recognised although the version moved on.
//!
//! Events are stored as `{"event": …, "idempotency_key": …}`; [`Recorded`] also reads the forms
//! earlier versions stored (`{"fact": …}` and the bare event), so no stored stream is rewritten.

use std::collections::VecDeque;
use std::fmt::Debug;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{DomainError, ErrorKind};
use crate::ids::IdempotencyKey;

/// How many idempotency keys an aggregate remembers (its last keyed commands).
pub const KEPT_KEYS: usize = 100;

/// A command plus its guards: the version the caller last saw, if it wants the command rejected
/// when someone else changed the aggregate in between, and an idempotency key, if a repeat of
/// the command must store nothing and get the original reply.
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

    /// Returns the same guards around the command `f` makes of this one (for commands that
    /// need state the caller loads, such as the plan of an inspection).
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> Versioned<D> {
        Versioned {
            command: f(self.command),
            expected_version: self.expected_version,
            idempotency_key: self.idempotency_key,
        }
    }
}

impl<C> From<C> for Versioned<C> {
    /// Returns `command` without a version check or key.
    fn from(command: C) -> Self {
        Self::new(command, None)
    }
}

/// A command that says when its fact happened on the floor (the event time of its events).
pub trait Timed {
    /// Returns when the command's fact happened.
    fn at(&self) -> chrono::DateTime<chrono::Utc>;

    /// Returns every time the command carries, named as its request field, for the kernel's
    /// event-time policy; by default only [`Timed::at`] as `at`.
    fn times(&self) -> Vec<CommandTime> {
        vec![CommandTime::happened("at", self.at())]
    }

    /// Returns the interval the command states, if any, with its documented maximum length.
    fn span(&self) -> Option<CommandSpan> {
        None
    }

    /// Returns the electronic signature rule of a designated command (21 CFR Part 11: an NCR
    /// disposition, a CAPA effectiveness verification, the release of a hold); `None`, the
    /// default, for every other command. The kernel refuses a designated command without a
    /// valid signature before it runs.
    fn signature_rule(&self) -> Option<crate::SignatureRule> {
        None
    }
}

/// What a time a command carries stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRole {
    /// When something happened on the floor: at most the allowed skew ahead of the server clock.
    Happened,
    /// When something is planned to happen (a planned shutdown, a maintenance window, a due
    /// date): may lie ahead of the server clock up to the planning horizon.
    Planned,
}

/// One time a command carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTime {
    /// The request field it came from (`at`, `from`, `failure_start`, ...).
    pub field: &'static str,
    /// The time.
    pub value: chrono::DateTime<chrono::Utc>,
    /// What it stands for.
    pub role: TimeRole,
}

impl CommandTime {
    /// A time at which something happened.
    pub fn happened(field: &'static str, value: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            field,
            value,
            role: TimeRole::Happened,
        }
    }

    /// A time at which something is planned.
    pub fn planned(field: &'static str, value: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            field,
            value,
            role: TimeRole::Planned,
        }
    }
}

/// An interval a command states, `[from, until)`, and the longest one of its kind accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpan {
    /// What the interval is, in messages (`planned shutdown`).
    pub what: &'static str,
    /// The request field of its end (`until`), named when it is too long.
    pub field: &'static str,
    /// Its start.
    pub from: chrono::DateTime<chrono::Utc>,
    /// Its end.
    pub until: chrono::DateTime<chrono::Utc>,
    /// The longest interval of this kind accepted.
    pub max: chrono::Duration,
}

/// An event type of a domain: an enum whose variants are the facts.
pub trait EventType {
    /// Returns the stored event type: the proto message name, written out so that renaming a
    /// variant never renames stored events.
    fn type_name(&self) -> &'static str;

    /// Returns the schema version of the stored event.
    fn type_version(&self) -> &'static str {
        "1"
    }
}

/// The business rules of one aggregate type: its state, what it decides and how it folds.
/// `decide` holds every rule; `evolve` only folds.
pub trait Decide:
    Default + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The aggregate type in the store (`work_unit`).
    const TYPE: &'static str;
    /// The aggregate's name in messages and metrics (`work unit`).
    const NOUN: &'static str;
    /// The name the aggregate's own rejections use for it (`order` in "production order 7:
    /// order is at version 4, …"); [`Decide::NOUN`] unless a service's messages always said
    /// otherwise.
    const SHORT_NOUN: &'static str = Self::NOUN;
    /// Its commands.
    type Command: Clone + Debug + Send + Sync;
    /// Its events.
    type Event: EventType + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// Its rejections.
    type Error: DomainError + Clone + PartialEq;

    /// Decides which events `command` causes, or why it is rejected.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn evolve(&mut self, event: Self::Event);
}

/// The rules of an aggregate that a command creates: before it exists (`None`), only a creating
/// command is accepted; afterwards the state decides. `Option<L>` is then its [`Decide`] state.
pub trait Lifecycle:
    Sized + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The aggregate type in the store.
    const TYPE: &'static str;
    /// The aggregate's name in messages and metrics.
    const NOUN: &'static str;
    /// The name the aggregate's own rejections use for it; [`Lifecycle::NOUN`] by default.
    const SHORT_NOUN: &'static str = Self::NOUN;
    /// Its commands.
    type Command: Clone + Debug + Send + Sync;
    /// Its events.
    type Event: EventType + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// Its rejections.
    type Error: DomainError + Clone + PartialEq;

    /// Decides `command` on an aggregate that does not exist yet: a creating command is
    /// accepted, anything else is rejected (typically as not found).
    fn create(command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Decides `command` on the existing aggregate.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Returns the state the first event of a stream creates (`None` for any other event).
    fn born(event: Self::Event) -> Option<Self>;

    /// Folds one event into the state.
    fn evolve(&mut self, event: Self::Event);
}

impl<L: Lifecycle> Decide for Option<L> {
    const TYPE: &'static str = L::TYPE;
    const NOUN: &'static str = L::NOUN;
    const SHORT_NOUN: &'static str = L::SHORT_NOUN;
    type Command = L::Command;
    type Event = L::Event;
    type Error = L::Error;

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error> {
        match self {
            Some(state) => state.decide(command),
            None => L::create(command),
        }
    }

    fn evolve(&mut self, event: Self::Event) {
        match self {
            Some(state) => state.evolve(event),
            None => *self = L::born(event),
        }
    }
}

/// Why a command was not applied: one of the guards, or the aggregate's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected<E> {
    /// The command's idempotency key was applied before, producing `version`; the API answers
    /// with the original reply.
    #[error("command already applied at version {version}")]
    Replayed {
        /// The version the first run of the command produced.
        version: u64,
    },
    /// The caller expected another version of the aggregate.
    #[error(
        "{noun} is at version {actual}, not the expected version {expected}; reload it and retry"
    )]
    VersionConflict {
        /// The aggregate's name.
        noun: &'static str,
        /// The version the caller expected.
        expected: u64,
        /// The aggregate's version.
        actual: u64,
    },
    /// The aggregate's rules reject the command.
    #[error(transparent)]
    Domain(#[from] E),
}

impl<E: DomainError> Rejected<E> {
    /// Returns the version the original command produced when this is a repeated idempotency
    /// key, else `None`.
    pub fn replayed_version(&self) -> Option<u64> {
        match self {
            Rejected::Replayed { version } => Some(*version),
            _ => None,
        }
    }

    /// Returns the rules' rejection, if it is one.
    pub fn domain(&self) -> Option<&E> {
        match self {
            Rejected::Domain(err) => Some(err),
            _ => None,
        }
    }
}

impl<E: DomainError> DomainError for Rejected<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            // Never sent: the API turns it into the original reply.
            Rejected::Replayed { .. } => ErrorKind::Conflict,
            Rejected::VersionConflict { .. } => ErrorKind::Conflict,
            Rejected::Domain(err) => err.kind(),
        }
    }
}

/// A stored event: the domain event plus, on the last event of a keyed command, its key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded<E> {
    /// The domain event.
    pub event: E,
    /// The idempotency key of the command that caused it, on the command's last event only.
    #[serde(skip_serializing_if = "Option::is_none")]
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

impl<E> From<E> for Recorded<E> {
    /// Returns `event` without a key.
    fn from(event: E) -> Self {
        Self::new(event)
    }
}

/// Every form a stored event has had: the current one, quality's (`fact`) and production's bare
/// event.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredForm<E> {
    Event {
        event: E,
        #[serde(default)]
        idempotency_key: Option<IdempotencyKey>,
    },
    Fact {
        fact: E,
        #[serde(default)]
        idempotency_key: Option<IdempotencyKey>,
    },
    Bare(E),
}

impl<'de, E: Deserialize<'de>> Deserialize<'de> for Recorded<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match StoredForm::deserialize(deserializer)? {
            StoredForm::Event {
                event,
                idempotency_key,
            }
            | StoredForm::Fact {
                fact: event,
                idempotency_key,
            } => Recorded {
                event,
                idempotency_key,
            },
            StoredForm::Bare(event) => Recorded::new(event),
        })
    }
}

impl<E> DomainEvent for Recorded<E>
where
    E: EventType + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync,
{
    fn event_type(&self) -> String {
        self.event.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        self.event.type_version().to_owned()
    }
}

/// The idempotency keys of an aggregate's last [`KEPT_KEYS`] keyed commands, each with the
/// version its command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyRing(VecDeque<(IdempotencyKey, u64)>);

impl KeyRing {
    /// Returns the version the command keyed `key` produced, if it is remembered.
    pub fn version_of(&self, key: &IdempotencyKey) -> Option<u64> {
        self.0
            .iter()
            .find(|(seen, _)| seen == key)
            .map(|(_, version)| *version)
    }

    /// Remembers `key` with `version`, forgetting the oldest key beyond [`KEPT_KEYS`].
    pub fn record(&mut self, key: IdempotencyKey, version: u64) {
        self.0.push_back((key, version));
        while self.0.len() > KEPT_KEYS {
            self.0.pop_front();
        }
    }

    /// Returns how many keys are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An aggregate: the state `S`, its version and the idempotency keys it saw last. It is the
/// `cqrs_es::Aggregate` of every service; its impl only forwards to [`Stream::decide`] and
/// [`Stream::evolve`].
///
/// A snapshot with a field the stream does not know (an earlier frame's key log, say) does not
/// read, so the store rebuilds the aggregate from its events instead of losing its keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream<S> {
    state: S,
    version: u64,
    #[serde(default)]
    keys: KeyRing,
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

    /// Returns the remembered idempotency keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Returns the version the command with idempotency key `key` produced, when it is among
    /// the remembered keys.
    pub fn version_of(&self, key: &IdempotencyKey) -> Option<u64> {
        self.keys.version_of(key)
    }

    /// Returns the stream that folding `events` (without keys) gives.
    pub fn from_events(events: impl IntoIterator<Item = S::Event>) -> Self {
        let mut stream = Self::default();
        for event in events {
            stream.evolve(Recorded::new(event));
        }
        stream
    }

    /// Decides which events `command` causes, or why it is rejected: a remembered idempotency
    /// key first, then the expected version, then the state's rules.
    pub fn decide(
        &self,
        command: Versioned<S::Command>,
    ) -> Result<Vec<Recorded<S::Event>>, Rejected<S::Error>> {
        if let Some(version) = command
            .idempotency_key
            .as_ref()
            .and_then(|key| self.keys.version_of(key))
        {
            return Err(Rejected::Replayed { version });
        }
        if let Some(expected) = command.expected_version {
            if expected != self.version {
                return Err(Rejected::VersionConflict {
                    noun: S::SHORT_NOUN,
                    expected,
                    actual: self.version,
                });
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
        if let Some(key) = event.idempotency_key {
            self.keys.record(key, self.version);
        }
        self.state.evolve(event.event);
    }
}

impl<S: Decide> Aggregate for Stream<S> {
    const TYPE: &'static str = S::TYPE;
    type Command = Versioned<S::Command>;
    type Event = Recorded<S::Event>;
    type Error = Rejected<S::Error>;
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

#[cfg(test)]
mod tests;
