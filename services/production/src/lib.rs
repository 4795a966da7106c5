//! Production service: production orders with their routings, and work units (ISA-95
//! equipment) with their running / stopped / setup states, counts and ideal cycle times. Commands
//! arrive over gRPC, become events in the event store and reach `mom.production.v1` through the
//! outbox relay.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic.

pub mod config;
pub mod contract;
pub mod domain;
mod encoder;
mod error;
pub mod grpc;

use std::net::SocketAddr;
use std::sync::Arc;

use mom_bus::Relay;
use mom_eventstore::{AggregateStore, EventStore, Executor, SqlEventRepository};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::ProductionConfig;
pub use error::ServiceError;

use crate::domain::{ProductionOrder, WorkUnit};

/// The production application: one executor per aggregate over one event store.
#[derive(Debug)]
pub struct Application {
    /// Production orders.
    pub orders: Executor<ProductionOrder>,
    /// Work units.
    pub work_units: Executor<WorkUnit>,
    /// The event store behind both.
    pub store: EventStore,
}

impl Application {
    /// Returns the application over `store`, publishing to the production topic named by
    /// `topic`, with a snapshot every `snapshot_every` events.
    pub fn new(store: EventStore, topic: String, snapshot_every: usize) -> Self {
        let repo = SqlEventRepository::new(store.clone(), Arc::new(encoder::encoder(topic)));
        Self {
            orders: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            work_units: Executor::new(AggregateStore::new(repo, snapshot_every), ()),
            store,
        }
    }
}

/// A started production service.
#[derive(Debug)]
pub struct Running {
    /// Address the gRPC server listens on (useful when configured with port 0).
    pub grpc_addr: SocketAddr,
    tasks: JoinSet<Result<(), ServiceError>>,
    store: EventStore,
}

impl Running {
    /// Returns the service's event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Waits until every task of the service ended (after shutdown), then closes the store.
    pub async fn wait(mut self) -> Result<(), ServiceError> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined
                .map_err(|err| ServiceError::Task(err.to_string()))
                .and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %err, "production service task failed");
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        self.store.close().await;
        result
    }
}

/// Starts the service: connects the store (running its migrations), binds the gRPC server and,
/// when a broker is configured, starts the outbox relay. Everything stops when `shutdown` is
/// cancelled: in-flight requests finish, the relay finishes its round.
pub async fn start(
    config: ProductionConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let store = EventStore::connect(&config.store.database_url, &config.store.options()).await?;
    let topic = config.kafka.topic_names().domain("production");
    let app = Arc::new(Application::new(
        store.clone(),
        topic.clone(),
        config.store.snapshot_every,
    ));
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| ServiceError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let grpc_addr = listener.local_addr().map_err(|source| ServiceError::Bind {
        addr: config.grpc_addr,
        source,
    })?;
    let mut tasks = JoinSet::new();
    if let Some(relay_config) = config.kafka.relay_config(vec![topic]) {
        let relay = Relay::start(store.clone(), relay_config).await?;
        let shutdown = shutdown.clone();
        tasks.spawn(async move { relay.run(shutdown).await.map_err(ServiceError::from) });
    }
    tasks.spawn(grpc::serve(app, listener, shutdown));
    tracing::info!(addr = %grpc_addr, "production service listening");
    Ok(Running {
        grpc_addr,
        tasks,
        store,
    })
}

/// Runs the service until `shutdown` is cancelled.
pub async fn serve(
    config: ProductionConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    start(config, shutdown).await?.wait().await
}
