//! The options of each `mom bench` subcommand: one clap `Args` struct per workload, whose doc
//! comments are the `--help` texts.

use std::path::PathBuf;

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
    /// The started broker's storage (tansu's `sqlite` or `memory`).
    #[arg(long, env = "MOM_BENCH_BROKER_STORAGE", default_value_t = mom_testkit::BrokerStorage::Sqlite)]
    pub storage: mom_testkit::BrokerStorage,
    /// librdkafka settings of the run's Kafka clients, as `mom serve --kafka-option` (e.g.
    /// linger.ms=0); repeat the flag.
    #[arg(long = "kafka-option")]
    pub kafka_options: Vec<mom_bus::KafkaOption>,
}

/// Options of `mom bench edge`.
#[derive(Debug, clap::Args)]
pub struct EdgeArgs {
    /// MQTT broker the bench's Sparkplug edge nodes and the edge service meet on.
    #[arg(
        long,
        env = "MOM_BENCH_MQTT_URL",
        default_value = "mqtt://127.0.0.1:1883"
    )]
    pub mqtt_url: String,
    /// Postgres server for the production service's event store (a fresh database is created on
    /// it and dropped); without it, SQLite in a temporary directory as in `mom dev`.
    #[arg(long, env = "MOM_BENCH_EDGE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Work units of the throughput run, spread over the edge nodes.
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 50)]
    pub work_units: usize,
    /// Sparkplug edge nodes of the throughput run (one MQTT connection each).
    #[arg(long, env = "MOM_BENCH_NODES", default_value_t = 5)]
    pub nodes: usize,
    /// Readings of each metric (`State`, `Counter/Total`) in one NDATA message: a node's message
    /// carries readings × 2 × its work units metric updates.
    #[arg(long, env = "MOM_BENCH_READINGS", default_value_t = 10)]
    pub readings: usize,
    /// Metric updates published in the throughput run.
    #[arg(long, env = "MOM_BENCH_UPDATES", default_value_t = 5_000_000)]
    pub updates: u64,
    /// Signals measured in the latency run.
    #[arg(long, env = "MOM_BENCH_SAMPLES", default_value_t = 300)]
    pub samples: u64,
    /// Signals per second in the latency run (one at a time, each waited for).
    #[arg(long, env = "MOM_BENCH_RATE", default_value_t = 20)]
    pub rate: u64,
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
    /// Seconds each measured run lasts (fractions allowed, e.g. 0.5).
    #[arg(long, env = "MOM_BENCH_SECONDS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub seconds: f64,
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
    /// Also run this peer's command handler on the same workload, database server and run, right
    /// after ours at each concurrency, and print ours / peer for every path and concurrency.
    #[arg(long, env = "MOM_BENCH_COMPARE", value_enum)]
    pub compare: Option<Peer>,
    /// Events written to the store before anything is measured (through the command handler,
    /// their outbox rows drained as a relay would), so the runs measure a store of that size,
    /// e.g. 1000000; 0 measures on an empty database.
    #[arg(long, env = "MOM_BENCH_PREFILL", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub prefill: u64,
    /// HTTP/2 connections the gRPC rows' clients spread over (worker `w` uses connection `w mod
    /// N`): 1 is one client application multiplexing every call on one connection, more is
    /// several clients (or a client with a pool of channels), as a plant's many callers are.
    #[arg(long, env = "MOM_BENCH_GRPC_CONNECTIONS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub grpc_connections: u64,
}

/// An event store a user might pick instead of ours, run beside it by `--compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    /// cqrs-es's own Postgres repository (crates.io `postgres-es`): a `CqrsFramework` over a
    /// `PersistedEventStore` of a `PostgresEventRepository`, snapshotting as often as ours, in
    /// its own `events` and `snapshots` tables of the run's database.
    PostgresEs,
}

impl Peer {
    /// Returns the peer's name as `--compare` takes it and the report prints it.
    pub fn name(self) -> &'static str {
        match self {
            Peer::PostgresEs => "postgres-es",
        }
    }
}

/// Parses `--seconds`: a finite number of seconds above zero.
fn positive_seconds(value: &str) -> Result<f64, String> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
        Ok(seconds)
    } else {
        Err(format!(
            "`{value}` is out of range: a run lasts more than 0 and at most 86400 seconds"
        ))
    }
}

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
pub struct RebuildArgs {
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

/// Options of `mom bench oee`.
#[derive(Debug, clap::Args)]
pub struct OeeArgs {
    /// Work units of the throughput runs (each about 30 facts an hour).
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 100)]
    pub work_units: usize,
    /// Days of facts per work unit in the throughput runs.
    #[arg(long, env = "MOM_BENCH_DAYS", default_value_t = 7)]
    pub days: u32,
    /// Work units the memory estimate is for.
    #[arg(long, env = "MOM_BENCH_MEMORY_UNITS", default_value_t = 1000)]
    pub memory_units: usize,
    /// Days of history per work unit in the memory estimate (the OEE service keeps its
    /// lateness horizon, `MOM_OEE_LATENESS_HORIZON`, 7 days by default).
    #[arg(long, env = "MOM_BENCH_MEMORY_DAYS", default_value_t = 30)]
    pub memory_days: u32,
}

/// Options of `mom bench relay`.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Postgres server; a fresh database is created on it for each broker storage and dropped.
    #[arg(
        long,
        env = "MOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// Broker storages to measure against (tansu's `memory` and `sqlite`), comma separated.
    #[arg(long, env = "MOM_BENCH_BROKER_STORAGE", value_delimiter = ',', default_values_t = [mom_testkit::BrokerStorage::Memory, mom_testkit::BrokerStorage::Sqlite])]
    pub storage: Vec<mom_testkit::BrokerStorage>,
    /// Commands of the backlog the relay drains (one event each).
    #[arg(long, env = "MOM_BENCH_EVENTS", default_value_t = 100_000)]
    pub events: u64,
    /// Seconds writers and a running relay share the machine.
    #[arg(long, env = "MOM_BENCH_SECONDS", default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent writers.
    #[arg(long, env = "MOM_BENCH_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Work units the commands spread over.
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 512)]
    pub work_units: usize,
    /// Snapshot every this many events of a work unit.
    #[arg(long, env = "MOM_BENCH_SNAPSHOT_EVERY", default_value_t = 20)]
    pub snapshot_every: usize,
    /// Outbox rows the relay claims per round (`MOM_RELAY_BATCH_SIZE` of the services).
    #[arg(long, env = "MOM_BENCH_RELAY_BATCH_SIZE", default_value_t = 1000)]
    pub batch_size: u32,
    /// librdkafka settings of the relay's producer, as `mom serve --kafka-option` (e.g.
    /// linger.ms=2); repeat the flag.
    #[arg(long = "kafka-option")]
    pub kafka_options: Vec<mom_bus::KafkaOption>,
}

/// Options of `mom bench consume`.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Postgres server; the four logs and each run's read model are fresh databases on it.
    #[arg(
        long,
        env = "MOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// Events in the simulated plant's four logs (the backlog the consumer applies).
    #[arg(long, env = "MOM_BENCH_EVENTS", default_value_t = 20_000)]
    pub events: u64,
    /// Work units of the simulated plant.
    #[arg(long, env = "MOM_BENCH_WORK_UNITS", default_value_t = 100)]
    pub work_units: usize,
    /// Messages per transaction to measure (`MOM_CONSUMER_MAX_BATCH`), comma separated; `1` is
    /// one transaction per message.
    #[arg(long, env = "MOM_BENCH_MAX_BATCH", value_delimiter = ',', default_values_t = [1, 500])]
    pub max_batch: Vec<usize>,
    /// The broker's storage (tansu's `memory` or `sqlite`).
    #[arg(long, env = "MOM_BENCH_BROKER_STORAGE", default_value_t = mom_testkit::BrokerStorage::Memory)]
    pub storage: mom_testkit::BrokerStorage,
}

impl RelayArgs {
    /// Returns how long writers and the running relay share the machine.
    pub fn seconds(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }
}
