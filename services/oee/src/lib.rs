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
pub mod calendars;
pub mod config;
mod facts;
pub mod http;
mod inputs;
mod projection;
pub mod publish;
pub mod query;
pub mod reason_codes;
pub mod schema;

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
    /// Shutdown was asked for before the read-model database answered.
    #[error("stopped before the read-model database answered")]
    Stopped,
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
    /// What the health service says (the database answers, the projection makes progress).
    pub readiness: mom_grpc::Readiness,
    /// Who may call (the gRPC API already checks with it; the HTTP routes must be served
    /// behind it, see [`mom_grpc::harden`]).
    pub auth: mom_auth::Authenticator,
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

/// Returns the calendar and engine configuration for `time_zone`, `lateness_horizon` and the
/// maximum span of one fact (`None`: no cap).
fn engine(
    time_zone: chrono_tz::Tz,
    lateness_horizon: std::time::Duration,
    max_fact_span: Option<chrono::Duration>,
) -> (Calendar, EngineConfig) {
    let calendar = Calendar::new(time_zone, ShiftPattern::three_shifts(), Weekday::Mon);
    let horizon = i64::try_from(lateness_horizon.as_millis()).unwrap_or(i64::MAX);
    let engine = EngineConfig {
        lateness_horizon: Some(Millis(horizon)),
        max_span: max_fact_span.map(|span| Millis(span.num_milliseconds())),
    };
    (calendar, engine)
}

/// Rebuilds the OEE read model at `database_url` from the event stores' logs (`name=url`):
/// empties its tables and checkpoints, then replays every log up to its head, calling `progress`
/// after each page. Returns the number of log entries read. The service must not be running
/// against the same database meanwhile. The event-time policy and the maximum fact span are
/// read from the environment (`MOM_MAX_FUTURE_SKEW`, `MOM_MAX_EVENT_AGE`,
/// `MOM_OEE_MAX_FACT_SPAN`), as the service reads them.
pub async fn rebuild(
    database_url: &str,
    log_sources: &[String],
    topic_prefix: &str,
    time_zone: chrono_tz::Tz,
    lateness_horizon: std::time::Duration,
    progress: impl FnMut(mom_projection::Progress),
) -> Result<u64, OeeError> {
    let models = ReadModels::connect(database_url).await?;
    let sources = mom_projection::rebuild_sources(log_sources).await?;
    let projection = projection_from_env(topic_prefix, time_zone, lateness_horizon)?;
    Ok(mom_projection::rebuild(&projection, &models, &sources, progress).await?)
}

/// Returns the OEE projection of the four domains' topics under `topic_prefix`, with the
/// event-time policy and the maximum fact span read from the environment as the service reads
/// them (`MOM_MAX_FUTURE_SKEW`, `MOM_MAX_EVENT_AGE`, `MOM_OEE_MAX_FACT_SPAN`).
pub fn projection_from_env(
    topic_prefix: &str,
    time_zone: chrono_tz::Tz,
    lateness_horizon: std::time::Duration,
) -> Result<OeeProjection, OeeError> {
    let names = mom_bus::TopicNames::new(topic_prefix);
    let topics = DOMAINS.iter().map(|domain| names.domain(domain)).collect();
    let policy = mom_clock::TimePolicy::from_env()
        .map_err(|err| ProjectionError::Source(format!("event-time policy: {err}")))?;
    let max_fact_span = match std::env::var("MOM_OEE_MAX_FACT_SPAN") {
        Ok(value) => mom_clock::parse_limit(&value)
            .map_err(|err| ProjectionError::Source(format!("MOM_OEE_MAX_FACT_SPAN: {err}")))?,
        Err(_) => config::default_max_fact_span().0,
    };
    let (calendar, engine_config) = engine(time_zone, lateness_horizon, max_fact_span);
    Ok(OeeProjection::new(topics, calendar, engine_config).with_time_policy(policy))
}

/// Starts the projection (from Kafka when a broker is configured, else from the configured
/// event-store logs), the gRPC and HTTP query APIs (HTTP on `config.http_addr`) and, with a
/// broker, the `mom.oee.v1` publisher. Everything stops when `shutdown` is cancelled.
pub async fn start(config: OeeConfig, shutdown: CancellationToken) -> Result<Running, OeeError> {
    let tls = mom_tls::ServerTls::from_args(&config.security.tls, mom_tls::Protocol::Http1)
        .await
        .map_err(mom_grpc::HostError::from)?;
    let http_server = http::HttpServer::bind_tls(config.http_addr, tls)
        .await
        .map_err(|source| OeeError::Http {
            addr: config.http_addr,
            source,
        })?;
    let http_addr = http_server.addr;
    let Routed {
        grpc_addr,
        router,
        readiness,
        auth,
        mut tasks,
    } = start_routed(config, shutdown.clone()).await?;
    let (probes, probes_api) =
        mom_openapi::readiness(move || readiness.http_answer()).split_for_parts();
    let openapi = mom_openapi::document("MOM OEE", [http::openapi(), probes_api]);
    let router = router.merge(probes).merge(mom_openapi::router(openapi));
    tasks.spawn(async move {
        http_server
            .serve(router, &auth, shutdown)
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
    let auth = mom_auth::Authenticator::from_args(&config.security.auth)
        .await
        .map_err(mom_grpc::HostError::from)?;
    let starting =
        mom_grpc::GrpcServer::listen_tls(SERVICE_NAME, config.grpc_addr, &config.security.tls)
            .await?;
    let models = ReadModels::connect_retrying(&config.database_url, &shutdown)
        .await?
        .ok_or(OeeError::Stopped)?;
    let readiness = mom_grpc::Readiness::read_side(&models, &["oee"]);
    let names = config.kafka.topic_names();
    let topics = DOMAINS.iter().map(|domain| names.domain(domain)).collect();
    let (calendar, engine_config) = engine(
        config.time_zone,
        config.lateness_horizon,
        config.max_fact_span.0,
    );
    let policy = config.time.policy();
    tracing::info!(%policy, max_fact_span = ?config.max_fact_span.0, "oee event-time limits");
    let projection = Arc::new(
        OeeProjection::new(topics, calendar.clone(), engine_config).with_time_policy(policy),
    );
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
        starting
            .with_routes(tonic::service::Routes::new(
                mom_proto::oee::v1::oee_service_server::OeeServiceServer::new(
                    api::OeeService::new(queries.clone(), projection.subscribe(), shutdown.clone()),
                ),
            ))
            .await?
            .with_auth(auth.clone());
    grpc.watch(readiness.clone(), shutdown.clone()).await;
    let grpc_addr = grpc.addr;
    let mut tasks = JoinSet::new();
    if let Some(servers) = config.kafka.kafka_bootstrap_servers.clone() {
        let (pool, queries, topic) = (models.pool().clone(), queries.clone(), names.domain("oee"));
        let (revisions, shutdown) = (projection.subscribe(), shutdown.clone());
        let (partitions, replication) = (
            config.kafka.topic_partitions,
            config.kafka.topic_replication,
        );
        // The broker may be down at start: the publisher waits for it without holding up the
        // projection and the queries.
        tasks.spawn(async move {
            let started = mom_bus::start_when_reachable("oee publisher", &shutdown, || {
                publish::OeePublisher::start(
                    pool.clone(),
                    queries.clone(),
                    &servers,
                    topic.clone(),
                    partitions,
                    replication,
                )
            })
            .await;
            if let Some(publisher) = started {
                publisher.run(revisions, shutdown).await;
            }
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
        readiness,
        auth,
        tasks,
    })
}

/// Runs the OEE service until `shutdown`.
pub async fn serve(config: OeeConfig, shutdown: CancellationToken) -> Result<(), OeeError> {
    start(config, shutdown).await?.wait().await
}
