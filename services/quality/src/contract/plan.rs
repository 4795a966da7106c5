//! Inspection plans on the wire: requests, events and the `InspectionPlan` reply.

use mom_grpc::{
    at, guards, missing, required, units, uuid_id, uuid_id_or, ParsedCommand, RequestError,
};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::to_timestamp;

use crate::domain::{
    Characteristic, CharacteristicName, Frequency, InspectionPlan, OperationNumber, PlanCommand,
    PlanError, PlanEvent, PlanId, ProductId, Spec, Text, UnitOfMeasure, Units,
};

/// A parsed inspection plan request.
pub type PlanRequest = ParsedCommand<PlanId, PlanCommand>;

/// Parses `DefineInspectionPlan`; an empty `plan_id` takes the id `new_id` returns.
pub fn define_inspection_plan(
    req: pb::DefineInspectionPlanRequest,
    new_id: impl FnOnce() -> PlanId,
) -> Result<PlanRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id_or(&req.plan_id, "plan_id", new_id)?;
    let command = PlanCommand::Define {
        plan: id,
        product: required(req.product, "product", ProductId::new)?,
        operation: operation(req.operation, "operation")?,
        characteristics: characteristics(req.characteristics)?,
        sample_size: units(req.sample_size, "sample_size")?,
        frequency: frequency(req.frequency)?,
        open_ncr_on_failure: req.open_ncr_on_failure,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `ReviseInspectionPlan`.
pub fn revise_inspection_plan(
    req: pb::ReviseInspectionPlanRequest,
) -> Result<PlanRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.plan_id, "plan_id")?;
    let command = PlanCommand::Revise {
        characteristics: characteristics(req.characteristics)?,
        sample_size: units(req.sample_size, "sample_size")?,
        frequency: frequency(req.frequency)?,
        open_ncr_on_failure: req.open_ncr_on_failure,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RetireInspectionPlan`.
pub fn retire_inspection_plan(
    req: pb::RetireInspectionPlanRequest,
) -> Result<PlanRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.plan_id, "plan_id")?;
    let command = PlanCommand::Retire {
        reason: required(req.reason, "reason", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the plan id of `GetInspectionPlan`.
pub fn get_inspection_plan(req: &pb::GetInspectionPlanRequest) -> Result<PlanId, RequestError> {
    uuid_id(&req.plan_id, "plan_id")
}

/// Returns the `QualityEvent.event` case of an inspection plan event.
pub fn plan_event_to_proto(event: &PlanEvent) -> Event {
    match event {
        PlanEvent::InspectionPlanDefined {
            plan_id,
            product,
            operation,
            characteristics,
            sample_size,
            frequency,
            open_ncr_on_failure,
            at,
        } => Event::InspectionPlanDefined(pb::InspectionPlanDefined {
            plan_id: plan_id.to_string(),
            product: product.to_string(),
            operation: operation.0,
            characteristics: characteristics_to_proto(characteristics),
            sample_size: sample_size.0,
            frequency: Some(frequency_to_proto(*frequency)),
            at: Some(to_timestamp(*at)),
            open_ncr_on_failure: *open_ncr_on_failure,
        }),
        PlanEvent::InspectionPlanRevised {
            product,
            operation,
            revision,
            characteristics,
            sample_size,
            frequency,
            open_ncr_on_failure,
            at,
        } => Event::InspectionPlanRevised(pb::InspectionPlanRevised {
            product: product.to_string(),
            operation: operation.0,
            revision: *revision,
            characteristics: characteristics_to_proto(characteristics),
            sample_size: sample_size.0,
            frequency: Some(frequency_to_proto(*frequency)),
            at: Some(to_timestamp(*at)),
            open_ncr_on_failure: *open_ncr_on_failure,
        }),
        PlanEvent::InspectionPlanRetired {
            product,
            operation,
            reason,
            at,
        } => Event::InspectionPlanRetired(pb::InspectionPlanRetired {
            product: product.to_string(),
            operation: operation.0,
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `GetInspectionPlan` reply for `plan` at its version, or
/// [`PlanError::NotFound`] when it was never defined.
pub fn plan_reply(plan: &InspectionPlan) -> Result<pb::InspectionPlan, PlanError> {
    let state = plan.state().as_ref().ok_or(PlanError::NotFound)?;
    Ok(pb::InspectionPlan {
        plan_id: state.id().to_string(),
        product: state.product().to_string(),
        operation: state.operation().0,
        revision: state.revision(),
        characteristics: characteristics_to_proto(state.characteristics()),
        sample_size: state.sample_size().0,
        frequency: Some(frequency_to_proto(state.frequency())),
        retired: state.is_retired(),
        version: plan.version(),
        open_ncr_on_failure: state.opens_ncr_on_failure(),
    })
}

pub(super) fn operation(value: u32, field: &str) -> Result<OperationNumber, RequestError> {
    match value {
        0 => Err(missing(field)),
        n => Ok(OperationNumber(n)),
    }
}

fn characteristics(list: Vec<pb::Characteristic>) -> Result<Vec<Characteristic>, RequestError> {
    mom_grpc::items(list, "characteristics", |characteristic, item| {
        let field = |name: &str| format!("{item}.{name}");
        let name = required(characteristic.name, &field("name"), CharacteristicName::new)?;
        let spec = match characteristic.spec {
            None => return Err(missing(&field("spec"))),
            Some(pb::characteristic::Spec::Attribute(_)) => Spec::Attribute,
            Some(pb::characteristic::Spec::Variable(variable)) => Spec::Variable {
                unit: required(variable.unit, &field("variable.unit"), UnitOfMeasure::new)?,
                lower_limit: variable.lower_limit,
                upper_limit: variable.upper_limit,
                nominal: variable.nominal,
            },
        };
        Ok(Characteristic { name, spec })
    })
}

fn frequency(frequency: Option<pb::Frequency>) -> Result<Frequency, RequestError> {
    match frequency.and_then(|f| f.every) {
        Some(pb::frequency::Every::Units(units)) => Ok(Frequency::EveryUnits(Units(units))),
        Some(pb::frequency::Every::Minutes(minutes)) => Ok(Frequency::EveryMinutes(minutes)),
        Some(pb::frequency::Every::Lot(true)) => Ok(Frequency::PerLot),
        Some(pb::frequency::Every::Lot(false)) | None => Err(missing("frequency")),
    }
}

pub(super) fn characteristics_to_proto(list: &[Characteristic]) -> Vec<pb::Characteristic> {
    list.iter()
        .map(|characteristic| pb::Characteristic {
            name: characteristic.name.to_string(),
            spec: Some(match &characteristic.spec {
                Spec::Attribute => pb::characteristic::Spec::Attribute(pb::AttributeSpec {}),
                Spec::Variable {
                    unit,
                    lower_limit,
                    upper_limit,
                    nominal,
                } => pb::characteristic::Spec::Variable(pb::VariableSpec {
                    unit: unit.to_string(),
                    lower_limit: *lower_limit,
                    upper_limit: *upper_limit,
                    nominal: *nominal,
                }),
            }),
        })
        .collect()
}

fn frequency_to_proto(frequency: Frequency) -> pb::Frequency {
    pb::Frequency {
        every: Some(match frequency {
            Frequency::EveryUnits(units) => pb::frequency::Every::Units(units.0),
            Frequency::EveryMinutes(minutes) => pb::frequency::Every::Minutes(minutes),
            Frequency::PerLot => pb::frequency::Every::Lot(true),
        }),
    }
}
