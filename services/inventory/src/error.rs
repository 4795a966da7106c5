//! Errors of the inventory service (not of its domain: those are in `domain`).

/// A failure running the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] mom_eventstore::StoreError),
    /// Hosting the gRPC server or the relay failed.
    #[error(transparent)]
    Host(#[from] mom_grpc::HostError),
}
