//! The production-order query API: gRPC (`mom.projections.v1.OrdersReadService`) and the same as
//! JSON over HTTP, both over [`OrderQueries`].
//!
//! - `GET /api/orders?status=&product=&work_unit=&from=&to=&page_size=&page_token=`
//! - `GET /api/orders/wip?work_unit=&product=`
//! - `GET /api/orders/{order_id}` (the order with its operations)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use mom_proto::projections::v1 as pb;
use serde_json::{json, Value};
use tonic::{Request, Response as GrpcResponse, Status};

use super::projection::operation_progress;
use super::query::{OperationRow, OrderFilter, OrderQueries, OrderRow, WipRow};
use crate::http::{params, respond, Params};
use crate::query::{rfc3339, timestamp, Page, QueryError, TimeRange};

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn small(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn order_proto(row: &OrderRow) -> pb::OrderSummary {
    pb::OrderSummary {
        order_id: row.order_id.clone(),
        product: row.product.clone(),
        quantity: unsigned(row.quantity),
        status: row.status.clone(),
        held: row.held != 0,
        hold_reason: row.hold_reason.clone(),
        good: unsigned(row.good),
        scrap: unsigned(row.scrap),
        operations_done: small(row.operations_done),
        operations_total: small(row.operations_total),
        progress: row.progress,
        created_at: Some(timestamp(row.created_ms)),
        released_at: row.released_ms.map(timestamp),
        started_at: row.started_ms.map(timestamp),
        ended_at: row.ended_ms.map(timestamp),
        lead_time_ms: row.lead_time_ms,
        held_ms: row.held_ms,
    }
}

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

fn operation_proto(order: &OrderRow, row: &OperationRow) -> pb::OperationProgressRow {
    pb::OperationProgressRow {
        operation: small(row.operation),
        name: row.name.clone(),
        status: row.status.clone(),
        work_unit: row.work_unit.clone(),
        eligible_work_units: eligible(&row.eligible),
        good: unsigned(row.good),
        scrap: unsigned(row.scrap),
        progress: operation_progress(row.status == "done", row.good, order.quantity),
        started_at: row.started_ms.map(timestamp),
        completed_at: row.completed_ms.map(timestamp),
    }
}

fn operation_json(order: &OrderRow, row: &OperationRow) -> Value {
    json!({
        "operation": row.operation,
        "name": row.name,
        "status": row.status,
        "work_unit": row.work_unit,
        "eligible_work_units": eligible(&row.eligible),
        "good": row.good,
        "scrap": row.scrap,
        "progress": operation_progress(row.status == "done", row.good, order.quantity),
        "started_at": row.started_ms.map(rfc3339),
        "completed_at": row.completed_ms.map(rfc3339),
    })
}

fn eligible(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|unit| !unit.is_empty())
        .map(str::to_owned)
        .collect()
}

fn wip_proto(row: &WipRow) -> pb::WipRow {
    pb::WipRow {
        operation: small(row.operation),
        name: row.name.clone(),
        work_unit: row.work_unit.clone(),
        orders: small(row.orders),
        held: small(row.held),
        remaining: unsigned(row.remaining),
        good: unsigned(row.good),
        scrap: unsigned(row.scrap),
    }
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

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct OrdersService {
    queries: OrderQueries,
}

impl OrdersService {
    /// Returns the service over `queries`.
    pub fn new(queries: OrderQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::orders_read_service_server::OrdersReadService for OrdersService {
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<GrpcResponse<pb::ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let created = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = OrderFilter::new(
            &request.status,
            &request.product,
            &request.work_unit,
            created,
        )?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.list(&filter, page).await?;
        Ok(GrpcResponse::new(pb::ListOrdersResponse {
            orders: rows.iter().map(order_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderProgressRequest>,
    ) -> Result<GrpcResponse<pb::OrderProgress>, Status> {
        let (order, operations) = self.queries.get(&request.into_inner().order_id).await?;
        Ok(GrpcResponse::new(pb::OrderProgress {
            operations: operations
                .iter()
                .map(|op| operation_proto(&order, op))
                .collect(),
            order: Some(order_proto(&order)),
        }))
    }

    async fn get_wip(
        &self,
        request: Request<pb::GetWipRequest>,
    ) -> Result<GrpcResponse<pb::GetWipResponse>, Status> {
        let request = request.into_inner();
        let rows = self
            .queries
            .wip(&request.work_unit, &request.product)
            .await?;
        Ok(GrpcResponse::new(pb::GetWipResponse {
            wip: rows.iter().map(wip_proto).collect(),
        }))
    }
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

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
            let created = TimeRange::from_params(param(&params, "from"), param(&params, "to"))?;
            let filter = OrderFilter::new(
                param(&params, "status").unwrap_or_default(),
                param(&params, "product").unwrap_or_default(),
                param(&params, "work_unit").unwrap_or_default(),
                created,
            )?;
            let page =
                Page::from_params(param(&params, "page_size"), param(&params, "page_token"))?;
            let (rows, next) = queries.list(&filter, page).await?;
            Ok(json!({
                "orders": rows.iter().map(order_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

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

async fn wip(
    State(queries): State<OrderQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "product"])?;
            let rows = queries
                .wip(
                    param(&params, "work_unit").unwrap_or_default(),
                    param(&params, "product").unwrap_or_default(),
                )
                .await?;
            Ok(json!({ "wip": rows.iter().map(wip_json).collect::<Vec<_>>() }))
        }
        .await,
    )
}

/// Returns the HTTP routes of the production-order API.
pub fn router(queries: OrderQueries) -> Router {
    Router::new()
        .route("/api/orders", get(list))
        .route("/api/orders/wip", get(wip))
        .route("/api/orders/{order_id}", get(order))
        .with_state(queries)
}
