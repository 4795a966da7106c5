//! `mom bench`: benchmarks that print a report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use mom_production::domain::{ProductId, Units, Versioned, WorkUnitCommand, WorkUnitId};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tokio_util::sync::CancellationToken;

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Production commands on Postgres with the outbox (straight through the command handler and
    /// through the gRPC API) at several concurrencies, a paced run for latency, and the relay's
    /// throughput to a real broker.
    Commands(CommandsArgs),
    /// OEE engine: facts/s in order and with late facts, cost of a late fact against history
    /// length, memory for many work units.
    Oee,
    /// End-to-end latency from a production command to the updated OEE read model, as a
    /// `WatchOee` subscriber sees it: through Postgres, the outbox relay, the broker and the
    /// projection (distributed mode), and through SQLite and the store's log (`mom dev`).
    OeeLatency(OeeLatencyArgs),
    /// Rebuild throughput and peak memory of every projection from logs of all four services
    /// (1 M and 10 M events, or `--events`), on SQLite and Postgres; each rebuild in its own
    /// process.
    Rebuild(crate::bench_rebuild::RebuildBenchArgs),
}

/// Options of `mom bench oee-latency`.
#[derive(Debug, clap::Args)]
pub struct OeeLatencyArgs {
    /// Postgres server for the distributed run; fresh databases are created on it and dropped.
    #[arg(
        long,
        env = "MOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// Commands measured per mode.
    #[arg(long, env = "MOM_BENCH_SAMPLES", default_value_t = 500)]
    pub samples: u64,
    /// Commands per second (one at a time, each waited for).
    #[arg(long, env = "MOM_BENCH_RATE", default_value_t = 20)]
    pub rate: u64,
    /// Kafka bootstrap servers; without it a `tansu` broker is started.
    #[arg(long, env = "MOM_BENCH_KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,
}

/// Options of `mom bench commands`.
#[derive(Debug, clap::Args)]
pub struct CommandsArgs {
    /// Postgres server to benchmark on; a fresh database is created on it and dropped afterwards.
    #[arg(
        long,
        env = "MOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// Seconds each measured run lasts.
    #[arg(long, env = "MOM_BENCH_SECONDS", default_value_t = 5)]
    pub seconds: u64,
    /// Concurrency levels (comma separated).
    #[arg(long, env = "MOM_BENCH_CONCURRENCY", value_delimiter = ',', default_values_t = [1, 8, 32])]
    pub concurrency: Vec<usize>,
    /// Distinct work units the commands spread over.
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 512)]
    pub work_units: usize,
    /// Rate of the paced latency run, in commands per second.
    #[arg(long, env = "MOM_BENCH_RATE", default_value_t = 1000)]
    pub rate: u64,
    /// Snapshot every N events (as `MOM_SNAPSHOT_EVERY`).
    #[arg(long, env = "MOM_BENCH_SNAPSHOT_EVERY", default_value_t = 20)]
    pub snapshot_every: usize,
    /// Kafka bootstrap servers for the relay run; without it a `tansu` broker is started.
    #[arg(long, env = "MOM_BENCH_KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,
}

/// Runs a benchmark and prints its report.
pub async fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Commands(args) => commands(args).await,
        Bench::OeeLatency(args) => oee_latency(args).await,
        Bench::Rebuild(args) => crate::bench_rebuild::run(args).await,
        Bench::Oee => {
            let report = tokio::task::spawn_blocking(|| {
                mom_oee::bench::run(&mom_oee::bench::BenchConfig::default())
            })
            .await?;
            println!("{report}");
            Ok(())
        }
    }
}

struct Row {
    path: &'static str,
    concurrency: usize,
    commands: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

impl Row {
    fn print(&self) {
        let rate = self.commands as f64 / self.elapsed.as_secs_f64();
        println!(
            "| {:<28} | {:>11} | {:>12.0} | {:>8.2} | {:>8.2} | {:>8.2} |",
            self.path,
            self.concurrency,
            rate,
            self.histogram.value_at_quantile(0.50) as f64 / 1000.0,
            self.histogram.value_at_quantile(0.99) as f64 / 1000.0,
            self.histogram.max() as f64 / 1000.0,
        );
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn work_unit_id(index: usize) -> String {
    format!("bench-wu-{index:05}")
}

async fn commands(args: CommandsArgs) -> anyhow::Result<()> {
    let db = mom_testkit::TestDatabase::create_on(&args.database_url)
        .await
        .context("cannot create the benchmark database")?;
    let result = commands_on(&args, &db.url).await;
    db.drop_database().await?;
    result
}

async fn commands_on(args: &CommandsArgs, url: &str) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let config = mom_production::ProductionConfig {
        store: mom_eventstore::StoreArgs {
            database_url: url.to_owned(),
            db_max_connections: 16,
            db_max_batch_events: 1024,
            snapshot_every: args.snapshot_every,
        },
        kafka: mom_bus::KafkaArgs {
            kafka_bootstrap_servers: None,
            topic_prefix: "mom.".to_owned(),
            topic_partitions: 6,
            topic_replication: 1,
            relay_batch_size: 1000,
        },
        grpc_addr: "127.0.0.1:0".parse()?,
    };
    let running = mom_production::start(config.clone(), shutdown.clone()).await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;
    let app = Arc::new(mom_production::Application::new(
        running.store().clone(),
        config.kafka.topic_names().domain("production"),
        args.snapshot_every,
    ));

    // Register the work units through the handler.
    for index in 0..args.work_units {
        register(&app, &work_unit_id(index)).await?;
    }

    println!(
        "production commands on Postgres with the outbox ({} s per run, {} work units, snapshot every {} events)\n",
        args.seconds, args.work_units, args.snapshot_every
    );
    println!("| path                         | concurrency |   commands/s | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|------------------------------|-------------|--------------|----------|----------|----------|");
    let duration = Duration::from_secs(args.seconds);
    for &concurrency in &args.concurrency {
        let row = measure(
            "command handler (ReportCount)",
            concurrency,
            duration,
            None,
            args.work_units,
            {
                let app = app.clone();
                move |index| {
                    let app = app.clone();
                    async move { report_count(&app, &work_unit_id(index)).await }
                }
            },
        )
        .await?;
        row.print();
    }
    for &concurrency in &args.concurrency {
        let row = measure(
            "gRPC API (ReportCount)",
            concurrency,
            duration,
            None,
            args.work_units,
            {
                let channel = channel.clone();
                move |index| {
                    let mut client = ProductionServiceClient::new(channel.clone());
                    async move {
                        client
                            .report_count(report_count_request(&work_unit_id(index)))
                            .await?;
                        Ok(())
                    }
                }
            },
        )
        .await?;
        row.print();
    }
    let paced_concurrency = 32;
    let row = measure(
        "gRPC API paced",
        paced_concurrency,
        duration,
        Some(args.rate),
        args.work_units,
        {
            let channel = channel.clone();
            move |index| {
                let mut client = ProductionServiceClient::new(channel.clone());
                async move {
                    client
                        .report_count(report_count_request(&work_unit_id(index)))
                        .await?;
                    Ok(())
                }
            }
        },
    )
    .await?;
    println!();
    println!(
        "paced run at {} commands/s (concurrency {paced_concurrency}):",
        args.rate
    );
    println!("| path                         | concurrency |   commands/s | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|------------------------------|-------------|--------------|----------|----------|----------|");
    row.print();

    // Relay: everything written above is still in the outbox.
    let backlog = running.store().outbox_backlog().await?;
    let broker = match &args.kafka_bootstrap_servers {
        Some(servers) => (None, servers.clone()),
        None => {
            let broker = mom_testkit::Broker::start().await.context("cannot start a tansu broker for the relay run (install it or pass --kafka-bootstrap-servers)")?;
            let servers = broker.bootstrap_servers();
            (Some(broker), servers)
        }
    };
    let relay = mom_bus::Relay::start(
        running.store().clone(),
        mom_bus::RelayConfig::new(
            broker.1.clone(),
            vec![config.kafka.topic_names().domain("production")],
        ),
    )
    .await?;
    let started = Instant::now();
    let mut published = 0usize;
    loop {
        let n = relay.publish_once().await?;
        if n == 0 {
            break;
        }
        published += n;
    }
    let elapsed = started.elapsed();
    println!();
    println!(
        "relay: {published} of {backlog} outbox events published to the broker in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        published as f64 / elapsed.as_secs_f64()
    );
    drop(broker);
    shutdown.cancel();
    running.wait().await?;
    Ok(())
}

pub(crate) fn metadata() -> std::collections::HashMap<String, String> {
    mom_eventstore::CommandMetadata::new("bench", chrono::Utc::now()).to_map()
}

async fn register(app: &mom_production::Application, id: &str) -> anyhow::Result<()> {
    let command = WorkUnitCommand::Register {
        work_unit: WorkUnitId::new(id)?,
        name: id.to_owned(),
        micro_stop_threshold: None,
        startup_window: None,
        at: chrono::Utc::now(),
    };
    app.work_units
        .execute(id, Versioned::from(command), metadata())
        .await
        .map_err(|err| anyhow::anyhow!("register {id}: {err}"))?;
    Ok(())
}

async fn report_count(app: &mom_production::Application, id: &str) -> anyhow::Result<()> {
    let command = WorkUnitCommand::ReportCount {
        total: Units(1),
        product: Some(ProductId::new("SKU-BENCH")?),
        at: chrono::Utc::now(),
    };
    app.work_units
        .execute(id, Versioned::from(command), metadata())
        .await
        .map_err(|err| anyhow::anyhow!("report count on {id}: {err}"))?;
    Ok(())
}

fn report_count_request(work_unit: &str) -> pb::ReportCountRequest {
    pb::ReportCountRequest {
        context: Some(pb::CommandContext {
            actor: "bench".to_owned(),
            ..Default::default()
        }),
        work_unit: work_unit.to_owned(),
        product: "SKU-BENCH".to_owned(),
        total: 1,
        at: Some(mom_proto::time::to_timestamp(chrono::Utc::now())),
    }
}

/// Runs `op` from `concurrency` workers for `duration` (optionally paced to `rate` per second in
/// total); worker `w` spreads over the work units `w, w + concurrency, ...` so workers never
/// contend for one aggregate.
async fn measure<F, Fut>(
    path: &'static str,
    concurrency: usize,
    duration: Duration,
    rate: Option<u64>,
    work_units: usize,
    op: F,
) -> anyhow::Result<Row>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let op = op.clone();
        let interval = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r as f64));
        workers.spawn(async move {
            let mut histogram = new_histogram()?;
            let mut count = 0u64;
            // Paced workers start staggered so that requests arrive evenly, not in bursts.
            let mut next = Instant::now()
                + interval.map_or(Duration::ZERO, |i| {
                    i.mul_f64(worker as f64 / concurrency as f64)
                });
            let mut unit = worker % work_units.max(1);
            while Instant::now() < deadline {
                if let Some(interval) = interval {
                    next += interval;
                    tokio::time::sleep_until(next.into()).await;
                }
                let begin = Instant::now();
                op(unit).await?;
                histogram.record(begin.elapsed().as_micros().max(1) as u64)?;
                count += 1;
                unit = (unit + concurrency) % work_units.max(1);
            }
            anyhow::Ok((count, histogram))
        });
    }
    let mut histogram = new_histogram()?;
    let mut commands = 0;
    while let Some(joined) = workers.join_next().await {
        let (count, worker_histogram) = joined??;
        commands += count;
        histogram.add(worker_histogram)?;
    }
    Ok(Row {
        path,
        concurrency,
        commands,
        elapsed: started.elapsed(),
        histogram,
    })
}

fn bench_kafka(servers: Option<String>) -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: servers,
        topic_prefix: "mom.".to_owned(),
        topic_partitions: 6,
        topic_replication: 1,
        relay_batch_size: 1000,
    }
}

async fn oee_latency(args: OeeLatencyArgs) -> anyhow::Result<()> {
    let (broker, servers) = match &args.kafka_bootstrap_servers {
        Some(servers) => (None, servers.clone()),
        None => {
            let broker = mom_testkit::Broker::start().await.context(
                "cannot start a tansu broker (install it or pass --kafka-bootstrap-servers)",
            )?;
            let servers = broker.bootstrap_servers();
            (Some(broker), servers)
        }
    };
    println!(
        "command -> updated OEE read model, as a WatchOee subscriber sees it ({} commands per mode, {} per second, one at a time)\n",
        args.samples, args.rate
    );
    println!("| mode                                           | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |");
    println!("|------------------------------------------------|----------|----------|----------|----------|");
    let store = mom_testkit::TestDatabase::create_on(&args.database_url)
        .await
        .context("cannot create the benchmark databases")?;
    let read_model = mom_testkit::TestDatabase::create_on(&args.database_url).await?;
    let distributed = latency_run(
        &args,
        store.url.clone(),
        mom_oee_projection::OeeConfig {
            database_url: read_model.url.clone(),
            kafka: bench_kafka(Some(servers.clone())),
            log_sources: vec![],
            time_zone: chrono_tz::UTC,
            lateness_horizon: Duration::from_secs(7 * 86_400),
            grpc_addr: "127.0.0.1:0".parse()?,
            http_addr: "127.0.0.1:0".parse()?,
        },
        Some(servers),
    )
    .await;
    store.drop_database().await?;
    read_model.drop_database().await?;
    print_latency(
        "Postgres + relay + Kafka (tansu) + projection",
        &distributed?,
    );
    drop(broker);

    let dir = tempfile::tempdir()?;
    let store_url = format!("sqlite:{}", dir.path().join("production.db").display());
    let embedded = latency_run(
        &args,
        store_url.clone(),
        mom_oee_projection::OeeConfig {
            database_url: format!("sqlite:{}", dir.path().join("projections.db").display()),
            kafka: bench_kafka(None),
            log_sources: vec![format!("production={store_url}")],
            time_zone: chrono_tz::UTC,
            lateness_horizon: Duration::from_secs(7 * 86_400),
            grpc_addr: "127.0.0.1:0".parse()?,
            http_addr: "127.0.0.1:0".parse()?,
        },
        None,
    )
    .await?;
    print_latency("SQLite + store log + projection (mom dev)", &embedded);
    Ok(())
}

fn print_latency(mode: &str, histogram: &Histogram<u64>) {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {mode:<46} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} |",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
}

/// Starts production on `store_url` and the OEE service, then sends `samples` counts of one unit
/// each and times each until a `WatchOee` update shows it.
async fn latency_run(
    args: &OeeLatencyArgs,
    store_url: String,
    oee: mom_oee_projection::OeeConfig,
    servers: Option<String>,
) -> anyhow::Result<Histogram<u64>> {
    use mom_proto::oee::v1 as oee_pb;
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: mom_eventstore::StoreArgs {
                database_url: store_url,
                db_max_connections: 8,
                db_max_batch_events: 1024,
                snapshot_every: 20,
            },
            kafka: bench_kafka(servers),
            grpc_addr: "127.0.0.1:0".parse()?,
        },
        shutdown.clone(),
    )
    .await?;
    let oee = mom_oee_projection::start(oee, shutdown.clone()).await?;
    let result = async {
        let channel = |addr: std::net::SocketAddr| async move {
            tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await
                .map_err(anyhow::Error::from)
        };
        let mut prod = ProductionServiceClient::new(channel(production.grpc_addr).await?);
        let mut watch_client = mom_proto::oee::v1::oee_service_client::OeeServiceClient::new(
            channel(oee.grpc_addr).await?,
        );
        let unit = "latency-press";
        let context = || {
            Some(pb::CommandContext {
                actor: "bench".to_owned(),
                ..Default::default()
            })
        };
        let t0 = chrono::Utc::now();
        let at = Some(mom_proto::time::to_timestamp(t0));
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
            product: "SKU-BENCH".into(),
            ideal_cycle_time_ms: 1000,
            at,
        })
        .await?;
        prod.report_running(pb::ReportRunningRequest {
            context: context(),
            work_unit: unit.into(),
            product: "SKU-BENCH".into(),
            at,
        })
        .await?;
        let scope = Some(oee_pb::Scope {
            scope: Some(oee_pb::scope::Scope::WorkUnit(unit.into())),
        });
        // The work unit is known to the OEE service once its first facts are projected.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = loop {
            match watch_client
                .watch_oee(oee_pb::WatchOeeRequest {
                    scope: scope.clone(),
                    granularity: oee_pb::Granularity::Hour as i32,
                    after_revision: 0,
                })
                .await
            {
                Ok(stream) => break stream.into_inner(),
                Err(status)
                    if status.code() == tonic::Code::NotFound && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => anyhow::bail!("WatchOee: {status}"),
            }
        };
        // Every count is stamped at t0, so all land in one hour period.
        let mut histogram = new_histogram()?;
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
            loop {
                let update = tokio::time::timeout(Duration::from_secs(30), stream.message())
                    .await
                    .context("no OEE update within 30 s")??
                    .context("the WatchOee stream ended")?;
                if update.total_count >= sample {
                    break;
                }
            }
            histogram.record(begin.elapsed().as_micros().max(1) as u64)?;
        }
        anyhow::Ok(histogram)
    }
    .await;
    shutdown.cancel();
    oee.wait().await?;
    production.wait().await?;
    result
}
