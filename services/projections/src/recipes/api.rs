//! The parameter change log over gRPC (`mom.projections.v1.ParametersReadService`), over
//! [`ParameterQueries`] like the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{ChangeFilter, ChangeRow, ParameterQueries};
use crate::query::{timestamp, Page};

fn change_proto(row: &ChangeRow) -> pb::ParameterChange {
    pb::ParameterChange {
        kind: row.kind.clone(),
        work_unit: row.work_unit.clone(),
        order_id: row.order_id.clone(),
        operation: u32::try_from(row.operation).unwrap_or(0),
        recipe: row.recipe.clone(),
        version: u32::try_from(row.version).unwrap_or(0),
        parameter: row.parameter.clone(),
        unit: row.unit.clone(),
        value: row.value,
        setpoint: row.setpoint,
        lower: row.lower_limit,
        upper: row.upper_limit,
        status: row.status.clone(),
        hold_order: row.hold_order != 0,
        old_setpoint: row.old_setpoint,
        reason: row.reason.clone(),
        actor: row.actor.clone(),
        on_behalf_of: row.on_behalf_of.clone(),
        at: Some(timestamp(row.at_ms)),
        sequence: u64::try_from(row.sequence).unwrap_or(0),
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct ParametersService {
    queries: ParameterQueries,
}

impl ParametersService {
    /// Returns the service over `queries`.
    pub fn new(queries: ParameterQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::parameters_read_service_server::ParametersReadService for ParametersService {
    async fn list_parameter_changes(
        &self,
        request: Request<pb::ListParameterChangesRequest>,
    ) -> Result<Response<pb::ListParameterChangesResponse>, Status> {
        let request = request.into_inner();
        let filter = ChangeFilter::new(
            &request.order_id,
            "order_id",
            &request.work_unit,
            &request.parameter,
        )?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.changes(&filter, page).await?;
        Ok(Response::new(pb::ListParameterChangesResponse {
            changes: rows.iter().map(change_proto).collect(),
            next_page_token,
        }))
    }
}
