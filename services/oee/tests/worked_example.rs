//! The widely published worked example (shared OEE case 01, without its rejects) driven through
//! the real production service: gRPC commands → event store → the store's log → the OEE
//! projection → `oee_periods`, including a restart and a rebuild.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mom_oee::{Calendar, EngineConfig};
use mom_oee_projection::OeeProjection;
use mom_projection::{rebuild, run_from_log, LogSource, ReadModels};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tokio_util::sync::CancellationToken;

fn at(hour: u32, minute: u32) -> Option<prost_types::Timestamp> {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(hour, minute, 0)
        .unwrap()
        .and_utc();
    Some(mom_proto::time::to_timestamp(t))
}

fn ctx() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "plc".into(),
        ..Default::default()
    })
}

type Shift = (i64, i64, i64, i64, i64, i64, i64, i64, i64);

async fn shift(models: &ReadModels) -> Option<Shift> {
    sqlx::query_as(
        "SELECT planned_production_ms, run_ms, net_run_ms, fully_productive_ms, total_count, \
         equipment_failure_ms, setup_and_adjustments_ms, small_stops_ms, reduced_speed_ms \
         FROM oee_periods WHERE equipment = 'filler-1' AND granularity = 'shift' \
         AND period_start = '2026-03-02T06:00:00+00:00'",
    )
    .fetch_optional(models.pool())
    .await
    .ok()
    .flatten()
}

async fn run_until(
    projection: &OeeProjection,
    models: &ReadModels,
    sources: &[LogSource],
    total: i64,
) -> Shift {
    let shutdown = CancellationToken::new();
    let run = run_from_log(projection, models, sources, shutdown.clone());
    let wait = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(figures) = shift(models).await {
                if figures.4 == total {
                    shutdown.cancel();
                    return figures;
                }
            }
            assert!(
                Instant::now() < deadline,
                "shift never reached {total} units"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (result, figures) = tokio::join!(run, wait);
    result.unwrap();
    figures
}

/// The production service's configuration as its command line gives it (every other option at
/// its default), with its store at `store_url`, no broker and no event-time policy.
fn production_config(store_url: &str) -> mom_production::ProductionConfig {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: mom_production::ProductionConfig,
    }
    let cli: Cli = clap::Parser::parse_from([
        "production",
        "--database-url",
        store_url,
        "--grpc-addr",
        "127.0.0.1:0",
        "--snapshot-every",
        "20",
        "--max-future-skew",
        "0",
        "--max-event-age",
        "0",
    ]);
    cli.config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worked_example_through_production_store_log_and_projection() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("production.db").display());
    let shutdown = CancellationToken::new();
    let running = mom_production::start(production_config(&store_url), shutdown.clone())
        .await
        .unwrap();
    let mut client = ProductionServiceClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap();
    let unit = || "filler-1".to_owned();
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: ctx(),
            work_unit: unit(),
            name: "filler".into(),
            micro_stop_threshold_ms: 300_000,
            startup_window_ms: 600_000,
            at: at(5, 0),
        })
        .await
        .unwrap();
    client
        .set_ideal_cycle_time(pb::SetIdealCycleTimeRequest {
            context: ctx(),
            work_unit: unit(),
            product: "cola-330".into(),
            ideal_cycle_time_ms: 1000,
            at: at(5, 0),
        })
        .await
        .unwrap();
    let running_at = |h, m, product: &str| pb::ReportRunningRequest {
        context: ctx(),
        work_unit: unit(),
        product: product.into(),
        at: at(h, m),
    };
    let stopped_at = |h, m, reason: &str| pb::ReportStoppedRequest {
        context: ctx(),
        work_unit: unit(),
        reason: reason.into(),
        at: at(h, m),
    };
    let shutdown_between = |h1, m1, h2, m2, reason: &str| pb::SchedulePlannedShutdownRequest {
        context: ctx(),
        work_unit: unit(),
        from: at(h1, m1),
        until: at(h2, m2),
        reason: reason.into(),
    };
    let count_at = |h, m, total| pb::ReportCountRequest {
        context: ctx(),
        work_unit: unit(),
        product: String::new(),
        total,
        at: at(h, m),
    };
    client
        .report_running(running_at(6, 0, "cola-330"))
        .await
        .unwrap();
    client.report_count(count_at(8, 0, 6480)).await.unwrap();
    client
        .report_stopped(stopped_at(8, 0, "break"))
        .await
        .unwrap();
    client
        .schedule_planned_shutdown(shutdown_between(8, 0, 8, 15, "break"))
        .await
        .unwrap();
    client.report_running(running_at(8, 15, "")).await.unwrap();
    client.report_stopped(stopped_at(9, 30, "")).await.unwrap();
    client.report_running(running_at(10, 17, "")).await.unwrap();
    client.report_count(count_at(10, 30, 5200)).await.unwrap();
    client
        .report_stopped(stopped_at(10, 30, "meal"))
        .await
        .unwrap();
    client
        .schedule_planned_shutdown(shutdown_between(10, 30, 11, 0, "meal"))
        .await
        .unwrap();
    client.report_running(running_at(11, 0, "")).await.unwrap();
    client
        .report_stopped(stopped_at(12, 0, "break"))
        .await
        .unwrap();
    client
        .schedule_planned_shutdown(shutdown_between(12, 0, 12, 15, "break"))
        .await
        .unwrap();
    client.report_running(running_at(12, 15, "")).await.unwrap();
    client.report_count(count_at(13, 59, 7591)).await.unwrap();

    let models = ReadModels::connect(&format!(
        "sqlite:{}",
        dir.path().join("models.db").display()
    ))
    .await
    .unwrap();
    let sources = [LogSource {
        name: "production".into(),
        store: running.store().clone(),
    }];
    let topics = vec!["mom.production.v1".to_owned()];
    let projection =
        OeeProjection::new(topics.clone(), Calendar::default(), EngineConfig::default());
    let figures = run_until(&projection, &models, &sources, 19_271).await;
    // The case's figures without its 423 rejects: 8 h shift, breaks 30 min + meal 30 min,
    // 47 min down (unassigned failure), 19 271 units at 1 s.
    assert_eq!(
        figures,
        (25_200_000, 22_380_000, 19_271_000, 19_271_000, 19_271, 2_820_000, 0, 0, 3_109_000)
    );

    // A restarted projection reloads its engine from the read model and corrects the shift
    // with a late count.
    client.report_count(count_at(13, 59, 100)).await.unwrap();
    let restarted =
        OeeProjection::new(topics.clone(), Calendar::default(), EngineConfig::default());
    let figures = run_until(&restarted, &models, &sources, 19_371).await;
    assert_eq!((figures.2, figures.8), (19_371_000, 3_009_000));

    // A rebuild from the log gives the same table.
    let before: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT equipment, granularity, period_start, fully_productive_ms, total_count FROM oee_periods ORDER BY 1, 2, 3",
    )
    .fetch_all(models.pool())
    .await
    .unwrap();
    let fresh = OeeProjection::new(topics, Calendar::default(), EngineConfig::default());
    rebuild(&fresh, &models, &sources, |_| {}).await.unwrap();
    let after: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT equipment, granularity, period_start, fully_productive_ms, total_count FROM oee_periods ORDER BY 1, 2, 3",
    )
    .fetch_all(models.pool())
    .await
    .unwrap();
    assert_eq!(before, after);
    assert!(before.iter().any(|r| r.1 == "hour") && before.iter().any(|r| r.1 == "day"));

    shutdown.cancel();
    running.wait().await.unwrap();
}
