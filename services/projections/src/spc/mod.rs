//! The SPC read model: control charts defined in quality, their points with control limits and
//! Nelson-rule flags, their rule violations and process capability, computed by the SPC engine
//! (`mom-spc`) from `mom.quality.v1` (chart definitions, limit events, inspection results,
//! recorded violations) and `mom.production.v1` (recorded process parameters).

mod api;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::SpcService;
pub use projection::{SpcProjection, NAME};
pub use query::{ChartFilter, ChartRow, PointRow, SpcQueries, ViolationFilter, ViolationRow};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 2] = ["quality", "production"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> SpcProjection {
    SpcProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = SpcQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::spc_read_service_server::SpcReadServiceServer::new(
            SpcService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
