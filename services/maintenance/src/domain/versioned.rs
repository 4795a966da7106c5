//! The guards every command may carry (expected version, idempotency key), the stored event
//! wrapper that remembers the key, and the per-aggregate log of applied keys.
//!
//! An idempotency key is kept in the aggregate's state, so the check and the append are one
//! transaction: the stored event carries the key, and folding it records which version the
//! command produced.

use std::collections::VecDeque;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::domain::ids::IdempotencyKey;

/// How many idempotency keys an aggregate remembers (the most recent ones).
pub const IDEMPOTENCY_KEYS_KEPT: usize = 100;

/// A command plus the aggregate version the caller last saw and an optional idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<C> {
    /// The command.
    pub command: C,
    /// The version (number of events) the aggregate must be at, or `None` for no check.
    pub expected_version: Option<u64>,
    /// A key that makes a repeated command a no-op answered with the original version.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<C> Versioned<C> {
    /// Returns `command` guarded by `expected_version`.
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

    /// Returns the command with the idempotency key `key`.
    pub fn with_key(mut self, key: Option<IdempotencyKey>) -> Self {
        self.idempotency_key = key;
        self
    }
}

impl<C> From<C> for Versioned<C> {
    /// Returns `command` without a version check or key.
    fn from(command: C) -> Self {
        Self::new(command, None)
    }
}

/// A stored event: the domain event plus the idempotency key of the command that produced it
/// (only on the last event of that command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// The domain event.
    pub event: E,
    /// The key of the command this event completes, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<E> From<E> for Recorded<E> {
    fn from(event: E) -> Self {
        Self {
            event,
            idempotency_key: None,
        }
    }
}

impl<E: DomainEvent> DomainEvent for Recorded<E> {
    fn event_type(&self) -> String {
        self.event.event_type()
    }

    fn event_version(&self) -> String {
        self.event.event_version()
    }
}

/// Wraps `events` for storage, putting `key` on the last one.
pub(crate) fn record<E>(events: Vec<E>, key: Option<IdempotencyKey>) -> Vec<Recorded<E>> {
    let last = events.len().saturating_sub(1);
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| Recorded {
            event,
            idempotency_key: if index == last { key.clone() } else { None },
        })
        .collect()
}

/// The most recent idempotency keys of an aggregate with the version each command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyLog {
    entries: VecDeque<(IdempotencyKey, u64)>,
}

impl IdempotencyLog {
    /// Returns the version the command with `key` produced, if the key is remembered.
    pub fn version_of(&self, key: &IdempotencyKey) -> Option<u64> {
        self.entries
            .iter()
            .find(|(known, _)| known == key)
            .map(|(_, version)| *version)
    }

    /// Remembers that the command with `key` produced `version`, forgetting the oldest key
    /// beyond [`IDEMPOTENCY_KEYS_KEPT`].
    pub fn remember(&mut self, key: IdempotencyKey, version: u64) {
        if self.entries.len() == IDEMPOTENCY_KEYS_KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back((key, version));
    }

    /// Returns how many keys are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(n: usize) -> IdempotencyKey {
        IdempotencyKey::new(format!("k{n}")).unwrap()
    }

    #[test]
    fn log_keeps_the_most_recent_keys_only() {
        let mut log = IdempotencyLog::default();
        for n in 0..=IDEMPOTENCY_KEYS_KEPT {
            log.remember(key(n), n as u64 + 1);
        }
        assert_eq!(log.len(), IDEMPOTENCY_KEYS_KEPT);
        assert_eq!(log.version_of(&key(0)), None);
        assert_eq!(log.version_of(&key(1)), Some(2));
        assert_eq!(
            log.version_of(&key(IDEMPOTENCY_KEYS_KEPT)),
            Some(IDEMPOTENCY_KEYS_KEPT as u64 + 1)
        );
    }

    #[test]
    fn record_puts_the_key_on_the_last_event_only() {
        let recorded = record(vec![1, 2, 3], Some(key(7)));
        assert_eq!(recorded[0].idempotency_key, None);
        assert_eq!(recorded[1].idempotency_key, None);
        assert_eq!(recorded[2].idempotency_key, Some(key(7)));
        assert!(record(Vec::<u8>::new(), Some(key(1))).is_empty());
    }

    #[test]
    fn recorded_event_without_key_serializes_without_the_field() {
        let json = serde_json::to_string(&Recorded::from(5_u8)).unwrap();
        assert_eq!(json, r#"{"event":5}"#);
    }
}
