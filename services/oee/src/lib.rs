//! The streaming OEE projection and its query API: maps events of the four domains' topics to
//! OEE engine facts, feeds the engine (the same one `mom oee replay` uses), keeps every changed
//! period's figures in the `oee_periods` read model, answers `mom.oee.v1.OeeService` over gRPC
//! and the same queries as JSON over HTTP, and publishes changed periods to `mom.oee.v1`.
//!
//! Every applied message that gives the engine an input (or tells where a lot was made) is also
//! kept (`inputs`: in batches per transaction and work unit, or one by one when it carries no
//! sequence), in the same transaction as the figures and the checkpoint, so the in-memory engine
//! can be rebuilt from the committed state after a restart or a rolled-back page; a redelivered
//! message (at or below its aggregate's applied sequence, or with a kept event id) is not applied
//! twice.
//!
//! Invariant: no service code; it reads the topic contract only.

pub mod api;
pub mod config;
mod facts;
pub mod http;
mod inputs;
mod projection;
pub mod publish;
pub mod query;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Weekday;
use mom_oee::{Calendar, EngineConfig, Millis, ShiftPattern};
use mom_projection::{ProjectionError, ReadModels, Source};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::OeeConfig;
pub use facts::{Input, Mapper};
pub use projection::{granularity_name, OeeProjection};

/// The domains whose topics feed the projection.
pub const DOMAINS: [&str; 4] = ["production", "quality", "maintenance", "inventory"];

/// The gRPC service name health reports.
pub const SERVICE_NAME: &str = "mom.oee.v1.OeeService";

/// Why the OEE service stopped.
#[derive(Debug, thiserror::Error)]
pub enum OeeError {
    /// The projection failed.
    #[error("projection: {0}")]
    Projection(#[from] ProjectionError),
    /// The gRPC API failed.
    #[error("grpc api: {0}")]
    Grpc(#[from] mom_grpc::HostError),
    /// The HTTP API failed.
    #[error("http api on {addr}: {source}")]
    Http {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The `mom.oee.v1` publisher could not start.
    #[error("publisher: {0}")]
    Publish(#[from] publish::PublishError),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
}

/// A started OEE service.
#[derive(Debug)]
pub struct Running {
    /// Address of the gRPC API.
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    tasks: JoinSet<Result<(), OeeError>>,
}

impl Running {
    /// Waits until every task ended (after shutdown); the first failure is returned.
    pub async fn wait(self) -> Result<(), OeeError> {
        wait_all(self.tasks).await
    }
}

/// A started OEE service whose HTTP routes the caller serves (`mom dev` merges them with the
/// other APIs and the dashboard on one address).
#[derive(Debug)]
pub struct Routed {
    /// Address of the gRPC API.
    pub grpc_addr: SocketAddr,
    /// The HTTP routes of the query API (`/api/oee...`, `/healthz`).
    pub router: axum::Router,
    tasks: JoinSet<Result<(), OeeError>>,
}

impl Routed {
    /// Waits until every task ended (after shutdown); the first failure is returned.
    pub async fn wait(self) -> Result<(), OeeError> {
        wait_all(self.tasks).await
    }
}

async fn wait_all(mut tasks: JoinSet<Result<(), OeeError>>) -> Result<(), OeeError> {
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined
            .map_err(|err| OeeError::Task(err.to_string()))
            .and_then(|r| r);
        if let Err(err) = outcome {
            tracing::error!(error = %err, "oee task failed");
            if result.is_ok() {
                result = Err(err);
            }
        }
    }
    result
}

/// Returns the calendar and engine configuration for `time_zone` and `lateness_horizon`.
fn engine(
    time_zone: chrono_tz::Tz,
    lateness_horizon: std::time::Duration,
) -> (Calendar, EngineConfig) {
    let calendar = Calendar::new(time_zone, ShiftPattern::three_shifts(), Weekday::Mon);
    let horizon = i64::try_from(lateness_horizon.as_millis()).unwrap_or(i64::MAX);
    let engine = EngineConfig {
        lateness_horizon: Some(Millis(horizon)),
    };
    (calendar, engine)
}

/// Rebuilds the OEE read model at `database_url` from the event stores' logs (`name=url`):
/// empties its tables and checkpoints, then replays every log up to its head, calling `progress`
/// after each page. Returns the number of log entries read. The service must not be running
/// against the same database meanwhile.
pub async fn rebuild(
    database_url: &str,
    log_sources: &[String],
    topic_prefix: &str,
    time_zone: chrono_tz::Tz,
    lateness_horizon: std::time::Duration,
    progress: impl FnMut(mom_projection::Progress),
) -> Result<u64, OeeError> {
    let models = ReadModels::connect(database_url).await?;
    let Source::Log(sources) = Source::open(None, log_sources).await? else {
        return Err(ProjectionError::Source("a rebuild reads event-store logs".into()).into());
    };
    let names = mom_bus::TopicNames::new(topic_prefix);
    let topics = DOMAINS.iter().map(|domain| names.domain(domain)).collect();
    let (calendar, engine_config) = engine(time_zone, lateness_horizon);
    let projection = OeeProjection::new(topics, calendar, engine_config);
    Ok(mom_projection::rebuild(&projection, &models, &sources, progress).await?)
}

/// Starts the projection (from Kafka when a broker is configured, else from the configured
/// event-store logs), the gRPC and HTTP query APIs (HTTP on `config.http_addr`) and, with a
/// broker, the `mom.oee.v1` publisher. Everything stops when `shutdown` is cancelled.
pub async fn start(config: OeeConfig, shutdown: CancellationToken) -> Result<Running, OeeError> {
    let http_server = http::HttpServer::bind(config.http_addr)
        .await
        .map_err(|source| OeeError::Http {
            addr: config.http_addr,
            source,
        })?;
    let http_addr = http_server.addr;
    let Routed {
        grpc_addr,
        router,
        mut tasks,
    } = start_routed(config, shutdown.clone()).await?;
    tasks.spawn(async move {
        http_server
            .serve(router, shutdown)
            .await
            .map_err(|source| OeeError::Http {
                addr: http_addr,
                source,
            })
    });
    Ok(Running {
        grpc_addr,
        http_addr,
        tasks,
    })
}

/// Starts the OEE service like [`start`], except that the HTTP API is not bound: its routes
/// are handed back for the caller to serve (`config.http_addr` is not used).
pub async fn start_routed(
    config: OeeConfig,
    shutdown: CancellationToken,
) -> Result<Routed, OeeError> {
    let models = ReadModels::connect(&config.database_url).await?;
    let names = config.kafka.topic_names();
    let topics = DOMAINS.iter().map(|domain| names.domain(domain)).collect();
    let (calendar, engine_config) = engine(config.time_zone, config.lateness_horizon);
    let projection = Arc::new(OeeProjection::new(topics, calendar.clone(), engine_config));
    // The tables must exist before the first query.
    models.migrate(projection.as_ref()).await?;
    let source = Source::open(
        config.kafka.kafka_bootstrap_servers.as_deref(),
        &config.log_sources,
    )
    .await?;
    let queries =
        query::Queries::new(models.pool().clone(), calendar).with_live(Arc::clone(&projection));
    let grpc =
        mom_grpc::GrpcServer::bind(
            SERVICE_NAME,
            config.grpc_addr,
            tonic::service::Routes::new(
                mom_proto::oee::v1::oee_service_server::OeeServiceServer::new(
                    api::OeeService::new(queries.clone(), projection.subscribe(), shutdown.clone()),
                ),
            ),
        )
        .await?;
    let grpc_addr = grpc.addr;
    let mut tasks = JoinSet::new();
    if let Some(servers) = &config.kafka.kafka_bootstrap_servers {
        let publisher = publish::OeePublisher::start(
            models.pool().clone(),
            queries.clone(),
            servers,
            names.domain("oee"),
            config.kafka.topic_partitions,
            config.kafka.topic_replication,
        )
        .await?;
        let (revisions, shutdown) = (projection.subscribe(), shutdown.clone());
        tasks.spawn(async move {
            publisher.run(revisions, shutdown).await;
            Ok(())
        });
    }
    let router = http::router(queries, projection.subscribe(), shutdown.clone());
    tasks.spawn({
        let shutdown = shutdown.clone();
        async move { grpc.serve(shutdown).await.map_err(OeeError::from) }
    });
    tasks.spawn(async move {
        tracing::info!("oee projection running");
        let result =
            mom_projection::run(projection.as_ref(), &models, &source, shutdown.clone()).await;
        if result.is_err() {
            // Without its projection the service must not keep answering stale figures.
            shutdown.cancel();
        }
        result.map_err(OeeError::from)
    });
    Ok(Routed {
        grpc_addr,
        router,
        tasks,
    })
}

/// Runs the OEE service until `shutdown`.
pub async fn serve(config: OeeConfig, shutdown: CancellationToken) -> Result<(), OeeError> {
    start(config, shutdown).await?.wait().await
}
