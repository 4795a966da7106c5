//! Hosting one service: its gRPC routes plus health and reflection, and the outbox relay.

use std::net::SocketAddr;

use mom_bus::{KafkaArgs, Relay, RelayConfig};
use mom_eventstore::{EventStore, StoreArgs};
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// A failure hosting a service.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The gRPC address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be set up from the descriptor set.
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The relay failed.
    #[error("outbox relay: {0}")]
    Bus(#[from] mom_bus::BusError),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
    /// The event store could not be opened.
    #[error("event store: {0}")]
    Store(#[from] mom_eventstore::StoreError),
}

/// What to host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Fully qualified gRPC service name, reported SERVING by the health service.
    pub service_name: &'static str,
    /// Address to listen on (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    /// Relay configuration, when a broker is configured.
    pub relay: Option<RelayConfig>,
}

/// A started service.
#[derive(Debug)]
pub struct Running {
    /// Address the gRPC server listens on.
    pub grpc_addr: SocketAddr,
    tasks: JoinSet<Result<(), HostError>>,
    store: EventStore,
}

impl Running {
    /// Returns the service's event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Waits until every task ended (after shutdown), then closes the store.
    pub async fn wait(mut self) -> Result<(), HostError> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined
                .map_err(|err| HostError::Task(err.to_string()))
                .and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %err, "service task failed");
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        self.store.close().await;
        result
    }
}

/// A bound gRPC server (routes plus health and reflection) that serves until shutdown.
#[derive(Debug)]
pub struct GrpcServer {
    /// Address the server listens on.
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    routes: Routes,
}

impl GrpcServer {
    /// Binds `addr` (port 0 picks a free one) for `routes`, with the health service reporting
    /// `service_name` SERVING and reflection over every file in `proto/`.
    pub async fn bind(
        service_name: &'static str,
        addr: SocketAddr,
        routes: Routes,
    ) -> Result<Self, HostError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| HostError::Bind { addr, source })?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(service_name, tonic_health::ServingStatus::Serving)
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(mom_proto::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let routes = routes.add_service(health_service).add_service(reflection);
        tracing::info!(service = service_name, %addr, "listening");
        Ok(Self {
            addr,
            listener,
            routes,
        })
    }

    /// Serves until `shutdown` is cancelled; in-flight requests finish.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), HostError> {
        // Small request/response pairs must not wait for Nagle's algorithm and delayed ACKs.
        let incoming = TcpListenerStream::new(self.listener).map(|stream| {
            stream.and_then(|stream| {
                stream.set_nodelay(true)?;
                Ok(stream)
            })
        });
        tonic::transport::Server::builder()
            .layer(crate::TraceLayer)
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}

/// Binds the gRPC server (with `routes`, health and reflection) and starts the relay when
/// configured. Everything stops when `shutdown` is cancelled: in-flight requests finish and the
/// relay finishes its round.
pub async fn start(
    config: HostConfig,
    store: EventStore,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let server = GrpcServer::bind(config.service_name, config.grpc_addr, routes).await?;
    let grpc_addr = server.addr;
    let mut tasks = JoinSet::new();
    if let Some(relay_config) = config.relay {
        let relay = Relay::start(store.clone(), relay_config).await?;
        let shutdown = shutdown.clone();
        tasks.spawn(async move { relay.run(shutdown).await.map_err(HostError::from) });
    }
    tasks.spawn(server.serve(shutdown));
    Ok(Running {
        grpc_addr,
        tasks,
        store,
    })
}

/// The settings every domain command service has: its domain (which names its topic), its gRPC
/// address, its event store and its broker.
#[derive(Debug, Clone, Copy)]
pub struct DomainConfig<'a> {
    /// The domain, such as `production`: its topic is the domain topic of that name.
    pub domain: &'static str,
    /// Fully qualified gRPC service name, reported SERVING by the health service.
    pub service_name: &'static str,
    /// Address to listen on (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    /// The event store.
    pub store: &'a StoreArgs,
    /// The broker, if any.
    pub kafka: &'a KafkaArgs,
}

/// Starts a domain command service: connects its event store (running the migrations), builds
/// its API with `routes` over the store and its topic's name, binds the gRPC server with health
/// and reflection and, when a broker is configured, starts the outbox relay to that topic.
/// Everything stops when `shutdown` is cancelled: in-flight requests finish, the relay finishes
/// its round.
pub async fn start_domain(
    config: DomainConfig<'_>,
    routes: impl FnOnce(EventStore, String) -> Routes,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let store = EventStore::connect(&config.store.database_url, &config.store.options()).await?;
    let topic = config.kafka.topic_names().domain(config.domain);
    let host = HostConfig {
        service_name: config.service_name,
        grpc_addr: config.grpc_addr,
        relay: config.kafka.relay_config(vec![topic.clone()]),
    };
    let routes = routes(store.clone(), topic);
    start(host, store, routes, shutdown).await
}
