//! The parameter change-log read model (issue 21, docs/recipes.md): per work unit and per order,
//! every recipe download (one entry per parameter), reported value with its status, deviation
//! and setpoint override, with who and when, from `mom.production.v1`.

mod api;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::ParametersService;
pub use projection::{ParametersProjection, NAME};
pub use query::{ChangeFilter, ChangeRow, ParameterQueries};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["production"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> ParametersProjection {
    ParametersProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = ParameterQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::parameters_read_service_server::ParametersReadServiceServer::new(
            ParametersService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
