//! Production orders: their requests to commands, their events to the `ProductionEvent` oneof
//! and their state to the `Order` reply.

use super::*;

/// Parses `CreateOrder`; an empty `order_id` takes the id `new_id` returns.
pub fn create_order(
    req: pb::CreateOrderRequest,
    new_id: impl FnOnce() -> OrderId,
) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = uuid_id_or(&req.order_id, "order_id", new_id)?;
    if req.routing.is_empty() {
        return Err(RequestError::Empty {
            field: "routing".to_owned(),
        });
    }
    let routing = mom_grpc::items(req.routing, "routing", routing_operation)?;
    let command = OrderCommand::Create {
        order: id,
        product: product(req.product, "product")?,
        quantity: Units(req.quantity),
        routing,
        priority: priority(req.priority)?.unwrap_or_default(),
        due: req.due.as_ref().map(|ts| at(Some(ts), "due")).transpose()?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses a priority: 0 is none, 1..=9 a priority, anything else names the field.
fn priority(value: u32) -> Result<Option<Priority>, RequestError> {
    if value == 0 {
        return Ok(None);
    }
    Priority::new(value)
        .map(Some)
        .ok_or_else(|| RequestError::NotOneOf {
            field: "priority".to_owned(),
            value: value.to_string(),
            allowed: "1 to 9 (0: default)".to_owned(),
        })
}

/// Parses `ChangeOrderPlanning`; a request that changes nothing is `INVALID_ARGUMENT`.
pub fn change_order_planning(
    req: pb::ChangeOrderPlanningRequest,
) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let due = req.due.as_ref().map(|ts| at(Some(ts), "due")).transpose()?;
    let due = match (due, req.clear_due) {
        (Some(_), true) => {
            return Err(RequestError::NotOneOf {
                field: "clear_due".to_owned(),
                value: "true".to_owned(),
                allowed: "false when due is given".to_owned(),
            })
        }
        (Some(due), false) => DueChange::Set(due),
        (None, true) => DueChange::Clear,
        (None, false) => DueChange::Keep,
    };
    let priority = priority(req.priority)?;
    if priority.is_none() && due == DueChange::Keep {
        return Err(missing("priority"));
    }
    let command = OrderCommand::ChangePlanning {
        priority,
        due,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `SequenceOrder`.
pub fn sequence_order(req: pb::SequenceOrderRequest) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    if req.position == 0 {
        return Err(missing("position"));
    }
    let command = OrderCommand::Sequence {
        work_center: required(req.work_center, "work_center", WorkCenterId::new)?,
        position: req.position,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `DispatchOperation`.
pub fn dispatch_operation(req: pb::DispatchOperationRequest) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::Dispatch {
        operation: operation(req.operation, "operation")?,
        work_unit: work_unit_id(req.work_unit, "work_unit")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `RedispatchOperation`.
pub fn redispatch_operation(
    req: pb::RedispatchOperationRequest,
) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::Redispatch {
        operation: operation(req.operation, "operation")?,
        work_unit: work_unit_id(req.work_unit, "work_unit")?,
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
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
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::StartOperation {
        operation: operation(req.operation, "operation")?,
        work_unit: work_unit_id(req.work_unit, "work_unit")?,
        // The API binds the recipe after loading the order and its master recipe, and finds out
        // about the work unit (registered, current product) before the start.
        recipe: None,
        unit: StartingUnit::Unregistered,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportQuantity`; negative `good` or `scrap` are rejected here. The scrap reason's catalogue code is the API's to resolve
/// (`crate::reasons`), so it is `None` here.
pub fn report_quantity(req: pb::ReportQuantityRequest) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let scrap = units(req.scrap, "scrap")?;
    let scrap_reason = optional_reason(req.scrap_reason, "scrap_reason")?;
    let command = OrderCommand::ReportQuantity {
        operation: operation(req.operation, "operation")?,
        good: units(req.good, "good")?,
        scrap,
        scrap_reason: scrap_reason.map(|reason| (reason, None)),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `CompleteOperation`.
pub fn complete_operation(req: pb::CompleteOperationRequest) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::CompleteOperation {
        operation: operation(req.operation, "operation")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses the order id of `GetOrder`.
pub fn get_order(req: &pb::GetOrderRequest) -> Result<OrderId, RequestError> {
    order_id(&req.order_id)
}

/// Returns the `ProductionEvent.event` case of a production order event.
pub fn order_event_to_proto(event: &OrderEvent) -> Event {
    match event {
        OrderEvent::OrderCreated {
            order_id,
            product,
            quantity,
            routing,
            priority,
            due,
            at,
        } => Event::OrderCreated(pb::OrderCreated {
            order_id: order_id.to_string(),
            product: product.to_string(),
            quantity: quantity.0,
            routing: routing.iter().map(routing_operation_to_proto).collect(),
            at: Some(to_timestamp(*at)),
            priority: u32::from(priority.get()),
            due: due.map(to_timestamp),
        }),
        OrderEvent::OrderReleased { at } => Event::OrderReleased(pb::OrderReleased {
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationStarted {
            operation,
            work_unit,
            recipe,
            counted,
            at,
        } => Event::OperationStarted(pb::OperationStarted {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
            recipe: recipe.as_ref().map(|bound| bound.recipe.to_string()),
            recipe_version: recipe.as_ref().map(|bound| bound.version),
            counted: *counted,
        }),
        OrderEvent::QuantityReported {
            operation,
            work_unit,
            good,
            scrap,
            at,
            scrap_reason,
            scrap_reason_code,
        } => Event::QuantityReported(pb::QuantityReported {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            good: good.0,
            scrap: scrap.0,
            at: Some(to_timestamp(*at)),
            scrap_reason: text(scrap_reason.as_ref()),
            scrap_reason_code: text(scrap_reason_code.as_ref()),
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
        OrderEvent::OrderPlanningChanged { priority, due, at } => {
            Event::OrderPlanningChanged(pb::OrderPlanningChanged {
                priority: u32::from(priority.get()),
                due: due.map(to_timestamp),
                at: Some(to_timestamp(*at)),
            })
        }
        OrderEvent::OrderSequenced {
            work_center,
            position,
            at,
        } => Event::OrderSequenced(pb::OrderSequenced {
            work_center: work_center.to_string(),
            position: *position,
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationDispatched {
            operation,
            work_unit,
            at,
        } => Event::OperationDispatched(pb::OperationDispatched {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationRedispatched {
            operation,
            from_work_unit,
            work_unit,
            reason,
            at,
        } => Event::OperationRedispatched(pb::OperationRedispatched {
            operation: operation.0,
            from_work_unit: from_work_unit.to_string(),
            work_unit: work_unit.to_string(),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        OrderEvent::OperationCounted {
            operation,
            work_unit,
            total,
            count_sequence,
            at,
        } => Event::OperationCounted(pb::OperationCounted {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            total: total.0,
            count_sequence: *count_sequence,
            at: Some(to_timestamp(*at)),
        }),
    }
}

// Aggregate state to replies.

/// Returns the `GetOrder` reply for `order` at `order.version()`, or
/// [`OrderError::NotFound`] when it was never created.
pub fn order_reply(order: &ProductionOrder) -> Result<pb::Order, OrderError> {
    let state = order.state().as_ref().ok_or(OrderError::NotFound)?;
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
                dispatched_work_unit: text(op.dispatched()),
                counted: op.counted(),
            })
            .collect(),
        version: order.version(),
        priority: u32::from(state.priority().get()),
        due: state.due().map(to_timestamp),
        sequence: state
            .sequence()
            .iter()
            .map(|(work_center, position)| pb::WorkCenterPosition {
                work_center: work_center.to_string(),
                position: *position,
            })
            .collect(),
    })
}
