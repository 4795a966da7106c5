//! Work unit supply on the wire: starting, ending and reporting starvations, their events and
//! the `GetWorkUnitSupply` reply.

use mom_grpc::{at, guards, required, RequestError};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::time::to_timestamp;

use super::{optional_order_id, optional_string, SupplyRequest};
use crate::domain::{
    MaterialId, StarvationCause, SupplyCommand, SupplyEvent, WorkUnitId, WorkUnitSupply,
};

/// Parses `StartStarvation` (a reported starvation).
pub fn start_starvation(req: pb::StartStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let guards = guards(req.context)?;
    let work_unit = required(req.work_unit, "work_unit", WorkUnitId::new)?;
    let order = optional_order_id(&req.order_id)?;
    let command = SupplyCommand::StartStarvation {
        work_unit: work_unit.clone(),
        material: required(req.material, "material", MaterialId::new)?,
        order,
        cause: StarvationCause::Reported,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(work_unit, command))
}

/// Parses `EndStarvation`.
pub fn end_starvation(req: pb::EndStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let guards = guards(req.context)?;
    let work_unit = required(req.work_unit, "work_unit", WorkUnitId::new)?;
    let command = SupplyCommand::EndStarvation {
        work_unit: work_unit.clone(),
        material: required(req.material, "material", MaterialId::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(work_unit, command))
}

/// Parses `ReportStarvation` (a reported interval).
pub fn report_starvation(req: pb::ReportStarvationRequest) -> Result<SupplyRequest, RequestError> {
    let guards = guards(req.context)?;
    let work_unit = required(req.work_unit, "work_unit", WorkUnitId::new)?;
    let order = optional_order_id(&req.order_id)?;
    let command = SupplyCommand::ReportStarvation {
        work_unit: work_unit.clone(),
        material: required(req.material, "material", MaterialId::new)?,
        order,
        from: at(req.from.as_ref(), "from")?,
        until: at(req.until.as_ref(), "until")?,
    };
    Ok(guards.parsed(work_unit, command))
}

/// Parses the work unit id of `GetWorkUnitSupply`.
pub fn get_work_unit_supply(
    req: &pb::GetWorkUnitSupplyRequest,
) -> Result<WorkUnitId, RequestError> {
    required(req.work_unit.clone(), "work_unit", WorkUnitId::new)
}

/// Maps a work unit supply event to its `InventoryEvent.event` case.
pub fn supply_event_to_proto(event: &SupplyEvent) -> Event {
    match event {
        SupplyEvent::MaterialStarvationStarted {
            work_unit,
            material,
            order,
            cause,
            at,
        } => Event::MaterialStarvationStarted(pb::MaterialStarvationStarted {
            work_unit: work_unit.to_string(),
            material: material.to_string(),
            order_id: optional_string(order.as_ref()),
            cause: match cause {
                StarvationCause::Reported => pb::StarvationCause::Reported,
                StarvationCause::ConsumeNotServed => pb::StarvationCause::ConsumeNotServed,
            }
            .into(),
            at: Some(to_timestamp(*at)),
        }),
        SupplyEvent::MaterialStarvationEnded {
            work_unit,
            material,
            order,
            from,
            until,
        } => Event::MaterialStarvationEnded(pb::MaterialStarvationEnded {
            work_unit: work_unit.to_string(),
            material: material.to_string(),
            order_id: optional_string(order.as_ref()),
            from: Some(to_timestamp(*from)),
            until: Some(to_timestamp(*until)),
            at: Some(to_timestamp(*until)),
        }),
    }
}

/// Returns the `GetWorkUnitSupply` reply; a work unit inventory never heard of waits for
/// nothing.
pub fn work_unit_supply_reply(
    work_unit: &WorkUnitId,
    supply: &WorkUnitSupply,
) -> pb::WorkUnitSupply {
    pb::WorkUnitSupply {
        work_unit: work_unit.to_string(),
        starving: supply
            .state()
            .starving()
            .iter()
            .map(|(material, starving)| pb::Starvation {
                material: material.to_string(),
                since: Some(to_timestamp(starving.since)),
                order_id: optional_string(starving.order.as_ref()),
                reported: starving.cause == StarvationCause::Reported,
            })
            .collect(),
        version: supply.version(),
    }
}
