//! A realistic story through all four services, their topics and the process managers, on a
//! real broker: an order is released, the press is set up and runs, maintenance reports and
//! repairs a breakdown, the press starves for material, the order completes (output lot with
//! genealogy), quality finds the lot bad (NCR → hold → scrap). A plain Kafka consumer then checks
//! every event on every topic, and the process managers' effects are checked in the services.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1 as mnt;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tokio_util::sync::CancellationToken;

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

macro_rules! ctx {
    ($module:ident, $actor:expr) => {
        Some($module::CommandContext {
            actor: $actor.to_owned(),
            ..Default::default()
        })
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_to_scrap_story_across_four_services_and_the_process_managers() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let servers = broker.bootstrap_servers();
    let dbs = [
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
    ];
    let shutdown = CancellationToken::new();
    let [production, quality, maintenance, inventory] = support::start_services(
        [
            dbs[0].url.clone(),
            dbs[1].url.clone(),
            dbs[2].url.clone(),
            dbs[3].url.clone(),
        ],
        Some(servers.clone()),
        &shutdown,
    )
    .await;
    let managers = tokio::spawn(mom_processes::serve(
        mom_processes::ProcessesConfig {
            database_url: dbs[4].url.clone(),
            kafka: support::kafka_args(Some(servers.clone())),
            log_sources: vec![],
            production_url: format!("http://{}", production.grpc_addr),
            quality_url: format!("http://{}", quality.grpc_addr),
            maintenance_url: format!("http://{}", maintenance.grpc_addr),
            inventory_url: format!("http://{}", inventory.grpc_addr),
            output_location: "FG".to_owned(),
            pm_check_interval_secs: 1,
            loops: Default::default(),
            tls: Default::default(),
            credentials: Default::default(),
        },
        shutdown.clone(),
    ));
    let mut prod = ProductionServiceClient::new(support::channel(&production).await);
    let mut qual = QualityServiceClient::new(support::channel(&quality).await);
    let mut maint = MaintenanceServiceClient::new(support::channel(&maintenance).await);
    let mut inv = InventoryServiceClient::new(support::channel(&inventory).await);

    // Master data: the press in production and in maintenance's hierarchy, materials, locations.
    prod.register_work_unit(prd::RegisterWorkUnitRequest {
        context: ctx!(prd, "engineer"),
        work_unit: "press-7".into(),
        name: "press 7".into(),
        micro_stop_threshold_ms: 120_000,
        startup_window_ms: 300_000,
        at: at(0),
    })
    .await
    .unwrap();
    for (asset, level, parent) in [
        ("acme", mnt::AssetLevel::Enterprise, ""),
        ("acme.plant1", mnt::AssetLevel::Site, "acme"),
        ("acme.plant1.stamping", mnt::AssetLevel::Area, "acme.plant1"),
        (
            "acme.plant1.stamping.line1",
            mnt::AssetLevel::WorkCenter,
            "acme.plant1.stamping",
        ),
        (
            "press-7",
            mnt::AssetLevel::WorkUnit,
            "acme.plant1.stamping.line1",
        ),
    ] {
        maint
            .register_asset(mnt::RegisterAssetRequest {
                context: ctx!(mnt, "engineer"),
                asset: asset.into(),
                level: level as i32,
                name: asset.into(),
                parent: parent.into(),
                at: at(0),
            })
            .await
            .unwrap();
    }
    // A calendar plan (every 30 days from March): the process managers' timer finds it due today.
    maint
        .define_plan(mnt::DefinePlanRequest {
            context: ctx!(mnt, "planner"),
            work_unit: "press-7".into(),
            plan: "monthly-lube".into(),
            trigger: mnt::PlanTrigger::CalendarDays as i32,
            every: 30,
            description: "lubricate the slide".into(),
            at: at(0),
        })
        .await
        .unwrap();
    for material in ["STEEL", "SKU-A"] {
        inv.define_material(inv::DefineMaterialRequest {
            context: ctx!(inv, "planner"),
            material: material.into(),
            name: material.into(),
            unit: "pcs".into(),
            at: at(0),
        })
        .await
        .unwrap();
    }
    for location in ["WH1", "FG"] {
        inv.define_location(inv::DefineLocationRequest {
            context: ctx!(inv, "planner"),
            location: location.into(),
            name: location.into(),
            at: at(0),
        })
        .await
        .unwrap();
    }
    inv.receive_lot(inv::ReceiveLotRequest {
        context: ctx!(inv, "receiving"),
        lot: "COIL-1".into(),
        material: "STEEL".into(),
        supplier_lot: "S-99".into(),
        expiry: None,
        location: "WH1".into(),
        quantity: 100,
        at: at(1),
    })
    .await
    .unwrap();

    // The order is released; the press is set up and runs.
    let order = prod
        .create_order(prd::CreateOrderRequest {
            context: ctx!(prd, "planner"),
            order_id: String::new(),
            product: "SKU-A".into(),
            quantity: 500,
            routing: vec![prd::RoutingOperation {
                operation: 10,
                name: "stamp".into(),
                eligible_work_units: vec!["press-7".into()],
            }],
            at: at(2),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    prod.release_order(prd::OrderCommandRequest {
        context: ctx!(prd, "planner"),
        order_id: order.clone(),
        at: at(3),
    })
    .await
    .unwrap();
    prod.start_setup(prd::StartSetupRequest {
        context: ctx!(prd, "setter"),
        work_unit: "press-7".into(),
        next_product: "SKU-A".into(),
        at: at(5),
    })
    .await
    .unwrap();
    prod.end_setup(prd::EndSetupRequest {
        context: ctx!(prd, "setter"),
        work_unit: "press-7".into(),
        product: "SKU-A".into(),
        at: at(20),
    })
    .await
    .unwrap();
    prod.start_operation(prd::StartOperationRequest {
        context: ctx!(prd, "operator"),
        order_id: order.clone(),
        operation: 10,
        work_unit: "press-7".into(),
        at: at(20),
    })
    .await
    .unwrap();
    prod.report_running(prd::ReportRunningRequest {
        context: ctx!(prd, "plc"),
        work_unit: "press-7".into(),
        product: "SKU-A".into(),
        at: at(20),
    })
    .await
    .unwrap();
    inv.consume_lot(inv::ConsumeLotRequest {
        context: ctx!(inv, "operator"),
        lot: "COIL-1".into(),
        order_id: order.clone(),
        work_unit: "press-7".into(),
        location: "WH1".into(),
        quantity: 60,
        at: at(21),
    })
    .await
    .unwrap();
    prod.report_count(prd::ReportCountRequest {
        context: ctx!(prd, "plc"),
        work_unit: "press-7".into(),
        product: String::new(),
        total: 250,
        at: at(60),
    })
    .await
    .unwrap();

    // A breakdown, reported and repaired by maintenance.
    prod.report_stopped(prd::ReportStoppedRequest {
        context: ctx!(prd, "plc"),
        work_unit: "press-7".into(),
        reason: "fault".into(),
        at: at(61),
    })
    .await
    .unwrap();
    let work_order = uuid::Uuid::now_v7().to_string();
    maint
        .report_breakdown(mnt::ReportBreakdownRequest {
            context: ctx!(mnt, "operator"),
            work_order: work_order.clone(),
            work_unit: "press-7".into(),
            failure_mode: "hydraulic leak".into(),
            failure_start: at(61),
            product: "SKU-A".into(),
            description: "oil under the press".into(),
            at: at(62),
        })
        .await
        .unwrap();
    maint
        .start_work(mnt::WorkOrderCommandRequest {
            context: ctx!(mnt, "fitter"),
            work_order: work_order.clone(),
            at: at(70),
        })
        .await
        .unwrap();
    maint
        .complete_work(mnt::WorkOrderCommandRequest {
            context: ctx!(mnt, "fitter"),
            work_order: work_order.clone(),
            at: at(95),
        })
        .await
        .unwrap();
    prod.report_running(prd::ReportRunningRequest {
        context: ctx!(prd, "plc"),
        work_unit: "press-7".into(),
        product: String::new(),
        at: at(95),
    })
    .await
    .unwrap();

    // Preventive maintenance announces a window; the process manager makes it a planned shutdown.
    let pm_order = uuid::Uuid::now_v7().to_string();
    maint
        .request_preventive_work(mnt::RequestPreventiveWorkRequest {
            context: ctx!(mnt, "planner"),
            work_order: pm_order.clone(),
            work_unit: "press-7".into(),
            description: "replace hydraulic seals".into(),
            at: at(100),
        })
        .await
        .unwrap();
    maint
        .schedule_work_order(mnt::ScheduleWorkOrderRequest {
            context: ctx!(mnt, "planner"),
            work_order: pm_order.clone(),
            from: at(480),
            until: at(540),
            at: at(101),
        })
        .await
        .unwrap();

    // Material starvation: the press asks for more steel than the coil holds.
    let starved = inv
        .consume_lot(inv::ConsumeLotRequest {
            context: ctx!(inv, "operator"),
            lot: "COIL-1".into(),
            order_id: order.clone(),
            work_unit: "press-7".into(),
            location: "WH1".into(),
            quantity: 80,
            at: at(120),
        })
        .await
        .unwrap_err();
    assert_eq!(starved.code(), tonic::Code::InvalidArgument, "{starved:?}");
    inv.receive_lot(inv::ReceiveLotRequest {
        context: ctx!(inv, "receiving"),
        lot: "COIL-2".into(),
        material: "STEEL".into(),
        supplier_lot: "S-100".into(),
        expiry: None,
        location: "WH1".into(),
        quantity: 100,
        at: at(130),
    })
    .await
    .unwrap();
    inv.consume_lot(inv::ConsumeLotRequest {
        context: ctx!(inv, "operator"),
        lot: "COIL-2".into(),
        order_id: order.clone(),
        work_unit: "press-7".into(),
        location: "WH1".into(),
        quantity: 80,
        at: at(135),
    })
    .await
    .unwrap();
    prod.report_count(prd::ReportCountRequest {
        context: ctx!(prd, "plc"),
        work_unit: "press-7".into(),
        product: String::new(),
        total: 250,
        at: at(200),
    })
    .await
    .unwrap();

    // The order completes: the process manager books the output lot with its genealogy. The
    // press's two counts (500) are the operation's pieces; the operator reports the 20 scrapped
    // (docs/dispatching.md), which leaves 480 good.
    prod.report_quantity(prd::ReportQuantityRequest {
        context: ctx!(prd, "operator"),
        order_id: order.clone(),
        operation: 10,
        good: 0,
        scrap: 20,
        at: at(200),
        ..Default::default()
    })
    .await
    .unwrap();
    prod.complete_operation(prd::CompleteOperationRequest {
        context: ctx!(prd, "operator"),
        order_id: order.clone(),
        operation: 10,
        at: at(201),
    })
    .await
    .unwrap();
    prod.complete_order(prd::OrderCommandRequest {
        context: ctx!(prd, "planner"),
        order_id: order.clone(),
        at: at(202),
    })
    .await
    .unwrap();
    let output_lot = format!("{order}-out");
    let output = support::eventually("output lot", || {
        let mut inv = inv.clone();
        let lot = output_lot.clone();
        async move {
            inv.get_lot(inv::GetLotRequest { lot })
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    })
    .await;
    assert_eq!((output.total, output.material.as_str()), (480, "SKU-A"));
    let inputs: BTreeSet<&str> = output.input_lots.iter().map(String::as_str).collect();
    assert_eq!(
        inputs,
        BTreeSet::from(["COIL-1", "COIL-2"]),
        "genealogy from the consumed lots"
    );

    // Hours later an inspection fails units of the lot made earlier: NCR (containment from the
    // inspection's rejected lot), then scrap.
    let plan = qual
        .define_inspection_plan(qa::DefineInspectionPlanRequest {
            open_ncr_on_failure: false,
            context: ctx!(qa, "qa-engineer"),
            plan_id: String::new(),
            product: "SKU-A".into(),
            operation: 10,
            characteristics: vec![qa::Characteristic {
                name: "crack".into(),
                spec: Some(qa::characteristic::Spec::Attribute(qa::AttributeSpec {})),
            }],
            sample_size: 1,
            frequency: Some(qa::Frequency {
                every: Some(qa::frequency::Every::Units(500)),
            }),
            at: at(0),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let inspection = qual
        .start_inspection(qa::StartInspectionRequest {
            context: ctx!(qa, "inspector"),
            inspection_id: String::new(),
            plan_id: plan,
            work_unit: "press-7".into(),
            lot: output_lot.clone(),
            produced_at: None,
            at: at(390),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    qual.record_inspection_result(qa::RecordInspectionResultRequest {
        context: ctx!(qa, "inspector"),
        inspection_id: inspection.clone(),
        quantity: 100,
        values: vec![qa::MeasurementValue {
            characteristic: "crack".into(),
            value: Some(qa::measurement_value::Value::Passed(false)),
        }],
        work_unit: "press-7".into(),
        lot: output_lot.clone(),
        produced_at: at(150),
        at: at(400),
    })
    .await
    .unwrap();
    qual.complete_inspection(qa::CompleteInspectionRequest {
        context: ctx!(qa, "inspector"),
        inspection_id: inspection.clone(),
        at: at(401),
    })
    .await
    .unwrap();
    let ncr = qual
        .open_nonconformance(qa::OpenNonconformanceRequest {
            context: ctx!(qa, "inspector"),
            ncr_id: String::new(),
            inspection_id: inspection.clone(),
            product: String::new(),
            quantity: 0,
            description: "cracks at the bend".into(),
            work_unit: String::new(),
            contained_lots: vec![],
            at: at(402),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let held = support::eventually("hold", || {
        let mut inv = inv.clone();
        let lot = output_lot.clone();
        async move {
            let lot = inv
                .get_lot(inv::GetLotRequest { lot })
                .await
                .ok()?
                .into_inner();
            (!lot.holds.is_empty()).then_some(lot)
        }
    })
    .await;
    assert_eq!(held.holds[0].hold, ncr);
    qual.disposition_nonconformance(qa::DispositionNonconformanceRequest {
        context: ctx!(qa, "mrb"),
        ncr_id: ncr.clone(),
        disposition: qa::Disposition::Scrap as i32,
        quantity: 100,
        lot: output_lot.clone(),
        note: "not reworkable".into(),
        at: at(420),
    })
    .await
    .unwrap();
    support::eventually("scrap", || {
        let mut inv = inv.clone();
        let lot = output_lot.clone();
        async move {
            let lot = inv
                .get_lot(inv::GetLotRequest { lot })
                .await
                .ok()?
                .into_inner();
            (lot.total == 380).then_some(())
        }
    })
    .await;

    // Every event of the story is on its topic, with CloudEvents headers.
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "mom.production.v1",
            vec![
                "WorkUnitRegistered",
                "OrderCreated",
                "OrderReleased",
                "SetupStarted",
                "SetupEnded",
                "OperationStarted",
                "WorkUnitRunning",
                "UnitsCounted",
                "WorkUnitStopped",
                "QuantityReported",
                "OperationCompleted",
                "OrderCompleted",
            ],
        ),
        (
            "mom.maintenance.v1",
            vec![
                "AssetRegistered",
                "BreakdownReported",
                "WorkStarted",
                "BreakdownRepaired",
                "UsageRecorded",
            ],
        ),
        (
            "mom.inventory.v1",
            vec![
                "MaterialDefined",
                "LocationDefined",
                "LotReceived",
                "LotConsumed",
                "OrderInputLinked",
                "MaterialStarvationStarted",
                "MaterialStarvationEnded",
                "LotProduced",
                "OrderOutputLinked",
                "LotHeld",
                "LotScrapped",
            ],
        ),
        (
            "mom.quality.v1",
            vec![
                "InspectionPlanDefined",
                "InspectionStarted",
                "InspectionResultRecorded",
                "InspectionCompleted",
                "NonconformanceOpened",
                "NonconformanceDispositioned",
            ],
        ),
    ]);
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", "story-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let topics: Vec<&str> = expected.keys().copied().collect();
    consumer.subscribe(&topics).unwrap();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut causations: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let complete = |seen: &BTreeMap<String, BTreeSet<String>>| {
        expected.iter().all(|(topic, types)| {
            types
                .iter()
                .all(|t| seen.get(*topic).is_some_and(|s| s.contains(*t)))
        })
    };
    while !complete(&seen) && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        let headers: BTreeMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ce_type = headers.get("ce_type").cloned().unwrap_or_default();
        assert_eq!(
            headers.get("ce_specversion").map(String::as_str),
            Some("1.0")
        );
        assert!(headers.contains_key("ce_id") && headers.contains_key("ce_time"));
        let name = ce_type.rsplit('.').next().unwrap_or_default().to_owned();
        if message.topic() == "mom.inventory.v1" && name == "LotHeld" {
            let event = inv::InventoryEvent::decode(message.payload().unwrap()).unwrap();
            let meta = event.metadata.unwrap();
            causations.push((meta.on_behalf_of, meta.causation_id));
        }
        seen.entry(message.topic().to_owned())
            .or_default()
            .insert(name);
    }
    for (topic, types) in &expected {
        for event_type in types {
            assert!(
                seen.get(*topic).is_some_and(|s| s.contains(*event_type)),
                "{event_type} missing on {topic}; seen: {seen:?}"
            );
        }
    }
    // The hold was commanded by the process manager (on whose behalf the process managers'
    // principal acted), caused by the NCR event.
    assert!(
        causations
            .iter()
            .any(|(actor, causation)| actor == "mom/processes/ncr_hold" && !causation.is_empty()),
        "{causations:?}"
    );

    shutdown.cancel();
    managers.await.unwrap().unwrap();
    for running in [production, quality, maintenance, inventory] {
        running.wait().await.unwrap();
    }
    for db in dbs {
        db.drop_database().await.unwrap();
    }
}

use prost::Message as _;
