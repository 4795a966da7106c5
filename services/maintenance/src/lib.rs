//! Maintenance service: the asset registry (ISA-95 hierarchy with move and retire, usage meters
//! and preventive maintenance plans by calendar or usage) and work orders (corrective from a
//! breakdown report, preventive by hand or from a due plan). Commands arrive over gRPC, become
//! events in the event store and reach `mom.maintenance.v1` through the outbox relay; the
//! breakdown and planned-window events carry what the OEE projection charges.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic. Work units are
//! named by the ids production uses, never looked up in production.

pub mod config;
pub mod contract;
pub mod domain;
mod encoder;
pub mod grpc;

use std::sync::Arc;

use mom_eventstore::{AggregateStore, EventStore, Executor, SqlEventRepository};
use mom_grpc::DomainConfig;
use mom_proto::maintenance::v1::maintenance_service_server::MaintenanceServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use config::MaintenanceConfig;
/// A failure starting or running the service.
pub use mom_grpc::HostError as ServiceError;
pub use mom_grpc::Running;

use crate::domain::{Asset, WorkOrder};
use crate::grpc::MaintenanceApi;

/// The maintenance application: one executor per aggregate over one event store.
#[derive(Debug)]
pub struct Application {
    /// Assets (the equipment hierarchy, usage meters and plans).
    pub assets: Executor<Asset>,
    /// Work orders.
    pub work_orders: Executor<WorkOrder>,
    /// The event store behind both.
    pub store: EventStore,
}

impl Application {
    /// Returns the application over `store`, publishing to the maintenance topic named by
    /// `topic`, with a snapshot every `snapshot_every` events.
    pub fn new(store: EventStore, topic: String, snapshot_every: usize) -> Self {
        let repo = SqlEventRepository::new(store.clone(), Arc::new(encoder::encoder(topic)));
        Self {
            assets: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            work_orders: Executor::new(AggregateStore::new(repo, snapshot_every), ()),
            store,
        }
    }
}

/// Starts the service: connects the store (running its migrations), binds the gRPC server and,
/// when a broker is configured, starts the outbox relay. Everything stops when `shutdown` is
/// cancelled: in-flight requests finish, the relay finishes its round.
pub async fn start(
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let snapshot_every = config.store.snapshot_every;
    let domain = DomainConfig {
        domain: "maintenance",
        service_name: <MaintenanceServiceServer<MaintenanceApi> as NamedService>::NAME,
        grpc_addr: config.grpc_addr,
        store: &config.store,
        kafka: &config.kafka,
        time_policy: config.time.policy(),
        security: &config.security,
    };
    let routes = |store, topic| {
        let app = Arc::new(Application::new(store, topic, snapshot_every));
        Routes::new(
            MaintenanceServiceServer::new(MaintenanceApi::new(app))
                .max_decoding_message_size(mom_grpc::MAX_REQUEST_BYTES),
        )
    };
    mom_grpc::start_domain(domain, routes, shutdown).await
}

/// Runs the service until `shutdown` is cancelled.
pub async fn serve(
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    start(config, shutdown).await?.wait().await
}
