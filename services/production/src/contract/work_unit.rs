//! Work units: their requests to commands, their events to the `ProductionEvent` oneof and
//! their state to the `WorkUnit` reply.

use super::*;

/// Parses `RegisterWorkUnit`; zero threshold or window take the domain defaults.
pub fn register_work_unit(
    req: pb::RegisterWorkUnitRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::Register {
        work_unit: id.clone(),
        name: mom_grpc::name(req.name, "name")?,
        micro_stop_threshold: nonzero_millis(req.micro_stop_threshold_ms),
        startup_window: nonzero_millis(req.startup_window_ms),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `SetIdealCycleTime`.
pub fn set_ideal_cycle_time(
    req: pb::SetIdealCycleTimeRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::SetIdealCycleTime {
        product: product(req.product, "product")?,
        ideal_cycle_time: Millis(req.ideal_cycle_time_ms),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `SetDefaultIdealCycleTime`.
pub fn set_default_ideal_cycle_time(
    req: pb::SetDefaultIdealCycleTimeRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::SetDefaultIdealCycleTime {
        ideal_cycle_time: Millis(req.ideal_cycle_time_ms),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportRunning`; an empty `product` keeps the current product.
pub fn report_running(req: pb::ReportRunningRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportRunning {
        product: optional_product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportStopped`; an empty `reason` means none was given. The reason's catalogue code
/// is the API's to resolve (`crate::reasons`), so it is `None` here.
pub fn report_stopped(req: pb::ReportStoppedRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportStopped {
        reason: optional_reason(req.reason, "reason")?,
        code: None,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportDisconnected`; an empty `reason` means none was given.
pub fn report_disconnected(
    req: pb::ReportDisconnectedRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportDisconnected {
        reason: optional_reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `StartSetup`; an empty `next_product` means it is not known yet.
pub fn start_setup(req: pb::StartSetupRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::StartSetup {
        next_product: optional_product(req.next_product, "next_product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `EndSetup`.
pub fn end_setup(req: pb::EndSetupRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::EndSetup {
        product: product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `SchedulePlannedShutdown`.
pub fn schedule_planned_shutdown(
    req: pb::SchedulePlannedShutdownRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::SchedulePlannedShutdown {
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
        reason: reason(req.reason, "reason")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportCount`; a negative `total` is rejected here, an empty `product` means the
/// current product.
pub fn report_count(req: pb::ReportCountRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportCount {
        total: units(req.total, "total")?,
        product: optional_product(req.product, "product")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ReportParameter`; the value must be finite.
pub fn report_parameter(req: pb::ReportParameterRequest) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::ReportParameter {
        parameter: required(req.parameter, "parameter", ParameterName::new)?,
        value: finite(req.value, "value")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `OverrideParameter`; the reason is required, the setpoint must be finite (the work
/// unit checks it against the limits).
pub fn override_parameter(
    req: pb::OverrideParameterRequest,
) -> Result<WorkUnitRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = work_unit_id(req.work_unit, "work_unit")?;
    let command = WorkUnitCommand::OverrideParameter {
        parameter: required(req.parameter, "parameter", ParameterName::new)?,
        setpoint: finite(req.setpoint, "setpoint")?,
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses the work unit id of `GetWorkUnit`.
pub fn get_work_unit(req: &pb::GetWorkUnitRequest) -> Result<WorkUnitId, RequestError> {
    work_unit_id(req.work_unit.clone(), "work_unit")
}

// Events to the `ProductionEvent` oneof.

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
        WorkUnitEvent::WorkUnitStopped {
            reason,
            at,
            reason_code,
        } => Event::WorkUnitStopped(pb::WorkUnitStopped {
            reason: text(reason.as_ref()),
            at: Some(to_timestamp(*at)),
            reason_code: text(reason_code.as_ref()),
        }),
        WorkUnitEvent::DefaultIdealCycleTimeSet {
            ideal_cycle_time_ms,
            at,
        } => Event::DefaultIdealCycleTimeSet(pb::DefaultIdealCycleTimeSet {
            ideal_cycle_time_ms: ideal_cycle_time_ms.0,
            at: Some(to_timestamp(*at)),
        }),
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
                product: text(product.as_ref()),
                total: total.0,
                at: Some(to_timestamp(*at)),
            })
        }
        WorkUnitEvent::WorkUnitDisconnected { reason, at } => {
            Event::WorkUnitDisconnected(pb::WorkUnitDisconnected {
                reason: text(reason.as_ref()),
                at: Some(to_timestamp(*at)),
            })
        }
        WorkUnitEvent::RecipeDownloaded {
            work_unit,
            order_id,
            operation,
            recipe,
            version,
            parameters,
            at,
        } => Event::RecipeDownloaded(pb::RecipeDownloaded {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            recipe: recipe.to_string(),
            version: *version,
            parameters: parameters.iter().map(parameter_to_proto).collect(),
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::RecipeUnloaded {
            work_unit,
            order_id,
            operation,
            recipe,
            version,
            at,
        } => Event::RecipeUnloaded(pb::RecipeUnloaded {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            recipe: recipe.to_string(),
            version: *version,
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::OperationLinked {
            work_unit,
            order_id,
            operation,
            product,
            at,
        } => Event::OperationLinked(pb::OperationLinked {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            product: product.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::OperationUnlinked {
            work_unit,
            order_id,
            operation,
            at,
        } => Event::OperationUnlinked(pb::OperationUnlinked {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            at: Some(to_timestamp(*at)),
        }),
        WorkUnitEvent::ParameterRecorded {
            work_unit,
            order_id,
            operation,
            recipe,
            version,
            parameter,
            unit,
            value,
            setpoint,
            lower,
            upper,
            status,
            at,
        } => Event::ParameterRecorded(pb::ParameterRecorded {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            recipe: recipe.to_string(),
            version: *version,
            parameter: parameter.to_string(),
            value: *value,
            setpoint: *setpoint,
            lower: *lower,
            upper: *upper,
            status: status_to_proto(*status).into(),
            at: Some(to_timestamp(*at)),
            unit: unit.clone(),
        }),
        WorkUnitEvent::ParameterDeviated {
            work_unit,
            order_id,
            operation,
            recipe,
            version,
            parameter,
            unit,
            value,
            setpoint,
            lower,
            upper,
            hold_order,
            at,
        } => Event::ParameterDeviated(pb::ParameterDeviated {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            recipe: recipe.to_string(),
            version: *version,
            parameter: parameter.to_string(),
            value: *value,
            setpoint: *setpoint,
            lower: *lower,
            upper: *upper,
            hold_order: *hold_order,
            at: Some(to_timestamp(*at)),
            unit: unit.clone(),
        }),
        WorkUnitEvent::ParameterOverridden {
            work_unit,
            order_id,
            operation,
            recipe,
            version,
            parameter,
            old_setpoint,
            new_setpoint,
            reason,
            at,
        } => Event::ParameterOverridden(pb::ParameterOverridden {
            work_unit: work_unit.to_string(),
            order_id: order_id.to_string(),
            operation: operation.0,
            recipe: recipe.to_string(),
            version: *version,
            parameter: parameter.to_string(),
            old_setpoint: *old_setpoint,
            new_setpoint: *new_setpoint,
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

fn status_to_proto(status: ParameterStatus) -> pb::ParameterStatus {
    match status {
        ParameterStatus::Within => pb::ParameterStatus::Within,
        ParameterStatus::Warning => pb::ParameterStatus::Warning,
        ParameterStatus::Deviation => pb::ParameterStatus::Deviation,
    }
}

// Aggregate state to replies.

/// Returns the `GetWorkUnit` reply for `unit` at `unit.version()`, or
/// [`WorkUnitError::NotRegistered`] when it was never registered. `products` lists every product
/// that has a count or an ideal cycle time, sorted by id.
pub fn work_unit_reply(unit: &WorkUnit) -> Result<pb::WorkUnit, WorkUnitError> {
    let state = unit.state().as_ref().ok_or(WorkUnitError::NotRegistered)?;
    let (machine, stop_reason) = match state.machine() {
        MachineState::Stopped { reason, .. } => (pb::WorkUnitState::Stopped, text(reason.as_ref())),
        MachineState::Running { .. } => (pb::WorkUnitState::Running, String::new()),
        MachineState::Setup { .. } => (pb::WorkUnitState::Setup, String::new()),
        MachineState::Unknown { reason, .. } => (pb::WorkUnitState::Unknown, text(reason.as_ref())),
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
        default_ideal_cycle_time_ms: state
            .default_ideal_cycle_time()
            .map_or(0, |millis| millis.0),
    })
}
