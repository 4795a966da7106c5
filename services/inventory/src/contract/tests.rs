//! Contract tests: every event maps to the oneof case of its type, requests map to commands and
//! name the offending field when malformed, and state maps to replies.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use mom_domain::{Caller, EventType, IdempotencyKey, Recorded, ANONYMOUS};
use mom_proto::time::to_timestamp;
use uuid::Uuid;

use super::*;
use crate::domain::{
    HoldRef, LocationEvent, LocationState, Lot, LotError, LotEvent, LotState, MaterialEvent,
    MaterialState, OrderLots, OrderLotsError, OrderLotsEvent, OrderLotsRules, Quantity,
    StarvationCause, SupplyEvent, SupplyRules, WorkUnitSupply,
};
use crate::genealogy::{Direction, MAX_DEPTH};

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
}

fn ts(minute: u32) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(minute)))
}

const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

fn order() -> OrderId {
    ORDER.parse().unwrap()
}

fn lot(id: &str) -> LotId {
    LotId::new(id).unwrap()
}

fn material(id: &str) -> MaterialId {
    MaterialId::new(id).unwrap()
}

fn loc(id: &str) -> LocationId {
    LocationId::new(id).unwrap()
}

fn unit(id: &str) -> WorkUnitId {
    WorkUnitId::new(id).unwrap()
}

fn txt(value: &str) -> Text {
    Text::new(value).unwrap()
}

fn lot_events() -> Vec<LotEvent> {
    vec![
        LotEvent::LotReceived {
            lot: lot("L1"),
            material: material("resin"),
            supplier_lot: Some(txt("S-9")),
            expiry: Some(t(59)),
            location: loc("rack-1"),
            quantity: Quantity(100),
            at: t(0),
        },
        LotEvent::LotMoved {
            lot: lot("L1"),
            material: material("resin"),
            from: loc("rack-1"),
            to: loc("line-1"),
            quantity: Quantity(40),
            at: t(1),
        },
        LotEvent::LotConsumed {
            lot: lot("L1"),
            material: material("resin"),
            order: order(),
            work_unit: unit("press-1"),
            location: loc("line-1"),
            quantity: Quantity(10),
            at: t(2),
        },
        LotEvent::LotProduced {
            lot: lot("OUT"),
            material: material("cap"),
            order: order(),
            work_unit: Some(unit("press-1")),
            location: loc("fg"),
            quantity: Quantity(5),
            inputs: vec![lot("L1")],
            expiry: None,
            at: t(3),
        },
        LotEvent::LotHeld {
            lot: lot("L1"),
            material: material("resin"),
            hold: HoldRef::new("NCR-1").unwrap(),
            reason: txt("suspect"),
            at: t(4),
        },
        LotEvent::LotHoldReleased {
            lot: lot("L1"),
            material: material("resin"),
            hold: HoldRef::new("NCR-1").unwrap(),
            still_held: false,
            at: t(5),
        },
        LotEvent::LotScrapped {
            lot: lot("L1"),
            material: material("resin"),
            location: loc("rack-1"),
            quantity: Quantity(1),
            reason: txt("broken"),
            at: t(6),
        },
    ]
}

fn order_lots_events() -> Vec<OrderLotsEvent> {
    vec![
        OrderLotsEvent::OrderInputLinked {
            order: order(),
            lot: lot("L1"),
            material: material("resin"),
            quantity: Quantity(10),
            work_unit: unit("press-1"),
            at: t(2),
        },
        OrderLotsEvent::OrderOutputLinked {
            order: order(),
            lot: lot("OUT"),
            material: material("cap"),
            quantity: Quantity(5),
            inputs: vec![lot("L1")],
            at: t(3),
        },
    ]
}

fn supply_events() -> Vec<SupplyEvent> {
    vec![
        SupplyEvent::MaterialStarvationStarted {
            work_unit: unit("press-1"),
            material: material("resin"),
            order: Some(order()),
            cause: StarvationCause::ConsumeNotServed,
            at: t(7),
        },
        SupplyEvent::MaterialStarvationEnded {
            work_unit: unit("press-1"),
            material: material("resin"),
            order: Some(order()),
            from: t(7),
            until: t(9),
        },
    ]
}

fn all_mapped() -> Vec<(Event, &'static str)> {
    let mut all = Vec::new();
    let material_event = MaterialEvent::MaterialDefined {
        material: material("resin"),
        name: txt("Resin"),
        unit: txt("g"),
        at: t(0),
    };
    all.push((
        material_event_to_proto(&material_event),
        material_event.type_name(),
    ));
    let location_event = LocationEvent::LocationDefined {
        location: loc("rack-1"),
        name: txt("Rack 1"),
        at: t(0),
    };
    all.push((
        location_event_to_proto(&location_event),
        location_event.type_name(),
    ));
    for event in lot_events() {
        all.push((lot_event_to_proto(&event), event.type_name()));
    }
    for event in order_lots_events() {
        all.push((order_lots_event_to_proto(&event), event.type_name()));
    }
    for event in supply_events() {
        all.push((supply_event_to_proto(&event), event.type_name()));
    }
    all
}

#[test]
fn every_event_maps_to_the_oneof_case_of_its_type() {
    let all = all_mapped();
    let names: Vec<&str> = all.iter().map(|(_, name)| *name).collect();
    assert_eq!(
        names, EVENT_TYPES,
        "the sample covers every variant in order"
    );
    for (proto, name) in &all {
        assert_eq!(event_type(proto), *name);
    }
}

#[test]
fn event_types_are_the_union_of_the_aggregates_types_and_unique() {
    let union: Vec<&str> = [
        MaterialEvent::TYPES,
        LocationEvent::TYPES,
        LotEvent::TYPES,
        OrderLotsEvent::TYPES,
        SupplyEvent::TYPES,
    ]
    .concat();
    assert_eq!(EVENT_TYPES, union.as_slice());
    let unique: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(unique.len(), EVENT_TYPES.len());
}

#[test]
fn stored_types_are_the_aggregate_types_in_the_encoder() {
    use mom_domain::{Decide, Lifecycle};
    assert_eq!(MaterialState::TYPE, "material");
    assert_eq!(LocationState::TYPE, "location");
    assert_eq!(LotState::TYPE, "lot");
    assert_eq!(OrderLotsRules::TYPE, "order_lots");
    assert_eq!(SupplyRules::TYPE, "work_unit_supply");
}

#[test]
fn every_event_carries_its_event_time() {
    for (proto, name) in all_mapped() {
        let has_at = match &proto {
            Event::MaterialDefined(e) => e.at.is_some(),
            Event::LocationDefined(e) => e.at.is_some(),
            Event::LotReceived(e) => e.at.is_some(),
            Event::LotMoved(e) => e.at.is_some(),
            Event::LotConsumed(e) => e.at.is_some() && !e.work_unit.is_empty(),
            Event::LotProduced(e) => e.at.is_some(),
            Event::LotHeld(e) => e.at.is_some(),
            Event::LotHoldReleased(e) => e.at.is_some(),
            Event::LotScrapped(e) => e.at.is_some(),
            Event::OrderInputLinked(e) => e.at.is_some(),
            Event::OrderOutputLinked(e) => e.at.is_some(),
            Event::MaterialStarvationStarted(e) => e.at.is_some() && !e.work_unit.is_empty(),
            Event::MaterialStarvationEnded(e) => {
                e.at.is_some() && e.from.is_some() && e.until == e.at
            }
        };
        assert!(has_at, "{name} lacks its time or equipment");
    }
}

#[test]
fn starvation_end_carries_equipment_material_and_interval() {
    let Event::MaterialStarvationEnded(ended) = supply_event_to_proto(&supply_events()[1]) else {
        panic!("wrong case");
    };
    assert_eq!(ended.work_unit, "press-1");
    assert_eq!(ended.material, "resin");
    assert_eq!(ended.from, ts(7));
    assert_eq!(ended.until, ts(9));
}

// Requests.

fn receive_request() -> pb::ReceiveLotRequest {
    pb::ReceiveLotRequest {
        context: None,
        lot: "L1".to_owned(),
        material: "resin".to_owned(),
        supplier_lot: "S-9".to_owned(),
        expiry: None,
        location: "rack-1".to_owned(),
        quantity: 100,
        at: ts(0),
    }
}

#[test]
fn receive_lot_maps_every_field() {
    let parsed = receive_lot(receive_request()).unwrap();
    assert_eq!(parsed.id, lot("L1"));
    assert_eq!(
        parsed.command.command,
        LotCommand::Receive {
            lot: lot("L1"),
            material: material("resin"),
            supplier_lot: Some(txt("S-9")),
            expiry: None,
            location: loc("rack-1"),
            quantity: Quantity(100),
            at: t(0),
        }
    );
    assert_eq!(parsed.caller.actor, ANONYMOUS);
}

#[test]
fn receive_lot_names_missing_and_malformed_fields() {
    let cases: Vec<(pb::ReceiveLotRequest, &str)> = vec![
        (
            pb::ReceiveLotRequest {
                lot: String::new(),
                ..receive_request()
            },
            "field lot is required",
        ),
        (
            pb::ReceiveLotRequest {
                material: "res in".to_owned(),
                ..receive_request()
            },
            "field material is invalid: character ' ' is not allowed (use A-Z, a-z, 0-9, '.', '_', ':' and '-')",
        ),
        (
            pb::ReceiveLotRequest {
                quantity: -1,
                ..receive_request()
            },
            "field quantity must not be negative, got -1",
        ),
        (
            pb::ReceiveLotRequest {
                at: None,
                ..receive_request()
            },
            "field at is required",
        ),
        (
            pb::ReceiveLotRequest {
                expiry: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..receive_request()
            },
            "field expiry is not a valid timestamp",
        ),
    ];
    for (req, message) in cases {
        assert_eq!(receive_lot(req).unwrap_err().to_string(), message);
    }
}

#[test]
fn context_gives_actor_guards_correlation_and_causation() {
    let correlation = Uuid::from_u128(1);
    let causation = Uuid::from_u128(2);
    let req = pb::ReceiveLotRequest {
        context: Some(pb::CommandContext {
            actor: "pm:ncr-containment".to_owned(),
            expected_version: Some(0),
            correlation_id: correlation.to_string(),
            idempotency_key: "ncr-1/hold".to_owned(),
            causation_id: causation.to_string(),
            signature: None,
        }),
        ..receive_request()
    };
    let parsed = receive_lot(req).unwrap();
    assert_eq!(parsed.command.expected_version, Some(0));
    assert_eq!(
        parsed.command.idempotency_key,
        Some(IdempotencyKey::new("ncr-1/hold").unwrap())
    );
    assert_eq!(
        parsed.caller,
        Caller {
            actor: "pm:ncr-containment".to_owned(),
            correlation_id: Some(correlation),
            causation_id: Some(causation),
        }
    );
}

#[test]
fn malformed_context_ids_and_keys_are_rejected() {
    let with = |context: pb::CommandContext| pb::ReceiveLotRequest {
        context: Some(context),
        ..receive_request()
    };
    let err = receive_lot(with(pb::CommandContext {
        causation_id: "x".to_owned(),
        ..Default::default()
    }))
    .unwrap_err();
    assert_eq!(err.field(), "context.causation_id");
    let err = receive_lot(with(pb::CommandContext {
        idempotency_key: "k".repeat(257),
        ..Default::default()
    }))
    .unwrap_err();
    assert_eq!(err.field(), "context.idempotency_key");
}

#[test]
fn consume_requires_a_uuid_order_and_a_work_unit() {
    let req = || pb::ConsumeLotRequest {
        context: None,
        lot: "L1".to_owned(),
        order_id: ORDER.to_owned(),
        work_unit: "press-1".to_owned(),
        location: "rack-1".to_owned(),
        quantity: 3,
        at: ts(1),
    };
    assert!(consume_lot(req()).is_ok());
    let err = consume_lot(pb::ConsumeLotRequest {
        order_id: "42".to_owned(),
        ..req()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field order_id is invalid: \"42\" is not a uuid"
    );
    let err = consume_lot(pb::ConsumeLotRequest {
        work_unit: String::new(),
        ..req()
    })
    .unwrap_err();
    assert_eq!(err.field(), "work_unit");
}

#[test]
fn produce_names_the_bad_input_lot() {
    let req = pb::ProduceLotRequest {
        context: None,
        lot: "OUT".to_owned(),
        material: "cap".to_owned(),
        order_id: ORDER.to_owned(),
        work_unit: String::new(),
        location: "fg".to_owned(),
        quantity: 5,
        input_lots: vec!["L1".to_owned(), "L 2".to_owned()],
        expiry: None,
        at: ts(3),
    };
    assert_eq!(produce_lot(req).unwrap_err().field(), "input_lots[1]");
}

#[test]
fn hold_requires_reference_and_reason() {
    let req = pb::HoldLotRequest {
        context: None,
        lot: "L1".to_owned(),
        hold: "NCR-1".to_owned(),
        reason: " ".to_owned(),
        at: ts(1),
    };
    assert_eq!(hold_lot(req).unwrap_err().field(), "reason");
}

#[test]
fn genealogy_request_checks_direction_and_depth() {
    let req = |direction: pb::GenealogyDirection, max_depth: u32| pb::GetGenealogyRequest {
        lot: "L1".to_owned(),
        direction: direction.into(),
        max_depth,
    };
    assert_eq!(
        get_genealogy(&req(pb::GenealogyDirection::Backward, 0)).unwrap(),
        (lot("L1"), Direction::Backward, MAX_DEPTH)
    );
    assert_eq!(
        get_genealogy(&req(pb::GenealogyDirection::Unspecified, 0))
            .unwrap_err()
            .field(),
        "direction"
    );
    assert_eq!(
        get_genealogy(&req(pb::GenealogyDirection::Forward, 65))
            .unwrap_err()
            .to_string(),
        "field max_depth must be at most 64, got 65"
    );
}

#[test]
fn start_starvation_is_a_reported_starvation() {
    let parsed = start_starvation(pb::StartStarvationRequest {
        context: None,
        work_unit: "press-1".to_owned(),
        material: "resin".to_owned(),
        order_id: String::new(),
        at: ts(4),
    })
    .unwrap();
    assert_eq!(
        parsed.command.command,
        SupplyCommand::StartStarvation {
            work_unit: unit("press-1"),
            material: material("resin"),
            order: None,
            cause: StarvationCause::Reported,
            at: t(4),
        }
    );
}

// Replies.

#[test]
fn lot_reply_shows_quantities_holds_and_genealogy() {
    let mut aggregate = Lot::default();
    for event in lot_events().into_iter().take(5) {
        aggregate.evolve(Recorded::new(event));
    }
    let reply = lot_reply(&aggregate).unwrap();
    assert_eq!(reply.lot, "L1");
    assert_eq!(reply.total, 90);
    assert_eq!(
        reply.quantities,
        vec![
            pb::LocationQuantity {
                location: "line-1".to_owned(),
                quantity: 30
            },
            pb::LocationQuantity {
                location: "rack-1".to_owned(),
                quantity: 60
            },
        ]
    );
    assert_eq!(reply.holds.len(), 1);
    assert_eq!(reply.consumed_by_orders, vec![ORDER.to_owned()]);
    assert_eq!(reply.version, 5);
}

#[test]
fn lot_reply_of_a_missing_lot_is_not_found() {
    assert_eq!(lot_reply(&Lot::default()).unwrap_err(), LotError::NotFound);
}

#[test]
fn order_lots_reply_lists_inputs_and_outputs() {
    let mut aggregate = OrderLots::default();
    for event in order_lots_events() {
        aggregate.evolve(Recorded::new(event));
    }
    let reply = order_lots_reply(&aggregate).unwrap();
    assert_eq!(reply.order_id, ORDER);
    assert_eq!(reply.inputs[0].lot, "L1");
    assert_eq!(reply.inputs[0].work_unit, "press-1");
    assert_eq!(reply.outputs[0].lot, "OUT");
    assert_eq!(
        order_lots_reply(&OrderLots::default()).unwrap_err(),
        OrderLotsError::NotFound
    );
}

#[test]
fn report_starvation_requires_both_ends() {
    let req = || pb::ReportStarvationRequest {
        context: None,
        work_unit: "press-1".to_owned(),
        material: "resin".to_owned(),
        order_id: ORDER.to_owned(),
        from: ts(2),
        until: ts(9),
    };
    assert_eq!(
        report_starvation(req()).unwrap().command.command,
        SupplyCommand::ReportStarvation {
            work_unit: unit("press-1"),
            material: material("resin"),
            order: Some(order()),
            from: t(2),
            until: t(9),
        }
    );
    let err = report_starvation(pb::ReportStarvationRequest {
        until: None,
        ..req()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "field until is required");
}

#[test]
fn work_unit_supply_reply_lists_running_starvations() {
    let mut supply = WorkUnitSupply::default();
    supply.evolve(Recorded::new(supply_events()[0].clone()));
    let reply = work_unit_supply_reply(&unit("press-1"), &supply);
    assert_eq!(
        reply,
        pb::WorkUnitSupply {
            work_unit: "press-1".to_owned(),
            starving: vec![pb::Starvation {
                material: "resin".to_owned(),
                since: ts(7),
                order_id: ORDER.to_owned(),
                reported: false,
            }],
            version: 1,
        }
    );
    supply.evolve(Recorded::new(supply_events()[1].clone()));
    assert!(work_unit_supply_reply(&unit("press-1"), &supply)
        .starving
        .is_empty());
}

#[test]
fn scrap_all_takes_neither_location_nor_quantity() {
    let req = || pb::ScrapLotRequest {
        context: None,
        lot: "L1".to_owned(),
        location: String::new(),
        quantity: 0,
        reason: "NCR-1 disposition".to_owned(),
        at: ts(5),
        all: true,
    };
    assert_eq!(
        scrap_lot(req()).unwrap().command.command,
        LotCommand::ScrapAll {
            reason: txt("NCR-1 disposition"),
            at: t(5)
        }
    );
    let err = scrap_lot(pb::ScrapLotRequest {
        quantity: 3,
        ..req()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field quantity must be empty when all is set"
    );
    let err = scrap_lot(pb::ScrapLotRequest {
        all: false,
        ..req()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "field location is required");
}

#[test]
fn produce_without_a_lot_id_takes_the_order_id() {
    let parsed = produce_lot(pb::ProduceLotRequest {
        context: None,
        lot: String::new(),
        material: "cap".to_owned(),
        order_id: ORDER.to_owned(),
        work_unit: String::new(),
        location: "fg".to_owned(),
        quantity: 5,
        input_lots: vec![],
        expiry: None,
        at: ts(3),
    })
    .unwrap();
    assert_eq!(parsed.id, lot(ORDER));
}
