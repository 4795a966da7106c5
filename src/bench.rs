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

fn metadata() -> std::collections::HashMap<String, String> {
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
