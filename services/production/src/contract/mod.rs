//! The mapping between the production domain and its public contract in
//! `proto/mom/production/v1`: requests to commands, events to the `ProductionEvent` oneof and
//! aggregate state to the `Order` / `WorkUnit` replies, one module per aggregate (`order`,
//! `work_unit`); the request scaffold (field errors, context, ids) is here.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic.

mod order;
mod work_unit;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mom_domain::{parse_context, InvalidField, RawContext};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_event::Event;
use mom_proto::time::{from_timestamp, to_timestamp, TimestampError};
use thiserror::Error;

pub use order::{
    cancel_order, complete_operation, complete_order, create_order, get_order, hold_order,
    order_event_to_proto, order_reply, release_order, report_quantity, resume_order,
    start_operation,
};
pub use work_unit::{
    end_setup, get_work_unit, register_work_unit, report_count, report_running, report_stopped,
    schedule_planned_shutdown, set_ideal_cycle_time, start_setup, work_unit_event_to_proto,
    work_unit_reply,
};

use crate::domain::{
    ErrorKind, InvalidId, MachineState, Millis, OperationNumber, OperationStatus, OrderCommand,
    OrderError, OrderEvent, OrderId, OrderStatus, ProductId, ProductionOrder, Reason,
    RoutingOperation, Units, Versioned, WorkUnit, WorkUnitCommand, WorkUnitError, WorkUnitEvent,
    WorkUnitId,
};

/// Every production event type, in proto field order: the `ce_type` values on
/// `mom.production.v1` and the event types in the store.
pub const EVENT_TYPES: &[&str] = &[
    "OrderCreated",
    "OrderReleased",
    "OperationStarted",
    "QuantityReported",
    "OperationCompleted",
    "OrderHeld",
    "OrderResumed",
    "OrderCompleted",
    "OrderCancelled",
    "WorkUnitRegistered",
    "IdealCycleTimeSet",
    "WorkUnitRunning",
    "WorkUnitStopped",
    "SetupStarted",
    "SetupEnded",
    "PlannedShutdownScheduled",
    "UnitsCounted",
];

/// A request field that is missing or malformed; always reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A required field is empty or unset.
    #[error("field {field} is required")]
    Missing { field: String },
    /// A required list is empty.
    #[error("field {field} must not be empty")]
    Empty { field: String },
    /// A signed quantity is negative.
    #[error("field {field} must not be negative, got {value}")]
    Negative { field: String, value: i64 },
    /// A timestamp is outside the representable range.
    #[error("field {field} is not a valid timestamp")]
    BadTimestamp { field: String },
    /// An id, product or reason is malformed.
    #[error("field {field} is invalid: {source}")]
    Invalid {
        field: String,
        #[source]
        source: InvalidId,
    },
}

impl RequestError {
    /// Returns the name of the offending field (`at`, `routing[1].eligible_work_units[0]`, ...).
    pub fn field(&self) -> &str {
        match self {
            RequestError::Missing { field }
            | RequestError::Empty { field }
            | RequestError::Negative { field, .. }
            | RequestError::BadTimestamp { field }
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
/// expected version, and the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand<I, C> {
    /// The aggregate the command is for (its `Display` is the aggregate id in the store).
    pub id: I,
    /// The command, guarded by the request's `expected_version` when given.
    pub command: Versioned<C>,
    /// Who sent it.
    pub caller: Caller,
}

/// A parsed production order request.
pub type OrderRequest = ParsedCommand<OrderId, OrderCommand>;

/// A parsed work unit request.
pub type WorkUnitRequest = ParsedCommand<WorkUnitId, WorkUnitCommand>;

/// Returns the event type (proto message name) of a `ProductionEvent.event` case; one of
/// [`EVENT_TYPES`].
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::OrderCreated(_) => "OrderCreated",
        Event::OrderReleased(_) => "OrderReleased",
        Event::OperationStarted(_) => "OperationStarted",
        Event::QuantityReported(_) => "QuantityReported",
        Event::OperationCompleted(_) => "OperationCompleted",
        Event::OrderHeld(_) => "OrderHeld",
        Event::OrderResumed(_) => "OrderResumed",
        Event::OrderCompleted(_) => "OrderCompleted",
        Event::OrderCancelled(_) => "OrderCancelled",
        Event::WorkUnitRegistered(_) => "WorkUnitRegistered",
        Event::IdealCycleTimeSet(_) => "IdealCycleTimeSet",
        Event::WorkUnitRunning(_) => "WorkUnitRunning",
        Event::WorkUnitStopped(_) => "WorkUnitStopped",
        Event::SetupStarted(_) => "SetupStarted",
        Event::SetupEnded(_) => "SetupEnded",
        Event::PlannedShutdownScheduled(_) => "PlannedShutdownScheduled",
        Event::UnitsCounted(_) => "UnitsCounted",
    }
}

/// Returns the reply to an accepted command: the aggregate id and its version afterwards.
pub fn command_reply(aggregate_id: &impl ToString, version: u64) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
    }
}

// Field helpers.

fn parsed<I, C>(
    id: I,
    command: C,
    expected_version: Option<u64>,
    caller: Caller,
) -> ParsedCommand<I, C> {
    ParsedCommand {
        id,
        command: Versioned::new(command, expected_version),
        caller,
    }
}

fn order_request(
    req: pb::OrderCommandRequest,
    command: impl FnOnce(DateTime<Utc>) -> OrderCommand,
) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = command(at(req.at.as_ref(), "at")?);
    Ok(parsed(id, command, expected_version, caller))
}

fn reason_request(
    req: pb::ReasonRequest,
    command: impl FnOnce(Reason, DateTime<Utc>) -> OrderCommand,
) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = command(reason(req.reason, "reason")?, at(req.at.as_ref(), "at")?);
    Ok(parsed(id, command, expected_version, caller))
}

/// Splits the optional `CommandContext` into the caller and the expected version.
fn caller(context: Option<pb::CommandContext>) -> Result<(Caller, Option<u64>), RequestError> {
    let context = context.unwrap_or_default();
    let raw = RawContext {
        actor: context.actor,
        correlation_id: context.correlation_id,
        causation_id: context.causation_id,
        idempotency_key: String::new(),
        expected_version: context.expected_version,
    };
    let context = parse_context(raw, |_| Ok::<(), InvalidId>(())).map_err(invalid_field)?;
    Ok((context.caller, context.expected_version))
}

/// Maps a malformed field of the command context to the request error naming it.
fn invalid_field(err: InvalidField) -> RequestError {
    invalid(err.field, err.source)
}

fn at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, RequestError> {
    Ok(from_timestamp(timestamp, field)?)
}

fn order_id(value: &str) -> Result<OrderId, RequestError> {
    if value.is_empty() {
        return Err(missing("order_id"));
    }
    value.parse().map_err(|source| invalid("order_id", source))
}

fn work_unit_id(value: String, field: &str) -> Result<WorkUnitId, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    WorkUnitId::new(value).map_err(|source| invalid(field, source))
}

fn product(value: String, field: &str) -> Result<ProductId, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    ProductId::new(value).map_err(|source| invalid(field, source))
}

fn optional_product(value: String, field: &str) -> Result<Option<ProductId>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    product(value, field).map(Some)
}

fn reason(value: String, field: &str) -> Result<Reason, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    Reason::new(value).map_err(|source| invalid(field, source))
}

fn optional_reason(value: String, field: &str) -> Result<Option<Reason>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    reason(value, field).map(Some)
}

fn operation(value: u32, field: &str) -> Result<OperationNumber, RequestError> {
    match value {
        0 => Err(missing(field)),
        n => Ok(OperationNumber(n)),
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

fn nonzero_millis(value: u64) -> Option<Millis> {
    (value != 0).then_some(Millis(value))
}

fn routing_operation(
    index: usize,
    step: pb::RoutingOperation,
) -> Result<RoutingOperation, RequestError> {
    let field = |name: &str| format!("routing[{index}].{name}");
    let eligible_work_units = step
        .eligible_work_units
        .into_iter()
        .enumerate()
        .map(|(unit, id)| work_unit_id(id, &field(&format!("eligible_work_units[{unit}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    if eligible_work_units.is_empty() {
        return Err(RequestError::Empty {
            field: field("eligible_work_units"),
        });
    }
    if step.name.trim().is_empty() {
        return Err(missing(&field("name")));
    }
    Ok(RoutingOperation {
        operation: operation(step.operation, &field("operation"))?,
        name: step.name,
        eligible_work_units,
    })
}

fn routing_operation_to_proto(step: &RoutingOperation) -> pb::RoutingOperation {
    pb::RoutingOperation {
        operation: step.operation.0,
        name: step.name.clone(),
        eligible_work_units: step
            .eligible_work_units
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

fn operation_status(status: OperationStatus) -> pb::OperationStatus {
    match status {
        OperationStatus::Pending => pb::OperationStatus::Pending,
        OperationStatus::Running => pb::OperationStatus::Running,
        OperationStatus::Done => pb::OperationStatus::Done,
    }
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
