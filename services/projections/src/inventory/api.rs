//! The inventory query API: gRPC (`mom.projections.v1.InventoryReadService`) and the same as
//! JSON over HTTP, both over [`InventoryQueries`].
//!
//! - `GET /api/inventory/lots?location=&material=&status=available|held&page_size=&page_token=`
//! - `GET /api/inventory/holds?material=&lot=&page_size=&page_token=`
//! - `GET /api/inventory/expiring?within=7d&as_of=&material=&location=&page_size=&page_token=`
//! - `GET /api/inventory/genealogy/{lot}?direction=backward|forward&depth=1..64`

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use mom_proto::projections::v1 as pb;
use serde_json::{json, Value};
use tonic::{Request, Response as GrpcResponse, Status};

use super::genealogy::{Direction, Link};
use super::query::{
    depth, parse_within, window, ExpiringRow, HoldRow, InventoryQueries, NodeRow, StockFilter,
    StockRow,
};
use crate::http::{params, respond, Params};
use crate::query::{rfc3339, timestamp, Page, QueryError};

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

fn stock_json(row: &StockRow) -> Value {
    json!({
        "lot": row.lot,
        "material": row.material,
        "location": row.location,
        "quantity": row.quantity,
        "status": row.status,
        "expiry": row.expiry_ms.map(rfc3339),
        "order_id": row.order_id,
        "supplier_lot": row.supplier_lot,
    })
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

fn hold_json(row: &HoldRow) -> Value {
    json!({
        "lot": row.lot,
        "material": row.material,
        "hold": row.hold,
        "reason": row.reason,
        "since": rfc3339(row.since_ms),
        "quantity": row.quantity,
    })
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

fn expiring_json(row: &ExpiringRow, as_of: DateTime<Utc>) -> Value {
    json!({
        "lot": row.lot,
        "material": row.material,
        "expiry": rfc3339(row.expiry_ms),
        "quantity": row.quantity,
        "expired": row.expiry_ms <= as_of.timestamp_millis(),
        "status": row.status,
    })
}

fn link_proto(link: &Link) -> pb::LotLink {
    pb::LotLink {
        input_lot: link.edge.input_lot.clone(),
        output_lot: link.edge.output_lot.clone(),
        order_id: link.edge.order_id.clone(),
        depth: link.depth,
    }
}

fn link_json(link: &Link) -> Value {
    json!({
        "input_lot": link.edge.input_lot,
        "output_lot": link.edge.output_lot,
        "order_id": link.edge.order_id,
        "depth": link.depth,
    })
}

fn node_proto(row: &NodeRow) -> pb::GenealogyLot {
    pb::GenealogyLot {
        lot: row.lot.clone(),
        material: row.material.clone(),
        quantity: unsigned(row.quantity),
        held: row.held != 0,
    }
}

fn node_json(row: &NodeRow) -> Value {
    json!({
        "lot": row.lot,
        "material": row.material,
        "quantity": row.quantity,
        "held": row.held != 0,
    })
}

fn direction_proto(value: i32) -> Result<Direction, QueryError> {
    match pb::GenealogyDirection::try_from(value) {
        Ok(pb::GenealogyDirection::Backward) => Ok(Direction::Backward),
        Ok(pb::GenealogyDirection::Forward) => Ok(Direction::Forward),
        Ok(pb::GenealogyDirection::Unspecified) => Err(QueryError::InvalidArgument(
            "direction is required: backward or forward".into(),
        )),
        Err(_) => Err(QueryError::InvalidArgument(format!(
            "direction {value} is not backward or forward"
        ))),
    }
}

fn proto_direction(direction: Direction) -> pb::GenealogyDirection {
    match direction {
        Direction::Backward => pb::GenealogyDirection::Backward,
        Direction::Forward => pb::GenealogyDirection::Forward,
    }
}

fn as_of_proto(ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, QueryError> {
    match ts {
        None => Ok(mom_clock::now()),
        Some(ts) => mom_proto::time::from_timestamp(Some(ts), "as_of")
            .map_err(|err| QueryError::InvalidArgument(err.to_string())),
    }
}

/// Returns `as_of` of HTTP parameters (RFC 3339; now when absent).
pub fn as_of_param(value: Option<&str>) -> Result<DateTime<Utc>, QueryError> {
    match value {
        None | Some("") => Ok(mom_clock::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| {
                QueryError::InvalidArgument(format!(
                    "as_of {text:?} is not an RFC 3339 time: {err}"
                ))
            }),
    }
}

fn within_proto(within: Option<&prost_types::Duration>) -> Result<Duration, QueryError> {
    let within = within.ok_or_else(|| {
        QueryError::InvalidArgument("within is required: a positive duration".into())
    })?;
    let (Ok(seconds), Ok(nanos)) = (u64::try_from(within.seconds), u32::try_from(within.nanos))
    else {
        return Err(QueryError::InvalidArgument(
            "within must be a positive duration".into(),
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
    ) -> Result<GrpcResponse<pb::ListLotsResponse>, Status> {
        let request = request.into_inner();
        let filter = StockFilter::new(&request.location, &request.material, &request.status)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.lots(&filter, page).await?;
        Ok(GrpcResponse::new(pb::ListLotsResponse {
            lots: rows.iter().map(stock_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_holds(
        &self,
        request: Request<pb::ListHoldsRequest>,
    ) -> Result<GrpcResponse<pb::ListHoldsResponse>, Status> {
        let request = request.into_inner();
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self
            .queries
            .holds(&request.material, &request.lot, page)
            .await?;
        Ok(GrpcResponse::new(pb::ListHoldsResponse {
            holds: rows.iter().map(hold_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_expiring_lots(
        &self,
        request: Request<pb::ListExpiringLotsRequest>,
    ) -> Result<GrpcResponse<pb::ListExpiringLotsResponse>, Status> {
        let request = request.into_inner();
        let within = within_proto(request.within.as_ref())?;
        let as_of = as_of_proto(request.as_of.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self
            .queries
            .expiring(as_of, within, &request.material, &request.location, page)
            .await?;
        Ok(GrpcResponse::new(pb::ListExpiringLotsResponse {
            lots: rows.iter().map(|row| expiring_proto(row, as_of)).collect(),
            next_page_token,
        }))
    }

    async fn get_lot_genealogy(
        &self,
        request: Request<pb::GetLotGenealogyRequest>,
    ) -> Result<GrpcResponse<pb::LotGenealogy>, Status> {
        let request = request.into_inner();
        let direction = direction_proto(request.direction)?;
        let max_depth = depth(request.depth)?;
        let (links, lots) = self
            .queries
            .genealogy(&request.lot, direction, max_depth)
            .await?;
        Ok(GrpcResponse::new(pb::LotGenealogy {
            lot: request.lot,
            direction: proto_direction(direction).into(),
            links: links.iter().map(link_proto).collect(),
            lots: lots.iter().map(node_proto).collect(),
        }))
    }
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

fn page(params: &Params) -> Result<Page, QueryError> {
    Page::from_params(
        params.get("page_size").map(String::as_str),
        params.get("page_token").map(String::as_str),
    )
}

async fn lots(
    State(queries): State<InventoryQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["location", "material", "status", "page_size", "page_token"],
            )?;
            let filter = StockFilter::new(
                param(&params, "location"),
                param(&params, "material"),
                param(&params, "status"),
            )?;
            let (rows, next) = queries.lots(&filter, page(&params)?).await?;
            Ok(json!({
                "lots": rows.iter().map(stock_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

async fn holds(
    State(queries): State<InventoryQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["material", "lot", "page_size", "page_token"])?;
            let (rows, next) = queries
                .holds(
                    param(&params, "material"),
                    param(&params, "lot"),
                    page(&params)?,
                )
                .await?;
            Ok(json!({
                "holds": rows.iter().map(hold_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

async fn expiring(
    State(queries): State<InventoryQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &[
                    "within",
                    "as_of",
                    "material",
                    "location",
                    "page_size",
                    "page_token",
                ],
            )?;
            let within = match param(&params, "within") {
                "" => {
                    return Err(QueryError::InvalidArgument(
                        "within is required: a duration such as 30m, 12h, 7d or 2w".into(),
                    ))
                }
                text => parse_within(text)?,
            };
            let as_of = as_of_param(params.get("as_of").map(String::as_str))?;
            let (rows, next) = queries
                .expiring(
                    as_of,
                    within,
                    param(&params, "material"),
                    param(&params, "location"),
                    page(&params)?,
                )
                .await?;
            Ok(json!({
                "as_of": as_of.to_rfc3339(),
                "lots": rows.iter().map(|row| expiring_json(row, as_of)).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

async fn genealogy(
    State(queries): State<InventoryQueries>,
    Path(lot): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["direction", "depth"])?;
            let direction = match param(&params, "direction") {
                "" => Direction::Backward,
                name => Direction::named(name).ok_or_else(|| {
                    QueryError::InvalidArgument(format!(
                        "direction {name:?} is not backward or forward"
                    ))
                })?,
            };
            let max_depth = match param(&params, "depth") {
                "" => depth(0)?,
                text => depth(text.parse().map_err(|_| {
                    QueryError::InvalidArgument(format!(
                        "depth {text:?} is not a whole number from 1 to 64"
                    ))
                })?)?,
            };
            let (links, lots) = queries.genealogy(&lot, direction, max_depth).await?;
            Ok(json!({
                "lot": lot,
                "direction": direction.name(),
                "links": links.iter().map(link_json).collect::<Vec<_>>(),
                "lots": lots.iter().map(node_json).collect::<Vec<_>>(),
            }))
        }
        .await,
    )
}

/// Returns the HTTP routes of the inventory API.
pub fn router(queries: InventoryQueries) -> Router {
    Router::new()
        .route("/api/inventory/lots", get(lots))
        .route("/api/inventory/holds", get(holds))
        .route("/api/inventory/expiring", get(expiring))
        .route("/api/inventory/genealogy/{lot}", get(genealogy))
        .with_state(queries)
}
