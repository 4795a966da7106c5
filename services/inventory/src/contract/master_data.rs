//! Master data on the wire: defining materials and locations, and their events.

use mom_grpc::{at, guards, required, RequestError};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::time::to_timestamp;

use super::{text, LocationRequest, MaterialRequest};
use crate::domain::{
    LocationCommand, LocationEvent, LocationId, MaterialCommand, MaterialEvent, MaterialId,
};

/// Parses `DefineMaterial`.
pub fn define_material(req: pb::DefineMaterialRequest) -> Result<MaterialRequest, RequestError> {
    let guards = guards(req.context)?;
    let material = required(req.material, "material", MaterialId::new)?;
    let command = MaterialCommand::Define {
        material: material.clone(),
        name: text(req.name, "name")?,
        unit: text(req.unit, "unit")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(material, command))
}

/// Parses `DefineLocation`.
pub fn define_location(req: pb::DefineLocationRequest) -> Result<LocationRequest, RequestError> {
    let guards = guards(req.context)?;
    let location = required(req.location, "location", LocationId::new)?;
    let command = LocationCommand::Define {
        location: location.clone(),
        name: text(req.name, "name")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(location, command))
}

/// Maps a material event to its `InventoryEvent.event` case.
pub fn material_event_to_proto(event: &MaterialEvent) -> Event {
    match event {
        MaterialEvent::MaterialDefined {
            material,
            name,
            unit,
            at,
        } => Event::MaterialDefined(pb::MaterialDefined {
            material: material.to_string(),
            name: name.to_string(),
            unit: unit.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Maps a location event to its `InventoryEvent.event` case.
pub fn location_event_to_proto(event: &LocationEvent) -> Event {
    match event {
        LocationEvent::LocationDefined { location, name, at } => {
            Event::LocationDefined(pb::LocationDefined {
                location: location.to_string(),
                name: name.to_string(),
                at: Some(to_timestamp(*at)),
            })
        }
    }
}
