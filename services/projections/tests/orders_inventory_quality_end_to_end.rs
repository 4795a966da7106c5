//! The orders, inventory and quality read models behind `mom serve projections`, fed from the
//! logs of the real production, inventory and quality services (started in-process on SQLite
//! stores and driven over gRPC), into a read model on Postgres (and the same on SQLite): the gRPC
//! and HTTP answers, the live feed, health and reflection, a matrix of bad requests, and a
//! rebuild from the logs that gives identical tables to the live run on both databases.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{INVENTORY_TABLES, ORDERS_TABLES, QUALITY_TABLES, SPC_TABLES};
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::projections::v1 as pb;
use mom_proto::projections::v1::inventory_read_service_client::InventoryReadServiceClient;
use mom_proto::projections::v1::orders_read_service_client::OrdersReadServiceClient;
use mom_proto::projections::v1::quality_read_service_client::QualityReadServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;

const T0: i64 = 1_772_524_800;

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(
        chrono::DateTime::from_timestamp(T0 + minute * 60, 0).unwrap(),
    ))
}

fn rfc3339(minute: i64) -> String {
    chrono::DateTime::from_timestamp(T0 + minute * 60, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

macro_rules! ctx {
    ($module:ident) => {
        Some($module::CommandContext {
            actor: "test".to_owned(),
            ..Default::default()
        })
    };
}

fn store(url: String) -> mom_eventstore::StoreArgs {
    mom_eventstore::StoreArgs {
        database_url: url,
        db_max_connections: 4,
        db_max_batch_events: 1024,
        snapshot_every: 1,
        max_message_bytes: mom_eventstore::outbox::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

fn kafka() -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: None,
        topic_prefix: "mom.".to_owned(),
        topic_partitions: 1,
        topic_replication: 1,
        relay_batch_size: 500,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(Some(chrono::Duration::days(7))),
        kafka_options: Vec::new(),
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Polls `probe` every 100 ms until it returns a value; fails after 30 s naming `what`.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the live feed in the background and returns the event names seen.
fn watch_feed(addr: SocketAddr) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"GET /api/projections/watch?read_models=orders,inventory,quality HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await
            .unwrap();
        let mut lines = tokio::io::BufReader::new(stream).lines();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < 3 && Instant::now() < deadline {
            let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_secs(1), lines.next_line()).await
            else {
                continue;
            };
            if let Some(name) = line.strip_prefix("event: ") {
                if !seen.iter().any(|s| s == name) {
                    seen.push(name.to_owned());
                }
            }
        }
        seen.sort();
        seen
    })
}

fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("the request must be rejected");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
}

/// Every column of the three read models' tables as text, row by row, in key order.
async fn snapshot(url: &str) -> Vec<(String, Vec<String>)> {
    let tables = [
        &ORDERS_TABLES[..],
        &INVENTORY_TABLES[..],
        &QUALITY_TABLES[..],
        &SPC_TABLES[..],
    ]
    .concat();
    let models = mom_projection::ReadModels::connect(url).await.unwrap();
    let rows = mom_testkit::rows_as_text(models.pool(), &tables)
        .await
        .unwrap();
    models.pool().close().await;
    tables
        .iter()
        .map(|(table, _, _)| (*table).to_owned())
        .zip(rows)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apis_answer_from_the_real_services_logs_and_a_rebuild_gives_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
    let shutdown = CancellationToken::new();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: store(url("production")),
            kafka: kafka(),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let quality = mom_quality::start(
        mom_quality::QualityConfig {
            store: store(url("quality")),
            kafka: kafka(),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let inventory = mom_inventory::start(
        mom_inventory::InventoryConfig {
            store: store(url("inventory")),
            kafka: kafka(),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let log_sources = vec![
        format!("production={}", url("production")),
        format!("quality={}", url("quality")),
        format!("inventory={}", url("inventory")),
    ];
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    let read_side = CancellationToken::new();
    let projections = mom_projections::start(
        mom_projections::ProjectionsConfig {
            database_url: database.url.clone(),
            kafka: kafka(),
            security: Default::default(),
            log_sources: log_sources.clone(),
            grpc_addr: addr,
            http_addr: addr,
        },
        mom_projections::HttpMode::Serve,
        read_side.clone(),
    )
    .await
    .unwrap();
    // The same read models on SQLite (the embedded mode's database), fed from the same logs.
    let sqlite = url("read_models");
    let embedded = mom_projections::start(
        mom_projections::ProjectionsConfig {
            database_url: sqlite.clone(),
            kafka: kafka(),
            security: Default::default(),
            log_sources: log_sources.clone(),
            grpc_addr: addr,
            http_addr: addr,
        },
        mom_projections::HttpMode::Serve,
        read_side.clone(),
    )
    .await
    .unwrap();
    let http = projections.http_addr.unwrap();
    let feed = watch_feed(http);
    let read = channel(projections.grpc_addr).await;
    let mut orders = OrdersReadServiceClient::new(read.clone());
    let mut stock = InventoryReadServiceClient::new(read.clone());
    let mut qual_read = QualityReadServiceClient::new(read.clone());

    // Production: one order runs its first operation, another is completed.
    let mut prod = ProductionServiceClient::new(channel(production.grpc_addr).await);
    let routing = vec![
        prd::RoutingOperation {
            operation: 10,
            name: "cut".into(),
            eligible_work_units: vec!["saw-1".into()],
        },
        prd::RoutingOperation {
            operation: 20,
            name: "weld".into(),
            eligible_work_units: vec!["weld-1".into()],
        },
    ];
    let mut order_ids = Vec::new();
    for (product, quantity, minute) in [("bracket", 100, 0), ("hinge", 10, 1)] {
        let id = prod
            .create_order(prd::CreateOrderRequest {
                context: ctx!(prd),
                order_id: String::new(),
                product: product.into(),
                quantity,
                routing: routing.clone(),
                at: at(minute),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .aggregate_id;
        prod.release_order(prd::OrderCommandRequest {
            context: ctx!(prd),
            order_id: id.clone(),
            at: at(minute + 10),
        })
        .await
        .unwrap();
        prod.start_operation(prd::StartOperationRequest {
            context: ctx!(prd),
            order_id: id.clone(),
            operation: 10,
            work_unit: "saw-1".into(),
            at: at(minute + 20),
        })
        .await
        .unwrap();
        order_ids.push(id);
    }
    let (open, done) = (order_ids[0].clone(), order_ids[1].clone());
    prod.report_quantity(prd::ReportQuantityRequest {
        context: ctx!(prd),
        order_id: open.clone(),
        operation: 10,
        good: 40,
        scrap: 1,
        at: at(30),
        ..Default::default()
    })
    .await
    .unwrap();
    for (operation, unit, minute) in [(10, "saw-1", 30), (20, "weld-1", 40)] {
        if operation == 20 {
            prod.start_operation(prd::StartOperationRequest {
                context: ctx!(prd),
                order_id: done.clone(),
                operation,
                work_unit: unit.into(),
                at: at(minute),
            })
            .await
            .unwrap();
        }
        prod.report_quantity(prd::ReportQuantityRequest {
            context: ctx!(prd),
            order_id: done.clone(),
            operation,
            good: 10,
            scrap: 0,
            at: at(minute + 5),
            ..Default::default()
        })
        .await
        .unwrap();
        prod.complete_operation(prd::CompleteOperationRequest {
            context: ctx!(prd),
            order_id: done.clone(),
            operation,
            at: at(minute + 6),
        })
        .await
        .unwrap();
    }
    prod.complete_order(prd::OrderCommandRequest {
        context: ctx!(prd),
        order_id: done.clone(),
        at: at(71),
    })
    .await
    .unwrap();

    // Inventory: a coil cut into blanks, blanks welded into brackets; a hold; an expiring lot.
    let mut invc = InventoryServiceClient::new(channel(inventory.grpc_addr).await);
    for material in ["STEEL", "BLANK", "BRACKET", "GLUE"] {
        invc.define_material(inv::DefineMaterialRequest {
            context: ctx!(inv),
            material: material.into(),
            name: material.into(),
            unit: "pcs".into(),
            at: at(0),
        })
        .await
        .unwrap();
    }
    for location in ["WH1", "FG"] {
        invc.define_location(inv::DefineLocationRequest {
            context: ctx!(inv),
            location: location.into(),
            name: location.into(),
            at: at(0),
        })
        .await
        .unwrap();
    }
    for (lot, material, expiry) in [
        ("COIL-1", "STEEL", None),
        ("GLUE-1", "GLUE", at(3 * 24 * 60)),
    ] {
        invc.receive_lot(inv::ReceiveLotRequest {
            context: ctx!(inv),
            lot: lot.into(),
            material: material.into(),
            supplier_lot: "S-1".into(),
            expiry,
            location: "WH1".into(),
            quantity: 100,
            at: at(1),
        })
        .await
        .unwrap();
    }
    let steps = [
        ("COIL-1", "BLANK-1", "BLANK", &open),
        ("BLANK-1", "BRACKET-1", "BRACKET", &done),
    ];
    for (i, (input, output, material, order)) in steps.into_iter().enumerate() {
        let minute = 20 + 10 * i as i64;
        invc.consume_lot(inv::ConsumeLotRequest {
            context: ctx!(inv),
            lot: input.into(),
            order_id: order.clone(),
            work_unit: "saw-1".into(),
            location: if i == 0 { "WH1".into() } else { "FG".into() },
            quantity: 10,
            at: at(minute),
        })
        .await
        .unwrap();
        invc.produce_lot(inv::ProduceLotRequest {
            context: ctx!(inv),
            lot: output.into(),
            material: material.into(),
            order_id: order.clone(),
            work_unit: "saw-1".into(),
            location: "FG".into(),
            quantity: 10,
            input_lots: vec![],
            expiry: None,
            at: at(minute + 1),
        })
        .await
        .unwrap();
    }
    invc.hold_lot(inv::HoldLotRequest {
        context: ctx!(inv),
        lot: "BRACKET-1".into(),
        hold: "NCR-7".into(),
        reason: "burr".into(),
        at: at(80),
    })
    .await
    .unwrap();

    // Quality: 110 units inspected, 10 rejected; an NCR dispositioned; an overdue CAPA.
    let mut qc = QualityServiceClient::new(channel(quality.grpc_addr).await);
    let plan = qc
        .define_inspection_plan(qa::DefineInspectionPlanRequest {
            open_ncr_on_failure: false,
            context: ctx!(qa),
            plan_id: String::new(),
            product: "bracket".into(),
            operation: 10,
            characteristics: vec![qa::Characteristic {
                name: "crack".into(),
                spec: Some(qa::characteristic::Spec::Attribute(qa::AttributeSpec {})),
            }],
            sample_size: 1,
            frequency: Some(qa::Frequency {
                every: Some(qa::frequency::Every::Units(100)),
            }),
            at: at(0),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let inspection = qc
        .start_inspection(qa::StartInspectionRequest {
            context: ctx!(qa),
            inspection_id: String::new(),
            plan_id: plan,
            work_unit: "saw-1".into(),
            lot: "BRACKET-1".into(),
            produced_at: at(25),
            at: at(90),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    for (quantity, passed) in [(100, true), (10, false)] {
        qc.record_inspection_result(qa::RecordInspectionResultRequest {
            context: ctx!(qa),
            inspection_id: inspection.clone(),
            quantity,
            values: vec![qa::MeasurementValue {
                characteristic: "crack".into(),
                value: Some(qa::measurement_value::Value::Passed(passed)),
            }],
            work_unit: "saw-1".into(),
            lot: "BRACKET-1".into(),
            produced_at: at(25),
            at: at(91),
        })
        .await
        .unwrap();
    }
    // SPC: a p chart of the crack checks with explicit limits, then new limits; its second
    // result (10 of 10 rejected) is beyond them.
    let limits = |center: f64, upper: f64| qa::ControlLimits {
        center,
        lower: 0.0,
        upper,
        ..Default::default()
    };
    qc.define_control_chart(qa::DefineControlChartRequest {
        context: ctx!(qa),
        chart_id: "bracket-10-crack".into(),
        source: Some(qa::define_control_chart_request::Source::Characteristic(
            qa::CharacteristicSource {
                product: "bracket".into(),
                operation: 10,
                characteristic: "crack".into(),
            },
        )),
        kind: qa::ChartKind::P as i32,
        subgroup: Some(qa::define_control_chart_request::Subgroup::Size(1)),
        baseline: Some(qa::define_control_chart_request::Baseline::Limits(limits(
            0.05, 0.2,
        ))),
        description: "cracked brackets".into(),
        at: at(91),
        ..Default::default()
    })
    .await
    .unwrap();
    qc.set_control_limits(qa::SetControlLimitsRequest {
        context: ctx!(qa),
        chart_id: "bracket-10-crack".into(),
        limits: Some(limits(0.04, 0.15)),
        from: at(0),
        reason: "tighter".into(),
        at: at(91),
    })
    .await
    .unwrap();
    qc.complete_inspection(qa::CompleteInspectionRequest {
        context: ctx!(qa),
        inspection_id: inspection.clone(),
        at: at(92),
    })
    .await
    .unwrap();
    let ncr = qc
        .open_nonconformance(qa::OpenNonconformanceRequest {
            context: ctx!(qa),
            ncr_id: String::new(),
            inspection_id: inspection.clone(),
            product: String::new(),
            quantity: 0,
            description: "cracks".into(),
            work_unit: String::new(),
            contained_lots: vec![],
            at: at(93),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    qc.disposition_nonconformance(qa::DispositionNonconformanceRequest {
        context: ctx!(qa),
        ncr_id: ncr.clone(),
        disposition: qa::Disposition::Rework as i32,
        quantity: 10,
        lot: String::new(),
        note: String::new(),
        at: at(100),
    })
    .await
    .unwrap();
    let capa = qc
        .open_capa(qa::OpenCapaRequest {
            context: ctx!(qa),
            capa_id: String::new(),
            kind: qa::CapaKind::Corrective as i32,
            title: "deburr the saw".into(),
            owner: "eng".into(),
            due: at(200),
            ncr_ids: vec![ncr.clone()],
            at: at(101),
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;

    // The read models catch up from the logs.
    eventually("the capa read model", || {
        let mut client = qual_read.clone();
        async move {
            let capas = client
                .list_capas(pb::ListCapasRequest::default())
                .await
                .ok()?
                .into_inner()
                .capas;
            (!capas.is_empty()).then_some(())
        }
    })
    .await;
    eventually("the completed order", || {
        let mut client = orders.clone();
        async move {
            let list = client
                .list_orders(pb::ListOrdersRequest {
                    status: "completed".into(),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            (list.orders.len() == 1).then_some(())
        }
    })
    .await;
    eventually("the hold", || {
        let mut client = stock.clone();
        async move {
            let holds = client
                .list_holds(pb::ListHoldsRequest::default())
                .await
                .ok()?
                .into_inner()
                .holds;
            (holds.len() == 1).then_some(())
        }
    })
    .await;

    // Orders over gRPC and HTTP.
    let completed = orders
        .get_order(pb::GetOrderProgressRequest {
            order_id: done.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let summary = completed.order.unwrap();
    assert_eq!(summary.status, "completed");
    assert_eq!(
        summary.lead_time_ms,
        Some(60 * 60_000),
        "release at 11, completion at 71"
    );
    assert_eq!(summary.progress, 1.0);
    assert_eq!(completed.operations.len(), 2);
    assert_eq!(completed.operations[1].work_unit, "weld-1");
    let wip = orders
        .get_wip(pb::GetWipRequest::default())
        .await
        .unwrap()
        .into_inner()
        .wip;
    assert_eq!(wip.len(), 1, "{wip:?}");
    assert_eq!(
        (
            wip[0].operation,
            wip[0].work_unit.as_str(),
            wip[0].orders,
            wip[0].remaining,
            wip[0].good
        ),
        (10, "saw-1", 1, 60, 40)
    );
    let (status, body) = http_get(http, "/api/orders?product=bracket").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orders"][0]["order_id"], open.as_str());
    assert_eq!(body["orders"][0]["progress"], 0.2);
    let (status, body) = http_get(http, &format!("/api/orders/{done}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["order"]["lead_time_ms"], 3_600_000);
    assert_eq!(body["operations"][0]["status"], "done");
    let (_, body) = http_get(http, "/api/orders/wip?work_unit=saw-1").await;
    assert_eq!(body["wip"][0]["remaining"], 60);
    let (_, body) = http_get(http, "/api/orders?page_size=1").await;
    assert_eq!(body["orders"].as_array().unwrap().len(), 1);
    let token = body["next_page_token"].as_str().unwrap().to_owned();
    let (_, body) = http_get(http, &format!("/api/orders?page_size=1&page_token={token}")).await;
    assert_eq!(body["orders"].as_array().unwrap().len(), 1);
    assert_eq!(body["next_page_token"], "");
    let (_, body) = http_get(
        http,
        &format!("/api/orders?from={}&to={}", rfc3339(1), rfc3339(2)),
    )
    .await;
    assert_eq!(body["orders"][0]["order_id"], done.as_str());

    // Inventory over gRPC and HTTP.
    let genealogy = stock
        .get_lot_genealogy(pb::GetLotGenealogyRequest {
            lot: "BRACKET-1".into(),
            direction: pb::GenealogyDirection::Backward as i32,
            depth: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let links: Vec<(&str, &str, u32)> = genealogy
        .links
        .iter()
        .map(|l| (l.input_lot.as_str(), l.output_lot.as_str(), l.depth))
        .collect();
    assert_eq!(
        links,
        [("BLANK-1", "BRACKET-1", 1), ("COIL-1", "BLANK-1", 2)]
    );
    assert!(genealogy.lots[0].held);
    let (status, body) = http_get(
        http,
        "/api/inventory/genealogy/COIL-1?direction=forward&depth=2",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["links"][1]["output_lot"], "BRACKET-1");
    assert_eq!(body["links"][1]["order_id"], done.as_str());
    let (_, body) = http_get(http, "/api/inventory/lots?location=WH1").await;
    let lots: Vec<(&str, i64)> = body["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["lot"].as_str().unwrap(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(lots, [("COIL-1", 90), ("GLUE-1", 100)]);
    let (_, body) = http_get(http, "/api/inventory/lots?status=held").await;
    assert_eq!(body["lots"][0]["lot"], "BRACKET-1");
    let (_, body) = http_get(http, "/api/inventory/holds").await;
    assert_eq!(body["holds"][0]["hold"], "NCR-7");
    let (status, body) = http_get(
        http,
        &format!("/api/inventory/expiring?within=7d&as_of={}", rfc3339(0)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lots"][0]["lot"], "GLUE-1");
    assert_eq!(body["lots"][0]["expired"], false);

    // Quality over gRPC and HTTP.
    let fpy = qual_read
        .get_first_pass_yield(pb::GetFirstPassYieldRequest {
            product: "bracket".into(),
            // The story's day (an open range is the 30 days up to now).
            from: at(-60),
            to: at(24 * 60),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((fpy.yields[0].inspected, fpy.yields[0].rejected), (110, 10));
    assert!((fpy.yields[0].first_pass_yield - 100.0 / 110.0).abs() < 1e-12);
    let (_, body) = http_get(
        http,
        &format!(
            "/api/quality/fpy?operation=10&from={}&to={}",
            rfc3339(-60),
            rfc3339(24 * 60)
        ),
    )
    .await;
    assert_eq!(body["products"][0]["product"], "bracket");
    let ncrs = qual_read
        .list_ncrs(pb::ListNcrsRequest {
            as_of: at(160),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ncrs;
    assert_eq!(ncrs[0].ncr_id, ncr);
    assert_eq!(ncrs[0].status, "dispositioned");
    assert_eq!(ncrs[0].age_ms, 67 * 60_000);
    assert_eq!(ncrs[0].dispositioned.as_ref().unwrap().rework, 10);
    assert_eq!(ncrs[0].contained_lots, ["BRACKET-1"]);
    let (_, body) = http_get(
        http,
        &format!("/api/quality/capas?overdue=true&as_of={}", rfc3339(260)),
    )
    .await;
    assert_eq!(body["capas"][0]["capa_id"], capa.as_str());
    assert_eq!(body["capas"][0]["overdue_ms"], 3_600_000);
    let (_, body) = http_get(
        http,
        &format!("/api/quality/capas?overdue=true&as_of={}", rfc3339(150)),
    )
    .await;
    assert_eq!(body["capas"], Value::Array(vec![]));

    // The live feed told a watcher about each read model.
    assert_eq!(feed.await.unwrap(), ["inventory", "orders", "quality"]);

    // Health and reflection.
    let mut health = tonic_health::pb::health_client::HealthClient::new(read.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            read.clone(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let response = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = response.message_response
    else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "mom.projections.v1.OrdersReadService",
        "mom.projections.v1.InventoryReadService",
        "mom.projections.v1.QualityReadService",
    ] {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }

    // Bad requests over gRPC: a clear status and a message naming the field.
    let bad_time = Some(prost_types::Timestamp {
        seconds: 0,
        nanos: -1,
    });
    assert_status(
        orders
            .list_orders(pb::ListOrdersRequest {
                status: "paused".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "status",
    );
    assert_status(
        orders
            .list_orders(pb::ListOrdersRequest {
                page_size: 5000,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "page_size",
    );
    assert_status(
        orders
            .list_orders(pb::ListOrdersRequest {
                page_token: "zzz".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "page_token",
    );
    assert_status(
        orders
            .list_orders(pb::ListOrdersRequest {
                from: at(10),
                to: at(5),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "before from",
    );
    assert_status(
        orders
            .list_orders(pb::ListOrdersRequest {
                from: bad_time,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "from",
    );
    assert_status(
        orders
            .get_order(pb::GetOrderProgressRequest {
                order_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "order_id",
    );
    assert_status(
        orders
            .get_order(pb::GetOrderProgressRequest {
                order_id: "no-such-order".into(),
            })
            .await,
        Code::NotFound,
        "no-such-order",
    );
    assert_status(
        stock
            .list_lots(pb::ListLotsRequest {
                status: "frozen".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "status",
    );
    assert_status(
        stock
            .list_expiring_lots(pb::ListExpiringLotsRequest::default())
            .await,
        Code::InvalidArgument,
        "within",
    );
    assert_status(
        stock
            .list_expiring_lots(pb::ListExpiringLotsRequest {
                within: Some(prost_types::Duration {
                    seconds: -5,
                    nanos: 0,
                }),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "within",
    );
    assert_status(
        stock
            .get_lot_genealogy(pb::GetLotGenealogyRequest {
                lot: "COIL-1".into(),
                direction: 0,
                depth: 0,
            })
            .await,
        Code::InvalidArgument,
        "direction",
    );
    assert_status(
        stock
            .get_lot_genealogy(pb::GetLotGenealogyRequest {
                lot: "COIL-1".into(),
                direction: 1,
                depth: 65,
            })
            .await,
        Code::InvalidArgument,
        "depth",
    );
    assert_status(
        stock
            .get_lot_genealogy(pb::GetLotGenealogyRequest {
                lot: "NOPE".into(),
                direction: 1,
                depth: 1,
            })
            .await,
        Code::NotFound,
        "NOPE",
    );
    assert_status(
        qual_read
            .list_ncrs(pb::ListNcrsRequest {
                status: "lost".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "status",
    );
    assert_status(
        qual_read
            .list_capas(pb::ListCapasRequest {
                as_of: bad_time,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "as_of",
    );
    assert_status(
        qual_read
            .get_first_pass_yield(pb::GetFirstPassYieldRequest {
                from: at(10),
                to: at(1),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "before from",
    );

    // Bad requests over HTTP: 400 or 404 with a message naming the field.
    for (path, code, needle) in [
        ("/api/orders?status=paused", 400, "status"),
        ("/api/orders?page_size=0", 400, "page_size"),
        ("/api/orders?page_token=zzz", 400, "page_token"),
        ("/api/orders?from=yesterday", 400, "from"),
        ("/api/orders?colour=red", 400, "colour"),
        ("/api/orders/no-such-order", 404, "no-such-order"),
        ("/api/orders/wip?status=open", 400, "status"),
        ("/api/inventory/lots?status=frozen", 400, "status"),
        ("/api/inventory/holds?page_size=ten", 400, "page_size"),
        ("/api/inventory/expiring", 400, "within"),
        ("/api/inventory/expiring?within=7x", 400, "within"),
        ("/api/inventory/expiring?within=7d&as_of=soon", 400, "as_of"),
        (
            "/api/inventory/genealogy/COIL-1?direction=up",
            400,
            "direction",
        ),
        ("/api/inventory/genealogy/COIL-1?depth=100", 400, "depth"),
        ("/api/inventory/genealogy/NOPE", 404, "NOPE"),
        ("/api/quality/ncrs?to=tomorrow", 400, "to"),
        ("/api/quality/ncrs?status=lost", 400, "status"),
        ("/api/quality/fpy?operation=ten", 400, "operation"),
        (
            "/api/quality/fpy?from=2020-01-01T00:00:00Z",
            400,
            "maximum of 400 days",
        ),
        (
            "/api/quality/ncrs?from=1826-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "maximum of 400 days",
        ),
        ("/api/quality/capas?overdue=maybe", 400, "overdue"),
        ("/api/quality/capas?status=done", 400, "status"),
        (
            "/api/projections/watch?read_models=orders,nope",
            404,
            "nope",
        ),
    ] {
        let (status, body) = http_get(http, path).await;
        assert_eq!(status, code, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{path}: {message:?} should name {needle:?}"
        );
        // A 400 names the parameter for programs too (a range too long blames `to`).
        let field = (code == 400).then(|| if needle.contains(' ') { "to" } else { needle });
        assert_eq!(body["field"].as_str(), field, "{path}: {body}");
    }

    // Both live read models reach the logs' heads; the read side stops; a rebuild from the logs
    // gives the same tables on Postgres and on SQLite, and reports its progress.
    let heads = [
        ("production", production.store().head().await.unwrap()),
        ("quality", quality.store().head().await.unwrap()),
        ("inventory", inventory.store().head().await.unwrap()),
    ];
    for database_url in [&database.url, &sqlite] {
        eventually("the read models reach the logs' heads", || async {
            let models = mom_projection::ReadModels::connect(database_url)
                .await
                .ok()?;
            for name in ["orders", "inventory", "quality", "spc"] {
                for (source, head) in heads {
                    if models.log_position(name, source).await.ok()? < head {
                        return None;
                    }
                }
            }
            Some(())
        })
        .await;
    }
    read_side.cancel();
    projections.wait().await.unwrap();
    embedded.wait().await.unwrap();
    for database_url in [&database.url, &sqlite] {
        let live = snapshot(database_url).await;
        assert!(live.iter().all(|(_, rows)| !rows.is_empty()), "{live:?}");
        for name in ["orders", "inventory", "quality", "spc"] {
            let mut last = None;
            let read = mom_projections::rebuild(name, database_url, &log_sources, "mom.", |p| {
                last = Some(p)
            })
            .await
            .unwrap();
            let last = last.unwrap();
            assert_eq!((last.done, last.total), (read, read), "{name}");
        }
        let rebuilt = snapshot(database_url).await;
        for ((table, live), (_, rebuilt)) in live.iter().zip(&rebuilt) {
            assert_eq!(live, rebuilt, "{database_url} {table}");
        }
    }
    shutdown.cancel();
    production.wait().await.unwrap();
    quality.wait().await.unwrap();
    inventory.wait().await.unwrap();
}
