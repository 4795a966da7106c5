//! The production-order query API as JSON over HTTP, over [`OrderQueries`] like the gRPC API:
//!
//! - `GET /api/orders?status=&product=&work_unit=&from=&to=&page_size=&page_token=`
//! - `GET /api/orders/wip?work_unit=&product=`
//! - `GET /api/orders/{order_id}` (the order with its operations)

use axum::extract::{Path, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::projection::operation_progress;
use super::query::{OperationRow, OrderFilter, OrderQueries, OrderRow, WipRow};
use crate::http::{
    page, param, params, params_with, range, respond, PageParams, QueryRoutes, QueryString,
    RangeParams, PAGE_PARAMS, RANGE_PARAMS,
};
use crate::query::rfc3339;

/// The answer of `GET /api/orders`: a page of production orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersAnswer {
    /// The orders, newest first.
    pub orders: Vec<OrderSummary>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A production order's status and progress.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "order_id": "po-1001", "product": "bracket", "quantity": 500, "status": "in_progress",
    "held": false, "hold_reason": "", "good": 240, "scrap": 6, "operations_done": 1,
    "operations_total": 3, "progress": 0.49, "created_at": "2026-01-05T05:00:00.000Z",
    "released_at": "2026-01-05T05:30:00.000Z", "started_at": "2026-01-05T06:00:00.000Z",
    "ended_at": null, "lead_time_ms": null, "held_ms": 0
}))]
pub struct OrderSummary {
    /// The order's id.
    pub order_id: String,
    /// The product it makes.
    pub product: String,
    /// The quantity ordered.
    pub quantity: i64,
    /// `created`, `released`, `in_progress`, `held`, `completed` or `cancelled`.
    pub status: String,
    /// Whether it is on hold.
    pub held: bool,
    /// Why it is on hold (empty when not held).
    pub hold_reason: String,
    /// Good units reported.
    pub good: i64,
    /// Scrapped units reported.
    pub scrap: i64,
    /// Operations done.
    pub operations_done: i64,
    /// Operations in its routing.
    pub operations_total: i64,
    /// Mean progress of its operations, from 0 to 1.
    pub progress: f64,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it was released (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub released_at: Option<String>,
    /// When its first operation started (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it was completed or cancelled (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// Milliseconds from release to end; null until it ended.
    pub lead_time_ms: Option<i64>,
    /// Milliseconds it spent on hold.
    pub held_ms: i64,
}

impl From<&OrderRow> for OrderSummary {
    fn from(row: &OrderRow) -> Self {
        Self {
            order_id: row.order_id.clone(),
            product: row.product.clone(),
            quantity: row.quantity,
            status: row.status.clone(),
            held: row.held != 0,
            hold_reason: row.hold_reason.clone(),
            good: row.good,
            scrap: row.scrap,
            operations_done: row.operations_done,
            operations_total: row.operations_total,
            progress: row.progress,
            created_at: rfc3339(row.created_ms),
            released_at: row.released_ms.map(rfc3339),
            started_at: row.started_ms.map(rfc3339),
            ended_at: row.ended_ms.map(rfc3339),
            lead_time_ms: row.lead_time_ms,
            held_ms: row.held_ms,
        }
    }
}

/// The answer of `GET /api/orders/{order_id}`: the order with its operations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderAnswer {
    /// The order.
    pub order: OrderSummary,
    /// Its operations, in routing order.
    pub operations: Vec<OrderOperation>,
}

/// One operation of an order's routing and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOperation {
    /// The operation number.
    pub operation: i64,
    /// Its name.
    pub name: String,
    /// `pending`, `running` or `done`.
    pub status: String,
    /// The work unit it runs on (empty before it started).
    pub work_unit: String,
    /// The work units allowed to run it (any when empty).
    pub eligible_work_units: Vec<String>,
    /// Good units reported.
    pub good: i64,
    /// Scrapped units reported.
    pub scrap: i64,
    /// 1 when done, else good / quantity (at most 1).
    pub progress: f64,
    /// When it started (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it completed (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
}

impl OrderOperation {
    fn new(order: &OrderRow, row: &OperationRow) -> Self {
        Self {
            operation: row.operation,
            name: row.name.clone(),
            status: row.status.clone(),
            work_unit: row.work_unit.clone(),
            eligible_work_units: row.eligible_work_units(),
            good: row.good,
            scrap: row.scrap,
            progress: operation_progress(row.status == "done", row.good, order.quantity),
            started_at: row.started_ms.map(rfc3339),
            completed_at: row.completed_ms.map(rfc3339),
        }
    }
}

/// The answer of `GET /api/orders/wip`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WipAnswer {
    /// Work in progress per operation number and work unit.
    pub wip: Vec<WipRow>,
}

/// A page of production orders with their status and progress.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    operation_id = "orders_list",
    params(
        ("status" = Option<String>, Query, description = "Only orders in this status: created, released, in_progress, held, completed or cancelled"),
        ("product" = Option<String>, Query, description = "Only orders of this product"),
        ("work_unit" = Option<String>, Query, description = "Only orders with an operation on this work unit"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of orders (the range is of their creation)", body = OrdersAnswer),
        QueryErrors,
    ),
)]
async fn list(State(queries): State<OrderQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["status", "product", "work_unit"],
                &[&RANGE_PARAMS, &PAGE_PARAMS],
            )?;
            let filter = OrderFilter::new(
                param(&params, "status"),
                param(&params, "product"),
                param(&params, "work_unit"),
                range(&params)?,
            )?;
            let (rows, next) = queries.list(&filter, page(&params)?).await?;
            Ok(OrdersAnswer {
                orders: rows.iter().map(OrderSummary::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// One production order with the progress of each of its operations.
#[utoipa::path(
    get,
    path = "/api/orders/{order_id}",
    tag = "orders",
    operation_id = "orders_order",
    params(
        ("order_id" = String, Path, description = "The order's id", example = "po-1001"),
    ),
    responses(
        (status = 200, description = "The order and its operations", body = OrderAnswer),
        QueryErrors,
    ),
)]
async fn order(
    State(queries): State<OrderQueries>,
    Path(order_id): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let (order, operations) = queries.get(&order_id).await?;
            Ok(OrderAnswer {
                operations: operations
                    .iter()
                    .map(|op| OrderOperation::new(&order, op))
                    .collect(),
                order: OrderSummary::from(&order),
            })
        }
        .await,
    )
}

/// Work in progress per operation number and work unit.
#[utoipa::path(
    get,
    path = "/api/orders/wip",
    tag = "orders",
    operation_id = "orders_wip",
    params(
        ("work_unit" = Option<String>, Query, description = "Only this work unit"),
        ("product" = Option<String>, Query, description = "Only orders of this product"),
    ),
    responses(
        (status = 200, description = "Work in progress", body = WipAnswer),
        QueryErrors,
    ),
)]
async fn wip(State(queries): State<OrderQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "product"])?;
            let rows = queries
                .wip(param(&params, "work_unit"), param(&params, "product"))
                .await?;
            Ok(WipAnswer { wip: rows })
        }
        .await,
    )
}

impl QueryRoutes for OrderQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(list))
            .routes(routes!(wip))
            .routes(routes!(order))
    }
}
