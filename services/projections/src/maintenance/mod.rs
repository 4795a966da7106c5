//! The maintenance read model: the work-order backlog (type, priority, age, status), PM
//! compliance per plan (done on time, late, missed) and MTBF / MTTR per work unit and failure
//! mode.

pub mod api;
pub mod http;
mod projection;
pub mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use projection::{pm_status, MaintenanceProjection, ALL_MODES, NAME};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["maintenance"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> MaintenanceProjection {
    MaintenanceProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    let queries = query::MaintenanceQueries::new(context.models.pool().clone());
    parts
        .grpc
        .add_service(mom_proto::projections::v1::maintenance_read_service_server::MaintenanceReadServiceServer::new(
            api::MaintenanceReadService::new(queries.clone()),
        ));
    parts.mount(queries);
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    Ok(())
}
