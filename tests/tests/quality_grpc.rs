//! The quality gRPC API end to end: the life of a reject from inspection plan to closed NCR and
//! CAPA, status codes for bad input (which stores nothing), idempotency keys, health and
//! reflection, and the write path gRPC command → event store → outbox → topic on a real broker.

#![allow(clippy::unwrap_used)]

mod support;

use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::{from_timestamp, to_timestamp};
use tonic::transport::Channel;
use tonic::Code;

struct Service {
    client: QualityServiceClient<Channel>,
    harness: support::Harness,
}

async fn start(database_url: Option<String>, kafka: Option<String>) -> Service {
    let harness =
        support::Harness::start(database_url, kafka, |store, kafka, grpc_addr, shutdown| {
            mom_quality::start(
                mom_quality::QualityConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security: Default::default(),
                    grpc_addr,
                },
                shutdown,
            )
        })
        .await;
    Service {
        client: QualityServiceClient::new(harness.channel.clone()),
        harness,
    }
}

impl Service {
    async fn stop(self) {
        self.harness.stop().await;
    }

    async fn head(&self) -> u64 {
        self.harness.head().await
    }
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn ctx(actor: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        ..Default::default()
    })
}

fn keyed(actor: &str, key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

fn diameter() -> pb::Characteristic {
    pb::Characteristic {
        name: "diameter".to_owned(),
        spec: Some(pb::characteristic::Spec::Variable(pb::VariableSpec {
            unit: "mm".to_owned(),
            lower_limit: Some(9.9),
            upper_limit: Some(10.1),
            nominal: Some(10.0),
        })),
    }
}

fn seal() -> pb::Characteristic {
    pb::Characteristic {
        name: "seal".to_owned(),
        spec: Some(pb::characteristic::Spec::Attribute(pb::AttributeSpec {})),
    }
}

fn define_request() -> pb::DefineInspectionPlanRequest {
    pb::DefineInspectionPlanRequest {
        open_ncr_on_failure: false,
        context: ctx("qa-engineer"),
        plan_id: String::new(),
        product: "SKU-A".to_owned(),
        operation: 10,
        characteristics: vec![diameter(), seal()],
        sample_size: 3,
        frequency: Some(pb::Frequency {
            every: Some(pb::frequency::Every::Units(500)),
        }),
        at: at(0),
    }
}

async fn define_plan(client: &mut QualityServiceClient<Channel>) -> String {
    let reply = client
        .define_inspection_plan(define_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.version, 1);
    reply.aggregate_id
}

async fn start_inspection(client: &mut QualityServiceClient<Channel>, plan: &str) -> String {
    client
        .start_inspection(pb::StartInspectionRequest {
            context: ctx("inspector"),
            inspection_id: String::new(),
            plan_id: plan.to_owned(),
            work_unit: "press-7".to_owned(),
            lot: String::new(),
            produced_at: None,
            at: at(120),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id
}

fn result(
    inspection: &str,
    quantity: i64,
    diameter: f64,
    lot: &str,
    produced: i64,
) -> pb::RecordInspectionResultRequest {
    pb::RecordInspectionResultRequest {
        context: ctx("inspector"),
        inspection_id: inspection.to_owned(),
        quantity,
        values: vec![
            pb::MeasurementValue {
                characteristic: "diameter".to_owned(),
                value: Some(pb::measurement_value::Value::Measured(diameter)),
            },
            pb::MeasurementValue {
                characteristic: "seal".to_owned(),
                value: Some(pb::measurement_value::Value::Passed(true)),
            },
        ],
        work_unit: String::new(),
        lot: lot.to_owned(),
        produced_at: at(produced),
        at: at(125),
    }
}

/// An inspection of press-7 with one conforming unit and two undersize ones from LOT-2.
async fn failed_inspection(client: &mut QualityServiceClient<Channel>) -> String {
    let plan = define_plan(client).await;
    let inspection = start_inspection(client, &plan).await;
    client
        .record_inspection_result(result(&inspection, 1, 10.0, "LOT-1", 10))
        .await
        .unwrap();
    client
        .record_inspection_result(result(&inspection, 2, 9.5, "LOT-2", 50))
        .await
        .unwrap();
    inspection
}

async fn open_ncr_by_hand(client: &mut QualityServiceClient<Channel>, quantity: i64) -> String {
    client
        .open_nonconformance(pb::OpenNonconformanceRequest {
            context: ctx("qa-engineer"),
            ncr_id: String::new(),
            inspection_id: String::new(),
            product: "SKU-A".to_owned(),
            quantity,
            description: "burrs on edge".to_owned(),
            work_unit: String::new(),
            contained_lots: vec!["LOT-1".to_owned()],
            at: at(200),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id
}

fn disposition(
    ncr: &str,
    kind: pb::Disposition,
    quantity: i64,
) -> pb::DispositionNonconformanceRequest {
    pb::DispositionNonconformanceRequest {
        context: ctx("mrb"),
        ncr_id: ncr.to_owned(),
        disposition: kind.into(),
        quantity,
        lot: String::new(),
        note: String::new(),
        at: at(210),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_goes_from_inspection_to_closed_ncr_and_verified_capa() {
    let mut svc = start(None, None).await;
    let inspection = failed_inspection(&mut svc.client).await;
    let completed = svc
        .client
        .complete_inspection(pb::CompleteInspectionRequest {
            context: ctx("inspector"),
            inspection_id: inspection.clone(),
            at: at(130),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(completed.version, 4);
    let state = svc
        .client
        .get_inspection(pb::GetInspectionRequest {
            inspection_id: inspection.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status(), pb::InspectionStatus::Rejected);
    assert_eq!((state.inspected, state.rejected), (3, 2));
    assert_eq!(state.rejected_lots, vec!["LOT-2"]);

    // The NCR takes product, quantity, equipment and lots from the failed inspection.
    let ncr = svc
        .client
        .open_nonconformance(pb::OpenNonconformanceRequest {
            context: ctx("qa-engineer"),
            ncr_id: String::new(),
            inspection_id: inspection.clone(),
            product: String::new(),
            quantity: 0,
            description: "diameter undersize".to_owned(),
            work_unit: String::new(),
            contained_lots: vec![],
            at: at(140),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    svc.client
        .contain_nonconformance(pb::ContainNonconformanceRequest {
            context: ctx("qa-engineer"),
            ncr_id: ncr.clone(),
            lots: vec!["LOT-2".to_owned(), "LOT-3".to_owned()],
            at: at(141),
        })
        .await
        .unwrap();
    // Scrap must say which of the two contained lots inventory moves.
    support::assert_status(
        svc.client
            .disposition_nonconformance(disposition(&ncr, pb::Disposition::Scrap, 1))
            .await,
        Code::InvalidArgument,
        "a scrap disposition must name one of the 2 contained lots",
    );
    let mut scrap = disposition(&ncr, pb::Disposition::Scrap, 1);
    scrap.lot = "LOT-2".to_owned();
    svc.client.disposition_nonconformance(scrap).await.unwrap();
    svc.client
        .disposition_nonconformance(disposition(&ncr, pb::Disposition::Rework, 1))
        .await
        .unwrap();
    let closed = svc
        .client
        .close_nonconformance(pb::CloseNonconformanceRequest {
            context: ctx("qa-engineer"),
            ncr_id: ncr.clone(),
            at: at(220),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.version, 5);
    let state = svc
        .client
        .get_nonconformance(pb::GetNonconformanceRequest {
            ncr_id: ncr.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status(), pb::NonconformanceStatus::Closed);
    assert_eq!(
        (state.product.as_str(), state.quantity, state.remaining),
        ("SKU-A", 2, 0)
    );
    assert_eq!(state.work_unit, "press-7");
    assert_eq!(state.contained_lots, vec!["LOT-2", "LOT-3"]);
    assert_eq!(state.inspection_id, inspection);

    let capa = svc
        .client
        .open_capa(pb::OpenCapaRequest {
            context: ctx("qa-lead"),
            capa_id: String::new(),
            kind: pb::CapaKind::Corrective.into(),
            title: "replace worn punch".to_owned(),
            owner: "j.doe".to_owned(),
            due: at(10_080),
            ncr_ids: vec![ncr.clone()],
            at: at(230),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    svc.client
        .implement_capa_action(pb::ImplementCapaActionRequest {
            context: ctx("j.doe"),
            capa_id: capa.clone(),
            note: "punch replaced".to_owned(),
            at: at(1_000),
        })
        .await
        .unwrap();
    svc.client
        .verify_capa_effectiveness(pb::VerifyCapaEffectivenessRequest {
            context: ctx("qa-lead"),
            capa_id: capa.clone(),
            effective: true,
            note: "no rejects in 5 lots".to_owned(),
            at: at(5_000),
        })
        .await
        .unwrap();
    let state = svc
        .client
        .get_capa(pb::GetCapaRequest {
            capa_id: capa.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status(), pb::CapaStatus::Closed);
    assert_eq!(state.ncr_ids, vec![ncr]);
    assert_eq!(
        from_timestamp(state.due.as_ref(), "due")
            .unwrap()
            .timestamp(),
        1_772_524_800 + 10_080 * 60
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found() {
    let mut svc = start(None, None).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    support::assert_status(
        svc.client
            .revise_inspection_plan(pb::ReviseInspectionPlanRequest {
                open_ncr_on_failure: false,
                context: ctx("qa"),
                plan_id: unknown.clone(),
                characteristics: vec![seal()],
                sample_size: 1,
                frequency: Some(pb::Frequency {
                    every: Some(pb::frequency::Every::Lot(true)),
                }),
                at: at(1),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .get_inspection_plan(pb::GetInspectionPlanRequest {
                plan_id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    // An inspection against a plan that does not exist names the plan.
    support::assert_status(
        svc.client
            .start_inspection(pb::StartInspectionRequest {
                context: ctx("inspector"),
                inspection_id: String::new(),
                plan_id: unknown.clone(),
                work_unit: String::new(),
                lot: "LOT-1".to_owned(),
                produced_at: None,
                at: at(1),
            })
            .await,
        Code::NotFound,
        &format!("inspection plan {unknown}"),
    );
    support::assert_status(
        svc.client
            .record_inspection_result(result(&unknown, 1, 10.0, "LOT-1", 0))
            .await,
        Code::NotFound,
        &unknown,
    );
    let from_ghost = pb::OpenNonconformanceRequest {
        context: ctx("qa"),
        ncr_id: String::new(),
        inspection_id: unknown.clone(),
        product: String::new(),
        quantity: 0,
        description: "ghost".to_owned(),
        work_unit: String::new(),
        contained_lots: vec![],
        at: at(1),
    };
    support::assert_status(
        svc.client.open_nonconformance(from_ghost.clone()).await,
        Code::NotFound,
        &format!("inspection {unknown}"),
    );
    support::assert_status(
        svc.client
            .disposition_nonconformance(disposition(&unknown, pb::Disposition::Scrap, 1))
            .await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .open_capa(pb::OpenCapaRequest {
                context: ctx("qa"),
                capa_id: String::new(),
                kind: pb::CapaKind::Corrective.into(),
                title: "fix".to_owned(),
                owner: "j.doe".to_owned(),
                due: at(100),
                ncr_ids: vec![unknown.clone()],
                at: at(1),
            })
            .await,
        Code::NotFound,
        &format!("nonconformance {unknown}"),
    );
    support::assert_status(
        svc.client
            .get_capa(pb::GetCapaRequest {
                capa_id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    assert_eq!(svc.head().await, 0, "nothing was stored");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_transitions_are_failed_precondition_and_store_nothing() {
    let mut svc = start(None, None).await;
    let inspection = failed_inspection(&mut svc.client).await;
    let ncr = open_ncr_by_hand(&mut svc.client, 5).await;
    let plan = define_plan(&mut svc.client).await;
    svc.client
        .retire_inspection_plan(pb::RetireInspectionPlanRequest {
            context: ctx("qa"),
            plan_id: plan.clone(),
            reason: "obsolete".to_owned(),
            at: at(5),
        })
        .await
        .unwrap();
    let head = svc.head().await;

    // Closing with undisposed units.
    support::assert_status(
        svc.client
            .close_nonconformance(pb::CloseNonconformanceRequest {
                context: ctx("qa"),
                ncr_id: ncr.clone(),
                at: at(300),
            })
            .await,
        Code::FailedPrecondition,
        "5 nonconforming units are not dispositioned yet",
    );
    // Dispositioning a lot the NCR does not contain.
    let mut other_lot = disposition(&ncr, pb::Disposition::Scrap, 1);
    other_lot.lot = "LOT-9".to_owned();
    support::assert_status(
        svc.client.disposition_nonconformance(other_lot).await,
        Code::FailedPrecondition,
        "LOT-9",
    );
    // Inspecting against a retired plan.
    support::assert_status(
        svc.client
            .start_inspection(pb::StartInspectionRequest {
                context: ctx("inspector"),
                inspection_id: String::new(),
                plan_id: plan.clone(),
                work_unit: String::new(),
                lot: "LOT-1".to_owned(),
                produced_at: None,
                at: at(10),
            })
            .await,
        Code::FailedPrecondition,
        "retired",
    );
    // Completing before the sample size is reached (3 of 3 done here, so use a fresh one).
    let plan2 = define_plan(&mut svc.client).await;
    let fresh = start_inspection(&mut svc.client, &plan2).await;
    let head = head + 2;
    support::assert_status(
        svc.client
            .complete_inspection(pb::CompleteInspectionRequest {
                context: ctx("inspector"),
                inspection_id: fresh.clone(),
                at: at(130),
            })
            .await,
        Code::FailedPrecondition,
        "only 0 of the sample size of 3 units are inspected",
    );
    // An NCR from an inspection that rejected nothing.
    support::assert_status(
        svc.client
            .open_nonconformance(pb::OpenNonconformanceRequest {
                context: ctx("qa"),
                ncr_id: String::new(),
                inspection_id: fresh.clone(),
                product: String::new(),
                quantity: 0,
                description: "nothing wrong".to_owned(),
                work_unit: String::new(),
                contained_lots: vec![],
                at: at(140),
            })
            .await,
        Code::FailedPrecondition,
        "has no rejected units",
    );
    // Verifying a CAPA whose action is not implemented.
    let capa = svc
        .client
        .open_capa(pb::OpenCapaRequest {
            context: ctx("qa-lead"),
            capa_id: String::new(),
            kind: pb::CapaKind::Preventive.into(),
            title: "poka-yoke on feeder".to_owned(),
            owner: "j.doe".to_owned(),
            due: at(1_000),
            ncr_ids: vec![],
            at: at(100),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let head = head + 1;
    support::assert_status(
        svc.client
            .verify_capa_effectiveness(pb::VerifyCapaEffectivenessRequest {
                context: ctx("qa-lead"),
                capa_id: capa,
                effective: true,
                note: String::new(),
                at: at(200),
            })
            .await,
        Code::FailedPrecondition,
        "not implemented",
    );
    // Results after the inspection is complete.
    svc.client
        .complete_inspection(pb::CompleteInspectionRequest {
            context: ctx("inspector"),
            inspection_id: inspection.clone(),
            at: at(130),
        })
        .await
        .unwrap();
    let head = head + 1;
    support::assert_status(
        svc.client
            .record_inspection_result(result(&inspection, 1, 10.0, "LOT-1", 10))
            .await,
        Code::FailedPrecondition,
        "completed",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_and_stores_nothing() {
    let mut svc = start(None, None).await;
    let inspection = failed_inspection(&mut svc.client).await;
    let ncr = open_ncr_by_hand(&mut svc.client, 5).await;
    svc.client
        .disposition_nonconformance(disposition(&ncr, pb::Disposition::Scrap, 3))
        .await
        .unwrap();
    let head = svc.head().await;

    // Missing and malformed fields.
    let mut no_time = define_request();
    no_time.at = None;
    support::assert_status(
        svc.client.define_inspection_plan(no_time).await,
        Code::InvalidArgument,
        "field at is required",
    );
    let mut no_product = define_request();
    no_product.product = String::new();
    support::assert_status(
        svc.client.define_inspection_plan(no_product).await,
        Code::InvalidArgument,
        "field product is required",
    );
    let mut bad_id = define_request();
    bad_id.plan_id = "plan-1".to_owned();
    support::assert_status(
        svc.client.define_inspection_plan(bad_id).await,
        Code::InvalidArgument,
        "field plan_id is invalid",
    );
    // Out-of-range values: inverted spec limits, negative sample size, zero sample size.
    let mut inverted = define_request();
    inverted.characteristics[0] = pb::Characteristic {
        name: "diameter".to_owned(),
        spec: Some(pb::characteristic::Spec::Variable(pb::VariableSpec {
            unit: "mm".to_owned(),
            lower_limit: Some(10.1),
            upper_limit: Some(9.9),
            nominal: None,
        })),
    };
    support::assert_status(
        svc.client.define_inspection_plan(inverted).await,
        Code::InvalidArgument,
        "lower spec limit 10.1 is above upper spec limit 9.9",
    );
    let mut negative = define_request();
    negative.sample_size = -1;
    support::assert_status(
        svc.client.define_inspection_plan(negative).await,
        Code::InvalidArgument,
        "field sample_size must not be negative, got -1",
    );
    let mut zero = define_request();
    zero.sample_size = 0;
    support::assert_status(
        svc.client.define_inspection_plan(zero).await,
        Code::InvalidArgument,
        "sample size must be greater than zero",
    );
    // Quantities below zero and above what exists.
    support::assert_status(
        svc.client
            .disposition_nonconformance(disposition(&ncr, pb::Disposition::Scrap, -1))
            .await,
        Code::InvalidArgument,
        "field quantity must not be negative",
    );
    support::assert_status(
        svc.client
            .disposition_nonconformance(disposition(&ncr, pb::Disposition::UseAsIs, 3))
            .await,
        Code::InvalidArgument,
        "disposition of 3 units exceeds the 2 undisposed units",
    );
    support::assert_status(
        svc.client
            .disposition_nonconformance(disposition(&ncr, pb::Disposition::Unspecified, 1))
            .await,
        Code::InvalidArgument,
        "field disposition is required",
    );
    // Intervals that end before they start.
    support::assert_status(
        svc.client
            .record_inspection_result(result(&inspection, 1, 10.0, "", 126))
            .await,
        Code::InvalidArgument,
        "is after the inspection time",
    );
    support::assert_status(
        svc.client
            .open_capa(pb::OpenCapaRequest {
                context: ctx("qa-lead"),
                capa_id: String::new(),
                kind: pb::CapaKind::Corrective.into(),
                title: "fix".to_owned(),
                owner: "j.doe".to_owned(),
                due: at(199),
                ncr_ids: vec![ncr.clone()],
                at: at(200),
            })
            .await,
        Code::InvalidArgument,
        "due date",
    );
    // Values the plan cannot judge.
    let mut unknown = result(&inspection, 1, 10.0, "LOT-1", 10);
    unknown.values[1].characteristic = "colour".to_owned();
    support::assert_status(
        svc.client.record_inspection_result(unknown).await,
        Code::InvalidArgument,
        "characteristic colour is not in the plan",
    );
    let mut unnamed = result(&inspection, 1, 10.0, "", 10);
    unnamed.produced_at = None;
    support::assert_status(
        svc.client.record_inspection_result(unnamed).await,
        Code::InvalidArgument,
        "a result must name its units by lot, or by work_unit and produced_at",
    );
    // A malformed idempotency key.
    let mut long_key = disposition(&ncr, pb::Disposition::Scrap, 1);
    long_key.context = keyed("mrb", &"k".repeat(300));
    support::assert_status(
        svc.client.disposition_nonconformance(long_key).await,
        Code::InvalidArgument,
        "context.idempotency_key",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_idempotency_key_returns_the_original_reply_and_stores_nothing() {
    let mut svc = start(None, None).await;
    let ncr = open_ncr_by_hand(&mut svc.client, 5).await;
    let mut scrap = disposition(&ncr, pb::Disposition::Scrap, 2);
    scrap.context = keyed(
        "process-manager",
        "evt-0191e1b4-7c1a-7000-8000-000000000001",
    );
    let first = svc
        .client
        .disposition_nonconformance(scrap.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 2);
    // Another command moves the NCR on; the repeat still gets the original version.
    svc.client
        .contain_nonconformance(pb::ContainNonconformanceRequest {
            context: ctx("qa"),
            ncr_id: ncr.clone(),
            lots: vec!["LOT-4".to_owned()],
            at: at(205),
        })
        .await
        .unwrap();
    let head = svc.head().await;
    let again = svc
        .client
        .disposition_nonconformance(scrap.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(svc.head().await, head, "the repeat stored nothing");
    let state = svc
        .client
        .get_nonconformance(pb::GetNonconformanceRequest {
            ncr_id: ncr.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((state.remaining, state.dispositions.len()), (3, 1));
    // The same key on another aggregate is another command.
    let other = open_ncr_by_hand(&mut svc.client, 5).await;
    scrap.ncr_id = other.clone();
    let reply = svc
        .client
        .disposition_nonconformance(scrap)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.aggregate_id, reply.version), (other, 2));
    // A keyed creation repeated (e.g. a process manager's redelivery) is one NCR.
    let mut open = pb::OpenNonconformanceRequest {
        context: keyed("process-manager", "open-1"),
        ncr_id: uuid::Uuid::now_v7().to_string(),
        inspection_id: String::new(),
        product: "SKU-B".to_owned(),
        quantity: 1,
        description: "dent".to_owned(),
        work_unit: String::new(),
        contained_lots: vec![],
        at: at(1),
    };
    let first = svc
        .client
        .open_nonconformance(open.clone())
        .await
        .unwrap()
        .into_inner();
    let head = svc.head().await;
    let again = svc
        .client
        .open_nonconformance(open.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(svc.head().await, head);
    // Without the key the repeat is rejected as a second opening.
    open.context = ctx("qa");
    support::assert_status(
        svc.client.open_nonconformance(open).await,
        Code::FailedPrecondition,
        "already opened",
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_is_aborted() {
    let mut svc = start(None, None).await;
    let plan = define_plan(&mut svc.client).await;
    let retire = |version| pb::RetireInspectionPlanRequest {
        context: Some(pb::CommandContext {
            actor: "qa".to_owned(),
            expected_version: Some(version),
            ..Default::default()
        }),
        plan_id: plan.clone(),
        reason: "obsolete".to_owned(),
        at: at(5),
    };
    support::assert_status(
        svc.client.retire_inspection_plan(retire(0)).await,
        Code::Aborted,
        "not the expected version 0",
    );
    let reply = svc
        .client
        .retire_inspection_plan(retire(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.version, 2);
    svc.stop().await;
}

/// One of every command RPC of the quality API, to send as it is more than once.
#[derive(Debug, Clone)]
enum Command {
    DefinePlan(pb::DefineInspectionPlanRequest),
    RevisePlan(pb::ReviseInspectionPlanRequest),
    RetirePlan(pb::RetireInspectionPlanRequest),
    StartInspection(pb::StartInspectionRequest),
    RecordResult(pb::RecordInspectionResultRequest),
    CompleteInspection(pb::CompleteInspectionRequest),
    OpenNcr(pb::OpenNonconformanceRequest),
    ContainNcr(pb::ContainNonconformanceRequest),
    DispositionNcr(pb::DispositionNonconformanceRequest),
    CloseNcr(pb::CloseNonconformanceRequest),
    OpenCapa(pb::OpenCapaRequest),
    LinkCapaNcr(pb::LinkCapaNonconformanceRequest),
    ImplementCapa(pb::ImplementCapaActionRequest),
    VerifyCapa(pb::VerifyCapaEffectivenessRequest),
}

impl Command {
    /// Sends the command on `client` and returns its reply.
    async fn send(
        &self,
        mut client: QualityServiceClient<Channel>,
    ) -> Result<pb::CommandReply, tonic::Status> {
        let reply = match self.clone() {
            Command::DefinePlan(r) => client.define_inspection_plan(r).await,
            Command::RevisePlan(r) => client.revise_inspection_plan(r).await,
            Command::RetirePlan(r) => client.retire_inspection_plan(r).await,
            Command::StartInspection(r) => client.start_inspection(r).await,
            Command::RecordResult(r) => client.record_inspection_result(r).await,
            Command::CompleteInspection(r) => client.complete_inspection(r).await,
            Command::OpenNcr(r) => client.open_nonconformance(r).await,
            Command::ContainNcr(r) => client.contain_nonconformance(r).await,
            Command::DispositionNcr(r) => client.disposition_nonconformance(r).await,
            Command::CloseNcr(r) => client.close_nonconformance(r).await,
            Command::OpenCapa(r) => client.open_capa(r).await,
            Command::LinkCapaNcr(r) => client.link_capa_nonconformance(r).await,
            Command::ImplementCapa(r) => client.implement_capa_action(r).await,
            Command::VerifyCapa(r) => client.verify_capa_effectiveness(r).await,
        };
        reply.map(tonic::Response::into_inner)
    }
}

/// Every command RPC once, in an order the rules accept, each with its own idempotency key
/// (`{prefix}-{n}`), on a fresh plan, inspection, NCR and CAPA with ids given in the requests
/// (so that a repeat addresses the same aggregate). Each command stores one event.
fn every_command(prefix: &str) -> Vec<Command> {
    let [plan, inspection, ncr, capa] = [(); 4].map(|()| uuid::Uuid::now_v7().to_string());
    let key = |n: u32| keyed("qa", &format!("{prefix}-{n}"));
    vec![
        Command::DefinePlan(pb::DefineInspectionPlanRequest {
            open_ncr_on_failure: false,
            context: key(1),
            plan_id: plan.clone(),
            sample_size: 1,
            ..define_request()
        }),
        Command::RevisePlan(pb::ReviseInspectionPlanRequest {
            open_ncr_on_failure: false,
            context: key(2),
            plan_id: plan.clone(),
            characteristics: vec![diameter(), seal()],
            sample_size: 1,
            frequency: Some(pb::Frequency {
                every: Some(pb::frequency::Every::Lot(true)),
            }),
            at: at(1),
        }),
        Command::StartInspection(pb::StartInspectionRequest {
            context: key(3),
            inspection_id: inspection.clone(),
            plan_id: plan.clone(),
            work_unit: "press-7".to_owned(),
            lot: String::new(),
            produced_at: None,
            at: at(120),
        }),
        Command::RecordResult(pb::RecordInspectionResultRequest {
            context: key(4),
            ..result(&inspection, 1, 10.0, "LOT-1", 10)
        }),
        Command::CompleteInspection(pb::CompleteInspectionRequest {
            context: key(5),
            inspection_id: inspection.clone(),
            at: at(130),
        }),
        Command::RetirePlan(pb::RetireInspectionPlanRequest {
            context: key(6),
            plan_id: plan.clone(),
            reason: "obsolete".to_owned(),
            at: at(140),
        }),
        Command::OpenNcr(pb::OpenNonconformanceRequest {
            context: key(7),
            ncr_id: ncr.clone(),
            inspection_id: String::new(),
            product: "SKU-A".to_owned(),
            quantity: 2,
            description: "burrs on edge".to_owned(),
            work_unit: String::new(),
            contained_lots: vec!["LOT-1".to_owned()],
            at: at(200),
        }),
        Command::ContainNcr(pb::ContainNonconformanceRequest {
            context: key(8),
            ncr_id: ncr.clone(),
            lots: vec!["LOT-2".to_owned()],
            at: at(201),
        }),
        Command::DispositionNcr(pb::DispositionNonconformanceRequest {
            context: key(9),
            lot: "LOT-1".to_owned(),
            ..disposition(&ncr, pb::Disposition::Scrap, 2)
        }),
        Command::CloseNcr(pb::CloseNonconformanceRequest {
            context: key(10),
            ncr_id: ncr.clone(),
            at: at(220),
        }),
        Command::OpenCapa(pb::OpenCapaRequest {
            context: key(11),
            capa_id: capa.clone(),
            kind: pb::CapaKind::Preventive.into(),
            title: "poka-yoke on feeder".to_owned(),
            owner: "j.doe".to_owned(),
            due: at(10_080),
            ncr_ids: vec![],
            at: at(230),
        }),
        Command::LinkCapaNcr(pb::LinkCapaNonconformanceRequest {
            context: key(12),
            capa_id: capa.clone(),
            ncr_id: ncr.clone(),
            at: at(231),
        }),
        Command::ImplementCapa(pb::ImplementCapaActionRequest {
            context: key(13),
            capa_id: capa.clone(),
            note: "feeder guide fitted".to_owned(),
            at: at(1_000),
        }),
        Command::VerifyCapa(pb::VerifyCapaEffectivenessRequest {
            context: key(14),
            capa_id: capa,
            effective: true,
            note: "no rejects in 5 lots".to_owned(),
            at: at(5_000),
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_sent_twice_with_one_key_stores_one_event_and_answers_alike() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let svc = start(Some(db.url.clone()), None).await;

    // One after the other.
    let sequential = every_command("twice");
    let mut replies = Vec::new();
    for command in &sequential {
        let head = svc.head().await;
        let first = command.send(svc.client.clone()).await.unwrap();
        let again = command.send(svc.client.clone()).await.unwrap();
        assert_eq!(again, first, "{command:?}");
        assert_eq!(svc.head().await, head + 1, "one event for {command:?}");
        replies.push(first);
    }

    // Both at once, each with a fresh key.
    for command in every_command("together") {
        let head = svc.head().await;
        let (first, second) = tokio::join!(
            command.send(svc.client.clone()),
            command.send(svc.client.clone())
        );
        assert_eq!(second.unwrap(), first.unwrap(), "{command:?}");
        assert_eq!(svc.head().await, head + 1, "one event for {command:?}");
    }

    // Once more after a restart on the same database: the keys are folded from the store.
    svc.stop().await;
    let svc = start(Some(db.url.clone()), None).await;
    let head = svc.head().await;
    for (command, first) in sequential.iter().zip(&replies) {
        let again = command.send(svc.client.clone()).await.unwrap();
        assert_eq!(&again, first, "{command:?}");
    }
    assert_eq!(svc.head().await, head, "the repeats stored nothing");
    svc.stop().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    let svc = start(None, None).await;
    support::assert_health_and_reflection(
        svc.harness.channel.clone(),
        "mom.quality.v1.QualityService",
    )
    .await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_reaches_the_topic_through_store_and_outbox() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), Some(broker.bootstrap_servers())).await;

    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut request = tonic::Request::new(define_request());
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let plan = svc
        .client
        .define_inspection_plan(request)
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let inspection = start_inspection(&mut svc.client, &plan).await;
    svc.client
        .record_inspection_result(result(&inspection, 2, 9.5, "LOT-2", 50))
        .await
        .unwrap();
    let causation = uuid::Uuid::now_v7();
    let open = pb::OpenNonconformanceRequest {
        context: Some(pb::CommandContext {
            actor: "qa-engineer".to_owned(),
            causation_id: causation.to_string(),
            ..Default::default()
        }),
        ncr_id: String::new(),
        inspection_id: inspection.clone(),
        product: String::new(),
        quantity: 0,
        description: "undersize".to_owned(),
        work_unit: String::new(),
        contained_lots: vec![],
        at: at(140),
    };
    let ncr = svc
        .client
        .open_nonconformance(open)
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let mut scrap = disposition(&ncr, pb::Disposition::Scrap, 2);
    scrap.lot = "LOT-2".to_owned();
    svc.client.disposition_nonconformance(scrap).await.unwrap();

    // The events are in the store's log, in order, with their outbox messages.
    let log = svc.harness.running.store().read_log(0, 100).await.unwrap();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "InspectionPlanDefined",
            "InspectionStarted",
            "InspectionResultRecorded",
            "NonconformanceOpened",
            "NonconformanceDispositioned",
        ]
    );

    // A plain consumer on the topic decodes the protobuf and checks the headers.
    let received = support::read_topic(
        &broker.bootstrap_servers(),
        "quality",
        "QualityEvent",
        &log,
        |event: &pb::QualityEvent| event.metadata.as_ref(),
    )
    .await;
    let find = |event_type: &str| {
        let entry = log.iter().find(|e| e.event_type == event_type).unwrap();
        &received[&entry.event_id.to_string()]
    };

    let (defined, headers) = find("InspectionPlanDefined");
    assert_eq!(
        headers["traceparent"], traceparent,
        "trace context flows to the header"
    );
    assert_eq!(defined.metadata.as_ref().unwrap().actor, "local-admin");
    assert_eq!(
        defined.metadata.as_ref().unwrap().on_behalf_of,
        "qa-engineer"
    );
    let Some(pb::quality_event::Event::InspectionPlanDefined(defined)) = &defined.event else {
        panic!("wrong event: {defined:?}");
    };
    assert_eq!(defined.characteristics.len(), 2);

    // The reject names where and when the units were made, for the OEE projection.
    let (recorded, _) = find("InspectionResultRecorded");
    let Some(pb::quality_event::Event::InspectionResultRecorded(recorded)) = &recorded.event else {
        panic!("wrong event: {recorded:?}");
    };
    assert_eq!((recorded.quantity, recorded.rejected), (2, 2));
    assert_eq!(recorded.work_unit, "press-7");
    assert_eq!(recorded.produced_at, at(50));
    assert_eq!(recorded.at, at(125));

    let (opened, _) = find("NonconformanceOpened");
    assert_eq!(
        opened.metadata.as_ref().unwrap().causation_id,
        causation.to_string(),
        "the causation id of the command reaches the event"
    );
    let Some(pb::quality_event::Event::NonconformanceOpened(opened)) = &opened.event else {
        panic!("wrong event: {opened:?}");
    };
    assert_eq!(opened.contained_lots, vec!["LOT-2"]);
    assert_eq!(
        (opened.quantity, opened.inspection_id.as_str()),
        (2, inspection.as_str())
    );

    let (scrapped, _) = find("NonconformanceDispositioned");
    let Some(pb::quality_event::Event::NonconformanceDispositioned(scrapped)) = &scrapped.event
    else {
        panic!("wrong event: {scrapped:?}");
    };
    assert_eq!(scrapped.disposition(), pb::Disposition::Scrap);
    assert_eq!(
        (scrapped.quantity, scrapped.lot.as_str(), scrapped.remaining),
        (2, "LOT-2", 0)
    );

    svc.stop().await;
    db.drop_database().await.unwrap();
}
