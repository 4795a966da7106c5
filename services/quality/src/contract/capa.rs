//! CAPAs on the wire: requests, events and the `Capa` reply.

use mom_grpc::{
    at, guards, known_enum, missing, optional, required, uuid_id, uuid_id_or, ParsedCommand,
    RequestError,
};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::to_timestamp;

use super::text;
use crate::domain::{
    Capa, CapaCommand, CapaError, CapaEvent, CapaId, CapaKind, CapaStatus, NcrId, Owner, Text,
};

/// A parsed CAPA request.
pub type CapaRequest = ParsedCommand<CapaId, CapaCommand>;

/// Parses `OpenCapa`; an empty `capa_id` takes the id `new_id` returns.
pub fn open_capa(
    req: pb::OpenCapaRequest,
    new_id: impl FnOnce() -> CapaId,
) -> Result<CapaRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id_or(&req.capa_id, "capa_id", new_id)?;
    let kind = match known_enum(req.kind, "kind")? {
        pb::CapaKind::Unspecified => return Err(missing("kind")),
        pb::CapaKind::Corrective => CapaKind::Corrective,
        pb::CapaKind::Preventive => CapaKind::Preventive,
    };
    let ncrs = mom_grpc::items(req.ncr_ids, "ncr_ids", |ncr, field| {
        uuid_id::<NcrId>(&ncr, field)
    })?;
    let command = CapaCommand::Open {
        capa: id,
        kind,
        title: required(req.title, "title", Text::new)?,
        owner: required(req.owner, "owner", Owner::new)?,
        due: at(req.due.as_ref(), "due")?,
        ncrs,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `LinkCapaNonconformance`.
pub fn link_capa_nonconformance(
    req: pb::LinkCapaNonconformanceRequest,
) -> Result<CapaRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.capa_id, "capa_id")?;
    let command = CapaCommand::LinkNcr {
        ncr: uuid_id(&req.ncr_id, "ncr_id")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `ImplementCapaAction`; an empty note means none.
pub fn implement_capa_action(
    req: pb::ImplementCapaActionRequest,
) -> Result<CapaRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.capa_id, "capa_id")?;
    let command = CapaCommand::Implement {
        note: optional(req.note, "note", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `VerifyCapaEffectiveness`; an empty note means none.
pub fn verify_capa_effectiveness(
    req: pb::VerifyCapaEffectivenessRequest,
) -> Result<CapaRequest, RequestError> {
    let context = guards(req.context)?;
    let id = uuid_id(&req.capa_id, "capa_id")?;
    let command = CapaCommand::Verify {
        effective: req.effective,
        note: optional(req.note, "note", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the CAPA id of `GetCapa`.
pub fn get_capa(req: &pb::GetCapaRequest) -> Result<CapaId, RequestError> {
    uuid_id(&req.capa_id, "capa_id")
}

/// Returns the `QualityEvent.event` case of a CAPA event; absent notes become empty strings.
pub fn capa_event_to_proto(event: &CapaEvent) -> Event {
    match event {
        CapaEvent::CapaOpened {
            capa_id,
            kind,
            title,
            owner,
            due,
            ncr_ids,
            at,
        } => Event::CapaOpened(pb::CapaOpened {
            capa_id: capa_id.to_string(),
            kind: kind_to_proto(*kind).into(),
            title: title.to_string(),
            owner: owner.to_string(),
            due: Some(to_timestamp(*due)),
            ncr_ids: ncr_ids.iter().map(ToString::to_string).collect(),
            at: Some(to_timestamp(*at)),
        }),
        CapaEvent::CapaNonconformanceLinked { ncr_id, at } => {
            Event::CapaNonconformanceLinked(pb::CapaNonconformanceLinked {
                ncr_id: ncr_id.to_string(),
                at: Some(to_timestamp(*at)),
            })
        }
        CapaEvent::CapaActionImplemented { note, at } => {
            Event::CapaActionImplemented(pb::CapaActionImplemented {
                note: text(note.as_ref()),
                at: Some(to_timestamp(*at)),
            })
        }
        CapaEvent::CapaEffectivenessVerified {
            effective,
            note,
            at,
        } => Event::CapaEffectivenessVerified(pb::CapaEffectivenessVerified {
            effective: *effective,
            note: text(note.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `GetCapa` reply for `capa` at its version, or [`CapaError::NotFound`] when it
/// was never opened.
pub fn capa_reply(capa: &Capa) -> Result<pb::Capa, CapaError> {
    let state = capa.state().as_ref().ok_or(CapaError::NotFound)?;
    let status = match state.status() {
        CapaStatus::Open => pb::CapaStatus::Open,
        CapaStatus::Implemented => pb::CapaStatus::Implemented,
        CapaStatus::Closed => pb::CapaStatus::Closed,
    };
    Ok(pb::Capa {
        capa_id: state.id().to_string(),
        kind: kind_to_proto(state.kind()).into(),
        title: state.title().to_string(),
        owner: state.owner().to_string(),
        due: Some(to_timestamp(state.due())),
        ncr_ids: state.ncrs().iter().map(ToString::to_string).collect(),
        status: status.into(),
        version: capa.version(),
    })
}

fn kind_to_proto(kind: CapaKind) -> pb::CapaKind {
    match kind {
        CapaKind::Corrective => pb::CapaKind::Corrective,
        CapaKind::Preventive => pb::CapaKind::Preventive,
    }
}
