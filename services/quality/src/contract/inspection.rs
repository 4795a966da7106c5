//! Inspections on the wire: requests, events and the `Inspection` reply.

use chrono::{DateTime, Utc};
use mom_grpc::{
    at, guards, missing, optional, optional_at, required, units, uuid_id, uuid_id_or,
    ParsedCommand, RequestError,
};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::to_timestamp;

use super::plan::characteristics_to_proto;
use super::text;
use crate::domain::{
    CharacteristicName, Inspection, InspectionCommand, InspectionError, InspectionEvent,
    InspectionId, InspectionStatus, LotId, Measurement, PlanId, PlanSnapshot, Units, UnitsMade,
    Value, WorkUnitId,
};

/// A parsed `StartInspection`: everything but the plan, which the caller loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInspection {
    /// The inspection to start (also the aggregate id).
    pub inspection: InspectionId,
    /// The plan to inspect against.
    pub plan: PlanId,
    /// Defaults for the results.
    pub made: UnitsMade,
    /// When the inspection started.
    pub at: DateTime<Utc>,
}

impl StartInspection {
    /// Returns the `Start` command against the loaded `plan`.
    pub fn with_plan(self, plan: PlanSnapshot) -> InspectionCommand {
        InspectionCommand::Start {
            inspection: self.inspection,
            plan,
            made: self.made,
            at: self.at,
        }
    }
}

/// Parses `StartInspection`; an empty `inspection_id` takes the id `new_id` returns.
pub fn start_inspection(
    req: pb::StartInspectionRequest,
    new_id: impl FnOnce() -> InspectionId,
) -> Result<ParsedCommand<InspectionId, StartInspection>, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id_or(&req.inspection_id, "inspection_id", new_id)?;
    let start = StartInspection {
        inspection: id,
        plan: uuid_id(&req.plan_id, "plan_id")?,
        made: units_made(req.work_unit, req.lot, req.produced_at.as_ref())?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, start))
}

/// Parses `RecordInspectionResult`; a zero quantity means one unit, a negative one is rejected.
pub fn record_inspection_result(
    req: pb::RecordInspectionResultRequest,
) -> Result<ParsedCommand<InspectionId, InspectionCommand>, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.inspection_id, "inspection_id")?;
    let quantity = match units(req.quantity, "quantity")? {
        Units::ZERO => Units(1),
        quantity => quantity,
    };
    let values = mom_grpc::items(req.values, "values", |value, item| {
        let field = |name: &str| format!("{item}.{name}");
        let name = required(
            value.characteristic,
            &field("characteristic"),
            CharacteristicName::new,
        )?;
        let value = match value.value {
            Some(pb::measurement_value::Value::Passed(passed)) => Value::Passed(passed),
            Some(pb::measurement_value::Value::Measured(measured)) => Value::Measured(measured),
            None => return Err(missing(&field("value"))),
        };
        Ok((name, value))
    })?;
    let command = InspectionCommand::RecordResult {
        quantity,
        values,
        made: units_made(req.work_unit, req.lot, req.produced_at.as_ref())?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `CompleteInspection`.
pub fn complete_inspection(
    req: pb::CompleteInspectionRequest,
) -> Result<ParsedCommand<InspectionId, InspectionCommand>, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.inspection_id, "inspection_id")?;
    let command = InspectionCommand::Complete {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the inspection id of `GetInspection`.
pub fn get_inspection(req: &pb::GetInspectionRequest) -> Result<InspectionId, RequestError> {
    uuid_id(&req.inspection_id, "inspection_id")
}

/// Returns the `QualityEvent.event` case of an inspection event; absent optional values become
/// empty strings or unset timestamps.
pub fn inspection_event_to_proto(event: &InspectionEvent) -> Event {
    match event {
        InspectionEvent::InspectionStarted {
            inspection_id,
            plan_id,
            plan_revision,
            product,
            operation,
            characteristics,
            sample_size,
            work_unit,
            lot,
            produced_at,
            at,
            open_ncr_on_failure,
        } => Event::InspectionStarted(pb::InspectionStarted {
            inspection_id: inspection_id.to_string(),
            plan_id: plan_id.to_string(),
            plan_revision: *plan_revision,
            product: product.to_string(),
            operation: operation.0,
            characteristics: characteristics_to_proto(characteristics),
            sample_size: sample_size.0,
            work_unit: text(work_unit.as_ref()),
            lot: text(lot.as_ref()),
            produced_at: produced_at.map(to_timestamp),
            at: Some(to_timestamp(*at)),
            open_ncr_on_failure: *open_ncr_on_failure,
        }),
        InspectionEvent::InspectionResultRecorded {
            product,
            operation,
            work_unit,
            lot,
            produced_at,
            quantity,
            rejected,
            measurements,
            at,
        } => Event::InspectionResultRecorded(pb::InspectionResultRecorded {
            product: product.to_string(),
            operation: operation.0,
            work_unit: text(work_unit.as_ref()),
            lot: text(lot.as_ref()),
            produced_at: produced_at.map(to_timestamp),
            quantity: quantity.0,
            rejected: rejected.0,
            measurements: measurements.iter().map(measurement_to_proto).collect(),
            at: Some(to_timestamp(*at)),
        }),
        InspectionEvent::InspectionCompleted {
            product,
            work_unit,
            inspected,
            rejected,
            accepted,
            at,
        } => Event::InspectionCompleted(pb::InspectionCompleted {
            product: product.to_string(),
            work_unit: text(work_unit.as_ref()),
            inspected: inspected.0,
            rejected: rejected.0,
            accepted: *accepted,
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `GetInspection` reply for `inspection` at its version, or
/// [`InspectionError::NotFound`] when it never started.
pub fn inspection_reply(inspection: &Inspection) -> Result<pb::Inspection, InspectionError> {
    let state = inspection
        .state()
        .as_ref()
        .ok_or(InspectionError::NotFound)?;
    let (plan, revision) = state.plan();
    let status = match state.status() {
        InspectionStatus::InProgress => pb::InspectionStatus::InProgress,
        InspectionStatus::Accepted => pb::InspectionStatus::Accepted,
        InspectionStatus::Rejected => pb::InspectionStatus::Rejected,
    };
    Ok(pb::Inspection {
        inspection_id: state.id().to_string(),
        plan_id: plan.to_string(),
        plan_revision: revision,
        product: state.product().to_string(),
        operation: state.operation().0,
        status: status.into(),
        sample_size: state.sample_size().0,
        inspected: state.inspected().0,
        rejected: state.rejected().0,
        rejected_lots: state
            .rejected_lots()
            .iter()
            .map(ToString::to_string)
            .collect(),
        work_unit: text(state.work_unit()),
        version: inspection.version(),
    })
}

fn units_made(
    work_unit: String,
    lot: String,
    produced_at: Option<&prost_types::Timestamp>,
) -> Result<UnitsMade, RequestError> {
    Ok(UnitsMade {
        work_unit: optional(work_unit, "work_unit", WorkUnitId::new)?,
        lot: optional(lot, "lot", LotId::new)?,
        produced_at: optional_at(produced_at, "produced_at")?,
    })
}

fn measurement_to_proto(measurement: &Measurement) -> pb::Measurement {
    pb::Measurement {
        characteristic: measurement.characteristic.to_string(),
        value: Some(match measurement.value {
            Value::Passed(passed) => pb::measurement::Value::Passed(passed),
            Value::Measured(measured) => pb::measurement::Value::Measured(measured),
        }),
        conforming: measurement.conforming,
    }
}
