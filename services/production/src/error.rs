//! Errors of the production service (not of its domain: those are in `domain`).

use std::net::SocketAddr;

/// A failure running the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] mom_eventstore::StoreError),
    /// The bus failed.
    #[error("bus: {0}")]
    Bus(#[from] mom_bus::BusError),
    /// The gRPC address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A task panicked or was cancelled.
    #[error("task failed: {0}")]
    Task(String),
}
