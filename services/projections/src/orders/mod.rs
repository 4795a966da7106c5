//! The production-order read model: status (with the hold apart), progress per operation, work
//! in progress by operation and work unit, and lead time (release to completion) of every
//! production order, from `mom.production.v1`.

mod api;
pub mod dispatch;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::OrdersService;
pub use projection::{operation_progress, order_progress, OrdersProjection, NAME};
pub use query::{OperationRow, OrderFilter, OrderQueries, OrderRow, WipRow, STATUSES};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["production"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> OrdersProjection {
    OrdersProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = OrderQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::orders_read_service_server::OrdersReadServiceServer::new(
            OrdersService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
