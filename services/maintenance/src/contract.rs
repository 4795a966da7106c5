//! The mapping between the maintenance domain and its public contract in
//! `proto/mom/maintenance/v1`: requests to commands, events to the `MaintenanceEvent` oneof and
//! aggregate state to the `Asset` / `WorkOrder` replies.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic. Facts about other
//! aggregates (a parent asset, a work order's work unit) are left unresolved (`found: None`);
//! the application fills them in before running the command.

use chrono::{DateTime, Utc};
use mom_domain::{parse_context, InvalidField, RawContext};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_event::Event;
use mom_proto::time::{from_timestamp, to_timestamp, TimestampError};
use thiserror::Error;

use crate::domain::{
    Asset, AssetCommand, AssetError, AssetEvent, AssetId, AssetLevel, Cycles, Description,
    Equipment, ErrorKind, FailureMode, IdempotencyKey, InvalidId, Millis, ParentRef, PlanId,
    ProductId, Reason, Trigger, Versioned, WorkOrder, WorkOrderCommand, WorkOrderError,
    WorkOrderEvent, WorkOrderId, WorkOrderKind, WorkOrderStatus,
};

/// Every maintenance event type, in proto field order: the `ce_type` values on
/// `mom.maintenance.v1` and the event types in the store.
pub const EVENT_TYPES: &[&str] = &[
    "AssetRegistered",
    "AssetMoved",
    "AssetRetired",
    "MaintenancePlanDefined",
    "UsageRecorded",
    "MaintenancePlanDue",
    "PlanWorkOrderRaised",
    "BreakdownReported",
    "PreventiveWorkRequested",
    "WorkOrderScheduled",
    "PmWindowScheduled",
    "WorkStarted",
    "BreakdownRepaired",
    "PreventiveWorkCompleted",
    "WorkOrderCancelled",
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
    /// An enum field holds a value this version does not know.
    #[error("field {field} has unknown value {value}")]
    UnknownEnum { field: String, value: i32 },
    /// An id or text is malformed.
    #[error("field {field} is invalid: {source}")]
    Invalid {
        field: String,
        #[source]
        source: InvalidId,
    },
}

impl RequestError {
    /// Returns the name of the offending field (`at`, `context.idempotency_key`, ...).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand<I, C> {
    /// The aggregate the command is for (its `Display` is the aggregate id in the store).
    pub id: I,
    /// The command, guarded by the request's `expected_version` and `idempotency_key`.
    pub command: Versioned<C>,
    /// Who sent it.
    pub caller: Caller,
}

/// A parsed asset request.
pub type AssetRequest = ParsedCommand<AssetId, AssetCommand>;

/// A parsed work order request.
pub type WorkOrderRequest = ParsedCommand<WorkOrderId, WorkOrderCommand>;

// Requests to commands: assets.

/// Parses `RegisterAsset`; an empty `parent` means none (only right for an enterprise).
pub fn register_asset(req: pb::RegisterAssetRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let level = match pb::AssetLevel::try_from(req.level) {
        Ok(pb::AssetLevel::Enterprise) => AssetLevel::Enterprise,
        Ok(pb::AssetLevel::Site) => AssetLevel::Site,
        Ok(pb::AssetLevel::Area) => AssetLevel::Area,
        Ok(pb::AssetLevel::WorkCenter) => AssetLevel::WorkCenter,
        Ok(pb::AssetLevel::WorkUnit) => AssetLevel::WorkUnit,
        Ok(pb::AssetLevel::Unspecified) => return Err(missing("level")),
        Err(_) => {
            return Err(RequestError::UnknownEnum {
                field: "level".to_owned(),
                value: req.level,
            })
        }
    };
    let parent = match req.parent.as_str() {
        "" => None,
        _ => Some(unresolved_parent(asset_id(req.parent, "parent")?)),
    };
    let command = AssetCommand::Register {
        asset: id.clone(),
        level,
        name: req.name,
        parent,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `MoveAsset`.
pub fn move_asset(req: pb::MoveAssetRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let command = AssetCommand::Move {
        parent: unresolved_parent(asset_id(req.parent, "parent")?),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RetireAsset`.
pub fn retire_asset(req: pb::RetireAssetRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let command = AssetCommand::Retire {
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `DefinePlan`; a negative `every` is rejected here, zero by the domain.
pub fn define_plan(req: pb::DefinePlanRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let every = non_negative(req.every, "every")?;
    let trigger = match pb::PlanTrigger::try_from(req.trigger) {
        Ok(pb::PlanTrigger::CalendarDays) => Trigger::CalendarDays { days: every },
        Ok(pb::PlanTrigger::Cycles) => Trigger::Cycles { cycles: every },
        Ok(pb::PlanTrigger::RunHours) => Trigger::RunHours { hours: every },
        Ok(pb::PlanTrigger::Unspecified) => return Err(missing("trigger")),
        Err(_) => {
            return Err(RequestError::UnknownEnum {
                field: "trigger".to_owned(),
                value: req.trigger,
            })
        }
    };
    let plan = if req.plan.is_empty() {
        return Err(missing("plan"));
    } else {
        PlanId::new(req.plan).map_err(|source| invalid("plan", source))?
    };
    let command = AssetCommand::DefinePlan {
        plan,
        trigger,
        description: description(req.description, "description")?
            .ok_or_else(|| missing("description"))?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RecordUsage`; negative `cycles` or `run_time_ms` are rejected here.
pub fn record_usage(req: pb::RecordUsageRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let command = AssetCommand::RecordUsage {
        cycles: Cycles(non_negative(req.cycles, "cycles")?),
        run_time: Millis(non_negative(req.run_time_ms, "run_time_ms")?),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `CheckPlans`.
pub fn check_plans(req: pb::CheckPlansRequest) -> Result<AssetRequest, RequestError> {
    let context = context(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let command = AssetCommand::CheckPlans {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the asset id of `GetAsset`.
pub fn get_asset(req: &pb::GetAssetRequest) -> Result<AssetId, RequestError> {
    asset_id(req.asset.clone(), "asset")
}

// Requests to commands: work orders.

/// Parses `ReportBreakdown`; an empty `work_order` takes the id `new_id` returns.
pub fn report_breakdown(
    req: pb::ReportBreakdownRequest,
    new_id: impl FnOnce() -> WorkOrderId,
) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = new_work_order_id(&req.work_order, new_id)?;
    let failure_mode = match req.failure_mode.as_str() {
        "" => return Err(missing("failure_mode")),
        _ => {
            FailureMode::new(req.failure_mode).map_err(|source| invalid("failure_mode", source))?
        }
    };
    let product = match req.product.as_str() {
        "" => None,
        _ => Some(ProductId::new(req.product).map_err(|source| invalid("product", source))?),
    };
    let command = WorkOrderCommand::ReportBreakdown {
        work_order: id,
        equipment: unresolved_equipment(asset_id(req.work_unit, "work_unit")?),
        failure_mode,
        failure_start: at(req.failure_start.as_ref(), "failure_start")?,
        product,
        description: description(req.description, "description")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RequestPreventiveWork`; an empty `work_order` takes the id `new_id` returns.
pub fn request_preventive_work(
    req: pb::RequestPreventiveWorkRequest,
    new_id: impl FnOnce() -> WorkOrderId,
) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = new_work_order_id(&req.work_order, new_id)?;
    let command = WorkOrderCommand::RequestPreventive {
        work_order: id,
        equipment: unresolved_equipment(asset_id(req.work_unit, "work_unit")?),
        plan: None,
        description: description(req.description, "description")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `ScheduleWorkOrder`.
pub fn schedule_work_order(
    req: pb::ScheduleWorkOrderRequest,
) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = work_order_id(&req.work_order)?;
    let command = WorkOrderCommand::Schedule {
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `StartWork`.
pub fn start_work(req: pb::WorkOrderCommandRequest) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = work_order_id(&req.work_order)?;
    let command = WorkOrderCommand::Start {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `CompleteWork`.
pub fn complete_work(req: pb::WorkOrderCommandRequest) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = work_order_id(&req.work_order)?;
    let command = WorkOrderCommand::Complete {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `CancelWorkOrder`.
pub fn cancel_work_order(
    req: pb::CancelWorkOrderRequest,
) -> Result<WorkOrderRequest, RequestError> {
    let context = context(req.context)?;
    let id = work_order_id(&req.work_order)?;
    let command = WorkOrderCommand::Cancel {
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the work order id of `GetWorkOrder`.
pub fn get_work_order(req: &pb::GetWorkOrderRequest) -> Result<WorkOrderId, RequestError> {
    work_order_id(&req.work_order)
}

// Events to the `MaintenanceEvent` oneof.

/// Returns the `MaintenanceEvent.event` case of an asset event.
pub fn asset_event_to_proto(event: &AssetEvent) -> Event {
    match event {
        AssetEvent::AssetRegistered {
            asset,
            level,
            name,
            parent,
            at,
        } => Event::AssetRegistered(pb::AssetRegistered {
            asset: asset.to_string(),
            level: level_to_proto(*level).into(),
            name: name.clone(),
            parent: text(parent.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::AssetMoved {
            asset,
            from_parent,
            to_parent,
            at,
        } => Event::AssetMoved(pb::AssetMoved {
            asset: asset.to_string(),
            from_parent: from_parent.to_string(),
            to_parent: to_parent.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::AssetRetired { asset, reason, at } => Event::AssetRetired(pb::AssetRetired {
            asset: asset.to_string(),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::MaintenancePlanDefined {
            work_unit,
            plan,
            trigger,
            description,
            at,
        } => Event::MaintenancePlanDefined(pb::MaintenancePlanDefined {
            work_unit: work_unit.to_string(),
            plan: plan.to_string(),
            trigger: trigger_to_proto(*trigger).into(),
            every: trigger.every(),
            description: description.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::UsageRecorded {
            work_unit,
            cycles,
            run_time_ms,
            total_cycles,
            total_run_time_ms,
            at,
        } => Event::UsageRecorded(pb::UsageRecorded {
            work_unit: work_unit.to_string(),
            cycles: cycles.0,
            run_time_ms: run_time_ms.0,
            total_cycles: total_cycles.0,
            total_run_time_ms: total_run_time_ms.0,
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::MaintenancePlanDue {
            work_unit,
            plan,
            occurrence,
            trigger,
            at,
        } => Event::MaintenancePlanDue(pb::MaintenancePlanDue {
            work_unit: work_unit.to_string(),
            plan: plan.to_string(),
            occurrence: *occurrence,
            trigger: trigger_to_proto(*trigger).into(),
            at: Some(to_timestamp(*at)),
        }),
        AssetEvent::PlanWorkOrderRaised {
            work_unit,
            plan,
            occurrence,
            work_order,
            at,
        } => Event::PlanWorkOrderRaised(pb::PlanWorkOrderRaised {
            work_unit: work_unit.to_string(),
            plan: plan.to_string(),
            occurrence: *occurrence,
            work_order: work_order.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `MaintenanceEvent.event` case of a work order event; absent optional values
/// become empty strings.
pub fn work_order_event_to_proto(event: &WorkOrderEvent) -> Event {
    match event {
        WorkOrderEvent::BreakdownReported {
            work_order,
            work_unit,
            failure_mode,
            failure_start,
            product,
            description,
            at,
        } => Event::BreakdownReported(pb::BreakdownReported {
            work_order: work_order.to_string(),
            work_unit: work_unit.to_string(),
            failure_mode: failure_mode.to_string(),
            failure_start: Some(to_timestamp(*failure_start)),
            product: text(product.as_ref()),
            description: text(description.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::PreventiveWorkRequested {
            work_order,
            work_unit,
            plan,
            description,
            at,
        } => Event::PreventiveWorkRequested(pb::PreventiveWorkRequested {
            work_order: work_order.to_string(),
            work_unit: work_unit.to_string(),
            plan: text(plan.as_ref().map(|p| &p.plan)),
            occurrence: plan.as_ref().map_or(0, |p| p.occurrence),
            description: text(description.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::WorkOrderScheduled {
            work_unit,
            from,
            until,
            at,
        } => Event::WorkOrderScheduled(pb::WorkOrderScheduled {
            work_unit: work_unit.to_string(),
            from: Some(to_timestamp(*from)),
            until: Some(to_timestamp(*until)),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::PmWindowScheduled {
            work_unit,
            plan,
            from,
            until,
            reason,
            at,
        } => Event::PmWindowScheduled(pb::PmWindowScheduled {
            work_unit: work_unit.to_string(),
            plan: text(plan.as_ref()),
            from: Some(to_timestamp(*from)),
            until: Some(to_timestamp(*until)),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::WorkStarted { work_unit, at } => Event::WorkStarted(pb::WorkStarted {
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::BreakdownRepaired {
            work_unit,
            failure_mode,
            product,
            failure_start,
            repair_start,
            repair_end,
        } => Event::BreakdownRepaired(pb::BreakdownRepaired {
            work_unit: work_unit.to_string(),
            failure_mode: failure_mode.to_string(),
            product: text(product.as_ref()),
            failure_start: Some(to_timestamp(*failure_start)),
            repair_start: Some(to_timestamp(*repair_start)),
            repair_end: Some(to_timestamp(*repair_end)),
            at: Some(to_timestamp(*repair_end)),
        }),
        WorkOrderEvent::PreventiveWorkCompleted {
            work_unit,
            plan,
            started,
            at,
        } => Event::PreventiveWorkCompleted(pb::PreventiveWorkCompleted {
            work_unit: work_unit.to_string(),
            plan: text(plan.as_ref()),
            started: Some(to_timestamp(*started)),
            at: Some(to_timestamp(*at)),
        }),
        WorkOrderEvent::WorkOrderCancelled {
            work_unit,
            reason,
            at,
        } => Event::WorkOrderCancelled(pb::WorkOrderCancelled {
            work_unit: work_unit.to_string(),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the event type (proto message name) of a `MaintenanceEvent.event` case; one of
/// [`EVENT_TYPES`].
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::AssetRegistered(_) => "AssetRegistered",
        Event::AssetMoved(_) => "AssetMoved",
        Event::AssetRetired(_) => "AssetRetired",
        Event::MaintenancePlanDefined(_) => "MaintenancePlanDefined",
        Event::UsageRecorded(_) => "UsageRecorded",
        Event::MaintenancePlanDue(_) => "MaintenancePlanDue",
        Event::PlanWorkOrderRaised(_) => "PlanWorkOrderRaised",
        Event::BreakdownReported(_) => "BreakdownReported",
        Event::PreventiveWorkRequested(_) => "PreventiveWorkRequested",
        Event::WorkOrderScheduled(_) => "WorkOrderScheduled",
        Event::PmWindowScheduled(_) => "PmWindowScheduled",
        Event::WorkStarted(_) => "WorkStarted",
        Event::BreakdownRepaired(_) => "BreakdownRepaired",
        Event::PreventiveWorkCompleted(_) => "PreventiveWorkCompleted",
        Event::WorkOrderCancelled(_) => "WorkOrderCancelled",
    }
}

// Aggregate state to replies.

/// Returns the `GetAsset` reply for `asset` at `asset.version()`, or
/// [`AssetError::NotRegistered`] when it was never registered.
pub fn asset_reply(asset: &Asset) -> Result<pb::Asset, AssetError> {
    let state = asset.state().ok_or(AssetError::NotRegistered)?;
    Ok(pb::Asset {
        asset: state.id().to_string(),
        level: level_to_proto(state.level()).into(),
        name: state.name().to_owned(),
        parent: text(state.parent()),
        retired: state.retired().is_some(),
        total_cycles: state.cycles().0,
        total_run_time_ms: state.run_time().0,
        plans: state
            .plans()
            .iter()
            .map(|(id, plan)| pb::Plan {
                plan: id.to_string(),
                trigger: trigger_to_proto(plan.trigger()).into(),
                every: plan.trigger().every(),
                description: plan.description().to_string(),
                occurrences: plan.occurrences(),
                next_due: plan.next_due().map(to_timestamp),
                remaining: plan.remaining(state.cycles(), state.run_time()),
            })
            .collect(),
        version: asset.version(),
    })
}

/// Returns the `GetWorkOrder` reply for `order` at `order.version()`, or
/// [`WorkOrderError::NotFound`] when it was never requested.
pub fn work_order_reply(order: &WorkOrder) -> Result<pb::WorkOrder, WorkOrderError> {
    let state = order.state().ok_or(WorkOrderError::NotFound)?;
    let status = match state.status() {
        WorkOrderStatus::Requested => pb::WorkOrderStatus::Requested,
        WorkOrderStatus::Scheduled => pb::WorkOrderStatus::Scheduled,
        WorkOrderStatus::InProgress => pb::WorkOrderStatus::InProgress,
        WorkOrderStatus::Done => pb::WorkOrderStatus::Done,
        WorkOrderStatus::Cancelled => pb::WorkOrderStatus::Cancelled,
    };
    let mut reply = pb::WorkOrder {
        work_order: state.id().to_string(),
        status: status.into(),
        work_unit: state.work_unit().to_string(),
        scheduled_from: state.window().map(|(from, _)| to_timestamp(from)),
        scheduled_until: state.window().map(|(_, until)| to_timestamp(until)),
        started: state.started().map(to_timestamp),
        completed: state.completed().map(to_timestamp),
        description: text(state.description()),
        version: order.version(),
        ..Default::default()
    };
    match state.kind() {
        WorkOrderKind::Corrective {
            failure_mode,
            failure_start,
            ..
        } => {
            reply.set_kind(pb::WorkOrderKind::Corrective);
            reply.failure_mode = failure_mode.to_string();
            reply.failure_start = Some(to_timestamp(*failure_start));
        }
        WorkOrderKind::Preventive { plan } => {
            reply.set_kind(pb::WorkOrderKind::Preventive);
            reply.plan = text(plan.as_ref().map(|p| &p.plan));
        }
    }
    Ok(reply)
}

/// Returns the reply to an accepted command: the aggregate id, its version afterwards and the
/// work orders due plans raised.
pub fn command_reply(
    aggregate_id: &impl ToString,
    version: u64,
    raised_work_orders: &[WorkOrderId],
) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
        raised_work_orders: raised_work_orders.iter().map(ToString::to_string).collect(),
    }
}

// Field helpers.

/// The parts of a `CommandContext` every parser needs.
struct Context {
    caller: Caller,
    expected_version: Option<u64>,
    idempotency_key: Option<IdempotencyKey>,
}

impl Context {
    fn parsed<I, C>(self, id: I, command: C) -> ParsedCommand<I, C> {
        ParsedCommand {
            id,
            command: Versioned::new(command, self.expected_version).with_key(self.idempotency_key),
            caller: self.caller,
        }
    }
}

/// Splits the optional `CommandContext` into the caller, the expected version and the key.
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

fn at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, RequestError> {
    Ok(from_timestamp(timestamp, field)?)
}

fn asset_id(value: String, field: &str) -> Result<AssetId, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    AssetId::new(value).map_err(|source| invalid(field, source))
}

fn work_order_id(value: &str) -> Result<WorkOrderId, RequestError> {
    if value.is_empty() {
        return Err(missing("work_order"));
    }
    value
        .parse()
        .map_err(|source| invalid("work_order", source))
}

fn new_work_order_id(
    value: &str,
    new_id: impl FnOnce() -> WorkOrderId,
) -> Result<WorkOrderId, RequestError> {
    if value.is_empty() {
        Ok(new_id())
    } else {
        work_order_id(value)
    }
}

fn reason(value: String, field: &str) -> Result<Reason, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    Reason::new(value).map_err(|source| invalid(field, source))
}

fn description(value: String, field: &str) -> Result<Option<Description>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    Description::new(value)
        .map(Some)
        .map_err(|source| invalid(field, source))
}

fn non_negative(value: i64, field: &str) -> Result<u64, RequestError> {
    u64::try_from(value).map_err(|_| RequestError::Negative {
        field: field.to_owned(),
        value,
    })
}

fn unresolved_parent(id: AssetId) -> ParentRef {
    ParentRef { id, found: None }
}

fn unresolved_equipment(id: AssetId) -> Equipment {
    Equipment { id, found: None }
}

fn level_to_proto(level: AssetLevel) -> pb::AssetLevel {
    match level {
        AssetLevel::Enterprise => pb::AssetLevel::Enterprise,
        AssetLevel::Site => pb::AssetLevel::Site,
        AssetLevel::Area => pb::AssetLevel::Area,
        AssetLevel::WorkCenter => pb::AssetLevel::WorkCenter,
        AssetLevel::WorkUnit => pb::AssetLevel::WorkUnit,
    }
}

fn trigger_to_proto(trigger: Trigger) -> pb::PlanTrigger {
    match trigger {
        Trigger::CalendarDays { .. } => pb::PlanTrigger::CalendarDays,
        Trigger::Cycles { .. } => pb::PlanTrigger::Cycles,
        Trigger::RunHours { .. } => pb::PlanTrigger::RunHours,
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
