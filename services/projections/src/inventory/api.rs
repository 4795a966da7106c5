//! The inventory query API over gRPC (`mom.projections.v1.InventoryReadService`), over
//! [`InventoryQueries`] like the HTTP API.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::genealogy::{Direction, Link};
use super::query::{
    depth, window, ExpiringRow, HoldRow, InventoryQueries, NodeRow, StockFilter, StockRow,
};
use crate::query::{as_of_proto, timestamp, Page, QueryError};

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn stock_proto(row: &StockRow) -> pb::LotStock {
    pb::LotStock {
        lot: row.lot.clone(),
        material: row.material.clone(),
        location: row.location.clone(),
        quantity: unsigned(row.quantity),
        status: row.status.clone(),
        expiry: row.expiry_ms.map(timestamp),
        order_id: row.order_id.clone(),
        supplier_lot: row.supplier_lot.clone(),
    }
}

fn hold_proto(row: &HoldRow) -> pb::LotHold {
    pb::LotHold {
        lot: row.lot.clone(),
        material: row.material.clone(),
        hold: row.hold.clone(),
        reason: row.reason.clone(),
        since: Some(timestamp(row.since_ms)),
        quantity: unsigned(row.quantity),
    }
}

fn expiring_proto(row: &ExpiringRow, as_of: DateTime<Utc>) -> pb::ExpiringLot {
    pb::ExpiringLot {
        lot: row.lot.clone(),
        material: row.material.clone(),
        expiry: Some(timestamp(row.expiry_ms)),
        quantity: unsigned(row.quantity),
        expired: row.expiry_ms <= as_of.timestamp_millis(),
        status: row.status.clone(),
    }
}

fn link_proto(link: &Link) -> pb::LotLink {
    pb::LotLink {
        input_lot: link.edge.input_lot.clone(),
        output_lot: link.edge.output_lot.clone(),
        order_id: link.edge.order_id.clone(),
        depth: link.depth,
    }
}

fn node_proto(row: &NodeRow) -> pb::GenealogyLot {
    pb::GenealogyLot {
        lot: row.lot.clone(),
        material: row.material.clone(),
        quantity: unsigned(row.quantity),
        held: row.held != 0,
    }
}

fn direction_proto(value: i32) -> Result<Direction, QueryError> {
    match pb::GenealogyDirection::try_from(value) {
        Ok(pb::GenealogyDirection::Backward) => Ok(Direction::Backward),
        Ok(pb::GenealogyDirection::Forward) => Ok(Direction::Forward),
        Ok(pb::GenealogyDirection::Unspecified) => Err(QueryError::invalid(
            "direction",
            "direction is required: backward or forward",
        )),
        Err(_) => Err(QueryError::invalid(
            "direction",
            format!("direction {value} is not backward or forward"),
        )),
    }
}

fn proto_direction(direction: Direction) -> pb::GenealogyDirection {
    match direction {
        Direction::Backward => pb::GenealogyDirection::Backward,
        Direction::Forward => pb::GenealogyDirection::Forward,
    }
}

fn within_proto(within: Option<&prost_types::Duration>) -> Result<Duration, QueryError> {
    let within = within
        .ok_or_else(|| QueryError::invalid("within", "within is required: a positive duration"))?;
    let (Ok(seconds), Ok(nanos)) = (u64::try_from(within.seconds), u32::try_from(within.nanos))
    else {
        return Err(QueryError::invalid(
            "within",
            "within must be a positive duration",
        ));
    };
    window(Duration::new(seconds, nanos), "within")
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct InventoryService {
    queries: InventoryQueries,
}

impl InventoryService {
    /// Returns the service over `queries`.
    pub fn new(queries: InventoryQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::inventory_read_service_server::InventoryReadService for InventoryService {
    async fn list_lots(
        &self,
        request: Request<pb::ListLotsRequest>,
    ) -> Result<Response<pb::ListLotsResponse>, Status> {
        let request = request.into_inner();
        let filter = StockFilter::new(&request.location, &request.material, &request.status)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.lots(&filter, page).await?;
        Ok(Response::new(pb::ListLotsResponse {
            lots: rows.iter().map(stock_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_holds(
        &self,
        request: Request<pb::ListHoldsRequest>,
    ) -> Result<Response<pb::ListHoldsResponse>, Status> {
        let request = request.into_inner();
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self
            .queries
            .holds(&request.material, &request.lot, page)
            .await?;
        Ok(Response::new(pb::ListHoldsResponse {
            holds: rows.iter().map(hold_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_expiring_lots(
        &self,
        request: Request<pb::ListExpiringLotsRequest>,
    ) -> Result<Response<pb::ListExpiringLotsResponse>, Status> {
        let request = request.into_inner();
        let within = within_proto(request.within.as_ref())?;
        let as_of = as_of_proto(request.as_of.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self
            .queries
            .expiring(as_of, within, &request.material, &request.location, page)
            .await?;
        Ok(Response::new(pb::ListExpiringLotsResponse {
            lots: rows.iter().map(|row| expiring_proto(row, as_of)).collect(),
            next_page_token,
        }))
    }

    async fn get_lot_genealogy(
        &self,
        request: Request<pb::GetLotGenealogyRequest>,
    ) -> Result<Response<pb::LotGenealogy>, Status> {
        let request = request.into_inner();
        let direction = direction_proto(request.direction)?;
        let max_depth = depth(request.depth)?;
        let (links, lots, truncated) = self
            .queries
            .genealogy(&request.lot, direction, max_depth)
            .await?;
        Ok(Response::new(pb::LotGenealogy {
            lot: request.lot,
            direction: proto_direction(direction).into(),
            links: links.iter().map(link_proto).collect(),
            lots: lots.iter().map(node_proto).collect(),
            truncated,
        }))
    }
}
