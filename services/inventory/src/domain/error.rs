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
