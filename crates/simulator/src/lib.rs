//! A small plant that drives the platform through its public gRPC APIs, as a shop floor would:
//! work units that run and count at a realistic rate, micro-stops, breakdowns reported to
//! maintenance and repaired, material starvation reported by inventory, changeovers, planned
//! breaks announced in advance, run hours reported to maintenance whose preventive work orders are
//! done in the breaks, and sampling inspections that find some bad units hours of plant time after
//! they were made (a bad batch gets an NCR). Each line runs production orders through its routing
//! on its work units, fed by raw material lots it receives, checks, moves to the line side and
//! consumes; quality holds orders and lots under NCRs, opens corrective actions and inspects every
//! output lot (see `line.rs`).
//!
//! Time is simulated: the plant starts some time in the past (first start) or where it stopped
//! (the clock is kept in a state file), runs `speed` times faster than the wall clock until it
//! has caught up with it, then follows it. Every unit has its own random stream seeded from
//! `seed`, so a run is repeatable.
//!
//! The work units' machine signals (running, stopped with a reason, setups, counts, the product)
//! go through production's gRPC API, or, with [`SignalPath::Sparkplug`], as Sparkplug B edge
//! nodes over an MQTT broker, one per line (`sparkplug.rs`), for the edge service to turn into
//! the same commands; [`Plant::sparkplug_mapping`] is its mapping file. Everything else the
//! plant does stays gRPC.
//!
//! Invariant: a client only. It knows the gRPC contract and the Sparkplug B payload in `proto/`,
//! nothing of the services.

/// The command context of every simulated command (actor `simulator`) for proto module `$m`.
macro_rules! ctx {
    ($m:ident) => {
        Some($m::CommandContext {
            actor: "simulator".into(),
            ..Default::default()
        })
    };
}

mod clock;
mod floor;
pub mod layout;
mod line;
mod plant;
mod quality;
pub mod signals;
pub mod sparkplug;
mod unit;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use clock::Clock;
pub use layout::Layout;
pub use plant::{LineSpec, OperationSpec, Plant, WorkUnitSpec};

/// Configuration of the simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// gRPC address of the production service (`http://host:port`).
    pub production_url: String,
    /// gRPC address of the quality service.
    pub quality_url: String,
    /// gRPC address of the maintenance service.
    pub maintenance_url: String,
    /// gRPC address of the inventory service.
    pub inventory_url: String,
    /// Seed of every random stream.
    pub seed: u64,
    /// Simulated seconds per wall-clock second until the plant has caught up with the clock.
    pub speed: f64,
    /// Where the plant starts on its first run: this long before now.
    pub backfill: Duration,
    /// File that keeps the simulated clock across restarts (none: always start from backfill).
    pub state_file: Option<PathBuf>,
    /// How the work units' machine signals reach the platform.
    pub signals: SignalPath,
}

/// How the work units' machine signals (running, stopped, setup, counts, product) reach the
/// platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalPath {
    /// Production commands over gRPC.
    Grpc,
    /// Sparkplug B over the MQTT broker at `broker_url` (`mqtt://host:port`): each line an edge
    /// node of group [`sparkplug::GROUP`], each work unit one of its devices, for the edge
    /// service with [`Plant::sparkplug_mapping`] to read.
    Sparkplug {
        /// The broker.
        broker_url: String,
    },
}

/// Why the simulator stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A service address is not a URL.
    #[error("{url:?} is not a gRPC address (http://host:port)")]
    InvalidUrl {
        /// The address.
        url: String,
    },
    /// The MQTT broker address of the Sparkplug path is not usable.
    #[error("MQTT broker url {url:?}: {reason}")]
    InvalidBrokerUrl {
        /// The address.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Master data could not be created.
    #[error("setting up the plant: {0}")]
    Setup(tonic::Status),
    /// The state file could not be written.
    #[error("state file {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Channels to the four services.
#[derive(Debug, Clone)]
pub struct Channels {
    /// Production.
    pub production: Channel,
    /// Quality.
    pub quality: Channel,
    /// Maintenance.
    pub maintenance: Channel,
    /// Inventory.
    pub inventory: Channel,
}

/// Log a refused command and go on: the simulator never stops the platform.
pub(crate) fn check<T>(what: &str, subject: &str, result: Result<T, tonic::Status>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(status) => {
            tracing::debug!(subject, what, code = ?status.code(), message = status.message(), "simulated command refused");
            None
        }
    }
}

fn connect(url: &str) -> Result<Channel, SimulatorError> {
    // Lazily: a service that starts a moment later is still reached.
    Channel::from_shared(url.to_owned())
        .map(|endpoint| endpoint.connect_lazy())
        .map_err(|_| SimulatorError::InvalidUrl {
            url: url.to_owned(),
        })
}

/// Runs the plant until `shutdown`.
pub async fn run(
    config: SimulatorConfig,
    shutdown: CancellationToken,
) -> Result<(), SimulatorError> {
    let channels = Channels {
        production: connect(&config.production_url)?,
        quality: connect(&config.quality_url)?,
        maintenance: connect(&config.maintenance_url)?,
        inventory: connect(&config.inventory_url)?,
    };
    let broker = match &config.signals {
        SignalPath::Grpc => None,
        SignalPath::Sparkplug { broker_url } => Some(sparkplug::BrokerAddress::parse(broker_url)?),
    };
    let start = clock::restore(config.state_file.as_deref(), config.backfill);
    let clock = Clock::new(start, config.speed);
    let plant = Plant::standard();
    plant
        .set_up(&channels, start)
        .await
        .map_err(SimulatorError::Setup)?;
    tracing::info!(
        start = %start,
        speed = config.speed,
        work_units = plant.units.len(),
        lines = plant.lines.len(),
        signals = if broker.is_some() { "sparkplug" } else { "grpc" },
        "plant simulator running"
    );
    let mut tasks = tokio::task::JoinSet::new();
    // Each unit's machine signals: its production client, or its device on its line's node.
    let mut signals: Vec<Option<signals::Signals>> = plant.units.iter().map(|_| None).collect();
    if let Some(broker) = &broker {
        for (line, units) in plant.units_by_line() {
            let ids: Vec<&str> = units.iter().map(|&index| plant.units[index].id).collect();
            let (node, updates, handles) = sparkplug::node(broker.clone(), line, &ids, clock);
            for (index, handle) in units.into_iter().zip(handles) {
                signals[index] = Some(signals::Signals::Sparkplug(handle));
            }
            tasks.spawn(node.run(updates));
        }
    }
    let floor = floor::Floor::default();
    for (index, (spec, signals)) in plant.units.iter().zip(signals).enumerate() {
        let signals = signals.unwrap_or_else(|| {
            signals::Signals::Grpc(
                mom_proto::production::v1::production_service_client::ProductionServiceClient::new(
                    channels.production.clone(),
                ),
            )
        });
        let unit = unit::Unit::new(
            spec.clone(),
            floor.clone(),
            channels.clone(),
            signals,
            clock,
            config
                .seed
                .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        tasks.spawn(unit.run(shutdown.clone()));
    }
    for (index, spec) in plant.lines.iter().enumerate() {
        let line = line::Line::new(
            spec.clone(),
            floor.clone(),
            channels.clone(),
            clock,
            config
                .seed
                .wrapping_add(0x5EED_0F11_E5ED)
                .wrapping_add((index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)),
        );
        tasks.spawn(line.run(shutdown.clone()));
    }
    let saver = clock::keep(config.state_file.clone(), clock, shutdown.clone());
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!(error = %err, "simulated plant task failed");
        }
    }
    saver.await
}
