//! The read models that dashboards and other services query, each a projection (subscription,
//! handler, tables) fed by the runner of `mom-projection`, with its checkpoint in the same
//! transaction as its tables:
//!
//! - [`equipment`]: current state of every work unit, state timeline, downtime log;
//! - [`maintenance`]: work-order backlog, PM compliance, MTBF and MTTR;
//! - [`orders`]: production orders' status, progress per operation, WIP, lead time, and
//!   [`orders::dispatch`], the dispatch list per work center;
//! - [`inventory`]: lots by location, holds, expiring lots, genealogy;
//! - [`quality`]: NCR register, first-pass yield, CAPA status and overdue actions;
//! - [`recipes`]: the process-parameter change log of every order and work unit;
//! - [`spc`]: control charts' points, limits and rule flags, violations and capability.
//!
//! Each read model answers gRPC (`mom.projections.v1`) and the same queries as JSON over HTTP;
//! `/api/projections/watch` pushes an event named after a read model whenever it committed a
//! change. A read model is added by one module with an `install` and a `rebuild`, listed in
//! [`READ_MODELS`], [`install_all`] and [`rebuild`].
//!
//! The service starts before its database: its gRPC address answers health NOT_SERVING while
//! the read-model database is connected with backoff; afterwards health (and `/readyz`) says
//! SERVING while the database answers and no projection reports a problem (a stalled consumer,
//! see `mom_projection::status`).
//!
//! Invariant: no service code; it reads the topic contract only.

pub mod config;
pub mod equipment;
mod events;
pub mod feed;
pub mod http;
pub mod inventory;
pub mod maintenance;
pub mod orders;
pub mod quality;
pub mod query;
pub mod recipes;
mod sequence;
pub mod spc;
mod tx_state;

use std::net::SocketAddr;
use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::{Projection, ProjectionError, ReadModels, Source};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::ProjectionsConfig;

/// The read models, by name (checkpoint key, `mom projections rebuild` name, SSE event name).
pub const READ_MODELS: [&str; 8] = [
    equipment::NAME,
    maintenance::NAME,
    orders::NAME,
    inventory::NAME,
    quality::NAME,
    recipes::NAME,
    spc::NAME,
    orders::dispatch::NAME,
];

/// The gRPC service name health reports.
pub const SERVICE_NAME: &str = "mom.projections.v1.EquipmentReadService";

/// Why the read-model service stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionsError {
    /// A projection failed.
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
    /// No read model has this name.
    #[error("unknown read model {0:?}: known are {known}", known = READ_MODELS.join(", "))]
    UnknownReadModel(String),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
    /// Shutdown was asked for before the read-model database answered.
    #[error("stopped before the read-model database answered")]
    Stopped,
}

/// What a read model needs to start: its database, its source and the topic names.
#[derive(Debug, Clone)]
pub struct Context {
    /// The read-model database.
    pub models: ReadModels,
    /// Where messages come from.
    pub source: Source,
    /// The topic names (prefix applied).
    pub topics: TopicNames,
    /// Stops the runners and the live feed.
    pub shutdown: CancellationToken,
}

impl Context {
    /// The topics of `domains`.
    pub fn topics_of(&self, domains: &[&str]) -> Vec<String> {
        domains.iter().map(|d| self.topics.domain(d)).collect()
    }
}

/// What the installed read models add to the service: gRPC services, HTTP routes, live feeds
/// and projection runners.
#[derive(Debug)]
pub struct Parts {
    /// gRPC services.
    pub grpc: tonic::service::RoutesBuilder,
    /// HTTP routes, with their OpenAPI paths.
    pub router: mom_openapi::ApiRouter,
    /// Revisions of every read model, for the live feed.
    pub feeds: Vec<feed::Feed>,
    /// The projections' runners.
    pub runners: JoinSet<Result<(), ProjectionsError>>,
}

impl Parts {
    /// Adds the HTTP routes of the read model whose queries are `queries`.
    pub fn mount<Q: http::QueryRoutes>(&mut self, queries: Q) {
        self.router = std::mem::take(&mut self.router).merge(http::api_router(queries));
    }

    /// Creates the read model's tables and starts feeding `projection` from the context's
    /// source until shutdown; a failing runner stops the whole service (stale answers are worse
    /// than none).
    pub async fn run<P: Projection>(
        &mut self,
        context: &Context,
        projection: Arc<P>,
    ) -> Result<(), ProjectionError> {
        context.models.migrate(projection.as_ref()).await?;
        let (models, source, shutdown) = (
            context.models.clone(),
            context.source.clone(),
            context.shutdown.clone(),
        );
        self.runners.spawn(async move {
            tracing::info!(projection = projection.name(), "projection running");
            let result =
                mom_projection::run(projection.as_ref(), &models, &source, shutdown.clone()).await;
            if result.is_err() {
                shutdown.cancel();
            }
            result.map_err(ProjectionsError::from)
        });
        Ok(())
    }
}

/// Installs every read model: tables, runners, gRPC services, HTTP routes and feeds.
pub async fn install_all(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    equipment::install(parts, context).await?;
    maintenance::install(parts, context).await?;
    orders::install(parts, context).await?;
    inventory::install(parts, context).await?;
    quality::install(parts, context).await?;
    recipes::install(parts, context).await?;
    spc::install(parts, context).await?;
    orders::dispatch::install(parts, context).await?;
    Ok(())
}

/// Rebuilds the read model `name` in `database_url` from the event stores' logs (`name=url`):
/// empties its tables and checkpoint, then replays every log up to its head, calling `progress`
/// after each page. Returns the number of log entries read. The service must not be running
/// against the same database meanwhile.
pub async fn rebuild(
    name: &str,
    database_url: &str,
    log_sources: &[String],
    topic_prefix: &str,
    progress: impl FnMut(mom_projection::Progress),
) -> Result<u64, ProjectionsError> {
    let models = ReadModels::connect(database_url).await?;
    let sources = mom_projection::rebuild_sources(log_sources).await?;
    let topics = TopicNames::new(topic_prefix);
    let read = match name {
        equipment::NAME => {
            let projection = equipment::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        maintenance::NAME => {
            let projection = maintenance::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        orders::NAME => {
            let projection = orders::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        inventory::NAME => {
            let projection = inventory::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        quality::NAME => {
            let projection = quality::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        recipes::NAME => {
            let projection = recipes::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        spc::NAME => {
            let projection = spc::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        orders::dispatch::NAME => {
            let projection = orders::dispatch::projection(&topics);
            mom_projection::rebuild(&projection, &models, &sources, progress).await?
        }
        other => return Err(ProjectionsError::UnknownReadModel(other.to_owned())),
    };
    Ok(read)
}

/// Returns the OpenAPI document of every read model's HTTP routes and the live feed, as
/// [`start`] registers them (`GET /healthz` and `/readyz` are added by whoever serves them).
pub fn openapi() -> mom_openapi::utoipa::openapi::OpenApi {
    use http::QueryRoutes;
    mom_openapi::document(
        "MOM read models",
        [
            equipment::query::EquipmentQueries::routes().into_openapi(),
            maintenance::query::MaintenanceQueries::routes().into_openapi(),
            orders::OrderQueries::routes().into_openapi(),
            inventory::InventoryQueries::routes().into_openapi(),
            quality::QualityQueries::routes().into_openapi(),
            recipes::ParameterQueries::routes().into_openapi(),
            spc::SpcQueries::routes().into_openapi(),
            orders::dispatch::DispatchQueries::routes().into_openapi(),
            http::watch_routes().into_openapi(),
        ],
    )
}

/// Whether `start` serves HTTP itself or hands its routes to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMode {
    /// Bind `http_addr` and serve the routes there.
    Serve,
    /// Bind nothing: the caller mounts [`Running::router`] on its own server (`mom dev`).
    Mount,
}

/// A started read-model service.
#[derive(Debug)]
pub struct Running {
    /// Address of the gRPC API.
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP API (None in [`HttpMode::Mount`]).
    pub http_addr: Option<SocketAddr>,
    /// The HTTP routes, to mount on another server ([`HttpMode::Mount`]; None otherwise).
    pub router: Option<axum::Router>,
    /// The OpenAPI document of [`Running::router`] ([`HttpMode::Mount`]; None otherwise).
    pub openapi: Option<mom_openapi::utoipa::openapi::OpenApi>,
    tasks: JoinSet<Result<(), ProjectionsError>>,
}

impl Running {
    /// Waits until every task ended (after shutdown); the first failure is returned.
    pub async fn wait(mut self) -> Result<(), ProjectionsError> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined
                .map_err(|err| ProjectionsError::Task(err.to_string()))
                .and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %err, "projections task failed");
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        result
    }
}

/// Starts every read model's projection (from Kafka when a broker is configured, else from the
/// configured event-store logs) and the gRPC and HTTP query APIs. Everything stops when
/// `shutdown` is cancelled.
pub async fn start(
    config: ProjectionsConfig,
    http_mode: HttpMode,
    shutdown: CancellationToken,
) -> Result<Running, ProjectionsError> {
    let auth = mom_auth::Authenticator::from_args(&config.security.auth)
        .await
        .map_err(mom_grpc::HostError::from)?;
    let starting =
        mom_grpc::GrpcServer::listen_tls(SERVICE_NAME, config.grpc_addr, &config.security.tls)
            .await?;
    // Both ports are bound before anything waits (a taken port fails the start at once), and
    // the HTTP API accepts from the moment health can say SERVING: a probe of `/readyz` right
    // after it must not find the port closed.
    let listener = match http_mode {
        HttpMode::Mount => None,
        HttpMode::Serve => Some(bind_http(&config).await?),
    };
    let models = ReadModels::connect_retrying(&config.database_url, &shutdown)
        .await?
        .ok_or(ProjectionsError::Stopped)?;
    let readiness = mom_grpc::Readiness::read_side(&models, &READ_MODELS);
    let source = Source::open(
        config.kafka.kafka_bootstrap_servers.as_deref(),
        &config.log_sources,
    )
    .await?;
    let context = Context {
        models,
        source,
        topics: config.kafka.topic_names(),
        shutdown: shutdown.clone(),
    };
    let mut parts = Parts {
        grpc: tonic::service::Routes::builder(),
        router: mom_openapi::ApiRouter::new(),
        feeds: Vec::new(),
        runners: JoinSet::new(),
    };
    install_all(&mut parts, &context).await?;
    let Parts {
        grpc,
        router,
        feeds,
        runners: mut tasks,
    } = parts;
    let (router, openapi) = router
        .merge(http::watch_router(feeds, shutdown.clone()))
        .split_for_parts();
    let grpc = starting
        .with_routes(grpc.routes())
        .await?
        .with_auth(auth.clone());
    grpc.watch(readiness.clone(), shutdown.clone()).await;
    let grpc_addr = grpc.addr;
    let (http_addr, router) = match listener {
        None => (None, Some((router, openapi))),
        Some((listener, addr)) => {
            let (probes, probes_api) = mom_openapi::health()
                .merge({
                    let readiness = readiness.clone();
                    mom_openapi::readiness(move || readiness.http_answer())
                })
                .split_for_parts();
            let openapi = mom_openapi::document("MOM read models", [openapi, probes_api]);
            let router = router.merge(probes).merge(mom_openapi::router(openapi));
            let auth = auth.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                // Handlers find the connection (and its client certificate) with
                // mom_tls::peer_info.
                let service = mom_grpc::harden(router, &auth)
                    .into_make_service_with_connect_info::<mom_tls::PeerInfo>();
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
                    .map_err(|source| ProjectionsError::Http { addr, source })
            });
            (Some(addr), None)
        }
    };
    tasks.spawn({
        let shutdown = shutdown.clone();
        async move { grpc.serve(shutdown).await.map_err(ProjectionsError::from) }
    });
    Ok(Running {
        grpc_addr,
        http_addr,
        router: router.as_ref().map(|(router, _)| router.clone()),
        openapi: router.map(|(_, openapi)| openapi),
        tasks,
    })
}

/// Binds the HTTP API's address (`config.http_addr`, with TLS when configured).
async fn bind_http(
    config: &ProjectionsConfig,
) -> Result<(mom_tls::Listener, SocketAddr), ProjectionsError> {
    let addr = config.http_addr;
    let tls = mom_tls::ServerTls::from_args(&config.security.tls, mom_tls::Protocol::Http1)
        .await
        .map_err(mom_grpc::HostError::from)?;
    let listener = mom_tls::Listener::bind(addr, tls)
        .await
        .map_err(|source| ProjectionsError::Http { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ProjectionsError::Http { addr, source })?;
    tracing::info!(%addr, "projections http api listening");
    Ok((listener, addr))
}

/// Runs the read-model service until `shutdown`.
pub async fn serve(
    config: ProjectionsConfig,
    shutdown: CancellationToken,
) -> Result<(), ProjectionsError> {
    start(config, HttpMode::Serve, shutdown).await?.wait().await
}
