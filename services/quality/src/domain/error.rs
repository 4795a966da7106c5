//! The classes of domain errors, so the gRPC layer maps every rejection in one place.

/// What kind of rejection a domain error is; each maps to one gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A field value is invalid whatever the aggregate's state (`INVALID_ARGUMENT`).
    InvalidArgument,
    /// The aggregate's state does not allow the command now (`FAILED_PRECONDITION`).
    FailedPrecondition,
    /// The aggregate does not exist (`NOT_FOUND`).
    NotFound,
    /// The caller's expected version is not the aggregate's version (`ABORTED`).
    Conflict,
}

/// A rejected quality command: its class, and whether it is in fact the repeat of a command the
/// aggregate already applied (which the API answers with the original reply, not an error).
pub trait DomainError: std::error::Error + From<GuardRejection> {
    /// Returns the class of the rejection, which decides its gRPC status.
    fn kind(&self) -> ErrorKind;

    /// Returns the version the original command produced when this rejection is a repeated
    /// idempotency key, else `None`.
    fn replayed_version(&self) -> Option<u64>;
}

/// Why the guards every command passes first (idempotency key, expected version) stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardRejection {
    /// The command's idempotency key was applied before, producing `version`.
    Replayed { version: u64 },
    /// The caller expected another version of the aggregate.
    VersionConflict { expected: u64, actual: u64 },
}
