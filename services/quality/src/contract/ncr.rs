//! Nonconformance reports on the wire: requests, events and the `Nonconformance` reply.

use chrono::{DateTime, Utc};
use mom_grpc::{
    at, guards, known_enum, missing, optional, required, units, uuid_id, uuid_id_or, ParsedCommand,
    RequestError,
};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::to_timestamp;

use super::text;
use crate::domain::{
    Disposition, InspectionId, InspectionSummary, LotId, NcrCommand, NcrError, NcrEvent, NcrId,
    Nonconformance, ProductId, Text, Units, WorkUnitId,
};

/// A parsed nonconformance request.
pub type NcrRequest = ParsedCommand<NcrId, NcrCommand>;

/// A parsed `OpenNonconformance`: everything but the source inspection, which the caller
/// loads when one is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenNcr {
    /// The NCR to open (also the aggregate id).
    pub ncr: NcrId,
    /// The failed inspection it comes from, if any.
    pub inspection: Option<InspectionId>,
    pub product: Option<ProductId>,
    pub quantity: Option<Units>,
    pub description: Text,
    pub work_unit: Option<WorkUnitId>,
    pub contained_lots: Vec<LotId>,
    pub at: DateTime<Utc>,
}

impl OpenNcr {
    /// Returns the `Open` command with the loaded source inspection.
    pub fn with_source(self, source: Option<InspectionSummary>) -> NcrCommand {
        NcrCommand::Open {
            ncr: self.ncr,
            source,
            product: self.product,
            quantity: self.quantity,
            description: self.description,
            work_unit: self.work_unit,
            contained_lots: self.contained_lots,
            at: self.at,
        }
    }
}

/// Parses `OpenNonconformance`; an empty `ncr_id` takes the id `new_id` returns, a zero
/// quantity means "take the inspection's rejected units".
pub fn open_nonconformance(
    req: pb::OpenNonconformanceRequest,
    new_id: impl FnOnce() -> NcrId,
) -> Result<ParsedCommand<NcrId, OpenNcr>, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id_or(&req.ncr_id, "ncr_id", new_id)?;
    let inspection = match req.inspection_id.as_str() {
        "" => None,
        value => Some(uuid_id(value, "inspection_id")?),
    };
    let open = OpenNcr {
        ncr: id,
        inspection,
        product: optional(req.product, "product", ProductId::new)?,
        quantity: match units(req.quantity, "quantity")? {
            Units::ZERO => None,
            quantity => Some(quantity),
        },
        description: required(req.description, "description", Text::new)?,
        work_unit: optional(req.work_unit, "work_unit", WorkUnitId::new)?,
        contained_lots: lots(req.contained_lots, "contained_lots")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, open))
}

/// Parses `ContainNonconformance`.
pub fn contain_nonconformance(
    req: pb::ContainNonconformanceRequest,
) -> Result<NcrRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.ncr_id, "ncr_id")?;
    let command = NcrCommand::Contain {
        lots: lots(req.lots, "lots")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `DispositionNonconformance`; a negative quantity is rejected here.
pub fn disposition_nonconformance(
    req: pb::DispositionNonconformanceRequest,
) -> Result<NcrRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.ncr_id, "ncr_id")?;
    let disposition = match known_enum(req.disposition, "disposition")? {
        pb::Disposition::Unspecified => return Err(missing("disposition")),
        pb::Disposition::Scrap => Disposition::Scrap,
        pb::Disposition::Rework => Disposition::Rework,
        pb::Disposition::UseAsIs => Disposition::UseAsIs,
        pb::Disposition::ReturnToSupplier => Disposition::ReturnToSupplier,
    };
    let command = NcrCommand::Disposition {
        disposition,
        quantity: units(req.quantity, "quantity")?,
        lot: optional(req.lot, "lot", LotId::new)?,
        note: optional(req.note, "note", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `CloseNonconformance`.
pub fn close_nonconformance(
    req: pb::CloseNonconformanceRequest,
) -> Result<NcrRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.ncr_id, "ncr_id")?;
    let command = NcrCommand::Close {
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the NCR id of `GetNonconformance`.
pub fn get_nonconformance(req: &pb::GetNonconformanceRequest) -> Result<NcrId, RequestError> {
    uuid_id(&req.ncr_id, "ncr_id")
}

/// Returns the `QualityEvent.event` case of an NCR event; absent optional values become empty
/// strings.
pub fn ncr_event_to_proto(event: &NcrEvent) -> Event {
    match event {
        NcrEvent::NonconformanceOpened {
            ncr_id,
            product,
            quantity,
            description,
            inspection_id,
            work_unit,
            contained_lots,
            at,
        } => Event::NonconformanceOpened(pb::NonconformanceOpened {
            ncr_id: ncr_id.to_string(),
            product: product.to_string(),
            quantity: quantity.0,
            description: description.to_string(),
            inspection_id: text(inspection_id.as_ref()),
            work_unit: text(work_unit.as_ref()),
            contained_lots: contained_lots.iter().map(ToString::to_string).collect(),
            at: Some(to_timestamp(*at)),
        }),
        NcrEvent::NonconformanceContained { product, lots, at } => {
            Event::NonconformanceContained(pb::NonconformanceContained {
                product: product.to_string(),
                lots: lots.iter().map(ToString::to_string).collect(),
                at: Some(to_timestamp(*at)),
            })
        }
        NcrEvent::NonconformanceDispositioned {
            product,
            work_unit,
            disposition,
            quantity,
            lot,
            remaining,
            note,
            at,
        } => Event::NonconformanceDispositioned(pb::NonconformanceDispositioned {
            product: product.to_string(),
            work_unit: text(work_unit.as_ref()),
            disposition: disposition_to_proto(*disposition).into(),
            quantity: quantity.0,
            lot: text(lot.as_ref()),
            remaining: remaining.0,
            note: text(note.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
        NcrEvent::NonconformanceClosed { product, at } => {
            Event::NonconformanceClosed(pb::NonconformanceClosed {
                product: product.to_string(),
                at: Some(to_timestamp(*at)),
            })
        }
    }
}

/// Returns the `GetNonconformance` reply for `ncr` at its version, or [`NcrError::NotFound`]
/// when it was never opened.
pub fn nonconformance_reply(ncr: &Nonconformance) -> Result<pb::Nonconformance, NcrError> {
    let state = ncr.state().as_ref().ok_or(NcrError::NotFound)?;
    let status = if state.is_closed() {
        pb::NonconformanceStatus::Closed
    } else {
        pb::NonconformanceStatus::Open
    };
    Ok(pb::Nonconformance {
        ncr_id: state.id().to_string(),
        product: state.product().to_string(),
        quantity: state.quantity().0,
        description: state.description().to_string(),
        inspection_id: text(state.inspection().as_ref()),
        work_unit: text(state.work_unit()),
        contained_lots: state
            .contained_lots()
            .iter()
            .map(ToString::to_string)
            .collect(),
        dispositions: state
            .dispositions()
            .iter()
            .map(|line| pb::DispositionLine {
                disposition: disposition_to_proto(line.disposition).into(),
                quantity: line.quantity.0,
                lot: text(line.lot.as_ref()),
            })
            .collect(),
        remaining: state.remaining().0,
        status: status.into(),
        version: ncr.version(),
    })
}

fn lots(values: Vec<String>, field: &str) -> Result<Vec<LotId>, RequestError> {
    mom_grpc::items(values, field, |lot, field| required(lot, field, LotId::new))
}

fn disposition_to_proto(disposition: Disposition) -> pb::Disposition {
    match disposition {
        Disposition::Scrap => pb::Disposition::Scrap,
        Disposition::Rework => pb::Disposition::Rework,
        Disposition::UseAsIs => pb::Disposition::UseAsIs,
        Disposition::ReturnToSupplier => pb::Disposition::ReturnToSupplier,
    }
}
