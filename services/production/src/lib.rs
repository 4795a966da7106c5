//! Production service: production orders with their routings, work units (ISA-95
//! equipment) with their running / stopped / setup / unknown (disconnected) states, counts and
//! ideal cycle times, and master recipes bound to work units on `StartOperation`
//! (docs/recipes.md). Commands arrive over gRPC, become events in the event store and reach
//! `mom.production.v1` through the outbox relay.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic.

mod binding;
pub mod config;
pub mod contract;
mod counting;
pub mod domain;
mod encoder;
pub mod grpc;
mod reasons;

use std::sync::Arc;

use mom_eventstore::{AggregateStore, EventStore, Executor, SqlEventRepository};
use mom_grpc::DomainConfig;
use mom_proto::production::v1::production_service_server::ProductionServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use config::ProductionConfig;
/// A failure starting or running the service.
pub use mom_grpc::HostError as ServiceError;
pub use mom_grpc::Running;

use crate::grpc::ProductionApi;

use crate::domain::PlantCalendar;
use crate::domain::{ProductionOrder, ReasonCatalogue, Recipe, WorkUnit};

/// The production application: one executor per aggregate over one event store.
#[derive(Debug)]
pub struct Application {
    /// Production orders.
    pub orders: Executor<ProductionOrder>,
    /// Work units.
    pub work_units: Executor<WorkUnit>,
    /// Master recipes.
    pub recipes: Executor<Recipe>,
    /// Reason catalogues, one per site.
    pub reason_catalogues: Executor<ReasonCatalogue>,
    /// Plant calendars, one per scope.
    pub calendars: Executor<PlantCalendar>,
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
            work_units: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            recipes: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            reason_catalogues: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            calendars: Executor::new(AggregateStore::new(repo, snapshot_every), ()),
            store,
        }
    }
}

/// Starts the service: connects the store (running its migrations), binds the gRPC server with
/// health and reflection and, when a broker is configured, starts the outbox relay. Everything
/// stops when `shutdown` is cancelled: in-flight requests finish, the relay finishes its round.
pub async fn start(
    config: ProductionConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let snapshot_every = config.store.snapshot_every;
    let domain = DomainConfig {
        domain: "production",
        service_name: <ProductionServiceServer<ProductionApi> as NamedService>::NAME,
        grpc_addr: config.grpc_addr,
        store: &config.store,
        kafka: &config.kafka,
        time_policy: config.time.policy(),
        security: &config.security,
    };
    let routes = |store, topic| {
        let app = Arc::new(Application::new(store, topic, snapshot_every));
        Routes::new(
            ProductionServiceServer::new(ProductionApi::new(app))
                .max_decoding_message_size(mom_grpc::MAX_REQUEST_BYTES),
        )
    };
    mom_grpc::start_domain(domain, routes, shutdown).await
}

/// Runs the service until `shutdown` is cancelled.
pub async fn serve(
    config: ProductionConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    start(config, shutdown).await?.wait().await
}
