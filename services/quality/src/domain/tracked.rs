//! The frame every quality aggregate shares: its version, the idempotency keys of its last
//! commands, and the guards every command passes before the aggregate's own rules decide.
//!
//! An aggregate type is `Tracked<S>` for a state `S` that implements [`Lifecycle`]. A keyed
//! command stamps its key on the last event it causes, so the key is stored in the same append
//! as the events and folding the stream rebuilds the keys: a repeat of the command is recognised
//! even after a restart, and two racing repeats are serialised by the store's optimistic append.
//! A key names one command: reusing it for another command on the same aggregate returns the
//! first command's reply. A keyed command that changes nothing (no event) records no key; its
//! repeat changes nothing again and replies with the current version.

use std::collections::VecDeque;
use std::fmt::Debug;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::error::{DomainError, GuardRejection};
use crate::domain::ids::IdempotencyKey;
use crate::domain::versioned::Versioned;

/// How many idempotency keys an aggregate remembers (its last keyed commands).
pub const KEPT_KEYS: usize = 100;

/// A fact of one aggregate type: an enum whose variant names are the proto message names.
pub trait Fact: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync {
    /// Returns the stored event type, written out so that renaming a variant never renames
    /// stored events.
    fn type_name(&self) -> &'static str;
}

/// An event as stored: the fact, plus the idempotency key of the command that caused it on the
/// last event of that command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded<F> {
    /// What happened.
    pub fact: F,
    /// The key of the command that caused it, on the command's last event only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<F> From<F> for Recorded<F> {
    /// Returns `fact` without idempotency key.
    fn from(fact: F) -> Self {
        Self {
            fact,
            idempotency_key: None,
        }
    }
}

impl<F: Fact> DomainEvent for Recorded<F> {
    fn event_type(&self) -> String {
        self.fact.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// The idempotency keys of an aggregate's last [`KEPT_KEYS`] keyed commands, each with the
/// version its command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenKeys(VecDeque<(IdempotencyKey, u64)>);

impl SeenKeys {
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

/// The rules of one aggregate type: how it is created, how its state decides commands and how
/// facts fold into it. `decide` and `create` hold every business rule; `born` and `evolve` only
/// fold.
pub trait Lifecycle:
    Sized + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The aggregate type in the store.
    const TYPE: &'static str;
    /// The commands of the aggregate.
    type Command: Clone + Send;
    /// The facts of the aggregate.
    type Fact: Fact;
    /// The rejections of the aggregate.
    type Error: DomainError + Send;

    /// Decides `command` on an aggregate that does not exist yet: only a creating command is
    /// accepted, anything else is not found.
    fn create(command: Self::Command) -> Result<Vec<Self::Fact>, Self::Error>;

    /// Decides `command` on the existing aggregate.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Fact>, Self::Error>;

    /// Returns the state the first fact of a stream creates (`None` for any other fact).
    fn born(fact: Self::Fact) -> Option<Self>;

    /// Folds one fact into the state.
    fn evolve(&mut self, fact: Self::Fact);
}

/// An aggregate: its state (`None` before it was created), version and remembered keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked<S> {
    state: Option<S>,
    version: u64,
    keys: SeenKeys,
}

impl<S> Default for Tracked<S> {
    fn default() -> Self {
        Self {
            state: None,
            version: 0,
            keys: SeenKeys::default(),
        }
    }
}

impl<S: Lifecycle> Tracked<S> {
    /// Returns the state, or `None` before the aggregate was created.
    pub fn state(&self) -> Option<&S> {
        self.state.as_ref()
    }

    /// Returns the number of events applied so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Returns the remembered idempotency keys.
    pub fn keys(&self) -> &SeenKeys {
        &self.keys
    }

    /// Decides which events `command` causes, or why it is rejected. A remembered idempotency
    /// key is checked first, so a retry of an applied command is recognised even though the
    /// version moved on.
    pub(crate) fn decide(
        &self,
        command: Versioned<S::Command>,
    ) -> Result<Vec<Recorded<S::Fact>>, S::Error> {
        if let Some(version) = command
            .idempotency_key
            .as_ref()
            .and_then(|key| self.keys.version_of(key))
        {
            return Err(GuardRejection::Replayed { version }.into());
        }
        if let Some(expected) = command.expected_version {
            if expected != self.version {
                return Err(GuardRejection::VersionConflict {
                    expected,
                    actual: self.version,
                }
                .into());
            }
        }
        let facts = match &self.state {
            Some(state) => state.decide(command.command)?,
            None => S::create(command.command)?,
        };
        let last = facts.len();
        Ok(facts
            .into_iter()
            .enumerate()
            .map(|(index, fact)| Recorded {
                fact,
                idempotency_key: if index + 1 == last {
                    command.idempotency_key.clone()
                } else {
                    None
                },
            })
            .collect())
    }

    /// Folds one event into the aggregate.
    pub(crate) fn evolve(&mut self, event: Recorded<S::Fact>) {
        self.version += 1;
        if let Some(key) = event.idempotency_key {
            self.keys.record(key, self.version);
        }
        match &mut self.state {
            Some(state) => state.evolve(event.fact),
            None => self.state = S::born(event.fact),
        }
    }
}

impl<S: Lifecycle> Aggregate for Tracked<S> {
    const TYPE: &'static str = S::TYPE;
    type Command = Versioned<S::Command>;
    type Event = Recorded<S::Fact>;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::{NcrEvent, ProductId};

    fn key(n: usize) -> IdempotencyKey {
        IdempotencyKey::new(format!("key-{n}")).unwrap()
    }

    #[test]
    fn seen_keys_forget_the_oldest_beyond_the_limit() {
        let mut keys = SeenKeys::default();
        for n in 0..=KEPT_KEYS {
            keys.record(key(n), n as u64 + 1);
        }
        assert_eq!(keys.len(), KEPT_KEYS);
        assert_eq!(keys.version_of(&key(0)), None);
        assert_eq!(keys.version_of(&key(1)), Some(2));
        assert_eq!(keys.version_of(&key(KEPT_KEYS)), Some(KEPT_KEYS as u64 + 1));
    }

    #[test]
    fn stored_payload_carries_the_key_only_when_there_is_one() {
        let fact = NcrEvent::NonconformanceClosed {
            product: ProductId::new("SKU-A").unwrap(),
            at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        };
        let plain = serde_json::to_value(Recorded::from(fact.clone())).unwrap();
        assert!(plain.get("idempotency_key").is_none());
        let keyed = Recorded {
            fact,
            idempotency_key: Some(key(1)),
        };
        let json = serde_json::to_value(&keyed).unwrap();
        assert_eq!(json["idempotency_key"], "key-1");
        let back: Recorded<NcrEvent> = serde_json::from_value(json).unwrap();
        assert_eq!(back, keyed);
        assert_eq!(back.event_type(), "NonconformanceClosed");
    }

    #[test]
    fn snapshot_round_trips_with_state_version_and_keys() {
        let mut ncr = crate::domain::Nonconformance::default();
        ncr.evolve(Recorded {
            fact: NcrEvent::NonconformanceOpened {
                ncr_id: crate::domain::NcrId::generate(),
                product: ProductId::new("SKU-A").unwrap(),
                quantity: crate::domain::Units(3),
                description: crate::domain::Text::new("dented").unwrap(),
                inspection_id: None,
                work_unit: None,
                contained_lots: vec![],
                at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            },
            idempotency_key: Some(key(7)),
        });
        let json = serde_json::to_value(&ncr).unwrap();
        let back: crate::domain::Nonconformance = serde_json::from_value(json).unwrap();
        assert_eq!(back, ncr);
        assert_eq!(back.keys().version_of(&key(7)), Some(1));
    }
}
