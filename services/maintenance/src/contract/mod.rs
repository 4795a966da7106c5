//! The mapping between the maintenance domain and its public contract in
//! `proto/mom/maintenance/v1`: requests to commands, events to the `MaintenanceEvent` oneof and
//! aggregate state to the `Asset` / `WorkOrder` replies, one module per aggregate.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic. Facts about other
//! aggregates (a parent asset, a work order's work unit) are left unresolved (`found: None`);
//! the application fills them in before running the command.

mod asset;
mod work_order;

use mom_grpc::{optional, required};
pub use mom_grpc::{ParsedCommand, RequestError};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_event::Event;

pub use asset::{
    asset_event_to_proto, asset_reply, check_plans, define_plan, get_asset, move_asset,
    record_usage, register_asset, retire_asset, AssetRequest,
};
pub use work_order::{
    cancel_work_order, complete_work, get_work_order, report_breakdown, request_preventive_work,
    schedule_work_order, start_work, work_order_event_to_proto, work_order_reply, WorkOrderRequest,
};

use crate::domain::{AssetId, Description, Reason, WorkOrderId};

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

// Field helpers both aggregates use.

fn asset_id(value: String, field: &str) -> Result<AssetId, RequestError> {
    required(value, field, AssetId::new)
}

fn reason(value: String, field: &str) -> Result<Reason, RequestError> {
    required(value, field, Reason::new)
}

fn description(value: String, field: &str) -> Result<Option<Description>, RequestError> {
    optional(value, field, Description::new)
}

fn text(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests;
