//! The plant simulator over MQTT: `mom dev --sim-via` runs the simulated machines as Sparkplug B
//! edge nodes on a real Mosquitto (started by the test) and the edge service on the same broker
//! with the generated mapping. The work units run and count through machine → MQTT → edge
//! service → production, every count the machines published reaches production (the edge
//! service's counter readings equal production's totals once its queue is empty) and the platform
//! refuses none of the edge service's commands.

#![allow(clippy::unwrap_used)]

mod dev;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use sqlx::Row;

const UNITS: [&str; 6] = [
    "press-1", "press-2", "press-3", "filler-1", "filler-2", "capper-1",
];

/// The edge service's counter reading per work unit, if its queue is empty (every command
/// accepted), from its SQLite file.
async fn readings_if_drained(edge: &sqlx::SqlitePool) -> Option<BTreeMap<String, u64>> {
    let mut tx = edge.begin().await.unwrap();
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT signal, body FROM signal_memory WHERE signal LIKE 'count|%'")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let readings = rows
        .iter()
        .map(|row| {
            let key: String = row.get(0);
            let body: String = row.get(1);
            let unit = key.split('|').nth(1).unwrap().to_owned();
            let memory: serde_json::Value = serde_json::from_str(&body).unwrap();
            (unit, memory["reading"].as_u64().unwrap_or(0))
        })
        .collect();
    (queued == 0).then_some(readings)
}

async fn totals(
    production: &mut ProductionServiceClient<tonic::transport::Channel>,
) -> BTreeMap<String, (u64, i32)> {
    let mut totals = BTreeMap::new();
    for unit in UNITS {
        let found = production
            .get_work_unit(prd::GetWorkUnitRequest {
                work_unit: unit.into(),
            })
            .await;
        // The simulator registers its work units once the platform is up.
        let found = match found {
            Ok(found) => found.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => prd::WorkUnit::default(),
            Err(status) => panic!("GetWorkUnit {unit}: {status}"),
        };
        totals.insert(unit.to_owned(), (found.total_count, found.state));
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_plant_runs_and_counts_through_sparkplug_and_the_edge_service() {
    let broker = mom_testkit::MqttBroker::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = broker.url();
    let started = Instant::now();
    let dev = dev::Dev::start_simulating(
        &data,
        &[
            "--sim-via",
            &url,
            "--seed",
            "20",
            "--sim-speed",
            "600",
            "--sim-backfill",
            "1h",
        ],
        &[],
    );
    // The mapping mom dev wrote for the simulated plant is the edge service's.
    let mapping = std::fs::read_to_string(data.join("sim-mapping.toml")).unwrap();
    let parsed = mom_edge::Mapping::parse("sim-mapping.toml", &mapping).unwrap();
    assert_eq!(parsed.signals.len(), 3 * UNITS.len());

    let mut production = ProductionServiceClient::new(dev.channel("production").await);
    // An hour of plant time at 600x, caught up with the clock after six seconds: every unit
    // runs, stops, is set up and counts.
    let mut seen: BTreeMap<String, std::collections::BTreeSet<i32>> = BTreeMap::new();
    let mut registered = None;
    loop {
        let totals = totals(&mut production).await;
        for (unit, (_, state)) in &totals {
            seen.entry(unit.clone()).or_default().insert(*state);
        }
        let running = prd::WorkUnitState::Running as i32;
        let others = [
            prd::WorkUnitState::Stopped as i32,
            prd::WorkUnitState::Setup as i32,
        ];
        // The plant's hour takes six seconds from the units' registration.
        if registered.is_none() && totals.values().all(|(_, state)| *state != 0) {
            registered = Some(Instant::now());
        }
        let caught_up = registered.is_some_and(|at| at.elapsed() > Duration::from_secs(8));
        if caught_up
            && totals.values().all(|(total, _)| *total > 0)
            && UNITS
                .iter()
                .all(|unit| seen.get(*unit).is_some_and(|s| s.contains(&running)))
            && seen.values().any(|s| others.iter().any(|o| s.contains(o)))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "not every work unit ran and counted through the edge service: {totals:?}, states seen {seen:?}, caught up {caught_up}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every count the machines published is in production: with the edge service's queue empty,
    // production's totals lie between its counter readings before and after (the counters start
    // at 0 with the simulator, and production counts nothing else).
    let edge = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!(
            "sqlite:{}?mode=ro",
            data.join("edge.db").display()
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(before) = readings_if_drained(&edge).await {
            let totals = totals(&mut production).await;
            let after = readings_if_drained(&edge).await.unwrap_or_default();
            let within = UNITS.iter().all(|unit| {
                let total = totals[*unit].0;
                before.get(*unit).is_some_and(|r| *r <= total)
                    && after.get(*unit).is_some_and(|r| total <= *r)
            });
            if within {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "counter readings {before:?} .. {after:?} against production's totals {totals:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the edge service's queue never emptied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The platform refused none of the edge service's commands.
    let refused: Vec<(String, String)> = sqlx::query("SELECT body, error FROM refused")
        .fetch_all(&edge)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    edge.close().await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn sim_via_with_an_edge_mapping_without_the_simulator_or_over_tls_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mom = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mom"))
            .env("MOM_LOG", "error")
            .args([
                "dev",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = mom(&[
        "--sim-via",
        "mqtt://127.0.0.1:1",
        "--edge-mapping",
        "m.toml",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--sim-via") && stderr.contains("--edge-mapping"),
        "{stderr}"
    );
    let (code, stderr) = mom(&["--sim-via", "mqtt://127.0.0.1:1", "--no-simulate"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--sim-via") && stderr.contains("--no-simulate"),
        "{stderr}"
    );
    let (code, stderr) = mom(&["--sim-via", "mqtts://127.0.0.1:8883"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--sim-via") && stderr.contains("mqtt://"),
        "{stderr}"
    );
}
