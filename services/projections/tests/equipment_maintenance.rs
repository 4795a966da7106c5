//! The equipment and maintenance read models end to end: the real production and maintenance
//! services in-process (gRPC commands → SQLite event stores → the stores' logs) feed
//! `mom-projections` running live with its gRPC and HTTP APIs, on a SQLite and a Postgres read
//! model; the answers are checked, bad requests get a clear status and message, and a rebuild
//! of each read model gives tables identical to the live run.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mom_projections::{HttpMode, ProjectionsConfig};
use mom_proto::maintenance::v1 as mpb;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1 as ppb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::projections::v1 as pb;
use mom_proto::projections::v1::equipment_read_service_client::EquipmentReadServiceClient;
use mom_proto::projections::v1::maintenance_read_service_client::MaintenanceReadServiceClient;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn at(hour: u32, minute: u32) -> Option<prost_types::Timestamp> {
    at_day(2, hour, minute)
}

fn at_day(day: u32, hour: u32, minute: u32) -> Option<prost_types::Timestamp> {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, day)
        .unwrap()
        .and_hms_opt(hour, minute, 0)
        .unwrap()
        .and_utc();
    Some(mom_proto::time::to_timestamp(t))
}

const WO1: &str = "01900000-0000-7000-8000-000000000001";
const WO2: &str = "01900000-0000-7000-8000-000000000002";
const WO3: &str = "01900000-0000-7000-8000-000000000003";
const WO4: &str = "01900000-0000-7000-8000-000000000004";

fn kafka() -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: None,
        topic_prefix: "mom.".into(),
        topic_partitions: 1,
        topic_replication: 1,
        relay_batch_size: 100,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(Some(chrono::Duration::days(7))),
        kafka_options: Vec::new(),
    }
}

fn store(url: String) -> mom_eventstore::StoreArgs {
    mom_eventstore::StoreArgs {
        database_url: url,
        db_max_connections: 4,
        db_max_batch_events: 1024,
        snapshot_every: 20,
        max_message_bytes: mom_eventstore::outbox::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

fn any_addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The plant: production and maintenance services with their stores, and the story told.
struct Plant {
    _dir: tempfile::TempDir,
    production_url: String,
    /// The services run while their handles live.
    _services: [mom_grpc::Running; 2],
    log_sources: Vec<String>,
    heads: Vec<(String, u64)>,
    shutdown: CancellationToken,
}

async fn plant() -> Plant {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: store(url("production")),
            kafka: kafka(),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: any_addr(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let maintenance = mom_maintenance::start(
        mom_maintenance::MaintenanceConfig {
            store: store(url("maintenance")),
            kafka: kafka(),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: any_addr(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let mut prod = ProductionServiceClient::connect(format!("http://{}", production.grpc_addr))
        .await
        .unwrap();
    let mut maint = MaintenanceServiceClient::connect(format!("http://{}", maintenance.grpc_addr))
        .await
        .unwrap();
    let pctx = || Some(ppb::CommandContext::default());
    let mctx = || Some(mpb::CommandContext::default());
    for (asset, level, parent) in [
        ("acme", mpb::AssetLevel::Enterprise, ""),
        ("plant-1", mpb::AssetLevel::Site, "acme"),
        ("stamping", mpb::AssetLevel::Area, "plant-1"),
        ("line-1", mpb::AssetLevel::WorkCenter, "stamping"),
        ("press-1", mpb::AssetLevel::WorkUnit, "line-1"),
        ("press-2", mpb::AssetLevel::WorkUnit, "line-1"),
    ] {
        maint
            .register_asset(mpb::RegisterAssetRequest {
                context: mctx(),
                asset: asset.into(),
                level: level.into(),
                name: asset.to_uppercase(),
                parent: parent.into(),
                at: at(5, 0),
            })
            .await
            .unwrap();
    }
    for unit in ["press-1", "press-2"] {
        prod.register_work_unit(ppb::RegisterWorkUnitRequest {
            context: pctx(),
            work_unit: unit.into(),
            name: format!("{unit} (500 t)"),
            micro_stop_threshold_ms: 300_000,
            startup_window_ms: 600_000,
            at: at(5, 0),
        })
        .await
        .unwrap();
    }
    let running = |unit: &str, h, m, product: &str| ppb::ReportRunningRequest {
        context: pctx(),
        work_unit: unit.into(),
        product: product.into(),
        at: at(h, m),
    };
    let stopped = |unit: &str, h, m, reason: &str| ppb::ReportStoppedRequest {
        context: pctx(),
        work_unit: unit.into(),
        reason: reason.into(),
        at: at(h, m),
    };
    // press-1: runs, a jam, runs, breaks down (hydraulic leak), repaired, runs, changeover.
    prod.report_running(running("press-1", 6, 0, "bracket"))
        .await
        .unwrap();
    prod.report_stopped(stopped("press-1", 7, 0, "jam"))
        .await
        .unwrap();
    prod.report_running(running("press-1", 7, 10, ""))
        .await
        .unwrap();
    prod.report_stopped(stopped("press-1", 8, 0, "fault"))
        .await
        .unwrap();
    maint
        .report_breakdown(mpb::ReportBreakdownRequest {
            context: mctx(),
            work_order: WO1.into(),
            work_unit: "press-1".into(),
            failure_mode: "hydraulic_leak".into(),
            failure_start: at(8, 0),
            product: "bracket".into(),
            description: "oil under the press".into(),
            at: at(8, 5),
        })
        .await
        .unwrap();
    let wo = |id: &str, h, m| mpb::WorkOrderCommandRequest {
        context: mctx(),
        work_order: id.into(),
        at: at(h, m),
    };
    maint.start_work(wo(WO1, 8, 20)).await.unwrap();
    maint.complete_work(wo(WO1, 9, 0)).await.unwrap();
    prod.report_running(running("press-1", 9, 0, ""))
        .await
        .unwrap();
    // A second failure of the same mode: MTBF = 10:00 - 09:00 = 1 h.
    maint
        .report_breakdown(mpb::ReportBreakdownRequest {
            context: mctx(),
            work_order: WO2.into(),
            work_unit: "press-1".into(),
            failure_mode: "hydraulic_leak".into(),
            failure_start: at(10, 0),
            product: "bracket".into(),
            description: "again".into(),
            at: at(10, 0),
        })
        .await
        .unwrap();
    maint.start_work(wo(WO2, 10, 10)).await.unwrap();
    maint.complete_work(wo(WO2, 10, 30)).await.unwrap();
    prod.start_setup(ppb::StartSetupRequest {
        context: pctx(),
        work_unit: "press-1".into(),
        next_product: "hinge".into(),
        at: at(11, 0),
    })
    .await
    .unwrap();
    // press-2: runs, then a breakdown still open (backlog) and a false alarm cancelled.
    prod.report_running(running("press-2", 6, 0, "hinge"))
        .await
        .unwrap();
    maint
        .report_breakdown(mpb::ReportBreakdownRequest {
            context: mctx(),
            work_order: WO3.into(),
            work_unit: "press-2".into(),
            failure_mode: "sensor".into(),
            failure_start: at(9, 0),
            product: String::new(),
            description: "false alarm".into(),
            at: at(9, 0),
        })
        .await
        .unwrap();
    maint
        .cancel_work_order(mpb::CancelWorkOrderRequest {
            context: mctx(),
            work_order: WO3.into(),
            reason: "false alarm".into(),
            at: at(9, 5),
        })
        .await
        .unwrap();
    maint
        .report_breakdown(mpb::ReportBreakdownRequest {
            context: mctx(),
            work_order: WO4.into(),
            work_unit: "press-2".into(),
            failure_mode: "motor".into(),
            failure_start: at(12, 0),
            product: String::new(),
            description: "motor hot".into(),
            at: at(12, 0),
        })
        .await
        .unwrap();
    // A daily lubrication plan on press-2: due once on the 3rd, done the same day (on time).
    maint
        .define_plan(mpb::DefinePlanRequest {
            context: mctx(),
            work_unit: "press-2".into(),
            plan: "lube".into(),
            trigger: mpb::PlanTrigger::CalendarDays.into(),
            every: 1,
            description: "lubricate".into(),
            at: at(5, 0),
        })
        .await
        .unwrap();
    let reply = maint
        .check_plans(mpb::CheckPlansRequest {
            context: mctx(),
            work_unit: "press-2".into(),
            at: at_day(3, 6, 0),
        })
        .await
        .unwrap()
        .into_inner();
    for order in &reply.raised_work_orders {
        maint
            .start_work(mpb::WorkOrderCommandRequest {
                context: mctx(),
                work_order: order.clone(),
                at: at_day(3, 7, 0),
            })
            .await
            .unwrap();
        maint
            .complete_work(mpb::WorkOrderCommandRequest {
                context: mctx(),
                work_order: order.clone(),
                at: at_day(3, 8, 0),
            })
            .await
            .unwrap();
    }
    let heads = vec![
        (
            "production".to_owned(),
            production.store().head().await.unwrap(),
        ),
        (
            "maintenance".to_owned(),
            maintenance.store().head().await.unwrap(),
        ),
    ];
    let log_sources = vec![
        format!("production={}", url("production")),
        format!("maintenance={}", url("maintenance")),
    ];
    Plant {
        _dir: dir,
        production_url: format!("http://{}", production.grpc_addr),
        _services: [production, maintenance],
        log_sources,
        heads,
        shutdown,
    }
}

/// GET over plain HTTP/1.1; returns the status and the JSON body.
async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The rows of every equipment and maintenance table as text, for comparison.
async fn dump(pool: &sqlx::AnyPool) -> Vec<String> {
    let tables: [(&str, &[&str]); 9] = [
        (
            "equipment_units",
            &[
                "work_unit",
                "name",
                "prod_state",
                "prod_since_ms",
                "prod_reason",
                "product",
                "down_work_order",
                "down_since_ms",
                "down_reason",
                "starved_material",
                "starved_since_ms",
            ],
        ),
        ("equipment_assets", &["asset", "level", "name", "parent"]),
        (
            "equipment_intervals",
            &[
                "id",
                "work_unit",
                "state",
                "reason",
                "product",
                "from_ms",
                "to_ms",
            ],
        ),
        (
            "equipment_downtime",
            &[
                "id",
                "work_unit",
                "kind",
                "reason",
                "from_ms",
                "to_ms",
                "duration_ms",
                "source",
                "work_order",
            ],
        ),
        (
            "maintenance_work_orders",
            &[
                "work_order",
                "kind",
                "priority",
                "status",
                "work_unit",
                "reason",
                "description",
                "plan",
                "occurrence",
                "requested_ms",
                "scheduled_from_ms",
                "scheduled_until_ms",
                "started_ms",
                "closed_ms",
            ],
        ),
        (
            "maintenance_plans",
            &["work_unit", "plan", "trigger_kind", "every", "description"],
        ),
        (
            "maintenance_pm",
            &[
                "work_unit",
                "plan",
                "occurrence",
                "due_ms",
                "work_order",
                "completed_ms",
                "cancelled",
                "status",
            ],
        ),
        (
            "maintenance_failures",
            &[
                "work_order",
                "work_unit",
                "failure_mode",
                "failure_start_ms",
                "repair_start_ms",
                "repair_end_ms",
                "status",
            ],
        ),
        (
            "maintenance_reliability",
            &[
                "work_unit",
                "failure_mode",
                "failures",
                "repairs",
                "repair_ms",
                "downtime_ms",
                "uptime_ms",
                "uptime_gaps",
                "last_repair_end_ms",
            ],
        ),
    ];
    let mut rows = Vec::new();
    for (table, columns) in tables {
        let select = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut table_rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {select} FROM {table}"))
                .fetch_all(pool)
                .await
                .unwrap();
        table_rows.sort();
        rows.extend(table_rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    rows
}

async fn caught_up(models: &mom_projection::ReadModels, heads: &[(String, u64)]) -> bool {
    for name in ["equipment", "maintenance"] {
        for (source, head) in heads {
            if models.log_position(name, source).await.unwrap() < *head {
                return false;
            }
        }
    }
    true
}

async fn live_then_rebuild(database_url: &str) {
    let plant = plant().await;
    let shutdown = CancellationToken::new();
    let config = ProjectionsConfig {
        database_url: database_url.to_owned(),
        kafka: kafka(),
        security: Default::default(),
        log_sources: plant.log_sources.clone(),
        grpc_addr: any_addr(),
        http_addr: any_addr(),
    };
    let running = mom_projections::start(config, HttpMode::Serve, shutdown.clone())
        .await
        .unwrap();
    let models = mom_projection::ReadModels::connect(database_url)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !caught_up(&models, &plant.heads).await {
        assert!(Instant::now() < deadline, "the read models never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = running.http_addr.unwrap();
    let grpc = format!("http://{}", running.grpc_addr);

    // Current state, grouped by line.
    let (status, body) = get(http, "/api/equipment?work_center=line-1").await;
    assert_eq!(status, 200, "{body}");
    let units = body["equipment"].as_array().unwrap();
    assert_eq!(units.len(), 2, "{body}");
    assert_eq!(units[0]["work_unit"], "press-1");
    assert_eq!(units[0]["state"], "setup");
    assert_eq!(units[0]["product"], "hinge");
    assert_eq!(units[0]["area"], "stamping");
    assert_eq!(units[0]["name"], "press-1 (500 t)");
    assert_eq!(units[1]["state"], "down");
    assert_eq!(units[1]["reason"], "motor");
    assert_eq!(units[1]["since"], "2026-03-02T12:00:00.000Z");
    assert_eq!(body["work_centers"][0]["states"]["down"], 1, "{body}");

    // The timeline of press-1 between 06:30 and 09:30.
    let (status, body) = get(
        http,
        "/api/equipment/timeline?work_unit=press-1&from=2026-03-02T06:30:00Z&to=2026-03-02T09:30:00Z",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let states: Vec<(String, String)> = body["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["state"].as_str().unwrap().to_owned(),
                i["from"].as_str().unwrap()[11..16].to_owned(),
            )
        })
        .collect();
    let expected = [
        ("running", "06:00"),
        ("stopped", "07:00"),
        ("running", "07:10"),
        ("down", "08:00"),
        ("stopped", "08:00"),
        ("running", "09:00"),
    ];
    assert_eq!(
        states,
        expected.map(|(s, t)| (s.to_owned(), t.to_owned())).to_vec(),
        "{body}"
    );
    assert_eq!(body["next_page_token"], "", "{body}");
    // The same timeline four intervals at a time.
    let range = "work_unit=press-1&from=2026-03-02T06:30:00Z&to=2026-03-02T09:30:00Z";
    let (_, first) = get(
        http,
        &format!("/api/equipment/timeline?{range}&page_size=4"),
    )
    .await;
    let token = first["next_page_token"].as_str().unwrap();
    let (_, second) = get(
        http,
        &format!("/api/equipment/timeline?{range}&page_size=4&page_token={token}"),
    )
    .await;
    assert_eq!(second["next_page_token"], "", "{second}");
    let paged: Vec<serde_json::Value> = [&first, &second]
        .iter()
        .flat_map(|page| page["intervals"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        &paged,
        body["intervals"].as_array().unwrap(),
        "{first} {second}"
    );

    // The downtime log, newest first, paged by two.
    let (status, first) = get(
        http,
        "/api/equipment/downtime?work_unit=press-1&page_size=2",
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let rows = first["downtime"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["kind"], "breakdown");
    assert_eq!(rows[0]["from"], "2026-03-02T10:00:00.000Z");
    assert_eq!(rows[0]["duration_ms"], 30 * 60_000);
    assert_eq!(rows[1]["from"], "2026-03-02T08:00:00.000Z");
    assert_eq!(rows[1]["work_order"], WO1);
    let token = first["next_page_token"].as_str().unwrap();
    assert!(!token.is_empty());
    let (_, second) = get(
        http,
        &format!("/api/equipment/downtime?work_unit=press-1&page_size=2&page_token={token}"),
    )
    .await;
    let rows = second["downtime"].as_array().unwrap();
    let kinds: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
                r["duration_ms"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("stop", "fault", 3_600_000), ("stop", "jam", 600_000)]
    );
    assert_eq!(second["next_page_token"], "", "{second}");
    // The false alarm on press-2 left no downtime.
    let (_, press2) = get(http, "/api/equipment/downtime?work_unit=press-2").await;
    assert_eq!(press2["downtime"].as_array().unwrap().len(), 1, "{press2}");

    // Maintenance: the backlog holds WO-4 only; reliability; PM compliance.
    let (status, backlog) = get(http, "/api/maintenance/backlog").await;
    assert_eq!(status, 200, "{backlog}");
    let orders = backlog["work_orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{backlog}");
    assert_eq!(orders[0]["work_order"], WO4);
    assert_eq!(orders[0]["priority"], "high");
    assert_eq!(orders[0]["status"], "requested");
    let (_, all) = get(http, "/api/maintenance/backlog?status=all&kind=corrective").await;
    assert_eq!(all["work_orders"].as_array().unwrap().len(), 4, "{all}");
    let (_, cancelled) = get(http, "/api/maintenance/backlog?status=cancelled").await;
    assert_eq!(cancelled["work_orders"][0]["work_order"], WO3);
    let (status, reliability) = get(
        http,
        "/api/maintenance/reliability?work_unit=press-1&failure_mode=hydraulic_leak",
    )
    .await;
    assert_eq!(status, 200);
    let row = &reliability["reliability"][0];
    assert_eq!(row["failures"], 2, "{reliability}");
    assert_eq!(row["repairs"], 2);
    assert_eq!(row["mtbf_ms"], 3_600_000);
    assert_eq!(row["mttr_ms"], (40 + 20) / 2 * 60_000);
    assert_eq!(row["mean_downtime_ms"], (60 + 30) / 2 * 60_000);
    let (_, press2) = get(
        http,
        "/api/maintenance/reliability?work_unit=press-2&failure_mode=*",
    )
    .await;
    assert_eq!(press2["reliability"][0]["failures"], 1, "{press2}");
    let (status, pm) = get(
        http,
        "/api/maintenance/pm-compliance?work_unit=press-2&from=2026-03-01T00:00:00Z&to=2026-03-31T00:00:00Z",
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["plans"][0]["plan"], "lube", "{pm}");
    assert_eq!(pm["plans"][0]["on_time"], 1, "{pm}");
    assert_eq!(pm["plans"][0]["compliance"], 1.0);
    assert_eq!(pm["occurrences"][0]["status"], "on_time");

    // The same over gRPC.
    let mut equipment = EquipmentReadServiceClient::connect(grpc.clone())
        .await
        .unwrap();
    let listed = equipment
        .list_equipment(pb::ListEquipmentRequest {
            state: "down".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.equipment.len(), 1);
    assert_eq!(listed.equipment[0].work_unit, "press-2");
    let mut maintenance = MaintenanceReadServiceClient::connect(grpc.clone())
        .await
        .unwrap();
    let backlog = maintenance
        .list_backlog(pb::ListBacklogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(backlog.work_orders[0].work_order, WO4);

    live_feed(http, &plant.production_url).await;
    bad_requests(http, equipment, maintenance).await;

    shutdown.cancel();
    running.wait().await.unwrap();
    plant.shutdown.cancel();

    // A rebuild of each read model gives the live tables exactly.
    let live = dump(models.pool()).await;
    assert!(live.len() > 20, "{live:#?}");
    for name in ["equipment", "maintenance"] {
        let read = mom_projections::rebuild(name, database_url, &plant.log_sources, "mom.", |_| {})
            .await
            .unwrap();
        assert!(read > 0);
    }
    let rebuilt = dump(models.pool()).await;
    assert_eq!(live, rebuilt);
}

/// The live feed pushes an `equipment` event once a command's event is in the read model.
async fn live_feed(http: SocketAddr, production_url: &str) {
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(
            b"GET /api/projections/watch?read_models=equipment HTTP/1.1\r\nHost: test\r\n\r\n",
        )
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buffer = [0_u8; 4096];
    // The headers first: the subscription exists once they are sent.
    while !seen.contains("\r\n\r\n") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the feed closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"), "{seen}");
    let mut production = ProductionServiceClient::connect(production_url.to_owned())
        .await
        .unwrap();
    production
        .report_stopped(ppb::ReportStoppedRequest {
            context: Some(ppb::CommandContext::default()),
            work_unit: "press-1".into(),
            reason: "end of shift".into(),
            at: at(14, 0),
        })
        .await
        .unwrap();
    let wait = async {
        while !seen.contains("event: equipment") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the feed closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no equipment event on the feed: {seen}"));
    assert!(seen.contains("\"read_model\":\"equipment\""), "{seen}");
}

async fn bad_requests(
    http: SocketAddr,
    mut equipment: EquipmentReadServiceClient<tonic::transport::Channel>,
    mut maintenance: MaintenanceReadServiceClient<tonic::transport::Channel>,
) {
    let cases: [(&str, u16, &str); 20] = [
        ("/api/equipment?state=asleep", 400, "state \"asleep\" is not one of"),
        ("/api/equipment?work_center=line-9", 404, "work_center \"line-9\" is not known"),
        ("/api/equipment?area=nowhere", 404, "area \"nowhere\" is not known"),
        ("/api/equipment?colour=red", 400, "unknown parameter \"colour\""),
        ("/api/equipment/timeline", 400, "work_unit is required"),
        ("/api/equipment/timeline?work_unit=press-9", 404, "work_unit \"press-9\" is not known"),
        ("/api/equipment/timeline?work_unit=press-1&from=yesterday", 400, "from \"yesterday\" is not an RFC 3339 time"),
        ("/api/equipment/timeline?work_unit=press-1&from=2026-03-02T10:00:00Z&to=2026-03-02T09:00:00Z", 400, "is before from"),
        ("/api/equipment/timeline?work_unit=line-1.filler&from=1826-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from 1826-01-01T00:00:00+00:00 to 2026-01-01T00:00:00+00:00 is longer than the maximum of 400 days"),
        ("/api/equipment/timeline?work_unit=press-1&page_token=p2.00", 400, "page_token \"p2.00\" is not a token this service issued"),
        ("/api/equipment/downtime?kind=coffee", 400, "kind \"coffee\" is not one of stop, breakdown, starvation"),
        ("/api/equipment/downtime?page_size=0", 400, "page_size \"0\""),
        ("/api/equipment/downtime?page_size=5000", 400, "page_size 5000 is too large"),
        ("/api/equipment/downtime?page_token=abc", 400, "page_token \"abc\" is not a token this service issued"),
        ("/api/maintenance/backlog?status=someday", 400, "status \"someday\" is not one of"),
        ("/api/maintenance/backlog?kind=magic", 400, "kind \"magic\" is not one of corrective, preventive"),
        ("/api/maintenance/pm-compliance?plan=paint", 404, "plan \"paint\" is not known"),
        ("/api/maintenance/pm-compliance?from=2020-01-01T00:00:00Z", 400, "is longer than the maximum of 400 days"),
        ("/api/maintenance/pm-compliance?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&page_token=p1.2", 400, "page_token"),
        ("/api/projections/watch?read_models=weather", 404, "unknown read model \"weather\""),
    ];
    for (path, status, message) in cases {
        let (got, body) = get(http, path).await;
        assert_eq!(got, status, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{path}: {error:?} lacks {message:?}"
        );
    }
    use tonic::Code;
    let status = equipment
        .list_equipment(pb::ListEquipmentRequest {
            state: "asleep".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("state"), "{status:?}");
    let status = equipment
        .get_timeline(pb::GetTimelineRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "work_unit is required")
    );
    let status = equipment
        .get_timeline(pb::GetTimelineRequest {
            work_unit: "press-9".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = equipment
        .get_timeline(pb::GetTimelineRequest {
            work_unit: "press-1".into(),
            from: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("from"), "{status:?}");
    let year = |year: i64| {
        Some(prost_types::Timestamp {
            seconds: (year - 1970) * 31_556_952,
            nanos: 0,
        })
    };
    let status = equipment
        .get_timeline(pb::GetTimelineRequest {
            work_unit: "press-1".into(),
            from: year(1826),
            to: year(2026),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("maximum of 400 days"),
        "{status:?}"
    );
    let status = equipment
        .list_downtime(pb::ListDowntimeRequest {
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("page_token"), "{status:?}");
    let status = equipment
        .list_downtime(pb::ListDowntimeRequest {
            page_size: 1001,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = maintenance
        .list_backlog(pb::ListBacklogRequest {
            status: "someday".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("status"), "{status:?}");
    let status = maintenance
        .get_pm_compliance(pb::GetPmComplianceRequest {
            plan: "paint".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = maintenance
        .get_pm_compliance(pb::GetPmComplianceRequest {
            work_unit: "press-9".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("press-9"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_read_models_answer_and_a_rebuild_equals_the_live_run_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("projections.db").display());
    live_then_rebuild(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_read_models_answer_and_a_rebuild_equals_the_live_run_on_postgres() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    live_then_rebuild(&database.url).await;
    database.drop_database().await.unwrap();
}

/// Both APIs listen from the start, before the read-model database answers: health says
/// NOT_SERVING meanwhile, and the HTTP port already accepts, so a probe of `/readyz` right after
/// health turns SERVING never finds it closed (the HTTP listener used to be bound last, after
/// the health service could already say SERVING).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_listen_before_the_read_model_database_answers() {
    let port = || -> SocketAddr {
        format!("127.0.0.1:{}", mom_testkit::free_port().unwrap())
            .parse()
            .unwrap()
    };
    let (grpc, http) = (port(), port());
    // Nothing listens on the database's port: the service keeps retrying it.
    let unreachable = format!("postgres://postgres@{}/models", port());
    let shutdown = CancellationToken::new();
    let config = ProjectionsConfig {
        database_url: unreachable,
        kafka: kafka(),
        security: Default::default(),
        log_sources: vec!["production=sqlite::memory:".into()],
        grpc_addr: grpc,
        http_addr: http,
    };
    let starting = tokio::spawn(mom_projections::start(
        config,
        HttpMode::Serve,
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let answer = async {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
                .ok()?
                .connect()
                .await
                .ok()?;
            tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .ok()
        };
        if let Some(reply) = answer.await {
            break reply.into_inner().status();
        }
        assert!(Instant::now() < deadline, "gRPC never answered on {grpc}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing
    );
    tokio::net::TcpStream::connect(http)
        .await
        .unwrap_or_else(|err| panic!("the HTTP API does not listen on {http} yet: {err}"));
    assert!(!starting.is_finished(), "start must wait for the database");
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), starting)
        .await
        .expect("start returns once shut down")
        .unwrap();
    assert!(
        matches!(stopped, Err(mom_projections::ProjectionsError::Stopped)),
        "{stopped:?}"
    );
}
