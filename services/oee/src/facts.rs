//! From topic messages to OEE engine inputs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mom_oee::{EquipmentId, Fact, FactKind, Span, Units};
use mom_proto::time::from_timestamp;
use prost::Message as _;

/// What one message means to the OEE engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A fact on an equipment's timeline.
    Fact(Fact),
    /// The micro-stop threshold and startup window of an equipment (milliseconds).
    Thresholds {
        /// The equipment.
        equipment: EquipmentId,
        /// Micro-stop threshold.
        micro_stop_threshold_ms: u64,
        /// Startup window.
        startup_window_ms: u64,
    },
    /// An asset's place in the ISA-95 hierarchy (registered or moved), for roll-ups.
    Asset {
        /// The asset (for work units, the equipment id production uses).
        asset: String,
        /// `site`, `area`, `work_center`, `work_unit` (or `enterprise`).
        level: &'static str,
        /// Parent asset; empty for the top.
        parent: String,
    },
    /// An asset moved under another parent.
    AssetMoved {
        /// The asset.
        asset: String,
        /// Its new parent.
        parent: String,
    },
    /// A change of a site's reason catalogue (kept in the read model for the Paretos by
    /// category and by reason).
    Reason(crate::reason_codes::CatalogueChange),
    /// The default ideal cycle time of an equipment (milliseconds): counts without a product,
    /// and products without a cycle time of their own, use it.
    DefaultCycleTime {
        /// The equipment.
        equipment: EquipmentId,
        /// Ideal time per unit.
        ideal_cycle_time_ms: u64,
    },
    /// A version of the plant calendar of `scope` (`crate::calendars`).
    Calendar {
        /// The calendar's scope.
        scope: String,
        /// The version.
        version: Box<mom_oee::CalendarVersion>,
    },
    /// The ideal cycle time of a product on an equipment (milliseconds).
    CycleTime {
        /// The equipment.
        equipment: EquipmentId,
        /// The product.
        product: String,
        /// Ideal time per unit.
        ideal_cycle_time_ms: u64,
    },
}

/// The aggregate an event belongs to and its place in that aggregate's stream, read from the
/// metadata every domain event carries (field 1 of each topic's envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `aggregate_type/aggregate_id` (`<topic>/aggregate_id` when the type is missing), unique
    /// across the four domains.
    pub aggregate: String,
    /// Position in the aggregate's stream, from 1.
    pub sequence: u64,
}

/// The envelope of any domain topic, read for its metadata only (the event itself is skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct Envelope {
    #[prost(message, optional, tag = "1")]
    metadata: Option<mom_proto::common::v1::EventMetadata>,
}

/// Returns the time the platform recorded the message's event (its metadata's
/// `recorded_time`), when it says.
pub fn recorded(payload: &[u8]) -> Option<DateTime<Utc>> {
    let metadata = Envelope::decode(payload).ok()?.metadata?;
    from_timestamp(metadata.recorded_time.as_ref(), "recorded_time").ok()
}

/// What the projection reads of a message's metadata: its [`Origin`] and its [`recorded`]
/// time, from one decoding of the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Where the event stands in its aggregate's stream: `None` when its metadata names no
    /// aggregate or no sequence (such a message is recognised again by its event id instead).
    pub origin: Option<Origin>,
    /// When the platform recorded the event (see [`recorded`]).
    pub recorded: Option<DateTime<Utc>>,
}

impl Stamp {
    /// Reads the stamp of the message of `topic` with `payload` (empty when it has no
    /// metadata).
    pub fn of(topic: &str, payload: &[u8]) -> Self {
        let Some(metadata) = Envelope::decode(payload).ok().and_then(|e| e.metadata) else {
            return Self::default();
        };
        let recorded = from_timestamp(metadata.recorded_time.as_ref(), "recorded_time").ok();
        if metadata.aggregate_id.is_empty() || metadata.sequence == 0 {
            return Self {
                origin: None,
                recorded,
            };
        }
        let kind = match metadata.aggregate_type.as_str() {
            "" => topic,
            kind => kind,
        };
        Self {
            origin: Some(Origin {
                aggregate: format!("{kind}/{}", metadata.aggregate_id),
                sequence: metadata.sequence,
            }),
            recorded,
        }
    }
}

/// Maps messages to inputs; remembers where and when output lots were made, so that rejects
/// that name only a lot are charged to the equipment and time that made it (genealogy).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Mapper {
    lots: HashMap<String, (String, DateTime<Utc>)>,
    /// Lots remembered so far (see [`Mapper::remembered`]).
    remembered: u64,
}

fn time(ts: Option<&prost_types::Timestamp>, field: &'static str) -> Result<DateTime<Utc>, String> {
    from_timestamp(ts, field).map_err(|err| err.to_string())
}

fn span(
    from: Option<&prost_types::Timestamp>,
    until: Option<&prost_types::Timestamp>,
) -> Result<Span, String> {
    Span::new(time(from, "from")?, time(until, "until")?).map_err(|err| err.to_string())
}

fn option(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

impl Mapper {
    /// Forgets the lots made before `before` (a reject of one would be refused as too old), so
    /// the map of lots stays bounded; returns how many it forgot.
    pub fn forget_lots_before(&mut self, before: DateTime<Utc>) -> usize {
        let count = self.lots.len();
        self.lots.retain(|_, (_, at)| *at >= before);
        count - self.lots.len()
    }

    /// Grows with every lot the mapper remembers: a message that gave no inputs but changed it
    /// must still be kept for a reload.
    pub fn remembered(&self) -> u64 {
        self.remembered
    }

    /// Returns the inputs of one message of `topic` (`<prefix><domain>.v1`); an error is a
    /// message that breaks the contract.
    pub fn map(&mut self, topic: &str, payload: &[u8]) -> Result<Vec<Input>, String> {
        let domain = topic.rsplit('.').nth(1).unwrap_or_default();
        match domain {
            "production" => production(payload),
            "maintenance" => maintenance(payload),
            "inventory" => self.inventory(payload),
            "quality" => self.quality(payload),
            _ => Ok(Vec::new()),
        }
    }

    fn inventory(&mut self, payload: &[u8]) -> Result<Vec<Input>, String> {
        use mom_proto::inventory::v1::inventory_event::Event;
        let envelope =
            mom_proto::inventory::v1::InventoryEvent::decode(payload).map_err(|e| e.to_string())?;
        match envelope.event {
            Some(Event::LotProduced(lot)) if !lot.work_unit.is_empty() => {
                self.remembered += 1;
                self.lots.insert(
                    lot.lot.clone(),
                    (lot.work_unit.clone(), time(lot.at.as_ref(), "at")?),
                );
                Ok(Vec::new())
            }
            Some(Event::MaterialStarvationEnded(starved)) => Ok(vec![Input::Fact(Fact {
                equipment: EquipmentId::from(starved.work_unit.as_str()),
                kind: FactKind::Starved {
                    span: span(starved.from.as_ref(), starved.until.as_ref())?,
                    material: starved.material.as_str().into(),
                },
            })]),
            _ => Ok(Vec::new()),
        }
    }

    fn quality(&mut self, payload: &[u8]) -> Result<Vec<Input>, String> {
        use mom_proto::quality::v1::quality_event::Event;
        let envelope =
            mom_proto::quality::v1::QualityEvent::decode(payload).map_err(|e| e.to_string())?;
        let Some(Event::InspectionResultRecorded(result)) = envelope.event else {
            return Ok(Vec::new());
        };
        if result.rejected == 0 {
            return Ok(Vec::new());
        }
        let (work_unit, produced_at) = match (option(&result.work_unit), result.produced_at.as_ref()) {
            (Some(work_unit), Some(produced_at)) => {
                (work_unit.to_owned(), time(Some(produced_at), "produced_at")?)
            }
            _ => match self.lots.get(&result.lot) {
                Some((work_unit, made_at)) => (work_unit.clone(), *made_at),
                None => {
                    return Err(format!(
                        "reject of lot {:?} names no equipment and production time, and the lot's genealogy is unknown",
                        result.lot
                    ))
                }
            },
        };
        // The reject reason is the characteristics the units failed, e.g. `burr` or `burr+crack`.
        let mut failed: Vec<&str> = result
            .measurements
            .iter()
            .filter(|m| !m.conforming)
            .map(|m| m.characteristic.as_str())
            .collect();
        failed.sort_unstable();
        failed.dedup();
        Ok(vec![Input::Fact(Fact {
            equipment: EquipmentId::from(work_unit.as_str()),
            kind: FactKind::Rejected {
                at: time(result.at.as_ref(), "at")?,
                produced_at,
                count: Units(result.rejected),
                reason: (!failed.is_empty()).then(|| failed.join("+").as_str().into()),
            },
        })])
    }
}

fn production(payload: &[u8]) -> Result<Vec<Input>, String> {
    use mom_proto::production::v1::production_event::Event;
    let envelope =
        mom_proto::production::v1::ProductionEvent::decode(payload).map_err(|e| e.to_string())?;
    let equipment = EquipmentId::from(
        envelope
            .metadata
            .as_ref()
            .map(|m| m.aggregate_id.as_str())
            .unwrap_or_default(),
    );
    let fact = |kind| {
        Ok(vec![Input::Fact(Fact {
            equipment: equipment.clone(),
            kind,
        })])
    };
    match envelope.event {
        Some(Event::WorkUnitRegistered(registered)) => Ok(vec![Input::Thresholds {
            equipment: EquipmentId::from(registered.work_unit.as_str()),
            micro_stop_threshold_ms: registered.micro_stop_threshold_ms,
            startup_window_ms: registered.startup_window_ms,
        }]),
        Some(Event::IdealCycleTimeSet(set)) => Ok(vec![Input::CycleTime {
            equipment: equipment.clone(),
            product: set.product,
            ideal_cycle_time_ms: set.ideal_cycle_time_ms,
        }]),
        Some(Event::DefaultIdealCycleTimeSet(set)) => Ok(vec![Input::DefaultCycleTime {
            equipment: equipment.clone(),
            ideal_cycle_time_ms: set.ideal_cycle_time_ms,
        }]),
        Some(Event::ReasonCategoryDefined(defined)) => {
            Ok(crate::reason_codes::category_defined(defined))
        }
        Some(Event::ReasonDefined(defined)) => Ok(crate::reason_codes::reason_defined(defined)),
        Some(Event::ReasonRetired(retired)) => Ok(crate::reason_codes::reason_retired(retired)),
        Some(Event::CalendarVersionPublished(published)) => {
            crate::calendars::version_published(published)
        }
        Some(Event::WorkUnitRunning(running)) => fact(FactKind::Running {
            at: time(running.at.as_ref(), "at")?,
            product: option(&running.product).map(Into::into),
        }),
        // The catalogue code when production resolved one (`unassigned` for an unknown code
        // the site maps), else the reported text; the Paretos map both at read time.
        Some(Event::WorkUnitStopped(stopped)) => fact(FactKind::Stopped {
            at: time(stopped.at.as_ref(), "at")?,
            reason: option(&stopped.reason_code)
                .or(option(&stopped.reason))
                .map(Into::into),
        }),
        // The state is unknown until the next running, stopped or setup start.
        Some(Event::WorkUnitDisconnected(lost)) => fact(FactKind::Disconnected {
            at: time(lost.at.as_ref(), "at")?,
        }),
        Some(Event::SetupStarted(setup)) => fact(FactKind::SetupStarted {
            at: time(setup.at.as_ref(), "at")?,
        }),
        Some(Event::SetupEnded(setup)) => fact(FactKind::SetupEnded {
            at: time(setup.at.as_ref(), "at")?,
            product: setup.product.as_str().into(),
        }),
        Some(Event::PlannedShutdownScheduled(shutdown)) => fact(FactKind::PlannedShutdown {
            span: span(shutdown.from.as_ref(), shutdown.until.as_ref())?,
            reason: shutdown.reason.as_str().into(),
        }),
        Some(Event::UnitsCounted(counted)) => fact(FactKind::Counted {
            at: time(counted.at.as_ref(), "at")?,
            total: Units(counted.total),
            product: option(&counted.product).map(Into::into),
        }),
        _ => Ok(Vec::new()),
    }
}

fn maintenance(payload: &[u8]) -> Result<Vec<Input>, String> {
    use mom_proto::maintenance::v1::maintenance_event::Event;
    let envelope =
        mom_proto::maintenance::v1::MaintenanceEvent::decode(payload).map_err(|e| e.to_string())?;
    use mom_proto::maintenance::v1::AssetLevel;
    match envelope.event {
        Some(Event::AssetRegistered(registered)) => Ok(vec![Input::Asset {
            level: match registered.level() {
                AssetLevel::Enterprise => "enterprise",
                AssetLevel::Site => "site",
                AssetLevel::Area => "area",
                AssetLevel::WorkCenter => "work_center",
                AssetLevel::WorkUnit => "work_unit",
                AssetLevel::Unspecified => return Err("asset level unspecified".into()),
            },
            asset: registered.asset,
            parent: registered.parent,
        }]),
        Some(Event::AssetMoved(moved)) => Ok(vec![Input::AssetMoved {
            asset: moved.asset,
            parent: moved.to_parent,
        }]),
        // The failure interval is known once the repair ended; the engine corrects the periods.
        Some(Event::BreakdownRepaired(repaired)) => Ok(vec![Input::Fact(Fact {
            equipment: EquipmentId::from(repaired.work_unit.as_str()),
            kind: FactKind::Breakdown {
                span: span(
                    repaired.failure_start.as_ref(),
                    repaired.repair_end.as_ref(),
                )?,
                failure_mode: repaired.failure_mode.as_str().into(),
            },
        })]),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mom_proto::common::v1::EventMetadata;
    use mom_proto::time::to_timestamp;

    use super::*;

    fn ts(minute: i64) -> Option<prost_types::Timestamp> {
        Some(to_timestamp(
            DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
        ))
    }

    fn quality(result: mom_proto::quality::v1::InspectionResultRecorded) -> Vec<u8> {
        use mom_proto::quality::v1::quality_event::Event;
        mom_proto::quality::v1::QualityEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(Event::InspectionResultRecorded(result)),
        }
        .encode_to_vec()
    }

    #[test]
    fn one_decoding_gives_the_origin_and_the_recorded_time() {
        let event = |metadata: Option<EventMetadata>| {
            mom_proto::production::v1::ProductionEvent {
                metadata,
                event: None,
            }
            .encode_to_vec()
        };
        let full = event(Some(EventMetadata {
            aggregate_type: "work_unit".into(),
            aggregate_id: "press-7".into(),
            sequence: 12,
            recorded_time: ts(3),
            ..Default::default()
        }));
        let stamp = Stamp::of("mom.production.v1", &full);
        assert_eq!(
            stamp.origin,
            Some(Origin {
                aggregate: "work_unit/press-7".into(),
                sequence: 12,
            })
        );
        assert_eq!(stamp.recorded, recorded(&full));
        assert_eq!(
            stamp.recorded,
            DateTime::from_timestamp(1_772_524_800 + 180, 0)
        );
        // No type: the topic stands for it.
        let untyped = event(Some(EventMetadata {
            aggregate_id: "press-7".into(),
            sequence: 1,
            ..Default::default()
        }));
        let origin = Stamp::of("mom.production.v1", &untyped).origin.unwrap();
        assert_eq!(origin.aggregate, "mom.production.v1/press-7");
        // No sequence: no origin, the recorded time all the same.
        let unsequenced = event(Some(EventMetadata {
            aggregate_id: "press-7".into(),
            recorded_time: ts(4),
            ..Default::default()
        }));
        let stamp = Stamp::of("mom.production.v1", &unsequenced);
        assert_eq!(stamp.origin, None);
        assert!(stamp.recorded.is_some());
        // No metadata, or no envelope at all.
        assert_eq!(
            Stamp::of("mom.production.v1", &event(None)),
            Stamp::default()
        );
        assert_eq!(
            Stamp::of("mom.production.v1", b"\xff\xff"),
            Stamp::default()
        );
    }

    #[test]
    fn production_state_events_become_timeline_facts_of_the_aggregate() {
        use mom_proto::production::v1::production_event::Event;
        let payload = mom_proto::production::v1::ProductionEvent {
            metadata: Some(EventMetadata {
                aggregate_id: "press-7".into(),
                ..Default::default()
            }),
            event: Some(Event::WorkUnitStopped(
                mom_proto::production::v1::WorkUnitStopped {
                    reason: "jam".into(),
                    at: ts(10),
                    ..Default::default()
                },
            )),
        }
        .encode_to_vec();
        let inputs = Mapper::default()
            .map("mom.production.v1", &payload)
            .unwrap();
        let [Input::Fact(fact)] = inputs.as_slice() else {
            panic!("{inputs:?}");
        };
        assert_eq!(fact.equipment, EquipmentId::from("press-7"));
        assert!(
            matches!(&fact.kind, FactKind::Stopped { reason: Some(r), .. } if r.as_str() == "jam")
        );
    }

    #[test]
    fn a_stop_with_a_catalogue_code_and_a_default_cycle_time_become_inputs() {
        use mom_proto::production::v1::production_event::Event;
        let message = |event| {
            mom_proto::production::v1::ProductionEvent {
                metadata: Some(EventMetadata {
                    aggregate_id: "site1.press-7".into(),
                    ..Default::default()
                }),
                event: Some(event),
            }
            .encode_to_vec()
        };
        let stopped = message(Event::WorkUnitStopped(
            mom_proto::production::v1::WorkUnitStopped {
                reason: "Jammed".into(),
                at: ts(10),
                reason_code: "jam".into(),
            },
        ));
        let inputs = Mapper::default()
            .map("mom.production.v1", &stopped)
            .unwrap();
        assert!(matches!(
            inputs.as_slice(),
            [Input::Fact(Fact { kind: FactKind::Stopped { reason: Some(r), .. }, .. })] if r.as_str() == "jam"
        ));
        let default = message(Event::DefaultIdealCycleTimeSet(
            mom_proto::production::v1::DefaultIdealCycleTimeSet {
                ideal_cycle_time_ms: 1_500,
                at: ts(0),
            },
        ));
        assert_eq!(
            Mapper::default()
                .map("mom.production.v1", &default)
                .unwrap(),
            vec![Input::DefaultCycleTime {
                equipment: EquipmentId::from("site1.press-7"),
                ideal_cycle_time_ms: 1_500,
            }]
        );
    }

    #[test]
    fn a_reject_naming_only_a_lot_is_charged_where_and_when_the_lot_was_made() {
        use mom_proto::inventory::v1::inventory_event::Event;
        let mut mapper = Mapper::default();
        let produced = mom_proto::inventory::v1::InventoryEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(Event::LotProduced(mom_proto::inventory::v1::LotProduced {
                lot: "L-9".into(),
                work_unit: "press-7".into(),
                at: ts(30),
                ..Default::default()
            })),
        }
        .encode_to_vec();
        assert!(mapper
            .map("plant.mom.inventory.v1", &produced)
            .unwrap()
            .is_empty());
        let reject = quality(mom_proto::quality::v1::InspectionResultRecorded {
            lot: "L-9".into(),
            quantity: 10,
            rejected: 4,
            at: ts(300),
            ..Default::default()
        });
        let inputs = mapper.map("mom.quality.v1", &reject).unwrap();
        let [Input::Fact(fact)] = inputs.as_slice() else {
            panic!("{inputs:?}");
        };
        assert_eq!(fact.equipment, EquipmentId::from("press-7"));
        let FactKind::Rejected {
            produced_at, count, ..
        } = &fact.kind
        else {
            panic!("{fact:?}");
        };
        assert_eq!(
            (*produced_at, *count),
            (time(ts(30).as_ref(), "at").unwrap(), Units(4))
        );
    }

    #[test]
    fn a_reject_of_an_unknown_lot_without_equipment_breaks_the_contract() {
        let reject = quality(mom_proto::quality::v1::InspectionResultRecorded {
            lot: "L-unknown".into(),
            rejected: 1,
            at: ts(5),
            ..Default::default()
        });
        let err = Mapper::default()
            .map("mom.quality.v1", &reject)
            .unwrap_err();
        assert!(err.contains("L-unknown"), "{err}");
    }

    #[test]
    fn a_breakdown_counts_once_repaired_over_failure_start_to_repair_end() {
        use mom_proto::maintenance::v1::maintenance_event::Event;
        let payload = mom_proto::maintenance::v1::MaintenanceEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(Event::BreakdownRepaired(
                mom_proto::maintenance::v1::BreakdownRepaired {
                    work_unit: "press-7".into(),
                    failure_mode: "leak".into(),
                    failure_start: ts(60),
                    repair_end: ts(95),
                    ..Default::default()
                },
            )),
        }
        .encode_to_vec();
        let inputs = Mapper::default()
            .map("mom.maintenance.v1", &payload)
            .unwrap();
        let [Input::Fact(fact)] = inputs.as_slice() else {
            panic!("{inputs:?}");
        };
        let FactKind::Breakdown { span, .. } = &fact.kind else {
            panic!("{fact:?}");
        };
        assert_eq!((span.until() - span.at()).num_minutes(), 35);
    }

    #[test]
    fn registered_and_moved_assets_become_hierarchy_inputs() {
        use mom_proto::maintenance::v1::maintenance_event::Event;
        use mom_proto::maintenance::v1::{
            AssetLevel, AssetMoved, AssetRegistered, MaintenanceEvent,
        };
        let registered = MaintenanceEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(Event::AssetRegistered(AssetRegistered {
                asset: "line1".into(),
                level: AssetLevel::WorkCenter as i32,
                name: "line 1".into(),
                parent: "stamping".into(),
                at: ts(0),
            })),
        }
        .encode_to_vec();
        assert_eq!(
            Mapper::default()
                .map("mom.maintenance.v1", &registered)
                .unwrap(),
            vec![Input::Asset {
                asset: "line1".into(),
                level: "work_center",
                parent: "stamping".into(),
            }]
        );
        let moved = MaintenanceEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(Event::AssetMoved(AssetMoved {
                asset: "line1".into(),
                from_parent: "stamping".into(),
                to_parent: "welding".into(),
                at: ts(1),
            })),
        }
        .encode_to_vec();
        assert_eq!(
            Mapper::default().map("mom.maintenance.v1", &moved).unwrap(),
            vec![Input::AssetMoved {
                asset: "line1".into(),
                parent: "welding".into(),
            }]
        );
    }

    #[test]
    fn undecodable_values_are_contract_errors() {
        assert!(Mapper::default()
            .map("mom.production.v1", &[0xff, 0xff])
            .is_err());
    }
}
