//! Provisioning what a run needs, and taking it down afterwards: databases (SQLite files or fresh
//! Postgres databases), the four services' event stores of a generated log, a Kafka-protocol
//! broker (`tansu`, unless the user gives one), and the configurations the production and OEE
//! services start with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mom_eventstore::{EventStore, StoreOptions};

use crate::config::{Backend, RebuildArgs};

/// The Kafka settings of every service a benchmark starts: `servers`, or none (the embedded
/// store-log mode, or a production service whose outbox nobody relays).
pub(crate) fn kafka_args(servers: Option<String>) -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: servers,
        topic_prefix: "mom.".to_owned(),
        topic_partitions: 6,
        topic_replication: 1,
        relay_batch_size: 1000,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(Some(chrono::Duration::days(7))),
        kafka_options: Vec::new(),
    }
}

/// A Kafka-protocol broker for a run: the one the user gave, or a `tansu` started for it (stopped
/// when this is dropped).
#[derive(Debug)]
pub(crate) struct Kafka {
    /// Its bootstrap servers.
    pub(crate) servers: String,
    /// The broker started for the run, stopped when dropped.
    _started: Option<mom_testkit::Broker>,
}

impl Kafka {
    /// Returns the broker at `given`, or starts a `tansu` broker on `storage`; `why` is the
    /// error's context when it cannot be started.
    pub(crate) async fn given_or_started(
        given: Option<&str>,
        storage: mom_testkit::BrokerStorage,
        why: &'static str,
    ) -> anyhow::Result<Self> {
        match given {
            Some(servers) => Ok(Self {
                servers: servers.to_owned(),
                _started: None,
            }),
            None => {
                let broker = mom_testkit::Broker::start_with(storage)
                    .await
                    .context(why)?;
                Ok(Self {
                    servers: broker.bootstrap_servers(),
                    _started: Some(broker),
                })
            }
        }
    }
}

/// Returns the configuration of a production service on the store at `store_url` with a pool of
/// `max_connections`, snapshotting every `snapshot_every` events, its gRPC API on a free
/// loopback port.
pub(crate) fn production_config(
    store_url: String,
    max_connections: u32,
    snapshot_every: usize,
    kafka: mom_bus::KafkaArgs,
) -> anyhow::Result<mom_production::ProductionConfig> {
    Ok(mom_production::ProductionConfig {
        store: mom_eventstore::StoreArgs {
            database_url: store_url,
            db_max_connections: max_connections,
            db_max_batch_events: 1024,
            snapshot_every,
            max_message_bytes: mom_eventstore::StoreOptions::default().max_message_bytes,
        },
        kafka,
        time: mom_clock::TimePolicy::default().into(),
        security: Default::default(),
        grpc_addr: "127.0.0.1:0".parse()?,
    })
}

/// Returns the configuration of an OEE service with its read model at `database_url`, reading
/// `kafka`'s topics or the stores of `log_sources` (`name=url`), its APIs on free loopback ports.
pub(crate) fn oee_config(
    database_url: String,
    kafka: mom_bus::KafkaArgs,
    log_sources: Vec<String>,
) -> anyhow::Result<mom_oee_projection::OeeConfig> {
    Ok(mom_oee_projection::OeeConfig {
        database_url,
        kafka,
        log_sources,
        time_zone: chrono_tz::UTC,
        lateness_horizon: Duration::from_secs(7 * 86_400),
        time: mom_clock::TimePolicy::default().into(),
        security: Default::default(),
        max_fact_span: mom_oee_projection::config::default_max_fact_span(),
        grpc_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
    })
}

/// Connects a gRPC channel to a service at `addr`.
pub(crate) async fn channel(
    addr: std::net::SocketAddr,
) -> anyhow::Result<tonic::transport::Channel> {
    Ok(
        tonic::transport::Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?,
    )
}

/// Connects to the event store at `url` with a pool of `max_connections`, as a generator that
/// appends many events in large batches.
pub(crate) async fn connect_store(url: &str, max_connections: u32) -> anyhow::Result<EventStore> {
    let options = StoreOptions {
        max_connections,
        max_batch_events: 4096,
        ..StoreOptions::default()
    };
    Ok(EventStore::connect(url, &options).await?)
}

/// A database made for one run (dropped afterwards on Postgres).
pub(crate) struct Database {
    pub(crate) url: String,
    postgres: Option<mom_testkit::TestDatabase>,
}

impl Database {
    pub(crate) async fn create(
        args: &RebuildArgs,
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

    pub(crate) async fn drop(self) -> anyhow::Result<()> {
        if let Some(db) = self.postgres {
            db.drop_database().await?;
        }
        Ok(())
    }
}

/// The event stores of one run, one per service as deployed.
pub(crate) struct Logs {
    pub(crate) production: Database,
    pub(crate) quality: Database,
    pub(crate) maintenance: Database,
    pub(crate) inventory: Database,
}

impl Logs {
    /// Creates the four stores, named `<service>-<events>` (SQLite files as `mom dev` has them).
    pub(crate) async fn create(
        args: &RebuildArgs,
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
    pub(crate) fn sources(&self) -> Vec<String> {
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

    pub(crate) async fn drop(self) -> anyhow::Result<()> {
        self.production.drop().await?;
        self.quality.drop().await?;
        self.maintenance.drop().await?;
        self.inventory.drop().await
    }
}

/// The tables of cqrs-es's Postgres repository, as postgres-es 0.5 ships them in its
/// `db/init.sql` (github.com/serverlesstechnology/postgres-es; the view table and the sample rows
/// of that file left out): one table for every aggregate's events, one for snapshots.
const POSTGRES_ES_TABLES: [&str; 2] = [
    "CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
)",
    "CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
)",
];

/// Connects a pool of `max_connections` to the Postgres database at `url` and creates
/// postgres-es's `events` and `snapshots` tables in it (the database is the run's own, so they
/// must not exist yet).
pub(crate) async fn postgres_es_pool(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<sqlx::PgPool> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await
        .with_context(|| format!("cannot connect the postgres-es peer to {url}"))?;
    for statement in POSTGRES_ES_TABLES {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .context("cannot create postgres-es's tables (events, snapshots)")?;
    }
    Ok(pool)
}
