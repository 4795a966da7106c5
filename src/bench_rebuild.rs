//! `mom bench rebuild`: rebuild throughput and memory of every projection from event logs of
//! 1 M and 10 M events (or the sizes given), on SQLite and Postgres.
//!
//! The logs are made by the four services' real command handlers (their executors, no gRPC),
//! each into its own event store as deployed (on SQLite one file per service, as `mom dev`; on
//! Postgres one database per service). Many work units each run a shift pattern in simulated
//! time, and everything around them happens in the domain that owns it:
//!
//! - production, work units (about 70 % of the events): setups, runs with a count every minute
//!   at reduced speed, micro-stops, stops with reasons, breaks announced as planned shutdowns;
//! - production, orders (about 8 %): one order per run, created, released, its operation
//!   started on the unit, progress reported every ten minutes, completed;
//! - inventory (about 7 %): a raw material lot received and moved to the line side for each
//!   run, consumed by the order every half hour (linked into its genealogy), the output lot
//!   produced by the order on the work unit; material shortage stops start and end a
//!   starvation; NCRs hold and release lots and scrap rejected output;
//! - maintenance (about 5 %): run time reported every half hour, whose run-hour plans raise
//!   preventive work orders done in the breaks (announced as PM windows); long stops are
//!   breakdowns with a corrective work order (reported, started, repaired) naming a failure mode;
//! - quality (about 9 %): a sampling inspection every half hour naming the work unit and when
//!   the units were made, a final inspection of every output lot; some find rejects, some of
//!   those open an NCR (dispositioned and closed), some NCRs a CAPA (implemented and verified),
//!   and now and then a raw lot is held on receipt under an NCR until quality accepts it.
//!
//! The cross-domain steps the platform's process managers take in `mom dev` (holds for NCRs,
//! output lots for completed orders, scrap for NCR dispositions) are sent by the bench itself.
//! Each rebuild runs as its own `mom projections rebuild` process over all four logs, so its peak
//! memory is its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use mom_eventstore::{CommandMetadata, EventStore, StoreOptions};
use mom_inventory::domain as inv;
use mom_maintenance::domain as mnt;
use mom_production::domain::{
    Millis, OperationNumber, OrderCommand, OrderId, ProductId, Reason, RoutingOperation, Units,
    WorkUnitCommand, WorkUnitId,
};
use mom_quality::domain as qa;

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
    /// Log sizes to measure, in events over the four services' logs (comma-separated).
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
    if args.work_units == 0 {
        return Err(crate::projections::BadInput("--work-units: at least 1".into()).into());
    }
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    println!(
        "projection rebuilds from the logs of production, quality, maintenance and inventory \
         ({} work units, counts every plant minute)\n",
        args.work_units
    );
    println!("| backend  |     events | projection  | seconds |   events/s | peak RSS (MB) |");
    println!("|----------|------------|-------------|---------|------------|---------------|");
    let mut mixes = Vec::new();
    for &backend in &args.backends {
        for &events in &args.events {
            let mix = run_size(&args, backend, events, &projections, &dir).await?;
            mixes.push((backend, mix));
        }
    }
    println!("\nevents per domain in the logs\n");
    print!("| backend  |     events |");
    for domain in Domain::ALL {
        print!(" {:<18} |", domain.label());
    }
    print!("\n|----------|------------|");
    for _ in Domain::ALL {
        print!("--------------------|");
    }
    println!();
    for (backend, mix) in mixes {
        print!("| {:<8} | {:>10} |", backend_label(backend), mix.total());
        for domain in Domain::ALL {
            let count = mix.get(domain);
            let share = 100.0 * count as f64 / mix.total().max(1) as f64;
            print!(" {count:>9} ({share:>4.1} %) |");
        }
        println!();
    }
    Ok(())
}

fn backend_label(backend: Backend) -> String {
    format!("{backend:?}").to_lowercase()
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

/// The event stores of one run, one per service as deployed.
struct Logs {
    production: Database,
    quality: Database,
    maintenance: Database,
    inventory: Database,
}

impl Logs {
    /// Creates the four stores, named `<service>-<events>` (SQLite files as `mom dev` has them).
    async fn create(
        args: &RebuildBenchArgs,
        backend: Backend,
        dir: &Path,
        events: u64,
    ) -> anyhow::Result<Self> {
        let create = |service: &str| {
            let name = format!("{service}-{events}");
            async move { Database::create(args, backend, dir, &name).await }
        };
        Ok(Self {
            production: create("production").await?,
            quality: create("quality").await?,
            maintenance: create("maintenance").await?,
            inventory: create("inventory").await?,
        })
    }

    /// Returns the stores as `mom projections rebuild --log-sources` takes them (`name=url`,
    /// named by service as `mom dev` names them).
    fn sources(&self) -> Vec<String> {
        [
            ("production", &self.production),
            ("quality", &self.quality),
            ("maintenance", &self.maintenance),
            ("inventory", &self.inventory),
        ]
        .into_iter()
        .map(|(service, db)| format!("{service}={}", db.url))
        .collect()
    }

    async fn drop(self) -> anyhow::Result<()> {
        self.production.drop().await?;
        self.quality.drop().await?;
        self.maintenance.drop().await?;
        self.inventory.drop().await
    }
}

async fn run_size(
    args: &RebuildBenchArgs,
    backend: Backend,
    events: u64,
    projections: &[&str],
    dir: &Path,
) -> anyhow::Result<Mix> {
    let label = backend_label(backend);
    let logs = Logs::create(args, backend, dir, events).await?;
    let started = Instant::now();
    let mix = generate(&logs, events, args.work_units).await?;
    let made = mix.total();
    let shares: Vec<String> = Domain::ALL
        .iter()
        .map(|&domain| format!("{} {}", domain.label(), mix.get(domain)))
        .collect();
    eprintln!(
        "\r{label}: {made} events generated in {:.0} s ({:.0} events/s): {}          ",
        started.elapsed().as_secs_f64(),
        made as f64 / started.elapsed().as_secs_f64(),
        shares.join(", ")
    );
    let sources = logs.sources();
    for &projection in projections {
        let read_model = Database::create(
            args,
            backend,
            dir,
            &format!("{projection}-read-model-{events}"),
        )
        .await?;
        let (elapsed, peak_kb) = rebuild(projection, &read_model.url, &sources).await?;
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
    logs.drop().await?;
    Ok(mix)
}

/// Runs `mom projections rebuild` over the logs `sources` (`name=url`) as a child process;
/// returns its time and peak RSS (kB).
async fn rebuild(
    projection: &str,
    read_model: &str,
    sources: &[String],
) -> anyhow::Result<(Duration, u64)> {
    let exe = std::env::current_exe()?;
    let flag = if projection == "oee" {
        "--database-url"
    } else {
        "--read-models-url"
    };
    // The child's progress bar goes to a file: a pipe nobody reads would fill up and stall it.
    let stderr_file = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(exe);
    command.args([
        "--log",
        "error",
        "projections",
        "rebuild",
        projection,
        flag,
        read_model,
    ]);
    // One flag per source: a URL may hold the commas that separate values of one flag.
    for source in sources {
        command.arg("--log-sources").arg(source);
    }
    let mut child = command
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

/// The parts of the log the report counts apart: the production store holds two of them.
#[derive(Debug, Clone, Copy)]
enum Domain {
    WorkUnits,
    Orders,
    Maintenance,
    Inventory,
    Quality,
}

impl Domain {
    const ALL: [Domain; 5] = [
        Domain::WorkUnits,
        Domain::Orders,
        Domain::Maintenance,
        Domain::Inventory,
        Domain::Quality,
    ];

    fn label(self) -> &'static str {
        match self {
            Domain::WorkUnits => "work units",
            Domain::Orders => "orders",
            Domain::Maintenance => "maintenance",
            Domain::Inventory => "inventory",
            Domain::Quality => "quality",
        }
    }
}

/// Events written so far per domain, by every unit task.
#[derive(Debug, Default)]
struct Tally([AtomicU64; 5]);

impl Tally {
    fn add(&self, domain: Domain, events: u64) {
        self.0[domain as usize].fetch_add(events, Ordering::Relaxed);
    }

    fn get(&self, domain: Domain) -> u64 {
        self.0[domain as usize].load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        Domain::ALL.iter().map(|&domain| self.get(domain)).sum()
    }
}

/// The events of a generated log per domain.
#[derive(Debug, Clone, Copy)]
struct Mix([u64; 5]);

impl Mix {
    fn get(&self, domain: Domain) -> u64 {
        self.0[domain as usize]
    }

    fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// When the simulated plant starts.
const START: &str = "2026-01-05T06:00:00Z";
/// Products with their raw material and ideal cycle time (ms); runs alternate between them.
const PRODUCTS: [(&str, &str, u64); 2] = [("SKU-A", "RAW-A", 1_800), ("SKU-B", "RAW-B", 2_400)];
/// The characteristics of every inspection plan, which are also the reject reasons.
const DEFECTS: [&str; 3] = ["burr", "crack", "dimension"];
/// What breaks down.
const FAILURE_MODES: [&str; 4] = [
    "hydraulic leak",
    "motor overload",
    "sensor failure",
    "die crack",
];
/// The preventive maintenance plans of every work unit: (plan, run hours, description).
const PM_PLANS: [(&str, u64, &str); 2] = [
    ("lubrication", 4, "lubricate guides and bearings"),
    (
        "wear-inspection",
        12,
        "inspect wear parts and safety guards",
    ),
];
const ENTERPRISE: &str = "bench";
const SITE: &str = "bench-site";
const AREA: &str = "bench-area";
/// Work units per line (work center); each line has its line-side location.
const UNITS_PER_LINE: usize = 10;
/// Where raw lots are received.
const WAREHOUSE: &str = "WH-RAW";
/// Where output lots go.
const FINISHED_GOODS: &str = "FG";
/// Pieces of a raw lot: one run makes at most 31 pieces a minute for 240 minutes from it.
const RAW_LOT_SIZE: u64 = 7_500;
/// Pieces a production order asks for.
const ORDER_SIZE: u64 = 7_000;
/// Minutes of a run.
const RUN_MINUTES: u64 = 240;

fn line_of(index: usize) -> String {
    format!("line-{:02}", index / UNITS_PER_LINE)
}

fn line_side_of(line: &str) -> String {
    format!("{line}-side")
}

/// The metadata of a bench command that happened at `at`.
fn metadata(at: DateTime<Utc>) -> std::collections::HashMap<String, String> {
    CommandMetadata::new("bench", at).to_map()
}

/// Runs `$command` on aggregate `$id` through `$executor` and returns the aggregate's version
/// after it; a rejection names the aggregate. A macro rather than a function: a function over
/// every executor would need the `cqrs_es::Aggregate` bound, and this crate does not depend on
/// cqrs-es.
macro_rules! execute {
    ($executor:expr, $noun:literal, $id:expr, $command:expr) => {{
        let id: &str = $id;
        let command = $command;
        let at = command.at();
        $executor
            .execute(id, command.into(), metadata(at))
            .await
            .map_err(|err| anyhow::anyhow!("{} {id}: {err}", $noun))
    }};
}

/// A product in each domain's terms.
#[derive(Debug)]
struct Product {
    production: ProductId,
    ideal_cycle_time: Millis,
    maintenance: mnt::ProductId,
    /// The material of its output lots.
    material: inv::MaterialId,
    /// The raw material it is made of, one piece per piece.
    raw: inv::MaterialId,
    /// The raw material as quality names what a receiving NCR is about.
    raw_in_quality: qa::ProductId,
    /// Its inspection plan, as quality's handler hands it to a new inspection.
    plan: qa::PlanSnapshot,
}

/// The simulated plant: the four services' applications, each over its own event store, and
/// the master data every unit shares.
#[derive(Debug)]
struct Plant {
    production: mom_production::Application,
    quality: mom_quality::Application,
    maintenance: mom_maintenance::Application,
    inventory: mom_inventory::Application,
    products: Vec<Product>,
    defects: Vec<qa::CharacteristicName>,
    warehouse: inv::LocationId,
    finished_goods: inv::LocationId,
    tally: Tally,
}

async fn connect(url: &str, max_connections: u32) -> anyhow::Result<EventStore> {
    let options = StoreOptions {
        max_connections,
        max_batch_events: 4096,
    };
    Ok(EventStore::connect(url, &options).await?)
}

impl Plant {
    /// Connects the four stores and creates the master data: the asset hierarchy down to the
    /// lines, materials and locations, and an inspection plan per product.
    async fn open(logs: &Logs, work_units: usize, at: DateTime<Utc>) -> anyhow::Result<Self> {
        let topics = mom_bus::TopicNames::default();
        // Production takes most commands; the others' appends are fewer and smaller.
        let production = connect(&logs.production.url, 16).await?;
        let quality = connect(&logs.quality.url, 8).await?;
        let maintenance = connect(&logs.maintenance.url, 8).await?;
        let inventory = connect(&logs.inventory.url, 8).await?;
        let mut plant = Plant {
            production: mom_production::Application::new(
                production,
                topics.domain("production"),
                500,
            ),
            quality: mom_quality::Application::new(quality, topics.domain("quality"), 500),
            maintenance: mom_maintenance::Application::new(
                maintenance,
                topics.domain("maintenance"),
                500,
            ),
            inventory: mom_inventory::Application::new(inventory, topics.domain("inventory"), 500),
            products: Vec::new(),
            defects: DEFECTS
                .iter()
                .map(|name| qa::CharacteristicName::new(*name))
                .collect::<Result<_, _>>()?,
            warehouse: inv::LocationId::new(WAREHOUSE)?,
            finished_goods: inv::LocationId::new(FINISHED_GOODS)?,
            tally: Tally::default(),
        };
        let lines: Vec<String> = (0..work_units.div_ceil(UNITS_PER_LINE))
            .map(|line| line_of(line * UNITS_PER_LINE))
            .collect();
        plant.register_hierarchy(&lines, at).await?;
        plant.define_stock(&lines, at).await?;
        for (product, raw, cycle_ms) in PRODUCTS {
            let plan = plant.define_plan(product, at).await?;
            plant.products.push(Product {
                production: ProductId::new(product)?,
                ideal_cycle_time: Millis(cycle_ms),
                maintenance: mnt::ProductId::new(product)?,
                material: inv::MaterialId::new(product)?,
                raw: inv::MaterialId::new(raw)?,
                raw_in_quality: qa::ProductId::new(raw)?,
                plan,
            });
        }
        Ok(plant)
    }

    /// Registers the enterprise, site, area and lines (the units register themselves).
    async fn register_hierarchy(&self, lines: &[String], at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut assets = vec![
            (ENTERPRISE, mnt::AssetLevel::Enterprise, None),
            (
                SITE,
                mnt::AssetLevel::Site,
                Some((ENTERPRISE, mnt::AssetLevel::Enterprise)),
            ),
            (
                AREA,
                mnt::AssetLevel::Area,
                Some((SITE, mnt::AssetLevel::Site)),
            ),
        ];
        for line in lines {
            assets.push((
                line,
                mnt::AssetLevel::WorkCenter,
                Some((AREA, mnt::AssetLevel::Area)),
            ));
        }
        for (asset, level, parent) in assets {
            // The handler looks the parent up; the bench registered it just before.
            let parent = match parent {
                Some((id, level)) => Some(mnt::ParentRef {
                    id: mnt::AssetId::new(id)?,
                    found: Some((level, false)),
                }),
                None => None,
            };
            let command = mnt::AssetCommand::Register {
                asset: mnt::AssetId::new(asset)?,
                level,
                name: asset.to_owned(),
                parent,
                at,
            };
            execute!(self.maintenance.assets, "asset", asset, command)?;
            self.tally.add(Domain::Maintenance, 1);
        }
        Ok(())
    }

    /// Defines the raw materials and products as materials, the warehouse, finished goods and
    /// each line's line side.
    async fn define_stock(&self, lines: &[String], at: DateTime<Utc>) -> anyhow::Result<()> {
        let materials = PRODUCTS
            .iter()
            .flat_map(|(product, raw, _)| [*raw, *product]);
        for material in materials {
            let command = inv::MaterialCommand::Define {
                material: inv::MaterialId::new(material)?,
                name: inv::Text::new(material)?,
                unit: inv::Text::new("pcs")?,
                at,
            };
            execute!(self.inventory.materials, "material", material, command)?;
            self.tally.add(Domain::Inventory, 1);
        }
        let locations = [WAREHOUSE.to_owned(), FINISHED_GOODS.to_owned()]
            .into_iter()
            .chain(lines.iter().map(|line| line_side_of(line)));
        for location in locations {
            let command = inv::LocationCommand::Define {
                location: inv::LocationId::new(location.as_str())?,
                name: inv::Text::new(location.as_str())?,
                at,
            };
            execute!(self.inventory.locations, "location", &location, command)?;
            self.tally.add(Domain::Inventory, 1);
        }
        Ok(())
    }

    /// Defines the inspection plan of `product` (pass/fail on every defect, a sample every half
    /// hour) and returns it as quality's handler loads it for a new inspection.
    async fn define_plan(
        &self,
        product: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<qa::PlanSnapshot> {
        let plan = qa::PlanId::generate();
        let id = plan.to_string();
        let command = qa::PlanCommand::Define {
            plan,
            product: qa::ProductId::new(product)?,
            operation: qa::OperationNumber(10),
            characteristics: self
                .defects
                .iter()
                .map(|name| qa::Characteristic {
                    name: name.clone(),
                    spec: qa::Spec::Attribute,
                })
                .collect(),
            sample_size: qa::Units(1),
            frequency: qa::Frequency::EveryMinutes(30),
            at,
        };
        execute!(self.quality.plans, "inspection plan", &id, command)?;
        self.tally.add(Domain::Quality, 1);
        let (defined, _) = self
            .quality
            .plans
            .load(&id)
            .await
            .map_err(|err| anyhow::anyhow!("inspection plan {id}: {err}"))?;
        let state = defined
            .state()
            .with_context(|| format!("inspection plan {id} is missing after its definition"))?;
        Ok(qa::PlanSnapshot::from(state))
    }

    /// Returns the events in the four stores per domain. The production store holds work units
    /// and orders; the orders' share is the tally's (one event per order command).
    async fn mix(&self) -> anyhow::Result<Mix> {
        let orders = self.tally.get(Domain::Orders);
        let production = self.production.store.head().await?;
        Ok(Mix([
            production.saturating_sub(orders),
            orders,
            self.maintenance.store.head().await?,
            self.inventory.store.head().await?,
            self.quality.store.head().await?,
        ]))
    }
}

/// Writes about `events` events to the four stores of `logs` through the services' command
/// handlers: every work unit a task that runs shifts in simulated time. Returns the events
/// written per domain.
async fn generate(logs: &Logs, events: u64, work_units: usize) -> anyhow::Result<Mix> {
    let start: DateTime<Utc> = START.parse()?;
    let plant = Arc::new(Plant::open(logs, work_units, start).await?);
    let per_unit = events
        .saturating_sub(plant.tally.total())
        .div_ceil(work_units as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..work_units {
        let plant = plant.clone();
        tasks.spawn(async move { Unit::new(&plant, index, per_unit)?.run(start).await });
    }
    let progress = {
        let plant = plant.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let done = plant.tally.total();
                eprint!(
                    "\rgenerating: {done} / {events} events ({:.0} events/s)   ",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
            // The first failure stops the other units too.
            tasks.abort_all();
            result = result.and(Err(err));
        }
    }
    progress.abort();
    // An aborted task still holds its handle on the plant until it is polled once more.
    let _ = progress.await;
    result?;
    let mix = plant.mix().await?;
    if mix.total() != plant.tally.total() {
        tracing::warn!(
            stored = mix.total(),
            counted = plant.tally.total(),
            "the stores hold another number of events than the bench counted"
        );
    }
    let stores = [
        plant.production.store.clone(),
        plant.quality.store.clone(),
        plant.maintenance.store.clone(),
        plant.inventory.store.clone(),
    ];
    // With the plant gone these are the last handles: closing them writes what is queued and
    // closes the pools.
    drop(plant);
    for store in stores {
        store.close().await;
    }
    Ok(mix)
}

/// One work unit of the plant and everything that happens around it, until it has written its
/// quota of events.
struct Unit<'a> {
    plant: &'a Plant,
    index: u64,
    quota: u64,
    /// Events written for this unit so far, in every domain.
    done: u64,
    /// The version of the unit's asset in maintenance: a usage record adds the events of the
    /// plans it makes due.
    asset_version: u64,
    /// The unit's id; the same in every domain.
    id: String,
    asset: mnt::AssetId,
    /// The unit as maintenance's handler finds it in the registry for a new work order.
    equipment: mnt::Equipment,
    supplied: inv::WorkUnitId,
    inspected: qa::WorkUnitId,
    line: String,
    line_side: inv::LocationId,
    /// Preventive work orders raised by the plans, done in the next break.
    pm_due: Vec<mnt::WorkOrderId>,
}

/// What the unit made since the last report of each kind.
#[derive(Debug, Default)]
struct Made {
    /// Pieces not yet reported to the order.
    unreported: u64,
    /// Pieces whose raw material is not yet consumed.
    unconsumed: u64,
    /// Cycles and run time not yet reported to maintenance.
    cycles: u64,
    run_ms: u64,
    /// Good pieces reported to the order.
    good: u64,
}

impl<'a> Unit<'a> {
    fn new(plant: &'a Plant, index: usize, quota: u64) -> anyhow::Result<Self> {
        let id = format!("wu-{index:04}");
        let asset = mnt::AssetId::new(id.as_str())?;
        let line = line_of(index);
        Ok(Self {
            plant,
            index: index as u64,
            quota,
            done: 0,
            asset_version: 0,
            equipment: mnt::Equipment {
                id: asset.clone(),
                found: Some((mnt::AssetLevel::WorkUnit, false)),
            },
            asset,
            supplied: inv::WorkUnitId::new(id.as_str())?,
            inspected: qa::WorkUnitId::new(id.as_str())?,
            line_side: inv::LocationId::new(line_side_of(&line))?,
            line,
            id,
            pm_due: Vec::new(),
        })
    }

    fn counted(&mut self, domain: Domain, events: u64) {
        self.done += events;
        self.plant.tally.add(domain, events);
    }

    async fn work_unit(&mut self, command: WorkUnitCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.production.work_units,
            "work unit",
            &self.id,
            command
        )?;
        self.counted(Domain::WorkUnits, 1);
        Ok(())
    }

    async fn order(&mut self, order: OrderId, command: OrderCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.production.orders,
            "order",
            &order.to_string(),
            command
        )?;
        self.counted(Domain::Orders, 1);
        Ok(())
    }

    /// Runs an asset command; returns the events it stored.
    async fn asset(&mut self, command: mnt::AssetCommand) -> anyhow::Result<u64> {
        let version = execute!(self.plant.maintenance.assets, "asset", &self.id, command)?;
        let events = version.saturating_sub(self.asset_version);
        self.asset_version = version;
        self.counted(Domain::Maintenance, events);
        Ok(events)
    }

    async fn work_order(
        &mut self,
        work_order: mnt::WorkOrderId,
        command: mnt::WorkOrderCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.maintenance.work_orders,
            "work order",
            &work_order.to_string(),
            command
        )?;
        self.counted(Domain::Maintenance, 1);
        Ok(())
    }

    async fn lot(&mut self, lot: &inv::LotId, command: inv::LotCommand) -> anyhow::Result<()> {
        execute!(self.plant.inventory.lots, "lot", lot.as_str(), command)?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn order_lots(
        &mut self,
        order: inv::OrderId,
        command: inv::OrderLotsCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.inventory.order_lots,
            "order lots",
            &order.to_string(),
            command
        )?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn supply(&mut self, command: inv::SupplyCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.inventory.supplies,
            "work unit supply",
            &self.id,
            command
        )?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn inspection(
        &mut self,
        inspection: qa::InspectionId,
        command: qa::InspectionCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.quality.inspections,
            "inspection",
            &inspection.to_string(),
            command
        )?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    async fn ncr(&mut self, ncr: qa::NcrId, command: qa::NcrCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.quality.nonconformances,
            "nonconformance",
            &ncr.to_string(),
            command
        )?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    async fn capa(&mut self, capa: qa::CapaId, command: qa::CapaCommand) -> anyhow::Result<()> {
        execute!(self.plant.quality.capas, "capa", &capa.to_string(), command)?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    /// Registers the unit in production and maintenance, then runs shifts from `start` until
    /// the unit has written its quota.
    async fn run(mut self, start: DateTime<Utc>) -> anyhow::Result<()> {
        let plant = self.plant;
        let mut at = start;
        self.work_unit(WorkUnitCommand::Register {
            work_unit: WorkUnitId::new(self.id.clone())?,
            name: self.id.clone(),
            micro_stop_threshold: Some(Millis(120_000)),
            startup_window: Some(Millis(300_000)),
            at,
        })
        .await?;
        for product in &plant.products {
            self.work_unit(WorkUnitCommand::SetIdealCycleTime {
                product: product.production.clone(),
                ideal_cycle_time: product.ideal_cycle_time,
                at,
            })
            .await?;
        }
        // The handler looks the line up; `Plant::open` registered it.
        self.asset(mnt::AssetCommand::Register {
            asset: self.asset.clone(),
            level: mnt::AssetLevel::WorkUnit,
            name: self.id.clone(),
            parent: Some(mnt::ParentRef {
                id: mnt::AssetId::new(self.line.as_str())?,
                found: Some((mnt::AssetLevel::WorkCenter, false)),
            }),
            at,
        })
        .await?;
        for (plan, hours, description) in PM_PLANS {
            self.asset(mnt::AssetCommand::DefinePlan {
                plan: mnt::PlanId::new(plan)?,
                trigger: mnt::Trigger::RunHours { hours },
                description: mnt::Description::new(description)?,
                at,
            })
            .await?;
        }
        // The machines are not new: each has run a while since its last lubrication, so the
        // units' preventive work does not all fall due in the same break.
        let hour_ms = 3_600_000;
        let run_ms = hour_ms + (self.index * 1_900_000) % (2 * hour_ms);
        self.record_usage(0, run_ms, at).await?;
        let mut run = 0_u64;
        while self.done < self.quota {
            at = self.shift_run(run, at).await?;
            run += 1;
        }
        Ok(())
    }

    /// One run of the unit from `at`: an order for the next product with its raw material, a
    /// setup, a run with a count per minute (some minutes slower, a stop now and then, short
    /// or long, jams, material shortages and breakdowns), the order's progress, material,
    /// usage and sampling inspections along the way; then the order completes, its output lot
    /// is produced, a break is announced as a planned shutdown (with the preventive work due
    /// in it) and quality inspects the output. Returns when the break ends.
    async fn shift_run(
        &mut self,
        run: u64,
        mut at: DateTime<Utc>,
    ) -> anyhow::Result<DateTime<Utc>> {
        let plant = self.plant;
        let product = &plant.products[(run % plant.products.len() as u64) as usize];
        let minute = TimeDelta::minutes(1);
        let order = OrderId::generate();
        let order_lots: inv::OrderId = order.to_string().parse()?;
        let operation = OperationNumber(10);
        self.work_unit(WorkUnitCommand::StartSetup {
            next_product: Some(product.production.clone()),
            at,
        })
        .await?;
        self.order(
            order,
            OrderCommand::Create {
                order,
                product: product.production.clone(),
                quantity: Units(ORDER_SIZE),
                routing: vec![RoutingOperation {
                    operation,
                    name: "form".to_owned(),
                    eligible_work_units: vec![WorkUnitId::new(self.id.clone())?],
                }],
                at,
            },
        )
        .await?;
        self.order(order, OrderCommand::Release { at }).await?;
        let raw_lot = inv::LotId::new(format!("{}-{}-{run:05}", self.id, product.raw))?;
        self.receive_raw_lot(run, product, &raw_lot, at).await?;
        at += minute * 12;
        self.work_unit(WorkUnitCommand::EndSetup {
            product: product.production.clone(),
            at,
        })
        .await?;
        self.work_unit(WorkUnitCommand::ReportRunning {
            product: Some(product.production.clone()),
            at,
        })
        .await?;
        self.order(
            order,
            OrderCommand::StartOperation {
                operation,
                work_unit: WorkUnitId::new(self.id.clone())?,
                at,
            },
        )
        .await?;
        let mut made = Made::default();
        // About four hours of run, a count per minute.
        for m in 0..RUN_MINUTES {
            if self.done >= self.quota {
                break;
            }
            at += minute;
            let slow = (m + self.index).is_multiple_of(7);
            let count = if slow { 20 } else { 31 };
            self.work_unit(WorkUnitCommand::ReportCount {
                total: Units(count),
                product: None,
                at,
            })
            .await?;
            made.unreported += count;
            made.unconsumed += count;
            made.cycles += count;
            made.run_ms += 60_000;
            if m % 10 == 9 {
                self.report_quantity(order, &mut made, at).await?;
            }
            if m % 30 == 14 {
                self.sampling_inspection(run * 8 + m / 30, product, at)
                    .await?;
            }
            if m % 30 == 29 {
                self.consume(order_lots, product, &raw_lot, &mut made, at)
                    .await?;
                self.record_usage(made.cycles, made.run_ms, at).await?;
                (made.cycles, made.run_ms) = (0, 0);
            }
            if (m + run) % 53 == 17 {
                at = self.stop(run, m, product, order_lots, at).await?;
            }
        }
        self.report_quantity(order, &mut made, at).await?;
        self.consume(order_lots, product, &raw_lot, &mut made, at)
            .await?;
        self.record_usage(made.cycles, made.run_ms, at).await?;
        self.work_unit(WorkUnitCommand::ReportStopped {
            reason: Some(Reason::new("end_of_run")?),
            at,
        })
        .await?;
        self.order(order, OrderCommand::CompleteOperation { operation, at })
            .await?;
        self.order(order, OrderCommand::Complete { at }).await?;
        // The output lot, named as the order output process manager names it.
        let output = match made.good {
            0 => None,
            _ => Some(inv::LotId::new(format!("{order}-out"))?),
        };
        if let Some(output) = &output {
            self.produce(order_lots, product, &raw_lot, output, made.good, at)
                .await?;
        }
        let until = at + minute * 30;
        self.work_unit(WorkUnitCommand::SchedulePlannedShutdown {
            from: at,
            until,
            reason: Reason::new("break")?,
        })
        .await?;
        self.preventive_work(at, until).await?;
        if let Some(output) = output {
            let produced_at = at - minute * 2;
            self.final_inspection(
                run,
                product,
                &output,
                made.good,
                produced_at,
                at + minute * 20,
            )
            .await?;
        }
        Ok(until)
    }

    /// Receives the raw lot of a run at the warehouse and moves it to the line side; one lot in
    /// eight has a certificate that does not match, and is held under an NCR until quality
    /// accepts it as it is.
    async fn receive_raw_lot(
        &mut self,
        run: u64,
        product: &Product,
        lot: &inv::LotId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let supplier_lot = 100_000 + (self.index * 7_919 + run * 104_729) % 900_000;
        self.lot(
            lot,
            inv::LotCommand::Receive {
                lot: lot.clone(),
                material: product.raw.clone(),
                supplier_lot: Some(inv::Text::new(format!("S{supplier_lot}"))?),
                expiry: Some(at + TimeDelta::days(60)),
                location: self.plant.warehouse.clone(),
                quantity: inv::Quantity(RAW_LOT_SIZE),
                at,
            },
        )
        .await?;
        let mut moved_at = at + TimeDelta::minutes(2);
        if (run + self.index) % 8 == 3 {
            let ncr = qa::NcrId::generate();
            let opened_at = at + TimeDelta::minutes(2);
            self.ncr(
                ncr,
                qa::NcrCommand::Open {
                    ncr,
                    source: None,
                    product: Some(product.raw_in_quality.clone()),
                    quantity: Some(qa::Units(RAW_LOT_SIZE)),
                    description: qa::Text::new(format!(
                        "certificate of {lot} does not match the lot"
                    ))?,
                    work_unit: None,
                    contained_lots: vec![qa::LotId::new(lot.as_str())?],
                    at: opened_at,
                },
            )
            .await?;
            let hold = self.hold(lot, ncr, opened_at).await?;
            let decided_at = at + TimeDelta::minutes(9);
            self.ncr(
                ncr,
                qa::NcrCommand::Disposition {
                    disposition: qa::Disposition::UseAsIs,
                    quantity: qa::Units(RAW_LOT_SIZE),
                    lot: None,
                    note: Some(qa::Text::new("certificate corrected by the supplier")?),
                    at: decided_at,
                },
            )
            .await?;
            self.release(lot, ncr, hold, decided_at).await?;
            moved_at = at + TimeDelta::minutes(10);
        }
        self.lot(
            lot,
            inv::LotCommand::Move {
                from: self.plant.warehouse.clone(),
                to: self.line_side.clone(),
                quantity: inv::Quantity(RAW_LOT_SIZE),
                at: moved_at,
            },
        )
        .await
    }

    /// Puts the hold of NCR `ncr` on `lot` (what the NCR hold process manager does); returns
    /// the hold's reference.
    async fn hold(
        &mut self,
        lot: &inv::LotId,
        ncr: qa::NcrId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<inv::HoldRef> {
        let hold = inv::HoldRef::new(ncr.to_string())?;
        self.lot(
            lot,
            inv::LotCommand::Hold {
                hold: hold.clone(),
                reason: inv::Text::new(format!("contained by nonconformance {ncr}"))?,
                at,
            },
        )
        .await?;
        Ok(hold)
    }

    /// Closes NCR `ncr` and releases its `hold` on `lot` (what the NCR hold process manager does
    /// when the NCR closes).
    async fn release(
        &mut self,
        lot: &inv::LotId,
        ncr: qa::NcrId,
        hold: inv::HoldRef,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.ncr(ncr, qa::NcrCommand::Close { at }).await?;
        self.lot(lot, inv::LotCommand::ReleaseHold { hold, at })
            .await
    }

    /// Reports what the unit made since the last report to the order, about 2 % of it scrap.
    async fn report_quantity(
        &mut self,
        order: OrderId,
        made: &mut Made,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if made.unreported == 0 {
            return Ok(());
        }
        let scrap = made.unreported / 50;
        let good = made.unreported - scrap;
        self.order(
            order,
            OrderCommand::ReportQuantity {
                operation: OperationNumber(10),
                good: Units(good),
                scrap: Units(scrap),
                at,
            },
        )
        .await?;
        made.good += good;
        made.unreported = 0;
        Ok(())
    }

    /// Consumes the raw material of what the unit made since the last consume from the line
    /// side, and links the lot into the order's genealogy (as inventory's handler does).
    async fn consume(
        &mut self,
        order: inv::OrderId,
        product: &Product,
        lot: &inv::LotId,
        made: &mut Made,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if made.unconsumed == 0 {
            return Ok(());
        }
        let quantity = inv::Quantity(made.unconsumed);
        self.lot(
            lot,
            inv::LotCommand::Consume {
                order,
                work_unit: self.supplied.clone(),
                location: self.line_side.clone(),
                quantity,
                at,
            },
        )
        .await?;
        self.order_lots(
            order,
            inv::OrderLotsCommand::LinkInput {
                order,
                lot: lot.clone(),
                material: product.raw.clone(),
                quantity,
                work_unit: self.supplied.clone(),
                at,
            },
        )
        .await?;
        made.unconsumed = 0;
        Ok(())
    }

    /// Reports usage to maintenance; the preventive work orders of the plans it makes due are
    /// created at once (as maintenance's handler does) and done in the next break.
    async fn record_usage(
        &mut self,
        cycles: u64,
        run_ms: u64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if cycles == 0 && run_ms == 0 {
            return Ok(());
        }
        let events = self
            .asset(mnt::AssetCommand::RecordUsage {
                cycles: mnt::Cycles(cycles),
                run_time: mnt::Millis(run_ms),
                at,
            })
            .await?;
        if events <= 1 {
            return Ok(());
        }
        let (asset, _) = self
            .plant
            .maintenance
            .assets
            .load(&self.id)
            .await
            .map_err(|err| anyhow::anyhow!("asset {}: {err}", self.id))?;
        let raised = asset
            .state()
            .map(mnt::AssetState::raised_work_orders)
            .unwrap_or_default();
        for raised in raised.into_iter().filter(|raised| raised.at == at) {
            self.work_order(
                raised.work_order,
                mnt::WorkOrderCommand::RequestPreventive {
                    work_order: raised.work_order,
                    equipment: self.equipment.clone(),
                    plan: Some(mnt::PlanOccurrence {
                        plan: raised.plan,
                        occurrence: raised.occurrence,
                    }),
                    description: Some(raised.description),
                    at,
                },
            )
            .await?;
            self.pm_due.push(raised.work_order);
        }
        Ok(())
    }

    /// A stop at minute `m` of the run: a material shortage (a starvation in inventory), a
    /// breakdown (a corrective work order, repaired while the unit stands) or a jam; long or
    /// short. Returns when the unit runs again.
    async fn stop(
        &mut self,
        run: u64,
        m: u64,
        product: &Product,
        order: inv::OrderId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<DateTime<Utc>> {
        let long = m.is_multiple_of(3);
        let until = at + TimeDelta::minutes(if long { 9 } else { 1 });
        if !m.is_multiple_of(2) {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("material_missing")?),
                at,
            })
            .await?;
            self.supply(inv::SupplyCommand::StartStarvation {
                work_unit: self.supplied.clone(),
                material: product.raw.clone(),
                order: Some(order),
                cause: inv::StarvationCause::Reported,
                at,
            })
            .await?;
            self.supply(inv::SupplyCommand::EndStarvation {
                work_unit: self.supplied.clone(),
                material: product.raw.clone(),
                at: until,
            })
            .await?;
        } else if long {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("fault")?),
                at,
            })
            .await?;
            let work_order = mnt::WorkOrderId::generate();
            let mode = FAILURE_MODES[((run + m) % FAILURE_MODES.len() as u64) as usize];
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::ReportBreakdown {
                    work_order,
                    equipment: self.equipment.clone(),
                    failure_mode: mnt::FailureMode::new(mode)?,
                    failure_start: at,
                    product: Some(product.maintenance.clone()),
                    description: Some(mnt::Description::new(format!("{mode} on {}", self.id))?),
                    at,
                },
            )
            .await?;
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::Start {
                    at: at + TimeDelta::minutes(2),
                },
            )
            .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Complete { at: until })
                .await?;
        } else {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("jam")?),
                at,
            })
            .await?;
        }
        self.work_unit(WorkUnitCommand::ReportRunning {
            product: None,
            at: until,
        })
        .await?;
        Ok(until)
    }

    /// Produces the output lot of a completed order on the unit into finished goods and links
    /// it into the order's genealogy (what the order output process manager and inventory's
    /// handler do).
    async fn produce(
        &mut self,
        order: inv::OrderId,
        product: &Product,
        input: &inv::LotId,
        output: &inv::LotId,
        good: u64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.lot(
            output,
            inv::LotCommand::Produce {
                lot: output.clone(),
                material: product.material.clone(),
                order,
                work_unit: Some(self.supplied.clone()),
                location: self.plant.finished_goods.clone(),
                quantity: inv::Quantity(good),
                inputs: vec![input.clone()],
                expiry: None,
                at,
            },
        )
        .await?;
        self.order_lots(
            order,
            inv::OrderLotsCommand::LinkOutput {
                order,
                lot: output.clone(),
                material: product.material.clone(),
                quantity: inv::Quantity(good),
                inputs: vec![input.clone()],
                at,
            },
        )
        .await
    }

    /// The preventive work due, each order in its own PM window within the break `[from,
    /// until)`, announced at its start.
    async fn preventive_work(
        &mut self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let due = std::mem::take(&mut self.pm_due);
        if due.is_empty() {
            return Ok(());
        }
        let slot = (until - from - TimeDelta::minutes(2)) / due.len() as i32;
        for (index, work_order) in due.into_iter().enumerate() {
            let start = from + TimeDelta::minutes(1) + slot * index as i32;
            let end = start + slot - TimeDelta::seconds(30);
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::Schedule {
                    from: start,
                    until: end,
                    at: from,
                },
            )
            .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Start { at: start })
                .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Complete { at: end })
                .await?;
        }
        Ok(())
    }

    /// Inspects a sample of `quantity` units of the unit, and returns the inspection. The
    /// first result names the units (`made`); the rejects, when any, fail on `defect`.
    async fn inspect(
        &mut self,
        product: &Product,
        made: qa::UnitsMade,
        quantity: u64,
        rejected: u64,
        defect: usize,
        at: DateTime<Utc>,
    ) -> anyhow::Result<qa::InspectionId> {
        let inspection = qa::InspectionId::generate();
        self.inspection(
            inspection,
            qa::InspectionCommand::Start {
                inspection,
                plan: product.plan.clone(),
                made,
                at,
            },
        )
        .await?;
        let plant = self.plant;
        let defects = &plant.defects;
        for (count, failed) in [(quantity - rejected, None), (rejected, Some(defect))] {
            if count == 0 {
                continue;
            }
            let values = defects
                .iter()
                .enumerate()
                .map(|(index, name)| (name.clone(), qa::Value::Passed(Some(index) != failed)))
                .collect();
            self.inspection(
                inspection,
                qa::InspectionCommand::RecordResult {
                    quantity: qa::Units(count),
                    values,
                    made: qa::UnitsMade::default(),
                    at,
                },
            )
            .await?;
        }
        self.inspection(inspection, qa::InspectionCommand::Complete { at })
            .await?;
        Ok(inspection)
    }

    /// Opens an NCR for the rejects of `inspection` (loaded as quality's handler loads it).
    async fn open_ncr(
        &mut self,
        inspection: qa::InspectionId,
        description: String,
        at: DateTime<Utc>,
    ) -> anyhow::Result<qa::NcrId> {
        let id = inspection.to_string();
        let (inspected, _) = self
            .plant
            .quality
            .inspections
            .load(&id)
            .await
            .map_err(|err| anyhow::anyhow!("inspection {id}: {err}"))?;
        let state = inspected
            .state()
            .with_context(|| format!("inspection {id} is missing after it completed"))?;
        let ncr = qa::NcrId::generate();
        self.ncr(
            ncr,
            qa::NcrCommand::Open {
                ncr,
                source: Some(qa::InspectionSummary::from(state)),
                product: None,
                quantity: None,
                description: qa::Text::new(description)?,
                work_unit: None,
                contained_lots: Vec::new(),
                at,
            },
        )
        .await?;
        Ok(ncr)
    }

    /// The sampling inspection number `sample` of the unit: five units made five minutes
    /// before, named by work unit and time. About one in five finds rejects; one in 24 finds
    /// a bad batch, which gets an NCR (reworked or scrapped, and closed, an hour later).
    async fn sampling_inspection(
        &mut self,
        sample: u64,
        product: &Product,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let roll = (sample + self.index * 7) % 24;
        let rejected = match roll {
            0 => 3,
            1..=4 => 1,
            _ => 0,
        };
        let defect = ((sample + self.index) % DEFECTS.len() as u64) as usize;
        let made = qa::UnitsMade {
            work_unit: Some(self.inspected.clone()),
            lot: None,
            produced_at: Some(at - TimeDelta::minutes(5)),
        };
        let inspection = self.inspect(product, made, 5, rejected, defect, at).await?;
        if roll != 0 {
            return Ok(());
        }
        let description = format!(
            "{} on a batch of {} from {}",
            DEFECTS[defect],
            product.production.as_str(),
            self.id
        );
        let ncr = self.open_ncr(inspection, description, at).await?;
        let decided_at = at + TimeDelta::hours(1);
        let disposition = if sample.is_multiple_of(3) {
            qa::Disposition::Scrap
        } else {
            qa::Disposition::Rework
        };
        self.ncr(
            ncr,
            qa::NcrCommand::Disposition {
                disposition,
                quantity: qa::Units(rejected),
                lot: None,
                note: None,
                at: decided_at,
            },
        )
        .await?;
        self.ncr(ncr, qa::NcrCommand::Close { at: decided_at })
            .await
    }

    /// The final inspection of an output lot at `at`: a sample of 20 units; one lot in five has
    /// two rejects, which open an NCR holding the lot until the rejects are scrapped (every
    /// other such NCR gets a corrective action, implemented and verified days later).
    async fn final_inspection(
        &mut self,
        run: u64,
        product: &Product,
        lot: &inv::LotId,
        good: u64,
        produced_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let sample = good.min(20);
        let roll = (run + self.index) % 10;
        let rejected = if roll.is_multiple_of(5) {
            sample.min(2)
        } else {
            0
        };
        let defect = ((run + self.index) % DEFECTS.len() as u64) as usize;
        let made = qa::UnitsMade {
            work_unit: Some(self.inspected.clone()),
            lot: Some(qa::LotId::new(lot.as_str())?),
            produced_at: Some(produced_at),
        };
        let inspection = self
            .inspect(product, made, sample, rejected, defect, at)
            .await?;
        if rejected == 0 {
            return Ok(());
        }
        let description = format!("{} found in the final inspection of {lot}", DEFECTS[defect]);
        let ncr = self.open_ncr(inspection, description, at).await?;
        let hold = self.hold(lot, ncr, at).await?;
        let decided_at = at + TimeDelta::minutes(45);
        self.ncr(
            ncr,
            qa::NcrCommand::Disposition {
                disposition: qa::Disposition::Scrap,
                quantity: qa::Units(rejected),
                lot: None,
                note: None,
                at: decided_at,
            },
        )
        .await?;
        // What the NCR scrap process manager does with a scrap disposition of a lot.
        self.lot(
            lot,
            inv::LotCommand::Scrap {
                location: self.plant.finished_goods.clone(),
                quantity: inv::Quantity(rejected),
                reason: inv::Text::new(format!("scrapped by nonconformance {ncr}"))?,
                at: decided_at,
            },
        )
        .await?;
        self.release(lot, ncr, hold, decided_at).await?;
        if roll != 0 {
            return Ok(());
        }
        let capa = qa::CapaId::generate();
        self.capa(
            capa,
            qa::CapaCommand::Open {
                capa,
                kind: qa::CapaKind::Corrective,
                title: qa::Text::new(format!(
                    "{} on {} from {}",
                    DEFECTS[defect],
                    product.production.as_str(),
                    self.id
                ))?,
                owner: qa::Owner::new("quality engineer")?,
                due: decided_at + TimeDelta::days(7),
                ncrs: vec![ncr],
                at: decided_at,
            },
        )
        .await?;
        self.capa(
            capa,
            qa::CapaCommand::Implement {
                note: Some(qa::Text::new(
                    "work instruction revised, operators trained",
                )?),
                at: decided_at + TimeDelta::days(1),
            },
        )
        .await?;
        self.capa(
            capa,
            qa::CapaCommand::Verify {
                effective: true,
                note: Some(qa::Text::new("no recurrence since")?),
                at: decided_at + TimeDelta::days(3),
            },
        )
        .await
    }
}
