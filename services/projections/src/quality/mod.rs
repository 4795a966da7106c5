//! The quality read model: the NCR register with age and disposition, first-pass yield per
//! product and operation (and the rolled throughput yield of each product), CAPA status and
//! overdue actions, from `mom.quality.v1`.

mod api;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::QualityService;
pub use projection::{QualityProjection, NAME};
pub use query::{
    first_pass_yield, overdue_ms, rolled_yields, CapaFilter, CapaRow, NcrFilter, NcrRow,
    QualityQueries, YieldFilter, YieldRow,
};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["quality"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> QualityProjection {
    QualityProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = QualityQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::quality_read_service_server::QualityReadServiceServer::new(
            QualityService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
