//! The guards every command may carry: the optimistic-concurrency version and the idempotency key.

use crate::domain::ids::IdempotencyKey;

/// A command plus the aggregate version the caller last saw, if it wants the command rejected
/// when someone else changed the aggregate in between, and the caller's idempotency key, if it
/// wants a repeat of the command to store nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<C> {
    /// The command.
    pub command: C,
    /// The version (number of events) the aggregate must be at, or `None` for no check.
    pub expected_version: Option<u64>,
    /// The key that makes a repeat of this command a no-op returning the original version.
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

    /// Returns the command with the idempotency key `key`.
    pub fn keyed(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

impl<C> From<C> for Versioned<C> {
    /// Returns `command` without a version check or idempotency key.
    fn from(command: C) -> Self {
        Self::new(command, None)
    }
}
