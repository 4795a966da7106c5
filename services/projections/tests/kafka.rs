//! The equipment and maintenance read models fed from Kafka (a real `tansu` broker) as in a
//! deployment: the production and maintenance services publish through their outbox relays,
//! `mom-projections` consumes in its consumer groups into Postgres, and a restarted service
//! resumes from the read model's offsets without applying anything twice.

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
use tokio_util::sync::CancellationToken;

const WO: &str = "01900000-0000-7000-8000-0000000000aa";

fn at(hour: u32, minute: u32) -> Option<prost_types::Timestamp> {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(hour, minute, 0)
        .unwrap()
        .and_utc();
    Some(mom_proto::time::to_timestamp(t))
}

fn kafka(servers: &str) -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: Some(servers.to_owned()),
        topic_prefix: "mom.".into(),
        topic_partitions: 2,
        topic_replication: 1,
        relay_batch_size: 100,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(Some(chrono::Duration::days(7))),
        kafka_options: Vec::new(),
    }
}

fn store(url: &str) -> mom_eventstore::StoreArgs {
    mom_eventstore::StoreArgs {
        database_url: url.to_owned(),
        db_max_connections: 4,
        db_max_batch_events: 1024,
        snapshot_every: 20,
        max_message_bytes: mom_eventstore::outbox::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

fn any_addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_read_models(
    url: &str,
    servers: &str,
    shutdown: &CancellationToken,
) -> mom_projections::Running {
    let config = ProjectionsConfig {
        database_url: url.to_owned(),
        kafka: kafka(servers),
        security: Default::default(),
        log_sources: Vec::new(),
        grpc_addr: any_addr(),
        http_addr: any_addr(),
    };
    mom_projections::start(config, HttpMode::Serve, shutdown.clone())
        .await
        .unwrap()
}

async fn unit_state(grpc: SocketAddr, unit: &str) -> Option<(String, String)> {
    let mut client = EquipmentReadServiceClient::connect(format!("http://{grpc}"))
        .await
        .ok()?;
    let listed = client
        .list_equipment(pb::ListEquipmentRequest::default())
        .await
        .ok()?
        .into_inner();
    listed
        .equipment
        .into_iter()
        .find(|u| u.work_unit == unit)
        .map(|u| (u.state, u.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_follow_the_topics_and_resume_from_their_offsets_after_a_restart() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let servers = broker.bootstrap_servers();
    let dbs = [
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
        mom_testkit::TestDatabase::create().await.unwrap(),
    ];
    let services = CancellationToken::new();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: store(&dbs[0].url),
            kafka: kafka(&servers),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: any_addr(),
        },
        services.clone(),
    )
    .await
    .unwrap();
    let maintenance = mom_maintenance::start(
        mom_maintenance::MaintenanceConfig {
            store: store(&dbs[1].url),
            kafka: kafka(&servers),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            grpc_addr: any_addr(),
        },
        services.clone(),
    )
    .await
    .unwrap();
    let mut prod = ProductionServiceClient::connect(format!("http://{}", production.grpc_addr))
        .await
        .unwrap();
    let mut maint = MaintenanceServiceClient::connect(format!("http://{}", maintenance.grpc_addr))
        .await
        .unwrap();
    for (asset, level, parent) in [
        ("acme", mpb::AssetLevel::Enterprise, ""),
        ("plant", mpb::AssetLevel::Site, "acme"),
        ("machining", mpb::AssetLevel::Area, "plant"),
        ("cell-1", mpb::AssetLevel::WorkCenter, "machining"),
        ("lathe-1", mpb::AssetLevel::WorkUnit, "cell-1"),
    ] {
        maint
            .register_asset(mpb::RegisterAssetRequest {
                context: Some(mpb::CommandContext::default()),
                asset: asset.into(),
                level: level.into(),
                name: asset.into(),
                parent: parent.into(),
                at: at(5, 0),
            })
            .await
            .unwrap();
    }
    prod.register_work_unit(ppb::RegisterWorkUnitRequest {
        context: Some(ppb::CommandContext::default()),
        work_unit: "lathe-1".into(),
        name: "lathe".into(),
        micro_stop_threshold_ms: 300_000,
        startup_window_ms: 600_000,
        at: at(5, 0),
    })
    .await
    .unwrap();
    prod.report_running(ppb::ReportRunningRequest {
        context: Some(ppb::CommandContext::default()),
        work_unit: "lathe-1".into(),
        product: "shaft".into(),
        at: at(6, 0),
    })
    .await
    .unwrap();

    let first_shutdown = CancellationToken::new();
    let first = start_read_models(&dbs[2].url, &servers, &first_shutdown).await;
    let grpc = first.grpc_addr;
    eventually("lathe-1 runs in the read model", || async {
        unit_state(grpc, "lathe-1")
            .await
            .filter(|(state, _)| state == "running")
    })
    .await;
    first_shutdown.cancel();
    first.wait().await.unwrap();

    // While the read models are down the lathe stops and breaks down.
    prod.report_stopped(ppb::ReportStoppedRequest {
        context: Some(ppb::CommandContext::default()),
        work_unit: "lathe-1".into(),
        reason: "chatter".into(),
        at: at(7, 0),
    })
    .await
    .unwrap();
    maint
        .report_breakdown(mpb::ReportBreakdownRequest {
            context: Some(mpb::CommandContext::default()),
            work_order: WO.into(),
            work_unit: "lathe-1".into(),
            failure_mode: "spindle".into(),
            failure_start: at(7, 0),
            product: "shaft".into(),
            description: String::new(),
            at: at(7, 5),
        })
        .await
        .unwrap();

    let second_shutdown = CancellationToken::new();
    let second = start_read_models(&dbs[2].url, &servers, &second_shutdown).await;
    let grpc = second.grpc_addr;
    let state = eventually("lathe-1 is down in the read model", || async {
        unit_state(grpc, "lathe-1")
            .await
            .filter(|(state, _)| state == "down")
    })
    .await;
    assert_eq!(state.1, "spindle");
    let mut backlog = MaintenanceReadServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let orders = eventually("the breakdown's work order is in the backlog", || {
        let mut backlog = backlog.clone();
        async move {
            let reply = backlog
                .list_backlog(pb::ListBacklogRequest::default())
                .await
                .ok()?
                .into_inner();
            (!reply.work_orders.is_empty()).then_some(reply.work_orders)
        }
    })
    .await;
    assert_eq!(orders[0].work_order, WO);
    let reliability = backlog
        .get_reliability(pb::GetReliabilityRequest {
            work_unit: "lathe-1".into(),
            failure_mode: "spindle".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reliability.reliability[0].failures, 1, "applied once");
    let mut equipment = EquipmentReadServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let downtime = equipment
        .list_downtime(pb::ListDowntimeRequest {
            work_unit: "lathe-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<&str> = downtime.downtime.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, vec!["breakdown", "stop"], "each applied once");

    second_shutdown.cancel();
    second.wait().await.unwrap();
    services.cancel();
    production.wait().await.unwrap();
    maintenance.wait().await.unwrap();
    for db in dbs {
        db.drop_database().await.unwrap();
    }
}
