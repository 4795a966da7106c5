//! The quality query API: gRPC (`mom.projections.v1.QualityReadService`) and the same as JSON
//! over HTTP, both over [`QualityQueries`].
//!
//! - `GET /api/quality/ncrs?status=&product=&work_unit=&from=&to=&as_of=&page_size=&page_token=`
//! - `GET /api/quality/fpy?product=&operation=&work_unit=&from=&to=`
//! - `GET /api/quality/capas?status=&owner=&overdue=true|false&as_of=&page_size=&page_token=`

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use mom_proto::projections::v1 as pb;
use serde_json::{json, Value};
use tonic::{Request, Response as GrpcResponse, Status};

use super::query::{
    rolled_yields, CapaFilter, CapaRow, NcrFilter, NcrRow, QualityQueries, YieldFilter, YieldRow,
};
use crate::http::{params, respond, Params};
use crate::inventory::as_of_param;
use crate::query::{rfc3339, timestamp, Page, QueryError, TimeRange};

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

fn ncr_json(row: &NcrRow, lots: &[String], as_of: DateTime<Utc>) -> Value {
    json!({
        "ncr_id": row.ncr_id,
        "product": row.product,
        "work_unit": row.work_unit,
        "quantity": row.quantity,
        "description": row.description,
        "inspection_id": row.inspection_id,
        "status": row.status,
        "opened_at": rfc3339(row.opened_ms),
        "closed_at": row.closed_ms.map(rfc3339),
        "age_ms": row.age_ms(as_of),
        "dispositioned": {
            "scrap": row.scrap,
            "rework": row.rework,
            "use_as_is": row.use_as_is,
            "return_to_supplier": row.return_to_supplier,
        },
        "remaining": row.remaining,
        "contained_lots": lots,
    })
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

fn yield_json(row: &YieldRow) -> Value {
    json!({
        "product": row.product,
        "operation": row.operation,
        "inspected": row.inspected,
        "rejected": row.rejected,
        "first_pass_yield": row.first_pass_yield(),
    })
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

fn capa_json(row: &CapaRow, ncrs: &[String], as_of: DateTime<Utc>) -> Value {
    let overdue = row.overdue_ms(as_of);
    json!({
        "capa_id": row.capa_id,
        "kind": row.kind,
        "title": row.title,
        "owner": row.owner,
        "due": rfc3339(row.due_ms),
        "status": row.status,
        "opened_at": rfc3339(row.opened_ms),
        "implemented_at": row.implemented_ms.map(rfc3339),
        "closed_at": row.closed_ms.map(rfc3339),
        "ncr_ids": ncrs,
        "reopened": row.reopened,
        "overdue": overdue.is_some(),
        "overdue_ms": overdue.unwrap_or(0),
        "closed_late": row.closed_late(),
    })
}

fn as_of_proto(ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, QueryError> {
    match ts {
        None => Ok(mom_clock::now()),
        Some(ts) => mom_proto::time::from_timestamp(Some(ts), "as_of")
            .map_err(|err| QueryError::InvalidArgument(err.to_string())),
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
    ) -> Result<GrpcResponse<pb::ListNcrsResponse>, Status> {
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
        Ok(GrpcResponse::new(pb::ListNcrsResponse {
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
    ) -> Result<GrpcResponse<pb::GetFirstPassYieldResponse>, Status> {
        let request = request.into_inner();
        let recorded = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = YieldFilter {
            product: request.product,
            operation: request.operation,
            work_unit: request.work_unit,
            recorded,
        };
        let rows = self.queries.yields(&filter).await?;
        Ok(GrpcResponse::new(pb::GetFirstPassYieldResponse {
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
    ) -> Result<GrpcResponse<pb::ListCapasResponse>, Status> {
        let request = request.into_inner();
        let as_of = as_of_proto(request.as_of.as_ref())?;
        let filter = CapaFilter::new(&request.status, &request.owner, request.overdue, as_of)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.capas(&filter, page).await?;
        Ok(GrpcResponse::new(pb::ListCapasResponse {
            capas: rows
                .iter()
                .map(|(row, ncrs)| capa_proto(row, ncrs, as_of))
                .collect(),
            next_page_token,
        }))
    }
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

fn optional<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

async fn ncrs(
    State(queries): State<QualityQueries>,
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
                    "as_of",
                    "page_size",
                    "page_token",
                ],
            )?;
            let opened = TimeRange::from_params(optional(&params, "from"), optional(&params, "to"))?;
            let filter = NcrFilter::new(
                param(&params, "status"),
                param(&params, "product"),
                param(&params, "work_unit"),
                opened,
            )?;
            let as_of = as_of_param(optional(&params, "as_of"))?;
            let page = Page::from_params(optional(&params, "page_size"), optional(&params, "page_token"))?;
            let (rows, next) = queries.ncrs(&filter, page).await?;
            Ok(json!({
                "as_of": as_of.to_rfc3339(),
                "ncrs": rows.iter().map(|(row, lots)| ncr_json(row, lots, as_of)).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

async fn fpy(
    State(queries): State<QualityQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["product", "operation", "work_unit", "from", "to"])?;
            let recorded =
                TimeRange::from_params(optional(&params, "from"), optional(&params, "to"))?;
            let operation = match param(&params, "operation") {
                "" => None,
                text => Some(text.parse::<u32>().map_err(|_| {
                    QueryError::InvalidArgument(format!(
                        "operation {text:?} is not an operation number"
                    ))
                })?),
            };
            let filter = YieldFilter {
                product: param(&params, "product").to_owned(),
                operation,
                work_unit: param(&params, "work_unit").to_owned(),
                recorded,
            };
            let rows = queries.yields(&filter).await?;
            Ok(json!({
                "yields": rows.iter().map(yield_json).collect::<Vec<_>>(),
                "products": rolled_yields(&rows).into_iter().map(|(product, rty)| json!({
                    "product": product,
                    "rolled_throughput_yield": rty,
                })).collect::<Vec<_>>(),
            }))
        }
        .await,
    )
}

async fn capas(
    State(queries): State<QualityQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["status", "owner", "overdue", "as_of", "page_size", "page_token"],
            )?;
            let overdue = match param(&params, "overdue") {
                "" | "false" => false,
                "true" => true,
                other => {
                    return Err(QueryError::InvalidArgument(format!(
                        "overdue {other:?} is not true or false"
                    )))
                }
            };
            let as_of = as_of_param(optional(&params, "as_of"))?;
            let filter = CapaFilter::new(
                param(&params, "status"),
                param(&params, "owner"),
                overdue,
                as_of,
            )?;
            let page = Page::from_params(optional(&params, "page_size"), optional(&params, "page_token"))?;
            let (rows, next) = queries.capas(&filter, page).await?;
            Ok(json!({
                "as_of": as_of.to_rfc3339(),
                "capas": rows.iter().map(|(row, ncrs)| capa_json(row, ncrs, as_of)).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

/// Returns the HTTP routes of the quality API.
pub fn router(queries: QualityQueries) -> Router {
    Router::new()
        .route("/api/quality/ncrs", get(ncrs))
        .route("/api/quality/fpy", get(fpy))
        .route("/api/quality/capas", get(capas))
        .with_state(queries)
}
