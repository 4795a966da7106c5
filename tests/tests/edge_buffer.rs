//! The edge service while the platform is away: a machine on plain MQTT keeps reporting while
//! the production service is down; the commands wait on disk (counts of one minute merged),
//! and once production is back they arrive in order, each once.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

const UNIT: &str = "press-9";

async fn start_production(
    store: &str,
    port: u16,
    shutdown: &CancellationToken,
) -> mom_grpc::Running {
    mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(store.to_owned()),
            kafka: support::kafka_args(None),
            time: support::time_args(),
            security: Default::default(),
            grpc_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap()
}

async fn queue(state: &std::path::Path) -> Vec<serde_json::Value> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=ro", state.display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT body FROM queue ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    pool.close().await;
    rows.iter()
        .map(|row| serde_json::from_str(row.get::<String, _>(0).as_str()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_wait_on_disk_while_production_is_down_and_arrive_in_order() {
    let broker = mom_testkit::MqttBroker::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("production.db").display());
    let port = mom_testkit::free_port().unwrap();
    let shutdown = CancellationToken::new();
    let running = start_production(&store, port, &shutdown).await;
    let base: DateTime<Utc> = (Utc::now() - chrono::Duration::minutes(10))
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let mut production = ProductionServiceClient::new(support::channel(&running).await);
    production
        .register_work_unit(prd::RegisterWorkUnitRequest {
            work_unit: UNIT.into(),
            name: UNIT.into(),
            at: Some(to_timestamp(base - chrono::Duration::hours(1))),
            ..Default::default()
        })
        .await
        .unwrap();
    shutdown.cancel();
    running.wait().await.unwrap();

    // The edge service starts while production is down.
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(
        &mapping,
        format!(
            r#"
[edge]
max_clock_skew = "1h"

[[unit]]
work_unit = "{UNIT}"
product = "widget"

[[signal]]
work_unit = "{UNIT}"
kind = "state"
mqtt = {{ topic = "plant/press-9", value = "/state", time = "/ts" }}
codes = [{{ code = "RUN", state = "running" }}, {{ code = "STOP", state = "stopped", reason = "jam" }}]

[[signal]]
work_unit = "{UNIT}"
kind = "count"
mqtt = {{ topic = "plant/press-9", value = "/count", time = "/ts" }}
"#
        ),
    )
    .unwrap();
    let state = dir.path().join("edge.db");
    let production_url = format!("http://127.0.0.1:{port}");
    let config = mom_edge::EdgeConfig::parse_from([
        "--mapping",
        mapping.to_str().unwrap(),
        "--edge-state",
        state.to_str().unwrap(),
        "--mqtt-url",
        &broker.url(),
        "--mqtt-client-id",
        "edge-buffer-test",
        "--production-url",
        &production_url,
        "--quality-url",
        &production_url,
    ])
    .unwrap();
    let edge_shutdown = CancellationToken::new();
    let edge = tokio::spawn(mom_edge::serve(config, edge_shutdown.clone()));

    // The machine: it waits for the host's STATE (online), then reports.
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("press-9", "127.0.0.1", broker.port()), 100);
    client
        .subscribe("spBv1.0/STATE/mom", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (online_tx, mut online) = tokio::sync::watch::channel(false);
    let pump = tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                let value: serde_json::Value =
                    serde_json::from_slice(&p.payload).unwrap_or_default();
                let _ = online_tx.send(value["online"] == true);
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), online.wait_for(|on| *on))
        .await
        .expect("the edge service's STATE did not say online")
        .unwrap();
    let report = |state: &str, count: u64, seconds: i64| {
        serde_json::json!({
            "state": state,
            "count": count,
            "ts": (base + chrono::Duration::seconds(seconds)).to_rfc3339(),
        })
        .to_string()
    };
    for message in [
        report("RUN", 1000, 0),  // running; the counter's baseline
        report("RUN", 1010, 10), // +10
        report("RUN", 1025, 20), // +15, the same minute: merged into one count of 25
        report("STOP", 1025, 60),
        report("STOP", 1040, 120), // +15 (counted while stopped: still units)
        report("RUN", 1040, 180),
    ] {
        client
            .publish("plant/press-9", QoS::AtLeastOnce, false, message)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let waiting = queue(&state).await;
        if waiting.len() == 5 || Instant::now() > deadline {
            break waiting;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kinds: Vec<&str> = waiting
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["running", "count", "stopped", "count", "running"],
        "{waiting:?}"
    );
    assert_eq!(waiting[1]["total"], 25, "{waiting:?}");
    assert_eq!(waiting[3]["total"], 15, "{waiting:?}");

    // Production comes back on the same address and store: the queue drains, in order.
    let shutdown = CancellationToken::new();
    let running = start_production(&store, port, &shutdown).await;
    let mut production = ProductionServiceClient::new(support::channel(&running).await);
    let unit = support::eventually("the buffered commands to arrive", || {
        let mut production = production.clone();
        async move {
            let unit = production
                .get_work_unit(prd::GetWorkUnitRequest {
                    work_unit: UNIT.into(),
                })
                .await
                .ok()?
                .into_inner();
            (unit.total_count == 40 && unit.state == prd::WorkUnitState::Running as i32)
                .then_some(unit)
        }
    })
    .await;
    assert_eq!(unit.current_product, "widget");
    let left = support::eventually("the queue to be empty", || {
        let state = state.clone();
        async move { queue(&state).await.is_empty().then_some(()) }
    })
    .await;
    let () = left;
    // Each command once: two runs, one stop, two counts (the version counts the registration).
    let unit = production
        .get_work_unit(prd::GetWorkUnitRequest {
            work_unit: UNIT.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.version, 6, "{unit:?}");

    edge_shutdown.cancel();
    edge.await.unwrap().unwrap();
    // A clean stop says so: the host's STATE goes offline (not only through its will).
    tokio::time::timeout(Duration::from_secs(10), online.wait_for(|on| !*on))
        .await
        .expect("the edge service's STATE did not go offline at its clean stop")
        .unwrap();
    pump.abort();
    shutdown.cancel();
    running.wait().await.unwrap();
}
