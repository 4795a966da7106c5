//! Assets on the wire: requests, events and the `Asset` reply.

use mom_domain::Units;
use mom_grpc::{at, guards, known_enum, missing, optional, required, units, RequestError};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_event::Event;
use mom_proto::time::to_timestamp;

use super::{asset_id, description, reason, text, ParsedCommand};
use crate::domain::{
    Asset, AssetCommand, AssetError, AssetEvent, AssetId, AssetLevel, Millis, ParentRef, PlanId,
    Trigger,
};

/// A parsed asset request.
pub type AssetRequest = ParsedCommand<AssetId, AssetCommand>;

/// Parses `RegisterAsset`; an empty `parent` means none (only right for an enterprise).
pub fn register_asset(req: pb::RegisterAssetRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let level = match known_enum(req.level, "level")? {
        pb::AssetLevel::Enterprise => AssetLevel::Enterprise,
        pb::AssetLevel::Site => AssetLevel::Site,
        pb::AssetLevel::Area => AssetLevel::Area,
        pb::AssetLevel::WorkCenter => AssetLevel::WorkCenter,
        pb::AssetLevel::WorkUnit => AssetLevel::WorkUnit,
        pb::AssetLevel::Unspecified => return Err(missing("level")),
    };
    let parent = optional(req.parent, "parent", AssetId::new)?.map(unresolved_parent);
    let command = AssetCommand::Register {
        asset: id.clone(),
        level,
        name: mom_grpc::name(req.name, "name")?,
        parent,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `MoveAsset`.
pub fn move_asset(req: pb::MoveAssetRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let command = AssetCommand::Move {
        parent: unresolved_parent(asset_id(req.parent, "parent")?),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `RetireAsset`.
pub fn retire_asset(req: pb::RetireAssetRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.asset, "asset")?;
    let command = AssetCommand::Retire {
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `DefinePlan`; a negative `every` is rejected here, zero by the domain.
pub fn define_plan(req: pb::DefinePlanRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let Units(every) = units(req.every, "every")?;
    let trigger = match known_enum(req.trigger, "trigger")? {
        pb::PlanTrigger::CalendarDays => Trigger::CalendarDays { days: every },
        pb::PlanTrigger::Cycles => Trigger::Cycles { cycles: every },
        pb::PlanTrigger::RunHours => Trigger::RunHours { hours: every },
        pb::PlanTrigger::Unspecified => return Err(missing("trigger")),
    };
    let command = AssetCommand::DefinePlan {
        plan: required(req.plan, "plan", PlanId::new)?,
        trigger,
        description: description(req.description, "description")?
            .ok_or_else(|| missing("description"))?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `RecordUsage`; negative `cycles` or `run_time_ms` are rejected here.
pub fn record_usage(req: pb::RecordUsageRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let command = AssetCommand::RecordUsage {
        cycles: units(req.cycles, "cycles")?,
        run_time: Millis(units(req.run_time_ms, "run_time_ms")?.0),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `CheckPlans`.
pub fn check_plans(req: pb::CheckPlansRequest) -> Result<AssetRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = asset_id(req.work_unit, "work_unit")?;
    let command = AssetCommand::CheckPlans {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses the asset id of `GetAsset`.
pub fn get_asset(req: &pb::GetAssetRequest) -> Result<AssetId, RequestError> {
    asset_id(req.asset.clone(), "asset")
}

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

/// Returns the `GetAsset` reply for `asset` at `asset.version()`, or
/// [`AssetError::NotRegistered`] when it was never registered.
pub fn asset_reply(asset: &Asset) -> Result<pb::Asset, AssetError> {
    let state = asset.state().as_ref().ok_or(AssetError::NotRegistered)?;
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

fn unresolved_parent(id: AssetId) -> ParentRef {
    ParentRef { id, found: None }
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
