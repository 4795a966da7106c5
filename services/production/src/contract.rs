//! The mapping between the production domain and its public contract in
//! `proto/mom/production/v1`: requests to commands, events to the `ProductionEvent` oneof and
//! aggregate state to the `Order` / `WorkUnit` replies.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mom_domain::{parse_context, InvalidField, RawContext};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_event::Event;
use mom_proto::time::{from_timestamp, to_timestamp, TimestampError};
use thiserror::Error;

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

// Requests to commands: production orders.

/// Parses `CreateOrder`; an empty `order_id` takes the id `new_id` returns.
pub fn create_order(
    req: pb::CreateOrderRequest,
    new_id: impl FnOnce() -> OrderId,
) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = if req.order_id.is_empty() {
        new_id()
    } else {
        order_id(&req.order_id)?
    };
    if req.routing.is_empty() {
        return Err(RequestError::Empty {
            field: "routing".to_owned(),
        });
    }
    let routing = req
        .routing
        .into_iter()
        .enumerate()
        .map(|(index, step)| routing_operation(index, step))
        .collect::<Result<Vec<_>, _>>()?;
    let command = OrderCommand::Create {
        order: id,
        product: product(req.product, "product")?,
        quantity: Units(req.quantity),
        routing,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `ReleaseOrder`.
pub fn release_order(req: pb::OrderCommandRequest) -> Result<OrderRequest, RequestError> {
    order_request(req, |at| OrderCommand::Release { at })
}

/// Parses `ResumeOrder`.
pub fn resume_order(req: pb::OrderCommandRequest) -> Result<OrderRequest, RequestError> {
    order_request(req, |at| OrderCommand::Resume { at })
}

/// Parses `CompleteOrder`.
pub fn complete_order(req: pb::OrderCommandRequest) -> Result<OrderRequest, RequestError> {
    order_request(req, |at| OrderCommand::Complete { at })
}

/// Parses `HoldOrder`.
pub fn hold_order(req: pb::ReasonRequest) -> Result<OrderRequest, RequestError> {
    reason_request(req, |reason, at| OrderCommand::Hold { reason, at })
}

/// Parses `CancelOrder`.
pub fn cancel_order(req: pb::ReasonRequest) -> Result<OrderRequest, RequestError> {
    reason_request(req, |reason, at| OrderCommand::Cancel { reason, at })
}

/// Parses `StartOperation`.
pub fn start_operation(req: pb::StartOperationRequest) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::StartOperation {
        operation: operation(req.operation, "operation")?,
        work_unit: work_unit_id(req.work_unit, "work_unit")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `ReportQuantity`; negative `good` or `scrap` are rejected here.
pub fn report_quantity(req: pb::ReportQuantityRequest) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::ReportQuantity {
        operation: operation(req.operation, "operation")?,
        good: units(req.good, "good")?,
        scrap: units(req.scrap, "scrap")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `CompleteOperation`.
pub fn complete_operation(req: pb::CompleteOperationRequest) -> Result<OrderRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::CompleteOperation {
        operation: operation(req.operation, "operation")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses the order id of `GetOrder`.
pub fn get_order(req: &pb::GetOrderRequest) -> Result<OrderId, RequestError> {
    order_id(&req.order_id)
}

// Requests to commands: work units.

/// Parses `RegisterWorkUnit`; zero threshold or window take the domain defaults.
pub fn register_work_unit(
    req: pb::RegisterWorkUnitRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::Register {
        work_unit: id.clone(),
        name: req.name,
        micro_stop_threshold: nonzero_millis(req.micro_stop_threshold_ms),
        startup_window: nonzero_millis(req.startup_window_ms),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `SetIdealCycleTime`.
pub fn set_ideal_cycle_time(
    req: pb::SetIdealCycleTimeRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::SetIdealCycleTime {
        product: product(req.product, "product")?,
        ideal_cycle_time: Millis(req.ideal_cycle_time_ms),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `ReportRunning`; an empty `product` keeps the current product.
pub fn report_running(req: pb::ReportRunningRequest) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportRunning {
        product: optional_product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `ReportStopped`; an empty `reason` means none was given.
pub fn report_stopped(req: pb::ReportStoppedRequest) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportStopped {
        reason: optional_reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `StartSetup`; an empty `next_product` means it is not known yet.
pub fn start_setup(req: pb::StartSetupRequest) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::StartSetup {
        next_product: optional_product(req.next_product, "next_product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `EndSetup`.
pub fn end_setup(req: pb::EndSetupRequest) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::EndSetup {
        product: product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `SchedulePlannedShutdown`.
pub fn schedule_planned_shutdown(
    req: pb::SchedulePlannedShutdownRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::SchedulePlannedShutdown {
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
        reason: reason(req.reason, "reason")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses `ReportCount`; a negative `total` is rejected here, an empty `product` means the
/// current product.
pub fn report_count(req: pb::ReportCountRequest) -> Result<WorkUnitRequest, RequestError> {
    let (caller, expected_version) = caller(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportCount {
        total: units(req.total, "total")?,
        product: optional_product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(parsed(id, command, expected_version, caller))
}

/// Parses the work unit id of `GetWorkUnit`.
pub fn get_work_unit(req: &pb::GetWorkUnitRequest) -> Result<WorkUnitId, RequestError> {
    work_unit_id(req.work_unit.clone(), "work_unit")
}

// Events to the `ProductionEvent` oneof.

/// Returns the `ProductionEvent.event` case of a production order event.
pub fn order_event_to_proto(event: &OrderEvent) -> Event {
    match event {
        OrderEvent::OrderCreated {
            order_id,
            product,
            quantity,
            routing,
            at,
        } => Event::OrderCreated(pb::OrderCreated {
            order_id: order_id.to_string(),
            product: product.to_string(),
            quantity: quantity.0,
            routing: routing.iter().map(routing_operation_to_proto).collect(),
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OrderReleased { at } => Event::OrderReleased(pb::OrderReleased {
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationStarted {
            operation,
            work_unit,
            at,
        } => Event::OperationStarted(pb::OperationStarted {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::QuantityReported {
            operation,
            work_unit,
            good,
            scrap,
            at,
        } => Event::QuantityReported(pb::QuantityReported {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            good: good.0,
            scrap: scrap.0,
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationCompleted { operation, at } => {
            Event::OperationCompleted(pb::OperationCompleted {
                operation: operation.0,
                at: Some(to_timestamp(*at)),
            })
        }
        OrderEvent::OrderHeld { reason, at } => Event::OrderHeld(pb::OrderHeld {
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OrderResumed { at } => Event::OrderResumed(pb::OrderResumed {
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OrderCompleted { good, scrap, at } => {
            Event::OrderCompleted(pb::OrderCompleted {
                good: good.0,
                scrap: scrap.0,
                at: Some(to_timestamp(*at)),
            })
        }
        OrderEvent::OrderCancelled { reason, at } => Event::OrderCancelled(pb::OrderCancelled {
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `ProductionEvent.event` case of a work unit event; absent optional values become
/// empty strings.
pub fn work_unit_event_to_proto(event: &WorkUnitEvent) -> Event {
    match event {
        WorkUnitEvent::WorkUnitRegistered {
            work_unit,
            name,
            micro_stop_threshold_ms,
            startup_window_ms,
            at,
        } => Event::WorkUnitRegistered(pb::WorkUnitRegistered {
            work_unit: work_unit.to_string(),
            name: name.clone(),
            micro_stop_threshold_ms: micro_stop_threshold_ms.0,
            startup_window_ms: startup_window_ms.0,
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::IdealCycleTimeSet {
            product,
            ideal_cycle_time_ms,
            at,
        } => Event::IdealCycleTimeSet(pb::IdealCycleTimeSet {
            product: product.to_string(),
            ideal_cycle_time_ms: ideal_cycle_time_ms.0,
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::WorkUnitRunning { product, at } => {
            Event::WorkUnitRunning(pb::WorkUnitRunning {
                product: text(product.as_ref()),
                at: Some(to_timestamp(*at)),
            })
        }
        WorkUnitEvent::WorkUnitStopped { reason, at } => {
            Event::WorkUnitStopped(pb::WorkUnitStopped {
                reason: text(reason.as_ref()),
                at: Some(to_timestamp(*at)),
            })
        }
        WorkUnitEvent::SetupStarted { next_product, at } => Event::SetupStarted(pb::SetupStarted {
            next_product: text(next_product.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::SetupEnded { product, at } => Event::SetupEnded(pb::SetupEnded {
            product: product.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::PlannedShutdownScheduled {
            from,
            until,
            reason,
        } => Event::PlannedShutdownScheduled(pb::PlannedShutdownScheduled {
            from: Some(to_timestamp(*from)),
            until: Some(to_timestamp(*until)),
            reason: reason.to_string(),
        }),
        WorkUnitEvent::UnitsCounted { product, total, at } => {
            Event::UnitsCounted(pb::UnitsCounted {
                product: product.to_string(),
                total: total.0,
                at: Some(to_timestamp(*at)),
            })
        }
    }
}

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

// Aggregate state to replies.

/// Returns the `GetOrder` reply for `order` at `order.version()`, or
/// [`OrderError::NotFound`] when it was never created.
pub fn order_reply(order: &ProductionOrder) -> Result<pb::Order, OrderError> {
    let state = order.state().ok_or(OrderError::NotFound)?;
    let status = match (state.status(), state.hold()) {
        (OrderStatus::Completed, _) => pb::OrderStatus::Completed,
        (OrderStatus::Cancelled, _) => pb::OrderStatus::Cancelled,
        (_, Some(_)) => pb::OrderStatus::OnHold,
        (OrderStatus::Created, None) => pb::OrderStatus::Created,
        (OrderStatus::Released, None) => pb::OrderStatus::Released,
        (OrderStatus::InProgress, None) => pb::OrderStatus::InProgress,
    };
    Ok(pb::Order {
        order_id: state.id().to_string(),
        product: state.product().to_string(),
        quantity: state.quantity().0,
        status: status.into(),
        operations: state
            .operations()
            .iter()
            .map(|op| pb::OperationProgress {
                operation: op.number().0,
                name: op.name().to_owned(),
                status: operation_status(op.status()).into(),
                work_unit: text(op.work_unit()),
                good: op.good().0,
                scrap: op.scrap().0,
            })
            .collect(),
        version: order.version(),
    })
}

/// Returns the `GetWorkUnit` reply for `unit` at `unit.version()`, or
/// [`WorkUnitError::NotRegistered`] when it was never registered. `products` lists every product
/// that has a count or an ideal cycle time, sorted by id.
pub fn work_unit_reply(unit: &WorkUnit) -> Result<pb::WorkUnit, WorkUnitError> {
    let state = unit.state().ok_or(WorkUnitError::NotRegistered)?;
    let (machine, stop_reason) = match state.machine() {
        MachineState::Stopped { reason, .. } => (pb::WorkUnitState::Stopped, text(reason.as_ref())),
        MachineState::Running { .. } => (pb::WorkUnitState::Running, String::new()),
        MachineState::Setup { .. } => (pb::WorkUnitState::Setup, String::new()),
    };
    let products: BTreeSet<&ProductId> = state
        .counts()
        .keys()
        .chain(state.ideal_cycle_times().keys())
        .collect();
    Ok(pb::WorkUnit {
        work_unit: state.id().to_string(),
        name: state.name().to_owned(),
        state: machine.into(),
        current_product: text(state.current_product()),
        stop_reason,
        total_count: state.total().0,
        products: products
            .into_iter()
            .map(|product| pb::ProductCount {
                product: product.to_string(),
                total: state.counts().get(product).map_or(0, |units| units.0),
                ideal_cycle_time_ms: state
                    .ideal_cycle_times()
                    .get(product)
                    .map_or(0, |millis| millis.0),
            })
            .collect(),
        micro_stop_threshold_ms: state.micro_stop_threshold().0,
        startup_window_ms: state.startup_window().0,
        version: unit.version(),
    })
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
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
    }

    fn ts(minute: u32) -> Option<prost_types::Timestamp> {
        Some(to_timestamp(t(minute)))
    }

    const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

    fn order() -> OrderId {
        ORDER.parse().unwrap()
    }

    fn wu(id: &str) -> WorkUnitId {
        WorkUnitId::new(id).unwrap()
    }

    fn product_id(id: &str) -> ProductId {
        ProductId::new(id).unwrap()
    }

    fn why(text: &str) -> Reason {
        Reason::new(text).unwrap()
    }

    fn step(operation: u32, units: &[&str]) -> pb::RoutingOperation {
        pb::RoutingOperation {
            operation,
            name: format!("op {operation}"),
            eligible_work_units: units.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    fn order_events() -> Vec<OrderEvent> {
        vec![
            OrderEvent::OrderCreated {
                order_id: order(),
                product: product_id("cola"),
                quantity: Units(100),
                routing: vec![RoutingOperation {
                    operation: OperationNumber(10),
                    name: "fill".to_owned(),
                    eligible_work_units: vec![wu("filler-1"), wu("filler-2")],
                }],
                at: t(0),
            },
            OrderEvent::OrderReleased { at: t(1) },
            OrderEvent::OperationStarted {
                operation: OperationNumber(10),
                work_unit: wu("filler-1"),
                at: t(2),
            },
            OrderEvent::QuantityReported {
                operation: OperationNumber(10),
                work_unit: wu("filler-1"),
                good: Units(90),
                scrap: Units(3),
                at: t(3),
            },
            OrderEvent::OperationCompleted {
                operation: OperationNumber(10),
                at: t(4),
            },
            OrderEvent::OrderHeld {
                reason: why("qa"),
                at: t(5),
            },
            OrderEvent::OrderResumed { at: t(6) },
            OrderEvent::OrderCompleted {
                good: Units(90),
                scrap: Units(3),
                at: t(7),
            },
            OrderEvent::OrderCancelled {
                reason: why("withdrawn"),
                at: t(8),
            },
        ]
    }

    fn work_unit_events() -> Vec<WorkUnitEvent> {
        vec![
            WorkUnitEvent::WorkUnitRegistered {
                work_unit: wu("filler-1"),
                name: "Filler 1".to_owned(),
                micro_stop_threshold_ms: Millis(300_000),
                startup_window_ms: Millis(600_000),
                at: t(0),
            },
            WorkUnitEvent::IdealCycleTimeSet {
                product: product_id("cola"),
                ideal_cycle_time_ms: Millis(500),
                at: t(1),
            },
            WorkUnitEvent::WorkUnitRunning {
                product: None,
                at: t(2),
            },
            WorkUnitEvent::WorkUnitStopped {
                reason: Some(why("jam")),
                at: t(3),
            },
            WorkUnitEvent::SetupStarted {
                next_product: Some(product_id("fanta")),
                at: t(4),
            },
            WorkUnitEvent::SetupEnded {
                product: product_id("fanta"),
                at: t(5),
            },
            WorkUnitEvent::PlannedShutdownScheduled {
                from: t(30),
                until: t(45),
                reason: why("break"),
            },
            WorkUnitEvent::UnitsCounted {
                product: product_id("fanta"),
                total: Units(12),
                at: t(6),
            },
        ]
    }

    // Events.

    #[test]
    fn every_order_event_maps_to_the_oneof_case_of_its_type() {
        let events = order_events();
        let types: Vec<&str> = events.iter().map(OrderEvent::type_name).collect();
        assert_eq!(types, OrderEvent::TYPES, "the sample covers every variant");
        for event in &events {
            assert_eq!(event_type(&order_event_to_proto(event)), event.type_name());
        }
    }

    #[test]
    fn every_work_unit_event_maps_to_the_oneof_case_of_its_type() {
        let events = work_unit_events();
        let types: Vec<&str> = events.iter().map(WorkUnitEvent::type_name).collect();
        assert_eq!(
            types,
            WorkUnitEvent::TYPES,
            "the sample covers every variant"
        );
        for event in &events {
            assert_eq!(
                event_type(&work_unit_event_to_proto(event)),
                event.type_name()
            );
        }
    }

    #[test]
    fn event_types_list_every_order_and_work_unit_event_once() {
        let both: Vec<&str> = OrderEvent::TYPES
            .iter()
            .chain(WorkUnitEvent::TYPES)
            .copied()
            .collect();
        assert_eq!(EVENT_TYPES, both.as_slice());
        let unique: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
        assert_eq!(unique.len(), 17);
    }

    #[test]
    fn order_created_carries_id_routing_and_time() {
        let Event::OrderCreated(created) = order_event_to_proto(&order_events()[0]) else {
            panic!("expected OrderCreated");
        };
        assert_eq!(created.order_id, ORDER);
        assert_eq!(created.quantity, 100);
        let mut fill = step(10, &["filler-1", "filler-2"]);
        fill.name = "fill".to_owned();
        assert_eq!(created.routing, vec![fill]);
        assert_eq!(from_timestamp(created.at.as_ref(), "at"), Ok(t(0)));
    }

    #[test]
    fn absent_optional_values_become_empty_strings() {
        let Event::WorkUnitRunning(running) = work_unit_event_to_proto(&work_unit_events()[2])
        else {
            panic!("expected WorkUnitRunning");
        };
        assert_eq!(running.product, "");
    }

    #[test]
    fn planned_shutdown_maps_its_window() {
        let Event::PlannedShutdownScheduled(shutdown) =
            work_unit_event_to_proto(&work_unit_events()[6])
        else {
            panic!("expected PlannedShutdownScheduled");
        };
        assert_eq!(from_timestamp(shutdown.from.as_ref(), "from"), Ok(t(30)));
        assert_eq!(from_timestamp(shutdown.until.as_ref(), "until"), Ok(t(45)));
        assert_eq!(shutdown.reason, "break");
    }

    // Requests.

    fn create_request() -> pb::CreateOrderRequest {
        pb::CreateOrderRequest {
            context: None,
            order_id: ORDER.to_owned(),
            product: "cola".to_owned(),
            quantity: 100,
            routing: vec![step(10, &["mixer-1"]), step(20, &["filler-1", "filler-2"])],
            at: ts(0),
        }
    }

    #[test]
    fn create_order_maps_every_field() {
        let parsed = create_order(create_request(), OrderId::generate).unwrap();
        assert_eq!(parsed.id, order());
        assert_eq!(parsed.command.expected_version, None);
        assert_eq!(
            parsed.caller,
            Caller {
                actor: ANONYMOUS.to_owned(),
                correlation_id: None,
                causation_id: None,
            }
        );
        let OrderCommand::Create {
            order: id,
            product,
            quantity,
            routing,
            at,
        } = parsed.command.command
        else {
            panic!("expected Create");
        };
        assert_eq!(
            (id, product, quantity, at),
            (order(), product_id("cola"), Units(100), t(0))
        );
        assert_eq!(routing.len(), 2);
        assert_eq!(
            routing[1].eligible_work_units,
            vec![wu("filler-1"), wu("filler-2")]
        );
    }

    #[test]
    fn create_order_without_id_takes_the_generated_one() {
        let generated = OrderId::new(Uuid::from_u128(7));
        let req = pb::CreateOrderRequest {
            order_id: String::new(),
            ..create_request()
        };
        let parsed = create_order(req, || generated).unwrap();
        assert_eq!(parsed.id, generated);
        assert!(matches!(
            parsed.command.command,
            OrderCommand::Create { order, .. } if order == generated
        ));
    }

    #[test]
    fn create_order_rejects_a_malformed_order_id() {
        let req = pb::CreateOrderRequest {
            order_id: "order-1".to_owned(),
            ..create_request()
        };
        let err = create_order(req, OrderId::generate).unwrap_err();
        assert_eq!(err.field(), "order_id");
        assert_eq!(
            err.to_string(),
            "field order_id is invalid: \"order-1\" is not a uuid"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn create_order_rejects_an_empty_routing() {
        let req = pb::CreateOrderRequest {
            routing: vec![],
            ..create_request()
        };
        let err = create_order(req, OrderId::generate).unwrap_err();
        assert_eq!(err.to_string(), "field routing must not be empty");
    }

    #[test]
    fn create_order_names_the_bad_eligible_work_unit() {
        let req = pb::CreateOrderRequest {
            routing: vec![step(10, &["mixer-1"]), step(20, &["filler-1", "filler 2"])],
            ..create_request()
        };
        let err = create_order(req, OrderId::generate).unwrap_err();
        assert_eq!(err.field(), "routing[1].eligible_work_units[1]");
    }

    #[test]
    fn create_order_names_routing_steps_without_units_name_or_number() {
        let cases = [
            (step(10, &[]), "routing[0].eligible_work_units"),
            (
                pb::RoutingOperation {
                    name: String::new(),
                    ..step(10, &["mixer-1"])
                },
                "routing[0].name",
            ),
            (step(0, &["mixer-1"]), "routing[0].operation"),
        ];
        for (bad, field) in cases {
            let req = pb::CreateOrderRequest {
                routing: vec![bad],
                ..create_request()
            };
            assert_eq!(
                create_order(req, OrderId::generate).unwrap_err().field(),
                field
            );
        }
    }

    #[test]
    fn create_order_requires_product_and_at() {
        let req = pb::CreateOrderRequest {
            product: String::new(),
            ..create_request()
        };
        assert_eq!(
            create_order(req, OrderId::generate)
                .unwrap_err()
                .to_string(),
            "field product is required"
        );
        let req = pb::CreateOrderRequest {
            at: None,
            ..create_request()
        };
        assert_eq!(
            create_order(req, OrderId::generate)
                .unwrap_err()
                .to_string(),
            "field at is required"
        );
    }

    #[test]
    fn out_of_range_timestamps_are_rejected() {
        let req = pb::OrderCommandRequest {
            context: None,
            order_id: ORDER.to_owned(),
            at: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -5,
            }),
        };
        assert_eq!(
            release_order(req).unwrap_err(),
            RequestError::BadTimestamp {
                field: "at".to_owned()
            }
        );
    }

    #[test]
    fn command_context_gives_actor_correlation_causation_and_expected_version() {
        let correlation = Uuid::from_u128(42);
        let causation = Uuid::from_u128(43);
        let req = pb::OrderCommandRequest {
            context: Some(pb::CommandContext {
                actor: "alice".to_owned(),
                expected_version: Some(3),
                correlation_id: correlation.to_string(),
                causation_id: causation.to_string(),
            }),
            order_id: ORDER.to_owned(),
            at: ts(1),
        };
        let parsed = release_order(req).unwrap();
        assert_eq!(
            parsed.command,
            Versioned::expecting(OrderCommand::Release { at: t(1) }, 3)
        );
        assert_eq!(
            parsed.caller,
            Caller {
                actor: "alice".to_owned(),
                correlation_id: Some(correlation),
                causation_id: Some(causation),
            }
        );
    }

    #[test]
    fn malformed_correlation_id_is_rejected() {
        let req = pb::OrderCommandRequest {
            context: Some(pb::CommandContext {
                correlation_id: "abc".to_owned(),
                ..Default::default()
            }),
            order_id: ORDER.to_owned(),
            at: ts(1),
        };
        assert_eq!(
            release_order(req).unwrap_err().field(),
            "context.correlation_id"
        );
    }

    #[test]
    fn order_commands_map_to_their_variants() {
        let req = || pb::OrderCommandRequest {
            context: None,
            order_id: ORDER.to_owned(),
            at: ts(1),
        };
        assert_eq!(
            resume_order(req()).unwrap().command.command,
            OrderCommand::Resume { at: t(1) }
        );
        assert_eq!(
            complete_order(req()).unwrap().command.command,
            OrderCommand::Complete { at: t(1) }
        );
        let reason_req = |reason: &str| pb::ReasonRequest {
            context: None,
            order_id: ORDER.to_owned(),
            reason: reason.to_owned(),
            at: ts(2),
        };
        assert_eq!(
            hold_order(reason_req("qa")).unwrap().command.command,
            OrderCommand::Hold {
                reason: why("qa"),
                at: t(2)
            }
        );
        assert_eq!(
            cancel_order(reason_req("gone")).unwrap().command.command,
            OrderCommand::Cancel {
                reason: why("gone"),
                at: t(2)
            }
        );
        assert_eq!(
            hold_order(reason_req("")).unwrap_err().to_string(),
            "field reason is required"
        );
        let missing_id = pb::OrderCommandRequest {
            order_id: String::new(),
            ..req()
        };
        assert_eq!(
            release_order(missing_id).unwrap_err().to_string(),
            "field order_id is required"
        );
    }

    #[test]
    fn start_and_complete_operation_map_their_fields() {
        let start = start_operation(pb::StartOperationRequest {
            context: None,
            order_id: ORDER.to_owned(),
            operation: 20,
            work_unit: "filler-1".to_owned(),
            at: ts(3),
        })
        .unwrap();
        assert_eq!(
            start.command.command,
            OrderCommand::StartOperation {
                operation: OperationNumber(20),
                work_unit: wu("filler-1"),
                at: t(3)
            }
        );
        let bad_unit = start_operation(pb::StartOperationRequest {
            context: None,
            order_id: ORDER.to_owned(),
            operation: 20,
            work_unit: "filler/1".to_owned(),
            at: ts(3),
        })
        .unwrap_err();
        assert_eq!(bad_unit.field(), "work_unit");
        let complete = complete_operation(pb::CompleteOperationRequest {
            context: None,
            order_id: ORDER.to_owned(),
            operation: 0,
            at: ts(3),
        })
        .unwrap_err();
        assert_eq!(complete.to_string(), "field operation is required");
    }

    #[test]
    fn report_quantity_rejects_negative_good_and_scrap() {
        let req = |good: i64, scrap: i64| pb::ReportQuantityRequest {
            context: None,
            order_id: ORDER.to_owned(),
            operation: 10,
            good,
            scrap,
            at: ts(4),
        };
        assert_eq!(
            report_quantity(req(-1, 0)).unwrap_err().to_string(),
            "field good must not be negative, got -1"
        );
        assert_eq!(report_quantity(req(5, -2)).unwrap_err().field(), "scrap");
        assert_eq!(
            report_quantity(req(5, 2)).unwrap().command.command,
            OrderCommand::ReportQuantity {
                operation: OperationNumber(10),
                good: Units(5),
                scrap: Units(2),
                at: t(4)
            }
        );
    }

    #[test]
    fn register_work_unit_leaves_zero_settings_to_the_domain_defaults() {
        let req = pb::RegisterWorkUnitRequest {
            context: None,
            work_unit: "site1.area2.line3.filler".to_owned(),
            name: "Filler".to_owned(),
            micro_stop_threshold_ms: 0,
            startup_window_ms: 120_000,
            at: ts(0),
        };
        let parsed = register_work_unit(req).unwrap();
        assert_eq!(parsed.id, wu("site1.area2.line3.filler"));
        assert_eq!(
            parsed.command.command,
            WorkUnitCommand::Register {
                work_unit: wu("site1.area2.line3.filler"),
                name: "Filler".to_owned(),
                micro_stop_threshold: None,
                startup_window: Some(Millis(120_000)),
                at: t(0)
            }
        );
    }

    #[test]
    fn work_unit_requests_reject_bad_equipment_ids() {
        let err = report_running(pb::ReportRunningRequest {
            context: None,
            work_unit: "line 3".to_owned(),
            product: String::new(),
            at: ts(1),
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field work_unit is invalid: character ' ' is not allowed \
             (use A-Z, a-z, 0-9, '.', '_', ':' and '-')"
        );
        let missing = get_work_unit(&pb::GetWorkUnitRequest {
            work_unit: String::new(),
        })
        .unwrap_err();
        assert_eq!(missing.to_string(), "field work_unit is required");
    }

    #[test]
    fn work_unit_commands_map_optional_fields_to_none() {
        let running = report_running(pb::ReportRunningRequest {
            context: None,
            work_unit: "f1".to_owned(),
            product: String::new(),
            at: ts(1),
        })
        .unwrap();
        assert_eq!(
            running.command.command,
            WorkUnitCommand::ReportRunning {
                product: None,
                at: t(1)
            }
        );
        let stopped = report_stopped(pb::ReportStoppedRequest {
            context: None,
            work_unit: "f1".to_owned(),
            reason: String::new(),
            at: ts(2),
        })
        .unwrap();
        assert_eq!(
            stopped.command.command,
            WorkUnitCommand::ReportStopped {
                reason: None,
                at: t(2)
            }
        );
        let setup = start_setup(pb::StartSetupRequest {
            context: None,
            work_unit: "f1".to_owned(),
            next_product: "fanta".to_owned(),
            at: ts(3),
        })
        .unwrap();
        assert_eq!(
            setup.command.command,
            WorkUnitCommand::StartSetup {
                next_product: Some(product_id("fanta")),
                at: t(3)
            }
        );
    }

    #[test]
    fn end_setup_and_ideal_cycle_time_require_a_product() {
        let end = end_setup(pb::EndSetupRequest {
            context: None,
            work_unit: "f1".to_owned(),
            product: String::new(),
            at: ts(3),
        })
        .unwrap_err();
        assert_eq!(end.field(), "product");
        let cycle = set_ideal_cycle_time(pb::SetIdealCycleTimeRequest {
            context: None,
            work_unit: "f1".to_owned(),
            product: "cola".to_owned(),
            ideal_cycle_time_ms: 500,
            at: ts(3),
        })
        .unwrap();
        assert_eq!(
            cycle.command.command,
            WorkUnitCommand::SetIdealCycleTime {
                product: product_id("cola"),
                ideal_cycle_time: Millis(500),
                at: t(3)
            }
        );
    }

    #[test]
    fn planned_shutdown_requires_both_ends_and_a_reason() {
        let req = || pb::SchedulePlannedShutdownRequest {
            context: None,
            work_unit: "f1".to_owned(),
            from: ts(30),
            until: ts(45),
            reason: "break".to_owned(),
        };
        let parsed = schedule_planned_shutdown(req()).unwrap();
        assert_eq!(parsed.command.command.at(), t(30));
        let no_until = pb::SchedulePlannedShutdownRequest {
            until: None,
            ..req()
        };
        assert_eq!(
            schedule_planned_shutdown(no_until).unwrap_err().to_string(),
            "field until is required"
        );
        let no_reason = pb::SchedulePlannedShutdownRequest {
            reason: String::new(),
            ..req()
        };
        assert_eq!(
            schedule_planned_shutdown(no_reason).unwrap_err().field(),
            "reason"
        );
    }

    #[test]
    fn report_count_rejects_a_negative_total() {
        let req = |total: i64| pb::ReportCountRequest {
            context: None,
            work_unit: "f1".to_owned(),
            product: String::new(),
            total,
            at: ts(5),
        };
        assert_eq!(
            report_count(req(-3)).unwrap_err(),
            RequestError::Negative {
                field: "total".to_owned(),
                value: -3
            }
        );
        assert_eq!(
            report_count(req(3)).unwrap().command.command,
            WorkUnitCommand::ReportCount {
                total: Units(3),
                product: None,
                at: t(5)
            }
        );
    }

    // Replies.

    fn fold_order(events: Vec<OrderEvent>) -> ProductionOrder {
        let mut aggregate = ProductionOrder::default();
        for event in events {
            aggregate.evolve(event);
        }
        aggregate
    }

    fn fold_unit(events: Vec<WorkUnitEvent>) -> WorkUnit {
        let mut aggregate = WorkUnit::default();
        for event in events {
            aggregate.evolve(event);
        }
        aggregate
    }

    #[test]
    fn order_reply_shows_hold_progress_and_version() {
        let events: Vec<OrderEvent> = order_events().into_iter().take(6).collect();
        let reply = order_reply(&fold_order(events)).unwrap();
        assert_eq!(reply.order_id, ORDER);
        assert_eq!(reply.status(), pb::OrderStatus::OnHold);
        assert_eq!(reply.version, 6);
        assert_eq!(
            reply.operations,
            vec![pb::OperationProgress {
                operation: 10,
                name: "fill".to_owned(),
                status: pb::OperationStatus::Done.into(),
                work_unit: "filler-1".to_owned(),
                good: 90,
                scrap: 3,
            }]
        );
    }

    #[test]
    fn order_reply_of_a_cancelled_order_is_cancelled() {
        let mut events: Vec<OrderEvent> = order_events().into_iter().take(6).collect();
        events.push(order_events()[8].clone());
        let reply = order_reply(&fold_order(events)).unwrap();
        assert_eq!(reply.status(), pb::OrderStatus::Cancelled);
    }

    #[test]
    fn order_reply_of_a_missing_order_is_not_found() {
        let err = order_reply(&ProductionOrder::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn work_unit_reply_lists_products_with_counts_and_cycle_times() {
        let reply = work_unit_reply(&fold_unit(work_unit_events())).unwrap();
        assert_eq!(reply.work_unit, "filler-1");
        assert_eq!(reply.state(), pb::WorkUnitState::Stopped);
        assert_eq!(reply.stop_reason, "");
        assert_eq!(reply.current_product, "fanta");
        assert_eq!(reply.total_count, 12);
        assert_eq!(reply.micro_stop_threshold_ms, 300_000);
        assert_eq!(reply.startup_window_ms, 600_000);
        assert_eq!(reply.version, 8);
        assert_eq!(
            reply.products,
            vec![
                pb::ProductCount {
                    product: "cola".to_owned(),
                    total: 0,
                    ideal_cycle_time_ms: 500
                },
                pb::ProductCount {
                    product: "fanta".to_owned(),
                    total: 12,
                    ideal_cycle_time_ms: 0
                },
            ]
        );
    }

    #[test]
    fn work_unit_reply_shows_the_stop_reason_while_stopped() {
        let events: Vec<WorkUnitEvent> = work_unit_events().into_iter().take(4).collect();
        let reply = work_unit_reply(&fold_unit(events)).unwrap();
        assert_eq!(reply.state(), pb::WorkUnitState::Stopped);
        assert_eq!(reply.stop_reason, "jam");
    }

    #[test]
    fn work_unit_reply_of_an_unregistered_unit_is_not_found() {
        let err = work_unit_reply(&WorkUnit::default()).unwrap_err();
        assert_eq!(err, WorkUnitError::NotRegistered);
    }

    #[test]
    fn command_reply_carries_id_and_version() {
        assert_eq!(
            command_reply(&order(), 4),
            pb::CommandReply {
                aggregate_id: ORDER.to_owned(),
                version: 4
            }
        );
    }
}
