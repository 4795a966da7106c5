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
        // The API binds the recipe after loading the order and its master recipe.
        recipe: None,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportQuantity`; negative `good` or `scrap` are rejected here.
pub fn report_quantity(req: pb::ReportQuantityRequest) -> Result<OrderRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = order_id(&req.order_id)?;
    let command = OrderCommand::ReportQuantity {
        operation: operation(req.operation, "operation")?,
        good: units(req.good, "good")?,
        scrap: units(req.scrap, "scrap")?,
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
            recipe,
            at,
        } => Event::OperationStarted(pb::OperationStarted {
            operation: operation.0,
            work_unit: work_unit.to_string(),
            at: Some(to_timestamp(*at)),
            recipe: recipe.as_ref().map(|bound| bound.recipe.to_string()),
            recipe_version: recipe.as_ref().map(|bound| bound.version),
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
            })
            .collect(),
        version: order.version(),
    })
}
