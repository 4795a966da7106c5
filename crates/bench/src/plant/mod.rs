//! The plant of `mom bench rebuild`: writes an event log of about a given size to the four
//! services' stores through their real command handlers (their executors, no gRPC), each into
//! its own event store as deployed (on SQLite one file per service, as `mom dev`; on Postgres one
//! database per service). Many work units each run a shift pattern in simulated time, and
//! everything around them happens in the domain that owns it:
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
//!
//! The plant's layout (enterprise, site, area, lines of ten work units, line sides, warehouse and
//! finished goods) and its master-data vocabulary (defects, failure modes, preventive plans) are
//! the simulator's ([`mom_simulator::layout`]). What happens on the floor is this module's own:
//! the simulator drives the services over gRPC at the wall clock's pace with random streams and
//! survives restarts, while this plant calls the command handlers as fast as they go, in a fixed
//! pattern, so that a log of a given size always holds the same mix of events.
//!
//! Invariant: it writes only through the services' `Application`s (their command handlers, as
//! their gRPC handlers would) and reads back only what those handlers would load; it never
//! writes a store's tables itself.

mod unit;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use mom_eventstore::CommandMetadata;
use mom_inventory::domain as inv;
use mom_maintenance::domain as mnt;
use mom_production::domain::{Millis, ProductId};
use mom_quality::domain as qa;
use mom_simulator::layout::{self, Layout, Level, UniformNames, DEFECTS};

use crate::provision::{connect_store, Logs};
use crate::report::{Domain, Mix};
use unit::Unit;

/// When the simulated plant starts: 06:00 UTC on the Monday at least 60 days before `now`, so
/// its history lies well inside the event-time policy's window (400 days) whenever the bench
/// runs, and always starts on a shift and week boundary.
fn plant_start(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, Duration, TimeZone};
    let day = (now - Duration::days(60)).date_naive();
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&monday.and_hms_opt(6, 0, 0).unwrap_or_default())
}
/// Products with their raw material and ideal cycle time (ms); runs alternate between them.
const PRODUCTS: [(&str, &str, u64); 2] = [("SKU-A", "RAW-A", 1_800), ("SKU-B", "RAW-B", 2_400)];
/// The top of the plant's hierarchy.
const NAMES: UniformNames<'static> = UniformNames {
    enterprise: "bench",
    site: "bench-site",
    area: "bench-area",
};
/// Work units per line (work center); each line has its line-side location.
const UNITS_PER_LINE: usize = 10;
/// Pieces of a raw lot: one run makes at most 31 pieces a minute for 240 minutes from it.
const RAW_LOT_SIZE: u64 = 7_500;
/// Pieces a production order asks for.
const ORDER_SIZE: u64 = 7_000;
/// Minutes of a run.
const RUN_MINUTES: u64 = 240;

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
        let at = mom_domain::Timed::at(&command);
        $executor
            .execute(id, command.into(), $crate::plant::metadata(at))
            .await
            .map_err(|err| anyhow::anyhow!("{} {id}: {err}", $noun))
    }};
}
use execute;

/// Returns the maintenance service's level of a layout's level.
fn asset_level(level: Level) -> mnt::AssetLevel {
    match level {
        Level::Enterprise => mnt::AssetLevel::Enterprise,
        Level::Site => mnt::AssetLevel::Site,
        Level::Area => mnt::AssetLevel::Area,
        Level::WorkCenter => mnt::AssetLevel::WorkCenter,
        Level::WorkUnit => mnt::AssetLevel::WorkUnit,
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
    /// Its hierarchy, materials and locations.
    layout: Layout,
    products: Vec<Product>,
    defects: Vec<qa::CharacteristicName>,
    warehouse: inv::LocationId,
    finished_goods: inv::LocationId,
    tally: Tally,
}

impl Plant {
    /// Connects the four stores and creates the master data of a plant of `work_units` units:
    /// the asset hierarchy down to the lines, materials and locations, and an inspection plan per
    /// product.
    async fn open(logs: &Logs, work_units: usize, at: DateTime<Utc>) -> anyhow::Result<Self> {
        let topics = mom_bus::TopicNames::default();
        // Production takes most commands; the others' appends are fewer and smaller.
        let production = connect_store(&logs.production.url, 16).await?;
        let quality = connect_store(&logs.quality.url, 8).await?;
        let maintenance = connect_store(&logs.maintenance.url, 8).await?;
        let inventory = connect_store(&logs.inventory.url, 8).await?;
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
            layout: Layout {
                raw_materials: PRODUCTS
                    .iter()
                    .map(|(_, raw, _)| (*raw).to_owned())
                    .collect(),
                products: PRODUCTS
                    .iter()
                    .map(|(product, ..)| (*product).to_owned())
                    .collect(),
                ..Layout::uniform(NAMES, work_units, UNITS_PER_LINE)
            },
            products: Vec::new(),
            defects: DEFECTS
                .iter()
                .map(|name| qa::CharacteristicName::new(*name))
                .collect::<Result<_, _>>()?,
            warehouse: inv::LocationId::new(layout::WAREHOUSE)?,
            finished_goods: inv::LocationId::new(layout::FINISHED_GOODS)?,
            tally: Tally::default(),
        };
        plant.register_hierarchy(at).await?;
        plant.define_stock(at).await?;
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
    async fn register_hierarchy(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        let assets = self.layout.assets();
        for asset in assets.iter().filter(|asset| asset.level != Level::WorkUnit) {
            let level = asset_level(asset.level);
            // The handler looks the parent up; the bench registered it just before.
            let parent = match (&asset.parent, level.parent_level()) {
                (Some(id), Some(parent_level)) => Some(mnt::ParentRef {
                    id: mnt::AssetId::new(id.as_str())?,
                    found: Some((parent_level, false)),
                }),
                _ => None,
            };
            let command = mnt::AssetCommand::Register {
                asset: mnt::AssetId::new(asset.id.as_str())?,
                level,
                name: asset.id.clone(),
                parent,
                at,
            };
            execute!(self.maintenance.assets, "asset", &asset.id, command)?;
            self.tally.add(Domain::Maintenance, 1);
        }
        Ok(())
    }

    /// Defines the raw materials and products as materials, the warehouse, finished goods and
    /// each line's line side.
    async fn define_stock(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        for material in self.layout.materials() {
            let command = inv::MaterialCommand::Define {
                material: inv::MaterialId::new(material)?,
                name: inv::Text::new(material)?,
                unit: inv::Text::new("pcs")?,
                at,
            };
            execute!(self.inventory.materials, "material", material, command)?;
            self.tally.add(Domain::Inventory, 1);
        }
        for location in self.layout.locations() {
            let command = inv::LocationCommand::Define {
                location: inv::LocationId::new(location)?,
                name: inv::Text::new(location)?,
                at,
            };
            execute!(self.inventory.locations, "location", location, command)?;
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
            open_ncr_on_failure: false,
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
            .as_ref()
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
pub(crate) async fn generate(logs: &Logs, events: u64, work_units: usize) -> anyhow::Result<Mix> {
    let start = plant_start(mom_clock::now());
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
