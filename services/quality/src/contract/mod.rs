//! The mapping between the quality domain and its public contract in `proto/mom/quality/v1`:
//! requests to commands, events to the `QualityEvent` oneof and aggregate state to the replies,
//! one module per aggregate.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic.

mod capa;
mod inspection;
mod ncr;
mod plan;

use chrono::{DateTime, Utc};
use mom_domain::{parse_context, InvalidField, RawContext};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::{from_timestamp, TimestampError};
use thiserror::Error;

pub use capa::{
    capa_event_to_proto, capa_reply, get_capa, implement_capa_action, link_capa_nonconformance,
    open_capa, verify_capa_effectiveness,
};
pub use inspection::{
    complete_inspection, get_inspection, inspection_event_to_proto, inspection_reply,
    record_inspection_result, start_inspection, StartInspection,
};
pub use ncr::{
    close_nonconformance, contain_nonconformance, disposition_nonconformance, get_nonconformance,
    ncr_event_to_proto, nonconformance_reply, open_nonconformance, OpenNcr,
};
pub use plan::{
    define_inspection_plan, get_inspection_plan, plan_event_to_proto, plan_reply,
    retire_inspection_plan, revise_inspection_plan,
};

use crate::domain::{ErrorKind, IdempotencyKey, InvalidId, Units, Versioned};

/// Every quality event type, in proto field order: the `ce_type` values on `mom.quality.v1`
/// and the event types in the store.
pub const EVENT_TYPES: &[&str] = &[
    "InspectionPlanDefined",
    "InspectionPlanRevised",
    "InspectionPlanRetired",
    "InspectionStarted",
    "InspectionResultRecorded",
    "InspectionCompleted",
    "NonconformanceOpened",
    "NonconformanceContained",
    "NonconformanceDispositioned",
    "NonconformanceClosed",
    "CapaOpened",
    "CapaNonconformanceLinked",
    "CapaActionImplemented",
    "CapaEffectivenessVerified",
];

/// A request field that is missing or malformed; always reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A required field is empty or unset.
    #[error("field {field} is required")]
    Missing { field: String },
    /// A signed quantity is negative.
    #[error("field {field} must not be negative, got {value}")]
    Negative { field: String, value: i64 },
    /// A timestamp is outside the representable range.
    #[error("field {field} is not a valid timestamp")]
    BadTimestamp { field: String },
    /// An enum value this version of the contract does not know.
    #[error("field {field} has unknown value {value}")]
    UnknownEnum { field: String, value: i32 },
    /// An id, name or text is malformed.
    #[error("field {field} is invalid: {source}")]
    Invalid {
        field: String,
        #[source]
        source: InvalidId,
    },
}

impl RequestError {
    /// Returns the name of the offending field (`at`, `characteristics[1].name`, ...).
    pub fn field(&self) -> &str {
        match self {
            RequestError::Missing { field }
            | RequestError::Negative { field, .. }
            | RequestError::BadTimestamp { field }
            | RequestError::UnknownEnum { field, .. }
            | RequestError::Invalid { field, .. } => field,
        }
    }

    /// Returns the class of the error: always [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl From<TimestampError> for RequestError {
    fn from(err: TimestampError) -> Self {
        match err {
            TimestampError::Missing { field } => RequestError::Missing {
                field: field.to_owned(),
            },
            TimestampError::OutOfRange { field } => RequestError::BadTimestamp {
                field: field.to_owned(),
            },
        }
    }
}

/// A request turned into a domain command: the target aggregate, the command with the caller's
/// expected version and idempotency key, and the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCommand<I, C> {
    /// The aggregate the command is for (its `Display` is the aggregate id in the store).
    pub id: I,
    /// The command, guarded by the request's `expected_version` and `idempotency_key`.
    pub command: Versioned<C>,
    /// Who sent it.
    pub caller: Caller,
}

impl<I, C> ParsedCommand<I, C> {
    /// Returns the request with its command turned into another by `f` (for commands that need
    /// state the caller loads, such as the plan of an inspection).
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> ParsedCommand<I, D> {
        ParsedCommand {
            id: self.id,
            command: Versioned {
                command: f(self.command.command),
                expected_version: self.command.expected_version,
                idempotency_key: self.command.idempotency_key,
            },
            caller: self.caller,
        }
    }
}

/// Returns the event type (proto message name) of a `QualityEvent.event` case; one of
/// [`EVENT_TYPES`].
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::InspectionPlanDefined(_) => "InspectionPlanDefined",
        Event::InspectionPlanRevised(_) => "InspectionPlanRevised",
        Event::InspectionPlanRetired(_) => "InspectionPlanRetired",
        Event::InspectionStarted(_) => "InspectionStarted",
        Event::InspectionResultRecorded(_) => "InspectionResultRecorded",
        Event::InspectionCompleted(_) => "InspectionCompleted",
        Event::NonconformanceOpened(_) => "NonconformanceOpened",
        Event::NonconformanceContained(_) => "NonconformanceContained",
        Event::NonconformanceDispositioned(_) => "NonconformanceDispositioned",
        Event::NonconformanceClosed(_) => "NonconformanceClosed",
        Event::CapaOpened(_) => "CapaOpened",
        Event::CapaNonconformanceLinked(_) => "CapaNonconformanceLinked",
        Event::CapaActionImplemented(_) => "CapaActionImplemented",
        Event::CapaEffectivenessVerified(_) => "CapaEffectivenessVerified",
    }
}

/// Returns the reply to an accepted command: the aggregate id and its version afterwards.
pub fn command_reply(aggregate_id: &impl ToString, version: u64) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
    }
}

// Field helpers shared by the aggregate modules.

/// The caller and the command guards of a request's `CommandContext`.
struct Context {
    caller: Caller,
    expected_version: Option<u64>,
    idempotency_key: Option<IdempotencyKey>,
}

impl Context {
    /// Returns the parsed command for aggregate `id` with these guards and caller.
    fn parsed<I, C>(self, id: I, command: C) -> ParsedCommand<I, C> {
        ParsedCommand {
            id,
            command: Versioned {
                command,
                expected_version: self.expected_version,
                idempotency_key: self.idempotency_key,
            },
            caller: self.caller,
        }
    }
}

/// Parses the optional `CommandContext`.
fn context(context: Option<pb::CommandContext>) -> Result<Context, RequestError> {
    let context = context.unwrap_or_default();
    let raw = RawContext {
        actor: context.actor,
        correlation_id: context.correlation_id,
        causation_id: context.causation_id,
        idempotency_key: context.idempotency_key,
        expected_version: context.expected_version,
    };
    let context = parse_context(raw, IdempotencyKey::new).map_err(invalid_field)?;
    Ok(Context {
        caller: context.caller,
        expected_version: context.expected_version,
        idempotency_key: context.idempotency_key,
    })
}

/// Maps a malformed field of the command context to the request error naming it.
fn invalid_field(err: InvalidField) -> RequestError {
    invalid(err.field, err.source)
}

/// Parses a required id or text field of a type with a fallible constructor from `String`.
fn required<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    parse(value).map_err(|source| invalid(field, source))
}

/// Parses an optional id or text field: empty means absent.
fn optional<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<Option<T>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    required(value, field, parse).map(Some)
}

/// Parses a required UUID id field.
fn uuid_id<T: std::str::FromStr<Err = InvalidId>>(
    value: &str,
    field: &str,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    value.parse().map_err(|source| invalid(field, source))
}

/// Parses an id field that takes the id `new_id` returns when empty.
fn uuid_id_or<T: std::str::FromStr<Err = InvalidId>>(
    value: &str,
    field: &str,
    new_id: impl FnOnce() -> T,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Ok(new_id());
    }
    uuid_id(value, field)
}

fn at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, RequestError> {
    Ok(from_timestamp(timestamp, field)?)
}

fn optional_at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, RequestError> {
    match timestamp {
        None => Ok(None),
        Some(_) => at(timestamp, field).map(Some),
    }
}

fn units(value: i64, field: &str) -> Result<Units, RequestError> {
    u64::try_from(value)
        .map(Units)
        .map_err(|_| RequestError::Negative {
            field: field.to_owned(),
            value,
        })
}

fn text(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

fn missing(field: &str) -> RequestError {
    RequestError::Missing {
        field: field.to_owned(),
    }
}

fn invalid(field: &str, source: InvalidId) -> RequestError {
    RequestError::Invalid {
        field: field.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
