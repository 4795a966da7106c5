//! gRPC plumbing shared by the command services: hosting one service (its API plus the standard
//! health service and server reflection, graceful shutdown, and the outbox relay when a broker is
//! configured), the request-parsing scaffold (field errors that name the field, the command
//! context and its guards), and running commands on the `mom-domain` kernel with one replay
//! meaning, one mapping from rejections to status codes, the command metric and span.
//!
//! Invariant: knows no domain. Services bring their routes, executors and error classes.

mod audit;
mod command;
mod deadline;
mod host;
mod http_limits;
mod limits;
mod readiness;
mod request;
mod security;
mod signature;
mod status;
mod trace;

pub use audit::{
    audit_service, report_head, AuditApi, DEFAULT_AUDIT_PAGE_SIZE, MAX_AUDIT_PAGE_SIZE,
    MAX_AUDIT_RANGE_DAYS,
};
pub use command::{
    code, command_metadata, command_status, execute_replayable, get, load, run, traceparent,
    ClassifiedError, Ran,
};
pub use deadline::{Deadline, DeadlineLayer};
pub use host::{
    connect_store, ping, start, start_domain, DomainConfig, GrpcServer, HostConfig, HostError,
    Running, Starting,
};
pub use http_limits::{harden, MAX_HTTP_BODY_BYTES, REQUEST_TIMEOUT};
pub use limits::{
    call, check_times, items, name, Call, ExtensionLayer, WithExtension, MAX_ITEMS, MAX_NAME_LEN,
    MAX_REQUEST_BYTES, PLANNING_HORIZON,
};
pub use readiness::{Readiness, Report};
pub use request::{
    at, guards, invalid, known_enum, missing, optional, optional_at, required, units, uuid_id,
    uuid_id_or, Guards, ParsedCommand, RequestError, WireContext,
};
pub use security::Security;
pub use signature::{decide_signature, SignatureArgs, SignaturePolicy, DEFAULT_SIGNATURE_MAX_AGE};
pub use status::invalid_argument;
pub use trace::{TraceLayer, Traced};
