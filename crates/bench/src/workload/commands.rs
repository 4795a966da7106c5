//! `mom bench commands`: production commands on Postgres with the outbox, straight through the
//! command handler and through the gRPC API at several concurrencies, a paced run through gRPC
//! for latency, then the relay publishing the whole outbox backlog to a broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mom_eventstore::EventStore;
use mom_production::domain::{ProductId, Units, Versioned, WorkUnitCommand, WorkUnitId};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tokio_util::sync::CancellationToken;

use crate::config::{CommandsArgs, Peer};
use crate::provision::{self, Kafka};
use crate::report::{self, CommandRow, ComparedRow, Comparison};
use crate::BadInput;

mod peer;

/// Workers of the paced run.
const PACED_CONCURRENCY: usize = 32;

/// Connections of the measured production service's pool.
const SERVICE_CONNECTIONS: u32 = 16;

pub(super) fn work_unit_id(index: usize) -> String {
    format!("bench-wu-{index:05}")
}

/// Runs the benchmark on a fresh database on the server of `args.database_url` (dropped
/// afterwards) and prints its report.
pub(crate) async fn run(args: CommandsArgs) -> anyhow::Result<()> {
    let duration = run_duration(&args)?;
    let db = mom_testkit::TestDatabase::create_on(&args.database_url)
        .await
        .context("cannot create the benchmark database")?;
    let result = run_on(&args, duration, &db.url).await;
    db.drop_database().await?;
    result
}

/// Runs the measured paths with their comparison (`args.compare` must name a peer) on the
/// existing database at `url`, prints them and returns the comparison; no paced run, no relay.
pub(crate) async fn compare_on(args: &CommandsArgs, url: &str) -> anyhow::Result<Comparison> {
    let duration = run_duration(args)?;
    if args.compare.is_none() {
        return Err(
            BadInput("a comparison needs a peer (--compare postgres-es)".to_owned()).into(),
        );
    }
    let service = Service::start(args, url).await?;
    let compared = measure_paths(args, duration, &service, url).await;
    service.stop().await?;
    compared?.context("the run measured no peer")
}

/// Returns how long each measured run lasts, or why `--seconds` cannot be one.
fn run_duration(args: &CommandsArgs) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(args.seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            BadInput(format!(
                "--seconds {} is not a duration above zero",
                args.seconds
            ))
            .into()
        })
}

/// The production service a run measures, on the run's database.
struct Service {
    shutdown: CancellationToken,
    running: mom_production::Running,
    channel: tonic::transport::Channel,
    app: Arc<mom_production::Application>,
    config: mom_production::ProductionConfig,
}

impl Service {
    /// Starts the service on the database at `url` and connects to its gRPC API.
    async fn start(args: &CommandsArgs, url: &str) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let config = provision::production_config(
            url.to_owned(),
            SERVICE_CONNECTIONS,
            args.snapshot_every,
            provision::kafka_args(None),
        )?;
        let running = mom_production::start(config.clone(), shutdown.clone()).await?;
        let channel = provision::channel(running.grpc_addr).await?;
        let app = Arc::new(mom_production::Application::new(
            running.store().clone(),
            config.kafka.topic_names().domain("production"),
            args.snapshot_every,
        ));
        Ok(Self {
            shutdown,
            running,
            channel,
            app,
            config,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.running.wait().await?;
        Ok(())
    }
}

async fn run_on(args: &CommandsArgs, duration: Duration, url: &str) -> anyhow::Result<()> {
    let service = Service::start(args, url).await?;
    measure_paths(args, duration, &service, url).await?;

    let channel = service.channel.clone();
    let row = measure(
        "gRPC API paced",
        PACED_CONCURRENCY,
        duration,
        Some(args.rate),
        args.work_units,
        move |index| {
            let mut client = ProductionServiceClient::new(channel.clone());
            async move {
                client
                    .report_count(report_count_request(&work_unit_id(index)))
                    .await?;
                Ok(())
            }
        },
    )
    .await?;
    report::print_paced_title(args.rate, PACED_CONCURRENCY);
    report::print_commands_header();
    row.print();
    report::print_append_batches(service.running.store().append_batches());

    // Relay: everything written above is still in the outbox.
    let store = service.running.store().clone();
    let backlog = store.outbox_backlog().await?;
    let kafka = Kafka::given_or_started(
        args.kafka_bootstrap_servers.as_deref(),
        mom_testkit::BrokerStorage::Sqlite,
        "cannot start a tansu broker for the relay run (install it or pass --kafka-bootstrap-servers)",
    )
    .await?;
    let relay = mom_bus::Relay::start(
        store,
        mom_bus::RelayConfig::new(
            kafka.servers.clone(),
            vec![service.config.kafka.topic_names().domain("production")],
        ),
    )
    .await?;
    let started = Instant::now();
    let mut published = 0usize;
    loop {
        let n = relay.publish_chain().await?;
        if n == 0 {
            break;
        }
        published += n;
    }
    report::print_relay(published, backlog, started.elapsed());
    drop(kafka);
    service.stop().await
}

/// Registers the work units and measures `ReportCount` through the command handler and the gRPC
/// API at every concurrency, printing each row as it is measured. With `args.compare`, the peer
/// gets the same work units and runs right after our handler at each concurrency, and the
/// comparison is printed after the table and returned.
async fn measure_paths(
    args: &CommandsArgs,
    duration: Duration,
    service: &Service,
    url: &str,
) -> anyhow::Result<Option<Comparison>> {
    let max_concurrency = args.concurrency.iter().copied().max().unwrap_or(1);
    let peer = match args.compare {
        Some(Peer::PostgresEs) => Some(Arc::new(
            peer::PostgresEs::create(url, args.snapshot_every, max_concurrency).await?,
        )),
        None => None,
    };
    for index in 0..args.work_units {
        let id = work_unit_id(index);
        register(&service.app, &id).await?;
        if let Some(peer) = &peer {
            peer.register(&id).await?;
        }
    }

    if args.prefill > 0 {
        prefill(service, args.prefill, args.work_units).await?;
    }
    report::print_commands_title(args.seconds, args.work_units, args.snapshot_every);
    report::print_commands_header();
    let mut handler_rows = Vec::new();
    let mut peer_rows = Vec::new();
    for &concurrency in &args.concurrency {
        let app = service.app.clone();
        let row = measure(
            "command handler (ReportCount)",
            concurrency,
            duration,
            None,
            args.work_units,
            move |index| {
                let app = app.clone();
                async move { report_count(&app, &work_unit_id(index)).await }
            },
        )
        .await?;
        row.print();
        handler_rows.push(row);
        if let Some(peer) = &peer {
            let peer = peer.clone();
            let row = measure(
                peer::PostgresEs::PATH,
                concurrency,
                duration,
                None,
                args.work_units,
                move |index| {
                    let peer = peer.clone();
                    async move { peer.report_count(&work_unit_id(index)).await }
                },
            )
            .await?;
            row.print();
            peer_rows.push(row);
        }
    }
    let mut grpc_rows = Vec::new();
    let mut channels = vec![service.channel.clone()];
    for _ in 1..args.grpc_connections {
        channels.push(provision::channel(service.running.grpc_addr).await?);
    }
    let channels = Arc::new(channels);
    for &concurrency in &args.concurrency {
        let channels = channels.clone();
        let row = measure(
            "gRPC API (ReportCount)",
            concurrency,
            duration,
            None,
            args.work_units,
            move |index| {
                // Worker `w` measures the work units `w, w + concurrency, ...`.
                let channel = &channels[index % concurrency % channels.len()];
                let mut client = ProductionServiceClient::new(channel.clone());
                async move {
                    client
                        .report_count(report_count_request(&work_unit_id(index)))
                        .await?;
                    Ok(())
                }
            },
        )
        .await?;
        row.print();
        grpc_rows.push(row);
    }

    let Some(peer) = args.compare else {
        return Ok(None);
    };
    let compare = |path: &'static str, ours: &[CommandRow]| -> Vec<ComparedRow> {
        ours.iter()
            .zip(&peer_rows)
            .map(|(ours, peer)| ComparedRow {
                path,
                concurrency: ours.concurrency,
                ours: ours.figures(),
                peer: peer.figures(),
            })
            .collect()
    };
    let mut rows = compare("command handler", &handler_rows);
    rows.extend(compare("gRPC API", &grpc_rows));
    let comparison = Comparison {
        peer: peer.name(),
        rows,
    };
    report::print_comparison(&comparison);
    Ok(Some(comparison))
}

/// Workers of the prefill.
const PREFILL_CONCURRENCY: usize = 32;

/// Writes `events` `ReportCount` commands through the command handler ([`write`] with 32
/// workers) while a drain marks their outbox rows published and prunes them, as a relay that
/// keeps up does: the measured runs then start on a store of that size, with its dead rows,
/// autovacuum and checkpoints, not on an empty database.
async fn prefill(service: &Service, events: u64, work_units: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let stop = CancellationToken::new();
    let drain = tokio::spawn(drain_outbox(service.running.store().clone(), stop.clone()));
    let progress = {
        let store = service.running.store().clone();
        let first = store.head().await?;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let done = store.head().await.unwrap_or(first).saturating_sub(first);
                eprint!(
                    "\rprefill: {done} / {events} events ({:.0} events/s)   ",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let written = write(
        &service.app,
        PREFILL_CONCURRENCY,
        work_units,
        Stop::After(events),
    )
    .await;
    progress.abort();
    stop.cancel();
    let drained = drain.await??;
    written?;
    eprintln!();
    report::print_prefill(events, drained, started.elapsed());
    Ok(())
}

/// When the writers of [`write`] stop.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stop {
    /// After this many commands in all.
    After(u64),
    /// At this instant.
    At(Instant),
}

/// Runs `ReportCount` commands through the command handler from up to `concurrency` workers
/// (no more than there are work units: worker `w` takes the units `w, w + workers, ...`, so no
/// two share one and their appends never conflict) until `stop`; returns how many were stored.
pub(super) async fn write(
    app: &Arc<mom_production::Application>,
    concurrency: usize,
    work_units: usize,
    stop: Stop,
) -> anyhow::Result<u64> {
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let units = work_units.max(1);
    let concurrency = concurrency.clamp(1, units);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let app = app.clone();
        let issued = issued.clone();
        workers.spawn(async move {
            let mut unit = worker;
            let mut done = 0u64;
            loop {
                match stop {
                    Stop::After(total) => {
                        if issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= total {
                            break;
                        }
                    }
                    Stop::At(deadline) => {
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                }
                report_count(&app, &work_unit_id(unit)).await?;
                done += 1;
                unit = (unit + concurrency) % units;
            }
            anyhow::Ok(done)
        });
    }
    let mut written = 0;
    let mut result = Ok(());
    while let Some(joined) = workers.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(done) => written += done,
            Err(err) => {
                // The first failure stops the other workers too.
                workers.abort_all();
                result = result.and(Err(err));
            }
        }
    }
    result.map(|()| written)
}

/// Marks pending outbox rows published (which deletes them) until `stop`, then until none is
/// left: the relay's work on the database, without a broker. Returns how many rows it drained.
async fn drain_outbox(store: EventStore, stop: CancellationToken) -> anyhow::Result<u64> {
    let mut drained = 0u64;
    loop {
        let claim = store.claim_outbox(2000).await?;
        let positions: Vec<u64> = claim.records().iter().map(|r| r.position).collect();
        claim.complete(&positions, &[]).await?;
        drained += positions.len() as u64;
        if positions.is_empty() {
            if stop.is_cancelled() {
                return Ok(drained);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(super) fn metadata() -> std::collections::HashMap<String, String> {
    mom_eventstore::CommandMetadata::new("bench", chrono::Utc::now()).to_map()
}

pub(super) async fn register(app: &mom_production::Application, id: &str) -> anyhow::Result<()> {
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

pub(super) async fn report_count(
    app: &mom_production::Application,
    id: &str,
) -> anyhow::Result<()> {
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
) -> anyhow::Result<CommandRow>
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
            let mut histogram = report::new_histogram()?;
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
    let mut histogram = report::new_histogram()?;
    let mut commands = 0;
    while let Some(joined) = workers.join_next().await {
        let (count, worker_histogram) = joined??;
        commands += count;
        histogram.add(worker_histogram)?;
    }
    Ok(CommandRow {
        path,
        concurrency,
        commands,
        elapsed: started.elapsed(),
        histogram,
    })
}
