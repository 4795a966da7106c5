//! The classes of rejections, so one mapping (in `mom-grpc`) turns every service's rejections
//! into status codes.

/// What kind of rejection a domain error is; each maps to one gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A field value is invalid whatever the aggregate's state (`INVALID_ARGUMENT`).
    InvalidArgument,
    /// The aggregate's state does not allow the command now (`FAILED_PRECONDITION`).
    FailedPrecondition,
    /// The aggregate (or something the command names) does not exist (`NOT_FOUND`).
    NotFound,
    /// The caller's expected version is not the aggregate's version (`ABORTED`).
    Conflict,
}

/// A service's rejection of a command: its class decides the status code.
pub trait DomainError: std::error::Error + Send + Sync {
    /// Returns the class of the rejection.
    fn kind(&self) -> ErrorKind;

    /// Returns the request field an `InvalidArgument` rejection is about (a field path of the
    /// command's request message, such as `quantity` or `routing`), when one field is to blame;
    /// the gRPC status then carries it as a `google.rpc.BadRequest` field violation.
    fn field(&self) -> Option<&'static str> {
        None
    }
}
