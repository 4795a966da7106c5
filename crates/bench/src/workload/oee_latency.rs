//! `mom bench oee-latency`: end-to-end latency from a production command to the updated OEE read
//! model as a `WatchOee` subscriber sees it, in the distributed mode (Postgres, the outbox relay,
//! a broker and the OEE projection) and the embedded one (SQLite and the store's log, as
//! `mom dev`). Each mode's row is followed by the command's own round trip, the part of the
//! figure before the event leaves the production service.

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tokio_util::sync::CancellationToken;

use crate::config::OeeLatencyArgs;
use crate::provision::{self, Kafka};
use crate::report;

/// Runs both modes, one after the other, and prints their report.
pub(crate) async fn run(args: OeeLatencyArgs) -> anyhow::Result<()> {
    mom_bus::install_client_options(&args.kafka_options);
    let kafka = Kafka::given_or_started(
        args.kafka_bootstrap_servers.as_deref(),
        args.storage,
        "cannot start a tansu broker (install it or pass --kafka-bootstrap-servers)",
    )
    .await?;
    report::print_latency_title(args.samples, args.rate);
    report::print_latency_header();
    let store = mom_testkit::TestDatabase::create_on(&args.database_url)
        .await
        .context("cannot create the benchmark databases")?;
    let read_model = mom_testkit::TestDatabase::create_on(&args.database_url).await?;
    let distributed = latency_run(
        &args,
        store.url.clone(),
        provision::oee_config(
            read_model.url.clone(),
            provision::kafka_args(Some(kafka.servers.clone())),
            vec![],
        )?,
        Some(kafka.servers.clone()),
    )
    .await;
    store.drop_database().await?;
    read_model.drop_database().await?;
    let distributed = distributed?;
    let broker = match args.kafka_bootstrap_servers {
        Some(_) => "Kafka".to_owned(),
        None => format!("tansu {}", args.storage),
    };
    report::print_latency(
        &format!("Postgres + relay + {broker} + projection"),
        &distributed.total,
    );
    report::print_latency("  of which the command (gRPC)", &distributed.command);
    drop(kafka);

    let dir = tempfile::tempdir()?;
    let store_url = format!("sqlite:{}", dir.path().join("production.db").display());
    let embedded = latency_run(
        &args,
        store_url.clone(),
        provision::oee_config(
            format!("sqlite:{}", dir.path().join("projections.db").display()),
            provision::kafka_args(None),
            vec![format!("production={store_url}")],
        )?,
        None,
    )
    .await?;
    report::print_latency("SQLite + store log + projection (mom dev)", &embedded.total);
    report::print_latency("  of which the command (gRPC)", &embedded.command);
    Ok(())
}

/// The latencies of one mode, in microseconds.
struct Latencies {
    /// From sending the command to the `WatchOee` update that shows it.
    total: Histogram<u64>,
    /// The command's own round trip (stored and answered), the first part of `total`.
    command: Histogram<u64>,
}

/// The context of the bench's commands.
fn context() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "bench".to_owned(),
        ..Default::default()
    })
}

/// Registers work unit `unit` at `at` with an ideal cycle time of one second for `product`.
pub(crate) async fn register_unit(
    prod: &mut ProductionServiceClient<tonic::transport::Channel>,
    unit: &str,
    product: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let at = Some(mom_proto::time::to_timestamp(at));
    prod.register_work_unit(pb::RegisterWorkUnitRequest {
        context: context(),
        work_unit: unit.into(),
        name: unit.into(),
        micro_stop_threshold_ms: 120_000,
        startup_window_ms: 300_000,
        at,
    })
    .await?;
    prod.set_ideal_cycle_time(pb::SetIdealCycleTimeRequest {
        context: context(),
        work_unit: unit.into(),
        product: product.into(),
        ideal_cycle_time_ms: 1000,
        at,
    })
    .await?;
    Ok(())
}

/// Subscribes to the hour periods of `unit` with `WatchOee`, waiting (60 s at most) until the
/// OEE service knows the unit: once its first facts are projected.
pub(crate) async fn watch_hours(
    client: &mut mom_proto::oee::v1::oee_service_client::OeeServiceClient<
        tonic::transport::Channel,
    >,
    unit: &str,
) -> anyhow::Result<tonic::Streaming<mom_proto::oee::v1::PeriodFigures>> {
    use mom_proto::oee::v1 as oee_pb;
    let scope = Some(oee_pb::Scope {
        scope: Some(oee_pb::scope::Scope::WorkUnit(unit.into())),
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client
            .watch_oee(oee_pb::WatchOeeRequest {
                scope: scope.clone(),
                granularity: oee_pb::Granularity::Hour as i32,
                after_revision: 0,
            })
            .await
        {
            Ok(stream) => return Ok(stream.into_inner()),
            Err(status) if status.code() == tonic::Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => anyhow::bail!("WatchOee: {status}"),
        }
    }
}

/// Starts production on `store_url` and the OEE service, then sends `samples` counts of one unit
/// each and times each until a `WatchOee` update shows it.
async fn latency_run(
    args: &OeeLatencyArgs,
    store_url: String,
    oee: mom_oee_projection::OeeConfig,
    servers: Option<String>,
) -> anyhow::Result<Latencies> {
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        provision::production_config(store_url, 8, 20, provision::kafka_args(servers))?,
        shutdown.clone(),
    )
    .await?;
    let oee = mom_oee_projection::start(oee, shutdown.clone()).await?;
    let result = async {
        let mut prod =
            ProductionServiceClient::new(provision::channel(production.grpc_addr).await?);
        let mut watch_client = mom_proto::oee::v1::oee_service_client::OeeServiceClient::new(
            provision::channel(oee.grpc_addr).await?,
        );
        let unit = "latency-press";
        let t0 = chrono::Utc::now();
        let at = Some(mom_proto::time::to_timestamp(t0));
        register_unit(&mut prod, unit, "SKU-BENCH", t0).await?;
        prod.report_running(pb::ReportRunningRequest {
            context: context(),
            work_unit: unit.into(),
            product: "SKU-BENCH".into(),
            at,
        })
        .await?;
        let mut stream = watch_hours(&mut watch_client, unit).await?;
        // Every count is stamped at t0, so all land in one hour period.
        let mut latencies = Latencies {
            total: report::new_histogram()?,
            command: report::new_histogram()?,
        };
        let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
        let mut next = Instant::now();
        for sample in 1..=args.samples {
            next += interval;
            tokio::time::sleep_until(next.into()).await;
            let begin = Instant::now();
            prod.report_count(pb::ReportCountRequest {
                context: context(),
                work_unit: unit.into(),
                product: "SKU-BENCH".into(),
                total: 1,
                at,
            })
            .await?;
            let answered = begin.elapsed();
            loop {
                let update = tokio::time::timeout(Duration::from_secs(30), stream.message())
                    .await
                    .context("no OEE update within 30 s")??
                    .context("the WatchOee stream ended")?;
                if update.total_count >= sample {
                    break;
                }
            }
            let micros = |d: Duration| d.as_micros().max(1) as u64;
            latencies.total.record(micros(begin.elapsed()))?;
            latencies.command.record(micros(answered))?;
        }
        anyhow::Ok(latencies)
    }
    .await;
    shutdown.cancel();
    oee.wait().await?;
    production.wait().await?;
    result
}
