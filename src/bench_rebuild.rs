//! `mom bench rebuild`: rebuild throughput and memory of every projection from event logs of
//! 1 M and 10 M events (or the sizes given), on SQLite and Postgres.
//!
//! The logs are made by the real production command handler (no gRPC): many work units, each
//! running a shift pattern in simulated time (setups, runs with a count every minute at reduced
//! speed, micro-stops, stops with reasons, breaks announced as planned shutdowns). Each rebuild
//! runs as its own `mom projections rebuild` process so its peak memory is its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use mom_production::domain::{
    Millis, ProductId, Reason, Units, Versioned, WorkUnitCommand, WorkUnitId,
};

/// Where the logs and read models live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// SQLite files in a temporary directory (as `mom dev`).
    Sqlite,
    /// Fresh databases on the Postgres server of `--database-url`, dropped afterwards.
    Postgres,
}

/// Options of `mom bench rebuild`.
#[derive(Debug, clap::Args)]
pub struct RebuildBenchArgs {
    /// Log sizes to measure, in events (comma-separated).
    #[arg(
        long,
        env = "MOM_BENCH_EVENTS",
        value_delimiter = ',',
        default_value = "1000000,10000000"
    )]
    pub events: Vec<u64>,
    /// Backends to measure on.
    #[arg(
        long,
        env = "MOM_BENCH_BACKENDS",
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    pub backends: Vec<Backend>,
    /// Projections to rebuild (comma-separated), or `all`.
    #[arg(long, env = "MOM_BENCH_PROJECTIONS", default_value = "all")]
    pub projections: String,
    /// Work units of the simulated plant.
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 100)]
    pub work_units: usize,
    /// Postgres server for the Postgres runs.
    #[arg(
        long,
        env = "MOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// Directory for the SQLite files (a temporary one when not given; kept when given).
    #[arg(long, env = "MOM_BENCH_DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: RebuildBenchArgs) -> anyhow::Result<()> {
    let known = crate::projections::projections();
    let projections: Vec<&str> = if args.projections == "all" {
        known.clone()
    } else {
        args.projections
            .split(',')
            .map(|name| {
                known.iter().copied().find(|k| *k == name).ok_or_else(|| {
                    crate::projections::BadInput(format!(
                        "unknown projection {name:?}: known are {} (or all)",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if args.events.iter().any(|&events| events < 1_000) {
        return Err(crate::projections::BadInput("--events: at least 1000 per run".into()).into());
    }
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    println!(
        "projection rebuilds from a production log ({} work units, counts every plant minute)\n",
        args.work_units
    );
    println!("| backend  |     events | projection  | seconds |   events/s | peak RSS (MB) |");
    println!("|----------|------------|-------------|---------|------------|---------------|");
    for &backend in &args.backends {
        for &events in &args.events {
            run_size(&args, backend, events, &projections, &dir).await?;
        }
    }
    Ok(())
}

/// A database made for one run (dropped afterwards on Postgres).
struct Database {
    url: String,
    postgres: Option<mom_testkit::TestDatabase>,
}

impl Database {
    async fn create(
        args: &RebuildBenchArgs,
        backend: Backend,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let path = dir.join(format!("{name}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if file.exists() {
                        std::fs::remove_file(&file)?;
                    }
                }
                Ok(Self {
                    url: format!("sqlite:{}", path.display()),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let db = mom_testkit::TestDatabase::create_on(&args.database_url)
                    .await
                    .context("cannot create a benchmark database")?;
                Ok(Self {
                    url: db.url.clone(),
                    postgres: Some(db),
                })
            }
        }
    }

    async fn drop(self) -> anyhow::Result<()> {
        if let Some(db) = self.postgres {
            db.drop_database().await?;
        }
        Ok(())
    }
}

async fn run_size(
    args: &RebuildBenchArgs,
    backend: Backend,
    events: u64,
    projections: &[&str],
    dir: &Path,
) -> anyhow::Result<()> {
    let label = format!("{backend:?}").to_lowercase();
    let log = Database::create(args, backend, dir, &format!("production-{events}")).await?;
    let started = Instant::now();
    let made = generate(&log.url, events, args.work_units).await?;
    eprintln!(
        "\r{label}: {made} events generated in {:.0} s ({:.0} events/s)          ",
        started.elapsed().as_secs_f64(),
        made as f64 / started.elapsed().as_secs_f64()
    );
    for &projection in projections {
        let read_model =
            Database::create(args, backend, dir, &format!("{projection}-{events}")).await?;
        let (elapsed, peak_kb) = rebuild(projection, &read_model.url, &log.url).await?;
        println!(
            "| {:<8} | {:>10} | {:<11} | {:>7.1} | {:>10.0} | {:>13.0} |",
            label,
            made,
            projection,
            elapsed.as_secs_f64(),
            made as f64 / elapsed.as_secs_f64(),
            peak_kb as f64 / 1024.0
        );
        read_model.drop().await?;
    }
    log.drop().await
}

/// Runs `mom projections rebuild` as a child process; returns its time and peak RSS (kB).
async fn rebuild(projection: &str, read_model: &str, log: &str) -> anyhow::Result<(Duration, u64)> {
    let exe = std::env::current_exe()?;
    let flag = if projection == "oee" {
        "--database-url"
    } else {
        "--read-models-url"
    };
    // The child's progress bar goes to a file: a pipe nobody reads would fill up and stall it.
    let stderr_file = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--log",
            "error",
            "projections",
            "rebuild",
            projection,
            flag,
            read_model,
        ])
        .arg("--log-sources")
        .arg(format!("production={log}"))
        .stdout(std::process::Stdio::null())
        .stderr(stderr_file.reopen()?)
        .spawn()?;
    let pid = child.id().context("rebuild process has no pid")?;
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = peak_rss_kb(pid) {
            peak = peak.max(hwm);
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let elapsed = started.elapsed();
    if !status.success() {
        let output = std::fs::read_to_string(stderr_file.path()).unwrap_or_default();
        let last = output
            .rsplit(['\r', '\n'])
            .find(|line| !line.trim().is_empty());
        anyhow::bail!(
            "rebuild of {projection} failed ({status}): {}",
            last.unwrap_or("no output")
        );
    }
    Ok((elapsed, peak))
}

/// The peak resident set (`VmHWM`, kB) of process `pid`, while it runs.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Writes about `events` production events to the store at `url` through the command handler:
/// every work unit a task that runs shifts in simulated time. Returns the events written.
async fn generate(url: &str, events: u64, work_units: usize) -> anyhow::Result<u64> {
    let options = mom_eventstore::StoreOptions {
        max_connections: 16,
        max_batch_events: 4096,
    };
    let store = mom_eventstore::EventStore::connect(url, &options).await?;
    let app = Arc::new(mom_production::Application::new(
        store.clone(),
        "mom.production.v1".to_owned(),
        500,
    ));
    let written = Arc::new(AtomicU64::new(0));
    let per_unit = events.div_ceil(work_units as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..work_units {
        let (app, written) = (app.clone(), written.clone());
        tasks.spawn(async move { plant_unit(&app, index, per_unit, &written).await });
    }
    let progress = {
        let written = written.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let done = written.load(Ordering::Relaxed);
                eprint!(
                    "\rgenerating: {done} / {events} events ({:.0} events/s)   ",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    progress.abort();
    let head = store.head().await?;
    store.close().await;
    Ok(head)
}

/// One work unit's shifts: register, set cycle times, then repeat until `quota` events: a
/// setup for the next product, a run with a count per minute (some minutes slower, a micro-stop
/// now and then, one longer stop with a reason), a break as a planned shutdown.
async fn plant_unit(
    app: &mom_production::Application,
    index: usize,
    quota: u64,
    written: &AtomicU64,
) -> anyhow::Result<()> {
    let id = format!("wu-{index:04}");
    let start: DateTime<Utc> = "2026-01-05T06:00:00Z".parse()?;
    let minute = chrono::Duration::minutes(1);
    let products = [ProductId::new("SKU-A")?, ProductId::new("SKU-B")?];
    // Every command stores one event: `done` counts this unit's, `written` all units'.
    let done = AtomicU64::new(0);
    let mut at = start;
    let send = |command: WorkUnitCommand| {
        let (id, done) = (id.clone(), &done);
        async move {
            app.work_units
                .execute(&id, Versioned::from(command), crate::bench::metadata())
                .await
                .map_err(|err| anyhow::anyhow!("{id}: {err}"))?;
            done.fetch_add(1, Ordering::Relaxed);
            written.fetch_add(1, Ordering::Relaxed);
            Ok::<_, anyhow::Error>(())
        }
    };
    send(WorkUnitCommand::Register {
        work_unit: WorkUnitId::new(id.clone())?,
        name: id.clone(),
        micro_stop_threshold: Some(Millis(120_000)),
        startup_window: Some(Millis(300_000)),
        at,
    })
    .await?;
    for (product, cycle_ms) in products.iter().zip([1_800, 2_400]) {
        send(WorkUnitCommand::SetIdealCycleTime {
            product: product.clone(),
            ideal_cycle_time: Millis(cycle_ms),
            at,
        })
        .await?;
    }
    let mut run = 0_u64;
    while done.load(Ordering::Relaxed) < quota {
        let product = products[(run % 2) as usize].clone();
        send(WorkUnitCommand::StartSetup {
            next_product: Some(product.clone()),
            at,
        })
        .await?;
        at += minute * 12;
        send(WorkUnitCommand::EndSetup {
            product: product.clone(),
            at,
        })
        .await?;
        send(WorkUnitCommand::ReportRunning {
            product: Some(product.clone()),
            at,
        })
        .await?;
        // About four hours of run, a count per minute.
        for m in 0..240_u64 {
            if done.load(Ordering::Relaxed) >= quota {
                break;
            }
            at += minute;
            let slow = (m + index as u64).is_multiple_of(7);
            send(WorkUnitCommand::ReportCount {
                total: Units(if slow { 20 } else { 31 }),
                product: None,
                at,
            })
            .await?;
            if (m + run) % 53 == 17 {
                send(WorkUnitCommand::ReportStopped {
                    reason: Some(Reason::new(if m.is_multiple_of(2) {
                        "jam"
                    } else {
                        "material_missing"
                    })?),
                    at,
                })
                .await?;
                at += minute * if m.is_multiple_of(3) { 9 } else { 1 };
                send(WorkUnitCommand::ReportRunning { product: None, at }).await?;
            }
        }
        send(WorkUnitCommand::ReportStopped {
            reason: Some(Reason::new("end_of_run")?),
            at,
        })
        .await?;
        send(WorkUnitCommand::SchedulePlannedShutdown {
            from: at,
            until: at + minute * 30,
            reason: Reason::new("break")?,
        })
        .await?;
        at += minute * 30;
        run += 1;
    }
    Ok(())
}
