//! The optimistic-concurrency guard every command may carry.

/// A command plus the aggregate version the caller last saw, if it wants the command rejected
/// when someone else changed the aggregate in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<C> {
    /// The command.
    pub command: C,
    /// The version (number of events) the aggregate must be at, or `None` for no check.
    pub expected_version: Option<u64>,
}

impl<C> Versioned<C> {
    /// Returns `command` guarded by `expected_version`.
    pub fn new(command: C, expected_version: Option<u64>) -> Self {
        Self {
            command,
            expected_version,
        }
    }

    /// Returns `command` that runs only when the aggregate is at `version`.
    pub fn expecting(command: C, version: u64) -> Self {
        Self::new(command, Some(version))
    }
}

impl<C> From<C> for Versioned<C> {
    /// Returns `command` without a version check.
    fn from(command: C) -> Self {
        Self::new(command, None)
    }
}
