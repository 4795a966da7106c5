//! The production-order query API over gRPC (`mom.projections.v1.OrdersReadService`), over
//! [`OrderQueries`] like the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::projection::operation_progress;
use super::query::{OperationRow, OrderFilter, OrderQueries, OrderRow, WipRow};
use crate::query::{timestamp, Page, TimeRange};

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

fn operation_proto(order: &OrderRow, row: &OperationRow) -> pb::OperationProgressRow {
    pb::OperationProgressRow {
        operation: small(row.operation),
        name: row.name.clone(),
        status: row.status.clone(),
        work_unit: row.work_unit.clone(),
        eligible_work_units: row.eligible_work_units(),
        good: unsigned(row.good),
        scrap: unsigned(row.scrap),
        progress: operation_progress(row.status == "done", row.good, order.quantity),
        started_at: row.started_ms.map(timestamp),
        completed_at: row.completed_ms.map(timestamp),
    }
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
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
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
        Ok(Response::new(pb::ListOrdersResponse {
            orders: rows.iter().map(order_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderProgressRequest>,
    ) -> Result<Response<pb::OrderProgress>, Status> {
        let (order, operations) = self.queries.get(&request.into_inner().order_id).await?;
        Ok(Response::new(pb::OrderProgress {
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
    ) -> Result<Response<pb::GetWipResponse>, Status> {
        let request = request.into_inner();
        let rows = self
            .queries
            .wip(&request.work_unit, &request.product)
            .await?;
        Ok(Response::new(pb::GetWipResponse {
            wip: rows.iter().map(wip_proto).collect(),
        }))
    }
}
