//! gRPC plumbing shared by the command services: hosting one service (its API plus the standard
//! health service and server reflection, graceful shutdown, and the outbox relay when a broker is
//! configured), and running commands with one mapping from rejections to status codes.
//!
//! Invariant: knows no domain. Services bring their routes, executors and error classes.

mod command;
mod host;
mod trace;

pub use command::{
    command_metadata, command_status, execute, execute_replayable, traceparent, ClassifiedError,
    Replayable,
};
pub use host::{start, GrpcServer, HostConfig, HostError, Running};
pub use trace::{TraceLayer, Traced};
