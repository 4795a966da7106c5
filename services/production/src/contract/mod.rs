//! The mapping between the production domain and its public contract in
//! `proto/mom/production/v1`: requests to commands, events to the `ProductionEvent` oneof and
//! aggregate state to the `Order` / `WorkUnit` replies, one module per aggregate (`order`,
//! `work_unit`); the parsers of production's own fields (its ids, reasons, routing) are here,
//! the request scaffold (field errors, command context and guards) is `mom_grpc`'s.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic.

mod calendar;
mod order;
mod reason_catalogue;
mod recipe;
mod work_unit;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
pub use mom_domain::{Caller, ANONYMOUS};
use mom_grpc::{at, guards, missing, optional, required, units, uuid_id, uuid_id_or};
pub use mom_grpc::{ParsedCommand, RequestError};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_event::Event;
use mom_proto::time::to_timestamp;

pub use calendar::{
    calendar_version, calendar_version_to_proto, define_calendar, get_calendar,
    plant_calendar_event_to_proto, plant_calendar_reply, publish_calendar_version,
    PlantCalendarRequest,
};
pub use order::{
    cancel_order, complete_operation, complete_order, create_order, get_order, hold_order,
    order_event_to_proto, order_reply, release_order, report_quantity, resume_order,
    start_operation,
};
pub use order::{change_order_planning, dispatch_operation, redispatch_operation, sequence_order};
pub use reason_catalogue::{
    define_reason, define_reason_category, get_reason_catalogue, loss_class_to_proto,
    reason_catalogue_event_to_proto, reason_catalogue_reply, retire_reason,
    set_unknown_reason_policy, ReasonCatalogueRequest,
};
pub use recipe::{
    approve_recipe_version, define_recipe, draft_recipe_version, get_recipe, parameter_from_proto,
    parameter_to_proto, recipe_event_to_proto, recipe_reply, retire_recipe_version, RecipeAuthors,
    RecipeRequest,
};
pub use work_unit::{
    end_setup, get_work_unit, override_parameter, register_work_unit, report_count,
    report_disconnected, report_parameter, report_running, report_stopped,
    schedule_planned_shutdown, set_default_ideal_cycle_time, set_ideal_cycle_time, start_setup,
    work_unit_event_to_proto, work_unit_reply,
};

use crate::domain::{DueChange, Priority, StartingUnit, WorkCenterId};
use crate::domain::{
    MachineState, Millis, OperationNumber, OperationStatus, OrderCommand, OrderError, OrderEvent,
    OrderId, OrderStatus, ParameterName, ParameterStatus, ProductId, ProductionOrder, Reason,
    Recipe, RecipeCommand, RecipeError, RecipeEvent, RecipeId, RecipeParameter, RoutingOperation,
    Units, VersionStatus, WorkUnit, WorkUnitCommand, WorkUnitError, WorkUnitEvent, WorkUnitId,
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
    "OrderPlanningChanged",
    "OrderSequenced",
    "OperationDispatched",
    "OperationRedispatched",
    "OperationCounted",
    "WorkUnitRegistered",
    "IdealCycleTimeSet",
    "WorkUnitRunning",
    "WorkUnitStopped",
    "SetupStarted",
    "SetupEnded",
    "PlannedShutdownScheduled",
    "UnitsCounted",
    "WorkUnitDisconnected",
    "RecipeDownloaded",
    "RecipeUnloaded",
    "ParameterRecorded",
    "ParameterDeviated",
    "ParameterOverridden",
    "OperationLinked",
    "OperationUnlinked",
    "RecipeDefined",
    "RecipeVersionDrafted",
    "RecipeVersionApproved",
    "RecipeVersionSuperseded",
    "RecipeVersionRetired",
    "ReasonCategoryDefined",
    "ReasonDefined",
    "ReasonRetired",
    "UnknownReasonPolicySet",
    "DefaultIdealCycleTimeSet",
    "CalendarDefined",
    "CalendarVersionPublished",
];

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
        Event::OrderPlanningChanged(_) => "OrderPlanningChanged",
        Event::OrderSequenced(_) => "OrderSequenced",
        Event::OperationDispatched(_) => "OperationDispatched",
        Event::OperationRedispatched(_) => "OperationRedispatched",
        Event::OperationCounted(_) => "OperationCounted",
        Event::OperationLinked(_) => "OperationLinked",
        Event::OperationUnlinked(_) => "OperationUnlinked",
        Event::WorkUnitRegistered(_) => "WorkUnitRegistered",
        Event::IdealCycleTimeSet(_) => "IdealCycleTimeSet",
        Event::WorkUnitRunning(_) => "WorkUnitRunning",
        Event::WorkUnitStopped(_) => "WorkUnitStopped",
        Event::SetupStarted(_) => "SetupStarted",
        Event::SetupEnded(_) => "SetupEnded",
        Event::PlannedShutdownScheduled(_) => "PlannedShutdownScheduled",
        Event::UnitsCounted(_) => "UnitsCounted",
        Event::WorkUnitDisconnected(_) => "WorkUnitDisconnected",
        Event::RecipeDownloaded(_) => "RecipeDownloaded",
        Event::RecipeUnloaded(_) => "RecipeUnloaded",
        Event::ParameterRecorded(_) => "ParameterRecorded",
        Event::ParameterDeviated(_) => "ParameterDeviated",
        Event::ParameterOverridden(_) => "ParameterOverridden",
        Event::RecipeDefined(_) => "RecipeDefined",
        Event::RecipeVersionDrafted(_) => "RecipeVersionDrafted",
        Event::RecipeVersionApproved(_) => "RecipeVersionApproved",
        Event::RecipeVersionSuperseded(_) => "RecipeVersionSuperseded",
        Event::RecipeVersionRetired(_) => "RecipeVersionRetired",
        Event::ReasonCategoryDefined(_) => "ReasonCategoryDefined",
        Event::ReasonDefined(_) => "ReasonDefined",
        Event::ReasonRetired(_) => "ReasonRetired",
        Event::UnknownReasonPolicySet(_) => "UnknownReasonPolicySet",
        Event::DefaultIdealCycleTimeSet(_) => "DefaultIdealCycleTimeSet",
        Event::CalendarDefined(_) => "CalendarDefined",
        Event::CalendarVersionPublished(_) => "CalendarVersionPublished",
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

fn order_request(
    req: pb::OrderCommandRequest,
    command: impl FnOnce(DateTime<Utc>) -> OrderCommand,
) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = command(at(req.at.as_ref(), "at")?);
    Ok(guards.parsed(id, command))
}

fn reason_request(
    req: pb::ReasonRequest,
    command: impl FnOnce(Reason, DateTime<Utc>) -> OrderCommand,
) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = command(reason(req.reason, "reason")?, at(req.at.as_ref(), "at")?);
    Ok(guards.parsed(id, command))
}

fn order_id(value: &str) -> Result<OrderId, RequestError> {
    uuid_id(value, "order_id")
}

fn work_unit_id(value: String, field: &str) -> Result<WorkUnitId, RequestError> {
    required(value, field, WorkUnitId::new)
}

fn product(value: String, field: &str) -> Result<ProductId, RequestError> {
    required(value, field, ProductId::new)
}

fn optional_product(value: String, field: &str) -> Result<Option<ProductId>, RequestError> {
    optional(value, field, ProductId::new)
}

fn reason(value: String, field: &str) -> Result<Reason, RequestError> {
    required(value, field, Reason::new)
}

fn optional_reason(value: String, field: &str) -> Result<Option<Reason>, RequestError> {
    optional(value, field, Reason::new)
}

fn operation(value: u32, field: &str) -> Result<OperationNumber, RequestError> {
    match value {
        0 => Err(missing(field)),
        n => Ok(OperationNumber(n)),
    }
}

fn finite(value: f64, field: &str) -> Result<f64, RequestError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(RequestError::NotOneOf {
            field: field.to_owned(),
            value: value.to_string(),
            allowed: "finite numbers".to_owned(),
        })
    }
}

fn nonzero_millis(value: u64) -> Option<Millis> {
    (value != 0).then_some(Millis(value))
}

fn routing_operation(
    step: pb::RoutingOperation,
    item: &str,
) -> Result<RoutingOperation, RequestError> {
    let field = |name: &str| format!("{item}.{name}");
    let eligible_work_units = mom_grpc::items(
        step.eligible_work_units,
        &field("eligible_work_units"),
        work_unit_id,
    )?;
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
        name: mom_grpc::name(step.name, &field("name"))?,
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

#[cfg(test)]
mod tests;
