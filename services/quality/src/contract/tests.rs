//! Contract tests: every event maps to the oneof case of its type, requests map to commands
//! and name the offending field, state maps to replies.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use mom_domain::{DomainError, ErrorKind, EventType, Lifecycle, Stream};
use mom_proto::time::{from_timestamp, to_timestamp};
use tonic::{Code, Status};

use super::*;
use crate::domain::{
    Capa, CapaCommand, CapaEvent, CapaId, CapaKind, Characteristic, CharacteristicName,
    Disposition, Frequency, Inspection, InspectionCommand, InspectionEvent, InspectionId,
    InspectionPlan, LotId, Measurement, NcrCommand, NcrEvent, NcrId, Nonconformance,
    OperationNumber, Owner, PlanCommand, PlanEvent, PlanId, ProductId, Spec, Text, UnitOfMeasure,
    Units, UnitsMade, Value, WorkUnitId,
};

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
}

fn ts(minute: u32) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(minute)))
}

const PLAN: &str = "0191e1b4-7c1a-7000-8000-0000000000a1";
const INSPECTION: &str = "0191e1b4-7c1a-7000-8000-0000000000b1";
const NCR: &str = "0191e1b4-7c1a-7000-8000-0000000000c1";
const CAPA: &str = "0191e1b4-7c1a-7000-8000-0000000000d1";

fn sku() -> ProductId {
    ProductId::new("SKU-A").unwrap()
}

fn lot(value: &str) -> LotId {
    LotId::new(value).unwrap()
}

fn press() -> WorkUnitId {
    WorkUnitId::new("press-7").unwrap()
}

fn diameter() -> Characteristic {
    Characteristic {
        name: CharacteristicName::new("diameter").unwrap(),
        spec: Spec::Variable {
            unit: UnitOfMeasure::new("mm").unwrap(),
            lower_limit: Some(9.9),
            upper_limit: None,
            nominal: Some(10.0),
        },
    }
}

fn plan_events() -> Vec<PlanEvent> {
    vec![
        PlanEvent::InspectionPlanDefined {
            plan_id: PLAN.parse().unwrap(),
            product: sku(),
            operation: OperationNumber(10),
            characteristics: vec![diameter()],
            sample_size: Units(5),
            frequency: Frequency::EveryMinutes(60),
            open_ncr_on_failure: false,
            at: t(0),
        },
        PlanEvent::InspectionPlanRevised {
            product: sku(),
            operation: OperationNumber(10),
            revision: 2,
            characteristics: vec![diameter()],
            sample_size: Units(8),
            frequency: Frequency::PerLot,
            open_ncr_on_failure: false,
            at: t(1),
        },
        PlanEvent::InspectionPlanRetired {
            product: sku(),
            operation: OperationNumber(10),
            reason: Text::new("obsolete").unwrap(),
            at: t(2),
        },
    ]
}

fn inspection_events() -> Vec<InspectionEvent> {
    vec![
        InspectionEvent::InspectionStarted {
            inspection_id: INSPECTION.parse().unwrap(),
            plan_id: PLAN.parse().unwrap(),
            plan_revision: 1,
            product: sku(),
            operation: OperationNumber(10),
            characteristics: vec![diameter()],
            sample_size: Units(5),
            work_unit: Some(press()),
            lot: None,
            produced_at: None,
            open_ncr_on_failure: false,
            at: t(30),
        },
        InspectionEvent::InspectionResultRecorded {
            product: sku(),
            operation: OperationNumber(10),
            work_unit: Some(press()),
            lot: Some(lot("LOT-1")),
            produced_at: Some(t(5)),
            quantity: Units(2),
            rejected: Units(2),
            measurements: vec![Measurement {
                characteristic: CharacteristicName::new("diameter").unwrap(),
                value: Value::Measured(9.5),
                conforming: false,
            }],
            at: t(31),
        },
        InspectionEvent::InspectionCompleted {
            product: sku(),
            work_unit: None,
            inspected: Units(5),
            rejected: Units(2),
            accepted: false,
            at: t(32),
        },
    ]
}

fn ncr_events() -> Vec<NcrEvent> {
    vec![
        NcrEvent::NonconformanceOpened {
            ncr_id: NCR.parse().unwrap(),
            product: sku(),
            quantity: Units(10),
            description: Text::new("undersize").unwrap(),
            inspection_id: Some(INSPECTION.parse().unwrap()),
            work_unit: Some(press()),
            contained_lots: vec![lot("LOT-1")],
            at: t(40),
        },
        NcrEvent::NonconformanceContained {
            product: sku(),
            lots: vec![lot("LOT-2")],
            at: t(41),
        },
        NcrEvent::NonconformanceDispositioned {
            product: sku(),
            work_unit: Some(press()),
            disposition: Disposition::Scrap,
            quantity: Units(10),
            lot: Some(lot("LOT-1")),
            remaining: Units::ZERO,
            note: None,
            at: t(42),
        },
        NcrEvent::NonconformanceClosed {
            product: sku(),
            at: t(43),
        },
    ]
}

fn capa_events() -> Vec<CapaEvent> {
    vec![
        CapaEvent::CapaOpened {
            capa_id: CAPA.parse().unwrap(),
            kind: CapaKind::Corrective,
            title: Text::new("new punch").unwrap(),
            owner: Owner::new("j.doe").unwrap(),
            due: t(59),
            ncr_ids: vec![NCR.parse().unwrap()],
            at: t(50),
        },
        CapaEvent::CapaNonconformanceLinked {
            ncr_id: NcrId::generate(),
            at: t(51),
        },
        CapaEvent::CapaActionImplemented {
            note: Some(Text::new("punch replaced").unwrap()),
            at: t(52),
        },
        CapaEvent::CapaEffectivenessVerified {
            effective: true,
            note: None,
            at: t(53),
        },
    ]
}

// Events.

fn check_every_variant<E: EventType>(events: &[E], types: &[&str], to_proto: fn(&E) -> Event) {
    let names: Vec<&str> = events.iter().map(EventType::type_name).collect();
    assert_eq!(names, types, "the sample covers every variant");
    for event in events {
        assert_eq!(event_type(&to_proto(event)), event.type_name());
    }
}

#[test]
fn every_event_maps_to_the_oneof_case_of_its_type() {
    check_every_variant(&plan_events(), PlanEvent::TYPES, plan_event_to_proto);
    check_every_variant(
        &inspection_events(),
        InspectionEvent::TYPES,
        inspection_event_to_proto,
    );
    check_every_variant(&ncr_events(), NcrEvent::TYPES, ncr_event_to_proto);
    check_every_variant(&capa_events(), CapaEvent::TYPES, capa_event_to_proto);
    check_every_variant(
        &chart::tests::chart_events(),
        crate::domain::ChartEvent::TYPES,
        chart_event_to_proto,
    );
}

#[test]
fn event_types_list_every_event_once() {
    let all: Vec<&str> = PlanEvent::TYPES
        .iter()
        .chain(InspectionEvent::TYPES)
        .chain(NcrEvent::TYPES)
        .chain(CapaEvent::TYPES)
        .chain(crate::domain::ChartEvent::TYPES)
        .copied()
        .collect();
    assert_eq!(EVENT_TYPES, all.as_slice());
    let unique: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(unique.len(), 18);
}

#[test]
fn result_carries_equipment_production_time_and_rejects() {
    let Event::InspectionResultRecorded(result) =
        inspection_event_to_proto(&inspection_events()[1])
    else {
        panic!("expected InspectionResultRecorded");
    };
    assert_eq!(result.work_unit, "press-7");
    assert_eq!(result.lot, "LOT-1");
    assert_eq!(
        from_timestamp(result.produced_at.as_ref(), "produced_at"),
        Ok(t(5))
    );
    assert_eq!(from_timestamp(result.at.as_ref(), "at"), Ok(t(31)));
    assert_eq!((result.quantity, result.rejected), (2, 2));
    assert_eq!(
        result.measurements[0].value,
        Some(pb::measurement::Value::Measured(9.5))
    );
    assert!(!result.measurements[0].conforming);
}

#[test]
fn unknown_production_time_stays_unset_and_absent_text_empty() {
    let Event::InspectionStarted(started) = inspection_event_to_proto(&inspection_events()[0])
    else {
        panic!("expected InspectionStarted");
    };
    assert_eq!(started.produced_at, None);
    assert_eq!(started.lot, "");
    let Event::InspectionPlanDefined(defined) = plan_event_to_proto(&plan_events()[0]) else {
        panic!("expected InspectionPlanDefined");
    };
    let Some(pb::characteristic::Spec::Variable(variable)) = &defined.characteristics[0].spec
    else {
        panic!("expected a variable characteristic");
    };
    assert_eq!(
        (variable.lower_limit, variable.upper_limit, variable.nominal),
        (Some(9.9), None, Some(10.0))
    );
}

#[test]
fn disposition_and_containment_carry_what_inventory_needs() {
    let Event::NonconformanceOpened(opened) = ncr_event_to_proto(&ncr_events()[0]) else {
        panic!("expected NonconformanceOpened");
    };
    assert_eq!(opened.contained_lots, vec!["LOT-1"]);
    assert_eq!(opened.inspection_id, INSPECTION);
    let Event::NonconformanceDispositioned(scrap) = ncr_event_to_proto(&ncr_events()[2]) else {
        panic!("expected NonconformanceDispositioned");
    };
    assert_eq!(scrap.disposition(), pb::Disposition::Scrap);
    assert_eq!(
        (scrap.quantity, scrap.lot.as_str(), scrap.product.as_str()),
        (10, "LOT-1", "SKU-A")
    );
}

// Requests.

fn variable(unit: &str, lower: Option<f64>, upper: Option<f64>) -> pb::Characteristic {
    pb::Characteristic {
        name: "diameter".to_owned(),
        spec: Some(pb::characteristic::Spec::Variable(pb::VariableSpec {
            unit: unit.to_owned(),
            lower_limit: lower,
            upper_limit: upper,
            nominal: None,
        })),
    }
}

fn define_request() -> pb::DefineInspectionPlanRequest {
    pb::DefineInspectionPlanRequest {
        context: None,
        plan_id: PLAN.to_owned(),
        product: "SKU-A".to_owned(),
        operation: 10,
        characteristics: vec![
            variable("mm", Some(9.9), Some(10.1)),
            pb::Characteristic {
                name: "seal".to_owned(),
                spec: Some(pb::characteristic::Spec::Attribute(pb::AttributeSpec {})),
            },
        ],
        sample_size: 5,
        frequency: Some(pb::Frequency {
            every: Some(pb::frequency::Every::Units(500)),
        }),
        at: ts(0),
        open_ncr_on_failure: true,
    }
}

#[test]
fn define_plan_maps_every_field() {
    let parsed = define_inspection_plan(define_request(), PlanId::generate).unwrap();
    assert_eq!(parsed.id.to_string(), PLAN);
    assert_eq!(parsed.caller.actor, ANONYMOUS);
    let PlanCommand::Define {
        characteristics,
        sample_size,
        frequency,
        operation,
        open_ncr_on_failure,
        ..
    } = parsed.command.command
    else {
        panic!("expected Define");
    };
    assert!(open_ncr_on_failure);
    assert_eq!(characteristics.len(), 2);
    assert_eq!(characteristics[1].spec, Spec::Attribute);
    assert_eq!(sample_size, Units(5));
    assert_eq!(frequency, Frequency::EveryUnits(Units(500)));
    assert_eq!(operation, OperationNumber(10));
}

#[test]
fn define_plan_without_id_takes_the_generated_one() {
    let mut req = define_request();
    req.plan_id = String::new();
    let generated = PlanId::generate();
    let parsed = define_inspection_plan(req, || generated).unwrap();
    assert_eq!(parsed.id, generated);
}

#[test]
fn define_plan_names_the_bad_field() {
    type Change = Box<dyn Fn(&mut pb::DefineInspectionPlanRequest)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|r| r.plan_id = "plan-1".to_owned()), "plan_id"),
        (Box::new(|r| r.product = String::new()), "product"),
        (Box::new(|r| r.operation = 0), "operation"),
        (Box::new(|r| r.sample_size = -1), "sample_size"),
        (Box::new(|r| r.frequency = None), "frequency"),
        (Box::new(|r| r.at = None), "at"),
        (
            Box::new(|r| r.characteristics[1].name = " ".to_owned()),
            "characteristics[1].name",
        ),
        (
            Box::new(|r| r.characteristics[1].spec = None),
            "characteristics[1].spec",
        ),
        (
            Box::new(|r| r.characteristics[0] = variable("", Some(1.0), None)),
            "characteristics[0].variable.unit",
        ),
    ];
    for (change, field) in cases {
        let mut req = define_request();
        change(&mut req);
        let err = define_inspection_plan(req, PlanId::generate).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert_eq!(Status::from(err).code(), Code::InvalidArgument);
    }
}

#[test]
fn negative_sample_size_is_named_with_its_value() {
    let mut req = define_request();
    req.sample_size = -3;
    let err = define_inspection_plan(req, PlanId::generate).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field sample_size must not be negative, got -3"
    );
}

#[test]
fn out_of_range_timestamps_are_rejected() {
    let mut req = define_request();
    req.at = Some(prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    });
    assert_eq!(
        define_inspection_plan(req, PlanId::generate).unwrap_err(),
        RequestError::BadTimestamp {
            field: "at".to_owned()
        }
    );
}

#[test]
fn command_context_gives_actor_correlation_causation_key_and_version() {
    let correlation = uuid::Uuid::now_v7();
    let causation = uuid::Uuid::now_v7();
    let mut req = define_request();
    req.context = Some(pb::CommandContext {
        actor: " qa-lead ".to_owned(),
        expected_version: Some(0),
        correlation_id: correlation.to_string(),
        idempotency_key: "define-SKU-A".to_owned(),
        causation_id: causation.to_string(),
        signature: None,
    });
    let parsed = define_inspection_plan(req, PlanId::generate).unwrap();
    assert_eq!(
        parsed.caller,
        Caller {
            actor: "qa-lead".to_owned(),
            correlation_id: Some(correlation),
            causation_id: Some(causation),
        }
    );
    assert_eq!(parsed.command.expected_version, Some(0));
    assert_eq!(
        parsed.command.idempotency_key.unwrap().as_str(),
        "define-SKU-A"
    );
}

#[test]
fn malformed_context_fields_are_named() {
    for (context, field) in [
        (
            pb::CommandContext {
                correlation_id: "x".to_owned(),
                ..Default::default()
            },
            "context.correlation_id",
        ),
        (
            pb::CommandContext {
                causation_id: "y".to_owned(),
                ..Default::default()
            },
            "context.causation_id",
        ),
        (
            pb::CommandContext {
                idempotency_key: "k".repeat(257),
                ..Default::default()
            },
            "context.idempotency_key",
        ),
    ] {
        let mut req = define_request();
        req.context = Some(context);
        let err = define_inspection_plan(req, PlanId::generate).unwrap_err();
        assert_eq!(err.field(), field);
    }
}

#[test]
fn record_result_maps_values_and_where_units_were_made() {
    let req = pb::RecordInspectionResultRequest {
        context: None,
        inspection_id: INSPECTION.to_owned(),
        quantity: 0,
        values: vec![
            pb::MeasurementValue {
                characteristic: "diameter".to_owned(),
                value: Some(pb::measurement_value::Value::Measured(10.02)),
            },
            pb::MeasurementValue {
                characteristic: "seal".to_owned(),
                value: Some(pb::measurement_value::Value::Passed(false)),
            },
        ],
        work_unit: "press-7".to_owned(),
        lot: String::new(),
        produced_at: ts(5),
        at: ts(30),
    };
    let parsed = record_inspection_result(req.clone()).unwrap();
    assert_eq!(
        parsed.command.command,
        InspectionCommand::RecordResult {
            quantity: Units(1),
            values: vec![
                (
                    CharacteristicName::new("diameter").unwrap(),
                    Value::Measured(10.02)
                ),
                (
                    CharacteristicName::new("seal").unwrap(),
                    Value::Passed(false)
                ),
            ],
            made: UnitsMade {
                work_unit: Some(press()),
                lot: None,
                produced_at: Some(t(5)),
            },
            at: t(30),
        }
    );
    let mut negative = req.clone();
    negative.quantity = -2;
    assert_eq!(
        record_inspection_result(negative).unwrap_err().field(),
        "quantity"
    );
    let mut no_value = req.clone();
    no_value.values[1].value = None;
    assert_eq!(
        record_inspection_result(no_value).unwrap_err().field(),
        "values[1].value"
    );
    let mut bad_unit = req;
    bad_unit.work_unit = "press 7".to_owned();
    assert_eq!(
        record_inspection_result(bad_unit).unwrap_err().field(),
        "work_unit"
    );
}

#[test]
fn start_inspection_leaves_the_plan_to_the_caller() {
    let req = pb::StartInspectionRequest {
        context: None,
        inspection_id: String::new(),
        plan_id: PLAN.to_owned(),
        work_unit: String::new(),
        lot: "LOT-1".to_owned(),
        produced_at: None,
        at: ts(30),
    };
    let id = InspectionId::generate();
    let parsed = start_inspection(req.clone(), || id).unwrap();
    assert_eq!(parsed.id, id);
    assert_eq!(parsed.command.command.plan.to_string(), PLAN);
    assert_eq!(parsed.command.command.made.lot, Some(lot("LOT-1")));
    let mut no_plan = req;
    no_plan.plan_id = String::new();
    assert_eq!(
        start_inspection(no_plan, InspectionId::generate)
            .unwrap_err()
            .field(),
        "plan_id"
    );
}

fn open_request() -> pb::OpenNonconformanceRequest {
    pb::OpenNonconformanceRequest {
        context: None,
        ncr_id: NCR.to_owned(),
        inspection_id: INSPECTION.to_owned(),
        product: String::new(),
        quantity: 0,
        description: "undersize".to_owned(),
        work_unit: String::new(),
        contained_lots: vec!["LOT-1".to_owned()],
        at: ts(40),
    }
}

#[test]
fn open_nonconformance_leaves_defaults_to_the_inspection() {
    let parsed = open_nonconformance(open_request(), NcrId::generate).unwrap();
    let open = parsed.command.command;
    assert_eq!(open.inspection.unwrap().to_string(), INSPECTION);
    assert_eq!((open.product, open.quantity), (None, None));
    assert_eq!(open.contained_lots, vec![lot("LOT-1")]);
    for (change, field) in [
        (
            Box::new(|r: &mut pb::OpenNonconformanceRequest| r.quantity = -1)
                as Box<dyn Fn(&mut pb::OpenNonconformanceRequest)>,
            "quantity",
        ),
        (Box::new(|r| r.description = String::new()), "description"),
        (
            Box::new(|r| r.contained_lots.push(String::new())),
            "contained_lots[1]",
        ),
        (
            Box::new(|r| r.inspection_id = "insp".to_owned()),
            "inspection_id",
        ),
    ] {
        let mut req = open_request();
        change(&mut req);
        assert_eq!(
            open_nonconformance(req, NcrId::generate)
                .unwrap_err()
                .field(),
            field
        );
    }
}

#[test]
fn disposition_needs_a_known_disposition_and_no_negative_quantity() {
    let req = pb::DispositionNonconformanceRequest {
        context: None,
        ncr_id: NCR.to_owned(),
        disposition: pb::Disposition::UseAsIs.into(),
        quantity: 4,
        lot: String::new(),
        note: "customer concession 17".to_owned(),
        at: ts(41),
    };
    let parsed = disposition_nonconformance(req.clone()).unwrap();
    assert_eq!(
        parsed.command.command,
        NcrCommand::Disposition {
            disposition: Disposition::UseAsIs,
            quantity: Units(4),
            lot: None,
            note: Some(Text::new("customer concession 17").unwrap()),
            at: t(41),
        }
    );
    for (disposition, quantity, field) in [
        (0, 4, "disposition"),
        (99, 4, "disposition"),
        (1, -4, "quantity"),
    ] {
        let mut bad = req.clone();
        bad.disposition = disposition;
        bad.quantity = quantity;
        assert_eq!(disposition_nonconformance(bad).unwrap_err().field(), field);
    }
}

#[test]
fn open_capa_needs_kind_title_owner_and_due_date() {
    let req = pb::OpenCapaRequest {
        context: None,
        capa_id: CAPA.to_owned(),
        kind: pb::CapaKind::Corrective.into(),
        title: "new punch".to_owned(),
        owner: "j.doe".to_owned(),
        due: ts(59),
        ncr_ids: vec![NCR.to_owned()],
        at: ts(50),
    };
    let parsed = open_capa(req.clone(), CapaId::generate).unwrap();
    assert!(matches!(
        parsed.command.command,
        CapaCommand::Open { kind: CapaKind::Corrective, ref ncrs, .. } if ncrs.len() == 1
    ));
    for (change, field) in [
        (
            Box::new(|r: &mut pb::OpenCapaRequest| r.kind = 0)
                as Box<dyn Fn(&mut pb::OpenCapaRequest)>,
            "kind",
        ),
        (Box::new(|r| r.title = String::new()), "title"),
        (Box::new(|r| r.owner = String::new()), "owner"),
        (Box::new(|r| r.due = None), "due"),
        (
            Box::new(|r| r.ncr_ids.push("ncr-2".to_owned())),
            "ncr_ids[1]",
        ),
    ] {
        let mut bad = req.clone();
        change(&mut bad);
        assert_eq!(open_capa(bad, CapaId::generate).unwrap_err().field(), field);
    }
}

// Replies.

fn fold<L: Lifecycle>(events: Vec<L::Event>) -> Stream<Option<L>> {
    Stream::from_events(events)
}

#[test]
fn replies_show_state_and_version() {
    let plan: InspectionPlan = fold(plan_events());
    let reply = plan_reply(&plan).unwrap();
    assert_eq!((reply.revision, reply.retired, reply.version), (2, true, 3));
    assert_eq!(reply.sample_size, 8);

    let inspection: Inspection = fold(inspection_events());
    let reply = inspection_reply(&inspection).unwrap();
    assert_eq!(reply.status(), pb::InspectionStatus::Rejected);
    assert_eq!((reply.inspected, reply.rejected), (2, 2));
    assert_eq!(reply.rejected_lots, vec!["LOT-1"]);

    let ncr: Nonconformance = fold(ncr_events());
    let reply = nonconformance_reply(&ncr).unwrap();
    assert_eq!(reply.status(), pb::NonconformanceStatus::Closed);
    assert_eq!(reply.contained_lots, vec!["LOT-1", "LOT-2"]);
    assert_eq!((reply.remaining, reply.dispositions.len()), (0, 1));

    let capa: Capa = fold(capa_events());
    let reply = capa_reply(&capa).unwrap();
    assert_eq!(reply.status(), pb::CapaStatus::Closed);
    assert_eq!(reply.ncr_ids.len(), 2);
    assert_eq!(reply.version, 4);
}

#[test]
fn replies_of_missing_aggregates_are_not_found() {
    assert_eq!(
        plan_reply(&InspectionPlan::default()).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(inspection_reply(&Inspection::default()).is_err());
    assert!(nonconformance_reply(&Nonconformance::default()).is_err());
    assert!(capa_reply(&Capa::default()).is_err());
}
