//! Quality service: inspection plans per product and operation, inspections that judge
//! measured and pass/fail values against them and charge rejects to the equipment and time the
//! units were made, nonconformance reports (NCR) with containment and disposition, corrective /
//! preventive actions (CAPA), and statistical process control charts (definitions, limit changes
//! and the rule violations recorded on them). Commands arrive over gRPC, become events in the
//! event store and reach `mom.quality.v1` through the outbox relay.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic.

pub mod config;
pub mod contract;
pub mod domain;
mod encoder;
pub mod grpc;

use std::sync::Arc;

use mom_eventstore::{AggregateStore, EventStore, Executor, SqlEventRepository};
use mom_grpc::DomainConfig;
use mom_proto::quality::v1::quality_service_server::QualityServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use config::QualityConfig;
/// A failure starting or running the service.
pub use mom_grpc::HostError as ServiceError;
pub use mom_grpc::Running;

use crate::grpc::QualityApi;

use crate::domain::{Capa, ControlChart, Inspection, InspectionPlan, Nonconformance};

/// The quality application: one executor per aggregate over one event store.
#[derive(Debug)]
pub struct Application {
    /// Inspection plans.
    pub plans: Executor<InspectionPlan>,
    /// Inspections.
    pub inspections: Executor<Inspection>,
    /// Nonconformance reports.
    pub nonconformances: Executor<Nonconformance>,
    /// Corrective and preventive actions.
    pub capas: Executor<Capa>,
    /// Control charts.
    pub charts: Executor<ControlChart>,
    /// The event store behind all five.
    pub store: EventStore,
}

impl Application {
    /// Returns the application over `store`, publishing to the quality topic named by `topic`,
    /// with a snapshot every `snapshot_every` events.
    pub fn new(store: EventStore, topic: String, snapshot_every: usize) -> Self {
        let repo = SqlEventRepository::new(store.clone(), Arc::new(encoder::encoder(topic)));
        Self {
            plans: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            inspections: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            nonconformances: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            capas: Executor::new(AggregateStore::new(repo.clone(), snapshot_every), ()),
            charts: Executor::new(AggregateStore::new(repo, snapshot_every), ()),
            store,
        }
    }
}

/// Starts the service: connects the store (running its migrations), binds the gRPC server with
/// health and reflection and, when a broker is configured, starts the outbox relay. Everything
/// stops when `shutdown` is cancelled: in-flight requests finish, the relay finishes its round.
pub async fn start(
    config: QualityConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let snapshot_every = config.store.snapshot_every;
    let domain = DomainConfig {
        domain: "quality",
        service_name: <QualityServiceServer<QualityApi> as NamedService>::NAME,
        grpc_addr: config.grpc_addr,
        store: &config.store,
        kafka: &config.kafka,
        time_policy: config.time.policy(),
        security: &config.security,
    };
    let routes = |store, topic| {
        let app = Arc::new(Application::new(store, topic, snapshot_every));
        Routes::new(
            QualityServiceServer::new(QualityApi::new(app))
                .max_decoding_message_size(mom_grpc::MAX_REQUEST_BYTES),
        )
    };
    mom_grpc::start_domain(domain, routes, shutdown).await
}

/// Runs the service until `shutdown` is cancelled.
pub async fn serve(config: QualityConfig, shutdown: CancellationToken) -> Result<(), ServiceError> {
    start(config, shutdown).await?.wait().await
}
