//! `mom bench edge`: machine signals through the edge service.
//!
//! 1. Throughput: Sparkplug B edge nodes inside the bench publish NDATA messages, each carrying
//!    many metric updates (every unit's `State` and `Counter/Total`, several readings each), to
//!    a broker; the edge service (`mom_edge::serve`, its own mapping and state file in a
//!    temporary directory) runs on a single-threaded tokio runtime of its own thread and takes
//!    them into its SQLite file, forwarding the commands to a real production service (SQLite as
//!    in `mom dev`, or Postgres). Reported: metric updates taken per second, the CPU time of the
//!    edge service's thread and of its SQLite worker thread (so updates per CPU second: per core),
//!    and how long until production holds every count the nodes published.
//! 2. Latency: the embedded platform (production on SQLite, the OEE projection on its log, as
//!    `mom bench oee-latency`'s embedded mode) with the edge service; one node counts one unit,
//!    one signal at a time, each timed until a `WatchOee` subscriber sees the hour's count
//!    include it.

mod node;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tokio_util::sync::CancellationToken;

use crate::config::EdgeArgs;
use crate::provision;
use crate::report::{self, EdgeThroughput};
use crate::workload::oee_latency::{register_unit, watch_hours};
use node::Node;

/// The product every bench unit makes.
const PRODUCT: &str = "SKU-EDGE";

/// Most NDATA messages published and not yet taken by the edge service, over all nodes: below
/// the broker's queue per client (Mosquitto: 1000 by default), so nothing is dropped.
const WINDOW_MESSAGES: u64 = 200;

/// Runs both parts and prints the report.
pub(crate) async fn run(args: EdgeArgs) -> anyhow::Result<()> {
    if args.work_units == 0 || args.nodes == 0 || args.readings == 0 {
        return Err(crate::BadInput(
            "--work-units, --nodes and --readings must be at least 1".into(),
        )
        .into());
    }
    let nodes = args.nodes.min(args.work_units);
    report::print_edge_title(&args, nodes);
    let throughput = match &args.database_url {
        None => {
            let dir = tempfile::tempdir()?;
            let store = format!("sqlite:{}", dir.path().join("production.db").display());
            throughput(&args, nodes, store, "SQLite").await?
        }
        Some(url) => {
            let db = mom_testkit::TestDatabase::create_on(url)
                .await
                .context("cannot create the benchmark database")?;
            let result = throughput(&args, nodes, db.url.clone(), "Postgres").await;
            db.drop_database().await?;
            result?
        }
    };
    throughput.print();
    let latency = latency(&args).await?;
    report::print_edge_latency(args.samples, args.rate, &latency);
    Ok(())
}

/// The edge service's settings for a run in `dir` with `mapping`, commanding `production`.
fn edge_config(
    args: &EdgeArgs,
    dir: &std::path::Path,
    mapping: &str,
    production: &str,
) -> anyhow::Result<mom_edge::EdgeConfig> {
    #[derive(clap::Parser)]
    struct Edge {
        #[command(flatten)]
        config: mom_edge::EdgeConfig,
    }
    let path = dir.join("mapping.toml");
    std::fs::write(&path, mapping)?;
    let argv: Vec<std::ffi::OsString> = vec![
        "edge".into(),
        "--mapping".into(),
        path.into(),
        "--edge-state".into(),
        dir.join("edge.db").into(),
        "--mqtt-url".into(),
        args.mqtt_url.clone().into(),
        "--mqtt-client-id".into(),
        format!("mom-bench-edge-{}", std::process::id()).into(),
        "--production-url".into(),
        production.into(),
        "--quality-url".into(),
        production.into(),
    ];
    Ok(<Edge as clap::Parser>::try_parse_from(argv)
        .context("edge service settings")?
        .config)
}

/// CPU time of a thread of this process (`/proc/self/task/<tid>/stat`, user + system, in the
/// kernel's 100 Hz ticks), or of the whole process without a thread.
fn cpu(tid: Option<u32>) -> Duration {
    let path = match tid {
        Some(tid) => format!("/proc/self/task/{tid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let ticks = std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| {
            // Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
            let rest = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .collect::<Vec<_>>();
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Returns the threads of this process with their names.
fn threads() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            Some((tid, name.trim().to_owned()))
        })
        .collect()
}

/// The edge service on a single-threaded runtime of its own thread.
struct EdgeThread {
    thread: std::thread::JoinHandle<Result<(), mom_edge::EdgeError>>,
    tid: Option<u32>,
    shutdown: CancellationToken,
}

impl EdgeThread {
    fn start(config: mom_edge::EdgeConfig) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let stop = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("mom-bench-edge".into())
            .spawn(move || {
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|link| link.file_name()?.to_str()?.parse::<u32>().ok());
                let _ = tid_tx.send(tid);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|err| mom_edge::EdgeError::Config(format!("runtime: {err}")))?;
                runtime.block_on(mom_edge::serve(config, stop))
            })?;
        let tid = tid_rx.recv().unwrap_or(None);
        Ok(Self {
            thread,
            tid,
            shutdown,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the edge service's thread panicked"))?
            .context("edge service failed")
    }
}

/// Part 1: `args.updates` metric updates from `nodes` nodes through the edge service into a
/// production service on `store_url`.
async fn throughput(
    args: &EdgeArgs,
    nodes: usize,
    store_url: String,
    backend: &'static str,
) -> anyhow::Result<EdgeThroughput> {
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        provision::production_config(store_url, 8, 20, provision::kafka_args(None))?,
        shutdown.clone(),
    )
    .await?;
    let result = async {
        let mut prod = ProductionServiceClient::new(provision::channel(production.grpc_addr).await?);
        // Units wu-0000... on nodes node-00...: contiguous slices, the first nodes one more.
        let layout: Vec<(String, Vec<String>)> = (0..nodes)
            .map(|node| {
                let units = (0..args.work_units)
                    .filter(|unit| unit % nodes == node)
                    .map(|unit| format!("edge-wu-{unit:04}"))
                    .collect();
                (format!("node-{node:02}"), units)
            })
            .collect();
        let now = chrono::Utc::now();
        for (_, units) in &layout {
            for unit in units {
                register_unit(&mut prod, unit, PRODUCT, now - chrono::Duration::minutes(5)).await?;
            }
        }
        let config = edge_config(
            args,
            dir.path(),
            &node::mapping(&layout, PRODUCT, "10m"),
            &format!("http://{}", production.grpc_addr),
        )?;
        let before: Vec<u32> = threads().into_iter().map(|(tid, _)| tid).collect();
        let host_since = mom_clock::now().timestamp_millis();
        let edge = EdgeThread::start(config)?;
        let run = async {
            let stats = mom_edge::Stats::get();
            let taken_before = stats.samples_taken();
            let accepted_before = stats.commands_accepted();
            let clock = node::clock_start(mom_clock::now());
            let mut connected = Vec::with_capacity(nodes);
            for (id, units) in &layout {
                connected.push(Node::connect(&args.mqtt_url, id, units.clone(), host_since, clock).await?);
            }
            // The edge service's store is open once it is online: its SQLite worker is there.
            let edge_threads: Vec<u32> = threads()
                .into_iter()
                .filter(|(tid, name)| !before.contains(tid) && name.starts_with("sqlx-sqlite"))
                .map(|(tid, _)| tid)
                .chain(edge.tid)
                .collect();
            let edge_cpu = || edge_threads.iter().map(|tid| cpu(Some(*tid))).sum::<Duration>();
            let published = Arc::new(AtomicU64::new(0));
            for node in &mut connected {
                published.fetch_add(node.birth().await?, Ordering::Relaxed);
            }
            // Wait for the births, so the measured span holds data only.
            wait_taken(taken_before, published.load(Ordering::Relaxed), Duration::from_secs(30)).await?;
            let per_message = (2 * args.readings * args.work_units.div_ceil(nodes)) as u64;
            let window = WINDOW_MESSAGES * per_message;
            let per_node = args.updates.div_ceil(nodes as u64);
            let cpu_before = (edge_cpu(), cpu(None));
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for mut node in connected {
                let published = published.clone();
                let readings = args.readings;
                tasks.spawn(async move {
                    let (mut sent, mut messages) = (0u64, 0u64);
                    while sent < per_node {
                        // Flow control: at most the window in flight to the edge service.
                        let mut waiting = Duration::ZERO;
                        while published.load(Ordering::Relaxed)
                            > stats.samples_taken() - taken_before + window
                        {
                            node.check()?;
                            if waiting > Duration::from_secs(60) {
                                bail!("the edge service took nothing for 60 s");
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            waiting += Duration::from_millis(1);
                        }
                        let updates = node.data(readings, messages).await?;
                        published.fetch_add(updates, Ordering::Relaxed);
                        sent += updates;
                        messages += 1;
                    }
                    anyhow::Ok((node, sent, messages))
                });
            }
            let progress = {
                let published = published.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let taken = stats.samples_taken() - taken_before;
                        eprint!(
                            "\redge: {taken} of {} metric updates taken ({:.0}/s)   ",
                            published.load(Ordering::Relaxed),
                            taken as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                })
            };
            let mut finished = Vec::new();
            let (mut data_updates, mut messages) = (0, 0);
            while let Some(joined) = tasks.join_next().await {
                let (node, sent, sent_messages) = joined??;
                data_updates += sent;
                messages += sent_messages;
                finished.push(node);
            }
            let published_at = started.elapsed();
            let taken = wait_taken(taken_before, published.load(Ordering::Relaxed), Duration::from_secs(600)).await;
            let taken_at = started.elapsed();
            let cpu_after = (edge_cpu(), cpu(None));
            progress.abort();
            let _ = progress.await;
            eprintln!();
            taken?;
            // Production has every count once each unit's total is its counter.
            let expected: Vec<(String, u64)> = finished
                .iter()
                .flat_map(|node| node.totals().map(|(unit, total)| (unit.to_owned(), total)))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let mut missing = None;
                for (unit, total) in &expected {
                    let found = prod
                        .get_work_unit(pb::GetWorkUnitRequest {
                            work_unit: unit.clone(),
                        })
                        .await?
                        .into_inner();
                    if found.total_count != *total {
                        missing = Some((unit.clone(), found.total_count, *total));
                        break;
                    }
                }
                match missing {
                    None => break,
                    Some((unit, found, total)) if Instant::now() > deadline => bail!(
                        "production has {found} of the {total} units {unit} counted, 10 minutes after the edge service took them"
                    ),
                    Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            let complete_at = started.elapsed();
            for node in finished {
                node.close().await;
            }
            anyhow::Ok(EdgeThroughput {
                backend,
                work_units: args.work_units,
                nodes,
                per_message,
                messages,
                updates: data_updates,
                published: published_at,
                taken: taken_at,
                complete: complete_at,
                edge_cpu: cpu_after.0.saturating_sub(cpu_before.0),
                edge_threads: edge_threads.len(),
                process_cpu: cpu_after.1.saturating_sub(cpu_before.1),
                commands: stats.commands_accepted() - accepted_before,
            })
        }
        .await;
        let stopped = edge.stop().await;
        let measured = run?;
        stopped?;
        anyhow::Ok(measured)
    }
    .await;
    shutdown.cancel();
    production.wait().await?;
    result
}

/// Waits until the edge service has taken `published` inputs since it had taken `before`.
async fn wait_taken(before: u64, published: u64, within: Duration) -> anyhow::Result<()> {
    let stats = mom_edge::Stats::get();
    let deadline = Instant::now() + within;
    while stats.samples_taken() - before < published {
        if Instant::now() > deadline {
            bail!(
                "the edge service took {} of {published} metric updates within {within:?}",
                stats.samples_taken() - before
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Part 2: one unit's counter, `args.samples` signals at `args.rate` per second, each timed
/// until the OEE figures include it.
async fn latency(args: &EdgeArgs) -> anyhow::Result<Histogram<u64>> {
    let dir = tempfile::tempdir()?;
    let store_url = format!("sqlite:{}", dir.path().join("production.db").display());
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        provision::production_config(store_url.clone(), 8, 20, provision::kafka_args(None))?,
        shutdown.clone(),
    )
    .await?;
    let oee = mom_oee_projection::start(
        provision::oee_config(
            format!("sqlite:{}", dir.path().join("projections.db").display()),
            provision::kafka_args(None),
            vec![format!("production={store_url}")],
        )?,
        shutdown.clone(),
    )
    .await?;
    let unit = "edge-latency-press";
    let result = async {
        let mut prod =
            ProductionServiceClient::new(provision::channel(production.grpc_addr).await?);
        let mut watch = mom_proto::oee::v1::oee_service_client::OeeServiceClient::new(
            provision::channel(oee.grpc_addr).await?,
        );
        let clock = node::clock_start(mom_clock::now());
        let registered = chrono::DateTime::from_timestamp_millis(clock as i64 - 60_000)
            .unwrap_or_else(chrono::Utc::now);
        register_unit(&mut prod, unit, PRODUCT, registered).await?;
        let layout = vec![("latency".to_owned(), vec![unit.to_owned()])];
        let config = edge_config(
            args,
            dir.path(),
            &node::mapping(&layout, PRODUCT, "10m"),
            &format!("http://{}", production.grpc_addr),
        )?;
        let host_since = mom_clock::now().timestamp_millis();
        let edge_shutdown = shutdown.child_token();
        let edge = tokio::spawn(mom_edge::serve(config, edge_shutdown.clone()));
        let measured = async {
            let mut node = Node::connect(
                &args.mqtt_url,
                "latency",
                vec![unit.to_owned()],
                host_since,
                clock,
            )
            .await?;
            // The birth says the unit runs: the edge service reports it, the OEE service knows it.
            node.birth().await?;
            let mut stream = watch_hours(&mut watch, unit).await?;
            let mut histogram = report::new_histogram()?;
            let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
            let mut next = Instant::now();
            for sample in 1..=args.samples {
                next += interval;
                tokio::time::sleep_until(next.into()).await;
                let begin = Instant::now();
                node.count(0, 1).await?;
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
            node.close().await;
            anyhow::Ok(histogram)
        }
        .await;
        edge_shutdown.cancel();
        edge.await?.context("edge service failed")?;
        measured
    }
    .await;
    shutdown.cancel();
    oee.wait().await?;
    production.wait().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_of_the_process_and_this_thread_are_read() {
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| link.file_name()?.to_str()?.parse::<u32>().ok());
        assert!(tid.is_some());
        // Spin until the thread and the process have both been charged some CPU (10 ms ticks;
        // on a busy machine 50 ms of wall time may not be enough), at most 10 s. The two are
        // not compared: the kernel scales a process's and a thread's times each on its own
        // (`cputime_adjust`), so a process can read less than one of its threads for a while
        // (seen once in CI: process 0 ns, thread 10 ms).
        let spin = Instant::now();
        let mut x = 0u64;
        while (cpu(tid) == Duration::ZERO || cpu(None) == Duration::ZERO)
            && spin.elapsed() < Duration::from_secs(10)
        {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
        }
        assert!(x != 1);
        let thread = cpu(tid);
        let process = cpu(None);
        assert!(thread > Duration::ZERO, "thread {thread:?}");
        assert!(process > Duration::ZERO, "process {process:?}");
        assert!(threads().iter().any(|(thread, _)| Some(*thread) == tid));
    }
}
