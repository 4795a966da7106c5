//! Inventory service: materials, locations and lots with their quantities per location, moves,
//! consumption by production orders, output lots with their genealogy (walked backward and
//! forward through many levels), holds, and material starvation of work units. Commands arrive
//! over gRPC, become events in the event store and reach `mom.inventory.v1` through the outbox
//! relay.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic. Work unit and
//! production order ids are taken as given: production owns them.

pub mod config;
pub mod contract;
pub mod domain;
mod encoder;
pub mod genealogy;
pub mod grpc;

use std::sync::Arc;

use cqrs_es::Aggregate;
use mom_eventstore::{AggregateStore, EventStore, Executor, SqlEventRepository};
use mom_grpc::DomainConfig;
use mom_proto::inventory::v1::inventory_service_server::InventoryServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use config::InventoryConfig;
/// A failure starting or running the service.
pub use mom_grpc::HostError as ServiceError;
pub use mom_grpc::Running;

use crate::domain::{Location, Lot, Material, OrderLots, WorkUnitSupply};
use crate::grpc::InventoryApi;

/// The inventory application: one executor per aggregate over one event store.
#[derive(Debug)]
pub struct Application {
    /// Material definitions.
    pub materials: Executor<Material>,
    /// Storage locations.
    pub locations: Executor<Location>,
    /// Lots.
    pub lots: Executor<Lot>,
    /// The genealogy of each production order.
    pub order_lots: Executor<OrderLots>,
    /// The material starvation of each work unit.
    pub supplies: Executor<WorkUnitSupply>,
    /// The event store behind them.
    pub store: EventStore,
}

impl Application {
    /// Returns the application over `store`, publishing to the inventory topic named by
    /// `topic`, with a snapshot every `snapshot_every` events.
    pub fn new(store: EventStore, topic: String, snapshot_every: usize) -> Self {
        let repo = SqlEventRepository::new(store.clone(), Arc::new(encoder::encoder(topic)));
        Self {
            materials: executor(&repo, snapshot_every),
            locations: executor(&repo, snapshot_every),
            lots: executor(&repo, snapshot_every),
            order_lots: executor(&repo, snapshot_every),
            supplies: executor(&repo, snapshot_every),
            store,
        }
    }
}

/// Returns the executor of one aggregate type over `repo`.
fn executor<A>(repo: &SqlEventRepository, snapshot_every: usize) -> Executor<A>
where
    A: Aggregate<Services = ()> + Clone,
    A::Command: Clone,
{
    Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ())
}

/// Starts the service: connects the store (running its migrations), binds the gRPC server with
/// health and reflection and, when a broker is configured, starts the outbox relay. Everything
/// stops when `shutdown` is cancelled: in-flight requests finish, the relay finishes its round.
pub async fn start(
    config: InventoryConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let snapshot_every = config.store.snapshot_every;
    let domain = DomainConfig {
        domain: "inventory",
        service_name: <InventoryServiceServer<InventoryApi> as NamedService>::NAME,
        grpc_addr: config.grpc_addr,
        store: &config.store,
        kafka: &config.kafka,
        time_policy: config.time.policy(),
        security: &config.security,
    };
    let routes = |store, topic| {
        let app = Arc::new(Application::new(store, topic, snapshot_every));
        Routes::new(
            InventoryServiceServer::new(InventoryApi::new(app))
                .max_decoding_message_size(mom_grpc::MAX_REQUEST_BYTES),
        )
    };
    mom_grpc::start_domain(domain, routes, shutdown).await
}

/// Runs the service until `shutdown` is cancelled.
pub async fn serve(
    config: InventoryConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    start(config, shutdown).await?.wait().await
}
