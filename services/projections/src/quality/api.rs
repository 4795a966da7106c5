//! The quality query API over gRPC (`mom.projections.v1.QualityReadService`), over
//! [`QualityQueries`] like the HTTP API.

use chrono::{DateTime, Utc};
use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{
    rolled_yields, CapaFilter, CapaRow, NcrFilter, NcrRow, QualityQueries, YieldFilter, YieldRow,
};
use crate::query::{as_of_proto, timestamp, Page, TimeRange};

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn ncr_proto(row: &NcrRow, lots: &[String], as_of: DateTime<Utc>) -> pb::Ncr {
    pb::Ncr {
        ncr_id: row.ncr_id.clone(),
        product: row.product.clone(),
        work_unit: row.work_unit.clone(),
        quantity: unsigned(row.quantity),
        description: row.description.clone(),
        inspection_id: row.inspection_id.clone(),
        status: row.status.clone(),
        opened_at: Some(timestamp(row.opened_ms)),
        closed_at: row.closed_ms.map(timestamp),
        age_ms: row.age_ms(as_of),
        dispositioned: Some(pb::Dispositions {
            scrap: unsigned(row.scrap),
            rework: unsigned(row.rework),
            use_as_is: unsigned(row.use_as_is),
            return_to_supplier: unsigned(row.return_to_supplier),
        }),
        remaining: unsigned(row.remaining),
        contained_lots: lots.to_vec(),
    }
}

fn yield_proto(row: &YieldRow) -> pb::FirstPassYield {
    pb::FirstPassYield {
        product: row.product.clone(),
        operation: u32::try_from(row.operation).unwrap_or(0),
        inspected: unsigned(row.inspected),
        rejected: unsigned(row.rejected),
        first_pass_yield: row.first_pass_yield().unwrap_or(0.0),
    }
}

fn capa_proto(row: &CapaRow, ncrs: &[String], as_of: DateTime<Utc>) -> pb::Capa {
    let overdue = row.overdue_ms(as_of);
    pb::Capa {
        capa_id: row.capa_id.clone(),
        kind: row.kind.clone(),
        title: row.title.clone(),
        owner: row.owner.clone(),
        due: Some(timestamp(row.due_ms)),
        status: row.status.clone(),
        opened_at: Some(timestamp(row.opened_ms)),
        implemented_at: row.implemented_ms.map(timestamp),
        closed_at: row.closed_ms.map(timestamp),
        ncr_ids: ncrs.to_vec(),
        reopened: u32::try_from(row.reopened).unwrap_or(u32::MAX),
        overdue: overdue.is_some(),
        overdue_ms: overdue.unwrap_or(0),
        closed_late: row.closed_late(),
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct QualityService {
    queries: QualityQueries,
}

impl QualityService {
    /// Returns the service over `queries`.
    pub fn new(queries: QualityQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::quality_read_service_server::QualityReadService for QualityService {
    async fn list_ncrs(
        &self,
        request: Request<pb::ListNcrsRequest>,
    ) -> Result<Response<pb::ListNcrsResponse>, Status> {
        let request = request.into_inner();
        let opened = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = NcrFilter::new(
            &request.status,
            &request.product,
            &request.work_unit,
            opened,
        )?;
        let as_of = as_of_proto(request.as_of.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.ncrs(&filter, page).await?;
        Ok(Response::new(pb::ListNcrsResponse {
            ncrs: rows
                .iter()
                .map(|(row, lots)| ncr_proto(row, lots, as_of))
                .collect(),
            next_page_token,
        }))
    }

    async fn get_first_pass_yield(
        &self,
        request: Request<pb::GetFirstPassYieldRequest>,
    ) -> Result<Response<pb::GetFirstPassYieldResponse>, Status> {
        let request = request.into_inner();
        let recorded = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = YieldFilter {
            product: request.product,
            operation: request.operation,
            work_unit: request.work_unit,
            recorded,
        };
        let rows = self.queries.yields(&filter, mom_clock::now()).await?;
        Ok(Response::new(pb::GetFirstPassYieldResponse {
            yields: rows.iter().map(yield_proto).collect(),
            products: rolled_yields(&rows)
                .into_iter()
                .map(|(product, rty)| pb::RolledYield {
                    product,
                    rolled_throughput_yield: rty,
                })
                .collect(),
        }))
    }

    async fn list_capas(
        &self,
        request: Request<pb::ListCapasRequest>,
    ) -> Result<Response<pb::ListCapasResponse>, Status> {
        let request = request.into_inner();
        let as_of = as_of_proto(request.as_of.as_ref())?;
        let filter = CapaFilter::new(&request.status, &request.owner, request.overdue, as_of)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.capas(&filter, page).await?;
        Ok(Response::new(pb::ListCapasResponse {
            capas: rows
                .iter()
                .map(|(row, ncrs)| capa_proto(row, ncrs, as_of))
                .collect(),
            next_page_token,
        }))
    }
}
