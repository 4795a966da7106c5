//! The inventory query API as JSON over HTTP, over [`InventoryQueries`] like the gRPC API:
//!
//! - `GET /api/inventory/lots?location=&material=&status=available|held&page_size=&page_token=`
//! - `GET /api/inventory/holds?material=&lot=&page_size=&page_token=`
//! - `GET /api/inventory/expiring?within=7d&as_of=&material=&location=&page_size=&page_token=`
//! - `GET /api/inventory/genealogy/{lot}?direction=backward|forward&depth=1..64`

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::genealogy::{Direction, Link};
use super::query::{
    depth, parse_within, ExpiringRow, HoldRow, InventoryQueries, NodeRow, StockFilter, StockRow,
};
use crate::http::{as_of_param, optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page, QueryError};

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

fn link_json(link: &Link) -> Value {
    json!({
        "input_lot": link.edge.input_lot,
        "output_lot": link.edge.output_lot,
        "order_id": link.edge.order_id,
        "depth": link.depth,
    })
}

fn node_json(row: &NodeRow) -> Value {
    json!({
        "lot": row.lot,
        "material": row.material,
        "quantity": row.quantity,
        "held": row.held != 0,
    })
}

fn page(params: &Params) -> Result<Page, QueryError> {
    Page::from_params(
        optional_param(params, "page_size"),
        optional_param(params, "page_token"),
    )
}

#[utoipa::path(
    get,
    path = "/api/inventory/lots",
    tag = "inventory",
    operation_id = "inventory_lots",
    params(
        ("location" = Option<String>, Query, description = "Only rows of this location"),
        ("material" = Option<String>, Query, description = "Only rows of this material"),
        ("status" = Option<String>, Query, description = "Only rows of this status"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/inventory/holds",
    tag = "inventory",
    operation_id = "inventory_holds",
    params(
        ("material" = Option<String>, Query, description = "Only rows of this material"),
        ("lot" = Option<String>, Query, description = "Only rows of this lot"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/inventory/expiring",
    tag = "inventory",
    operation_id = "inventory_expiring",
    params(
        ("within" = Option<String>, Query, description = "Only rows of this within"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant to answer for (RFC 3339; now when absent)"),
        ("material" = Option<String>, Query, description = "Only rows of this material"),
        ("location" = Option<String>, Query, description = "Only rows of this location"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
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

#[utoipa::path(
    get,
    path = "/api/inventory/genealogy/{lot}",
    tag = "inventory",
    operation_id = "inventory_genealogy",
    params(
        ("lot" = String, Path, description = "The lot"),
        ("direction" = Option<String>, Query, description = "Only rows of this direction"),
        ("depth" = Option<String>, Query, description = "Only rows of this depth"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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
            let (links, lots, truncated) = queries.genealogy(&lot, direction, max_depth).await?;
            Ok(json!({
                "lot": lot,
                "direction": direction.name(),
                "links": links.iter().map(link_json).collect::<Vec<_>>(),
                "lots": lots.iter().map(node_json).collect::<Vec<_>>(),
                "truncated": truncated,
            }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<InventoryQueries> {
    ApiRouter::new()
        .routes(routes!(lots))
        .routes(routes!(holds))
        .routes(routes!(expiring))
        .routes(routes!(genealogy))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: InventoryQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: InventoryQueries) -> ApiRouter {
    routes().with_state(queries)
}
