//! The quality query API as JSON over HTTP, over [`QualityQueries`] like the gRPC API:
//!
//! - `GET /api/quality/ncrs?status=&product=&work_unit=&from=&to=&as_of=&page_size=&page_token=`
//! - `GET /api/quality/fpy?product=&operation=&work_unit=&from=&to=`
//! - `GET /api/quality/capas?status=&owner=&overdue=true|false&as_of=&page_size=&page_token=`

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{
    rolled_yields, CapaFilter, CapaRow, NcrFilter, NcrRow, QualityQueries, YieldFilter, YieldRow,
};
use crate::http::{as_of_param, optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page, QueryError, TimeRange};

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

fn yield_json(row: &YieldRow) -> Value {
    json!({
        "product": row.product,
        "operation": row.operation,
        "inspected": row.inspected,
        "rejected": row.rejected,
        "first_pass_yield": row.first_pass_yield(),
    })
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

#[utoipa::path(
    get,
    path = "/api/quality/ncrs",
    tag = "quality",
    operation_id = "quality_ncrs",
    params(
        ("status" = Option<String>, Query, description = "Only rows of this status"),
        ("product" = Option<String>, Query, description = "Only rows of this product"),
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("from" = Option<String>, Query, format = DateTime, description = "Start of the range (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "End of the range (RFC 3339)"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant to answer for (RFC 3339; now when absent)"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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
            let opened = TimeRange::from_params(optional_param(&params, "from"), optional_param(&params, "to"))?;
            let filter = NcrFilter::new(
                param(&params, "status"),
                param(&params, "product"),
                param(&params, "work_unit"),
                opened,
            )?;
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
            let page = Page::from_params(optional_param(&params, "page_size"), optional_param(&params, "page_token"))?;
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

#[utoipa::path(
    get,
    path = "/api/quality/fpy",
    tag = "quality",
    operation_id = "quality_fpy",
    params(
        ("product" = Option<String>, Query, description = "Only rows of this product"),
        ("operation" = Option<String>, Query, description = "Only rows of this operation"),
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("from" = Option<String>, Query, format = DateTime, description = "Start of the range (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "End of the range (RFC 3339)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn fpy(
    State(queries): State<QualityQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["product", "operation", "work_unit", "from", "to"])?;
            let recorded = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
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
            let rows = queries.yields(&filter, mom_clock::now()).await?;
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

#[utoipa::path(
    get,
    path = "/api/quality/capas",
    tag = "quality",
    operation_id = "quality_capas",
    params(
        ("status" = Option<String>, Query, description = "Only rows of this status"),
        ("owner" = Option<String>, Query, description = "Only rows of this owner"),
        ("overdue" = Option<String>, Query, description = "Only rows of this overdue"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant to answer for (RFC 3339; now when absent)"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
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
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
            let filter = CapaFilter::new(
                param(&params, "status"),
                param(&params, "owner"),
                overdue,
                as_of,
            )?;
            let page = Page::from_params(optional_param(&params, "page_size"), optional_param(&params, "page_token"))?;
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

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<QualityQueries> {
    ApiRouter::new()
        .routes(routes!(ncrs))
        .routes(routes!(fpy))
        .routes(routes!(capas))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: QualityQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: QualityQueries) -> ApiRouter {
    routes().with_state(queries)
}
