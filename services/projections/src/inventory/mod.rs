//! The inventory read model: stock of every lot by location with its quantity, active holds,
//! expiring lots, and the genealogy graph (backward and forward through many levels), from
//! `mom.inventory.v1`.

mod api;
mod genealogy;
pub(crate) mod http;
mod projection;
mod query;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::ProjectionError;

pub use api::InventoryService;
pub use genealogy::{Direction, Edge, Link, MAX_DEPTH, MAX_LINKS, MAX_LOTS};
pub use projection::{InventoryProjection, NAME};
pub use query::{
    parse_within, ExpiringRow, HoldRow, InventoryQueries, NodeRow, StockFilter, StockRow,
};

use crate::{Context, Parts};

/// The domains whose topics feed the read model.
pub const DOMAINS: [&str; 1] = ["inventory"];

/// Returns the projection over the topics of [`DOMAINS`].
pub fn projection(topics: &TopicNames) -> InventoryProjection {
    InventoryProjection::new(DOMAINS.iter().map(|d| topics.domain(d)).collect())
}

/// Installs the read model: tables, runner, APIs and feed.
pub async fn install(parts: &mut Parts, context: &Context) -> Result<(), ProjectionError> {
    let projection = Arc::new(projection(&context.topics));
    parts.feeds.push((NAME, projection.changes().subscribe()));
    parts.run(context, projection).await?;
    let queries = InventoryQueries::new(context.models.pool().clone());
    parts.grpc.add_service(
        mom_proto::projections::v1::inventory_read_service_server::InventoryReadServiceServer::new(
            InventoryService::new(queries.clone()),
        ),
    );
    parts.mount(queries);
    Ok(())
}
