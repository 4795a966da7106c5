//! The equipment read model: the current state of every work unit (running, stopped, setup,
//! down, starved, planned shutdown, unknown) with since and reason, its state timeline, and the downtime
//! log (stops, breakdowns, starvation) with reasons and durations; grouped by the ISA-95
//! hierarchy that maintenance registers.

pub mod api;
pub mod http;
mod projection;
pub mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use projection::{EquipmentProjection, NAME};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 3] = ["production", "maintenance", "inventory"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> EquipmentProjection {
    EquipmentProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    let queries = query::EquipmentQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::equipment_read_service_server::EquipmentReadServiceServer::new(
            api::EquipmentReadService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    Ok(())
}
