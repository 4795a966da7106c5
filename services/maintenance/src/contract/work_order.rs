//! Work orders on the wire: requests, events and the `WorkOrder` reply.

use mom_grpc::{at, guards, optional, required, uuid_id, uuid_id_or, RequestError};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_event::Event;
use mom_proto::time::to_timestamp;

use super::{asset_id, description, reason, text, ParsedCommand};
use crate::domain::{
    AssetId, Equipment, FailureMode, ProductId, WorkOrder, WorkOrderCommand, WorkOrderError,
    WorkOrderEvent, WorkOrderId, WorkOrderKind, WorkOrderStatus,
};

/// A parsed work order request.
pub type WorkOrderRequest = ParsedCommand<WorkOrderId, WorkOrderCommand>;

/// Parses `ReportBreakdown`; an empty `work_order` takes the id `new_id` returns.
pub fn report_breakdown(
    req: pb::ReportBreakdownRequest,
    new_id: impl FnOnce() -> WorkOrderId,
) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id_or(&req.work_order, "work_order", new_id)?;
    let failure_mode = required(req.failure_mode, "failure_mode", FailureMode::new)?;
    let product = optional(req.product, "product", ProductId::new)?;
    let command = WorkOrderCommand::ReportBreakdown {
        work_order: id,
        equipment: unresolved_equipment(asset_id(req.work_unit, "work_unit")?),
        failure_mode,
        failure_start: at(req.failure_start.as_ref(), "failure_start")?,
        product,
        description: description(req.description, "description")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `RequestPreventiveWork`; an empty `work_order` takes the id `new_id` returns.
pub fn request_preventive_work(
    req: pb::RequestPreventiveWorkRequest,
    new_id: impl FnOnce() -> WorkOrderId,
) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id_or(&req.work_order, "work_order", new_id)?;
    let command = WorkOrderCommand::RequestPreventive {
        work_order: id,
        equipment: unresolved_equipment(asset_id(req.work_unit, "work_unit")?),
        plan: None,
        description: description(req.description, "description")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ScheduleWorkOrder`.
pub fn schedule_work_order(
    req: pb::ScheduleWorkOrderRequest,
) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id(&req.work_order, "work_order")?;
    let command = WorkOrderCommand::Schedule {
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `StartWork`.
pub fn start_work(req: pb::WorkOrderCommandRequest) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id(&req.work_order, "work_order")?;
    let command = WorkOrderCommand::Start {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `CompleteWork`.
pub fn complete_work(req: pb::WorkOrderCommandRequest) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id(&req.work_order, "work_order")?;
    let command = WorkOrderCommand::Complete {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `CancelWorkOrder`.
pub fn cancel_work_order(
    req: pb::CancelWorkOrderRequest,
) -> Result<WorkOrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id(&req.work_order, "work_order")?;
    let command = WorkOrderCommand::Cancel {
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses the work order id of `GetWorkOrder`.
pub fn get_work_order(req: &pb::GetWorkOrderRequest) -> Result<WorkOrderId, RequestError> {
    uuid_id(&req.work_order, "work_order")
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

/// Returns the `GetWorkOrder` reply for `order` at `order.version()`, or
/// [`WorkOrderError::NotFound`] when it was never requested.
pub fn work_order_reply(order: &WorkOrder) -> Result<pb::WorkOrder, WorkOrderError> {
    let state = order.state().as_ref().ok_or(WorkOrderError::NotFound)?;
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

fn unresolved_equipment(id: AssetId) -> Equipment {
    Equipment { id, found: None }
}
