//! The dispatch list read model (docs/dispatching.md): per work center, the operations not done
//! yet of released orders with their priority, due date, queue position, eligible work units,
//! dispatched and running work unit, from `mom.production.v1`. A work center is the ISA-95
//! parent of a work unit, which is the work unit id without its last `.` segment (the same rule
//! as the production domain's; the read model knows only the topic contract).

mod api;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::DispatchService;
pub use projection::{work_center, DispatchProjection, NAME};
pub use query::{DispatchQueries, DispatchRow};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["production"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> DispatchProjection {
    DispatchProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = DispatchQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::dispatch_read_service_server::DispatchReadServiceServer::new(
            DispatchService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
