//! The dispatch list over gRPC (`mom.projections.v1.DispatchReadService`), over
//! [`DispatchQueries`] like the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{work_center_filter, DispatchQueries, DispatchRow};
use crate::query::{timestamp, Page};

fn row_proto(row: &DispatchRow) -> pb::DispatchRow {
    pb::DispatchRow {
        work_center: row.work_center.clone(),
        order_id: row.order_id.clone(),
        operation: u32::try_from(row.operation).unwrap_or(0),
        name: row.name.clone(),
        product: row.product.clone(),
        quantity: u64::try_from(row.quantity).unwrap_or(0),
        priority: u32::try_from(row.priority).unwrap_or(0),
        due: row.due_ms.map(timestamp),
        position: u32::try_from(row.position).unwrap_or(0),
        eligible_work_units: row.eligible_work_units(),
        dispatched_work_unit: row.dispatched_unit.clone(),
        work_unit: row.work_unit.clone(),
        state: row.state.clone(),
        order_status: row.order_status.clone(),
        held: row.held != 0,
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct DispatchService {
    queries: DispatchQueries,
}

impl DispatchService {
    /// Returns the service over `queries`.
    pub fn new(queries: DispatchQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::dispatch_read_service_server::DispatchReadService for DispatchService {
    async fn get_dispatch_list(
        &self,
        request: Request<pb::GetDispatchListRequest>,
    ) -> Result<Response<pb::GetDispatchListResponse>, Status> {
        let request = request.into_inner();
        let work_center = work_center_filter(&request.work_center)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.list(&work_center, page).await?;
        Ok(Response::new(pb::GetDispatchListResponse {
            rows: rows.iter().map(row_proto).collect(),
            next_page_token,
        }))
    }
}
