//! The production-order query API as JSON over HTTP, over [`OrderQueries`] like the gRPC API:
//!
//! - `GET /api/orders?status=&product=&work_unit=&from=&to=&page_size=&page_token=`
//! - `GET /api/orders/wip?work_unit=&product=`
//! - `GET /api/orders/{order_id}` (the order with its operations)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::projection::operation_progress;
use super::query::{OperationRow, OrderFilter, OrderQueries, OrderRow, WipRow};
use crate::http::{optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page, QueryError, TimeRange};

fn order_json(row: &OrderRow) -> Value {
    json!({
        "order_id": row.order_id,
        "product": row.product,
        "quantity": row.quantity,
        "status": row.status,
        "held": row.held != 0,
        "hold_reason": row.hold_reason,
        "good": row.good,
        "scrap": row.scrap,
        "operations_done": row.operations_done,
        "operations_total": row.operations_total,
        "progress": row.progress,
        "created_at": rfc3339(row.created_ms),
        "released_at": row.released_ms.map(rfc3339),
        "started_at": row.started_ms.map(rfc3339),
        "ended_at": row.ended_ms.map(rfc3339),
        "lead_time_ms": row.lead_time_ms,
        "held_ms": row.held_ms,
    })
}

fn operation_json(order: &OrderRow, row: &OperationRow) -> Value {
    json!({
        "operation": row.operation,
        "name": row.name,
        "status": row.status,
        "work_unit": row.work_unit,
        "eligible_work_units": row.eligible_work_units(),
        "good": row.good,
        "scrap": row.scrap,
        "progress": operation_progress(row.status == "done", row.good, order.quantity),
        "started_at": row.started_ms.map(rfc3339),
        "completed_at": row.completed_ms.map(rfc3339),
    })
}

fn wip_json(row: &WipRow) -> Value {
    json!({
        "operation": row.operation,
        "name": row.name,
        "work_unit": row.work_unit,
        "orders": row.orders,
        "held": row.held,
        "remaining": row.remaining,
        "good": row.good,
        "scrap": row.scrap,
    })
}

#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    operation_id = "orders_list",
    params(
        ("status" = Option<String>, Query, description = "Only rows of this status"),
        ("product" = Option<String>, Query, description = "Only rows of this product"),
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("from" = Option<String>, Query, format = DateTime, description = "Start of the range (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "End of the range (RFC 3339)"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn list(
    State(queries): State<OrderQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &[
                    "status",
                    "product",
                    "work_unit",
                    "from",
                    "to",
                    "page_size",
                    "page_token",
                ],
            )?;
            let created = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
            let filter = OrderFilter::new(
                param(&params, "status"),
                param(&params, "product"),
                param(&params, "work_unit"),
                created,
            )?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.list(&filter, page).await?;
            Ok(json!({
                "orders": rows.iter().map(order_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/orders/{order_id}",
    tag = "orders",
    operation_id = "orders_order",
    params(
        ("order_id" = String, Path, description = "The order id"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn order(
    State(queries): State<OrderQueries>,
    Path(order_id): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let (order, operations) = queries.get(&order_id).await?;
            Ok::<_, QueryError>(json!({
                "order": order_json(&order),
                "operations": operations.iter().map(|op| operation_json(&order, op)).collect::<Vec<_>>(),
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/orders/wip",
    tag = "orders",
    operation_id = "orders_wip",
    params(
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("product" = Option<String>, Query, description = "Only rows of this product"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn wip(
    State(queries): State<OrderQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "product"])?;
            let rows = queries
                .wip(param(&params, "work_unit"), param(&params, "product"))
                .await?;
            Ok(json!({ "wip": rows.iter().map(wip_json).collect::<Vec<_>>() }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<OrderQueries> {
    ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(wip))
        .routes(routes!(order))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: OrderQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: OrderQueries) -> ApiRouter {
    routes().with_state(queries)
}
