//! The SPC query API as JSON over HTTP, over [`SpcQueries`] like the gRPC API:
//!
//! - `GET /api/spc/charts?product=&parameter=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}`
//! - `GET /api/spc/charts/{id}/points?from=&to=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}/violations?from=&to=&rule=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}/capability`
//!
//! Bad input is a 400 with `{"error": "..."}` naming the parameter; an unknown chart a 404.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{
    rules_of, CapabilityRow, ChartFilter, ChartRow, PointRow, SpcQueries, ViolationFilter,
    ViolationRow,
};
use crate::http::{optional_param, param, params, respond};
use crate::query::{rfc3339, Page, QueryError, TimeRange};

fn chart_json(row: &ChartRow) -> Value {
    json!({
        "chart_id": row.chart_id,
        "kind": row.kind,
        "source": row.source,
        "product": row.product,
        "operation": row.operation,
        "characteristic": row.characteristic,
        "work_unit": row.work_unit,
        "parameter": row.parameter,
        "subgroup_size": (row.subgroup_size > 0).then_some(row.subgroup_size),
        "window_ms": (row.window_ms > 0).then_some(row.window_ms),
        "baseline_subgroups": (row.baseline_subgroups > 0).then_some(row.baseline_subgroups),
        "baseline_limits": row.baseline_limits(),
        "spec_lower": row.spec_lower,
        "spec_upper": row.spec_upper,
        "ncr_rules": row.ncr_rules(),
        "description": row.description,
        "defined_at": rfc3339(row.defined_ms),
        "points": row.points,
        "violations": row.violations,
        "last_point_at": row.last_point_ms.map(rfc3339),
    })
}

fn limits_json(center: Option<f64>, lower: Option<f64>, upper: Option<f64>) -> Value {
    match (center, lower, upper) {
        (Some(center), Some(lower), Some(upper)) => {
            json!({ "center": center, "lower": lower, "upper": upper })
        }
        _ => Value::Null,
    }
}

fn point_json(row: &PointRow) -> Value {
    json!({
        "index": row.idx,
        "subgroup_start": rfc3339(row.start_ms),
        "n": row.n,
        "value": row.value,
        "dispersion": row.dispersion,
        "limits": limits_json(row.center, row.lower_limit, row.upper_limit),
        "dispersion_limits": limits_json(row.dispersion_center, row.dispersion_lower, row.dispersion_upper),
        "rules": rules_of(row.flags),
        "dispersion_rules": rules_of(row.dispersion_flags),
    })
}

fn violation_json(row: &ViolationRow) -> Value {
    let rule = u8::try_from(row.rule).unwrap_or(0);
    json!({
        "violation_id": row.violation_id,
        "rule": row.rule,
        "part": row.part,
        "at": rfc3339(row.at_ms),
        "points": row.points().into_iter().map(|(start, value)| json!({
            "subgroup_start": start,
            "value": value,
        })).collect::<Vec<_>>(),
        "description": mom_spc::Rule(rule).describe(),
        "recorded": row.recorded != 0,
    })
}

fn capability_json(id: &str, c: &CapabilityRow) -> Value {
    json!({
        "chart_id": id,
        "count": c.count,
        "mean": c.mean,
        "sigma_within": c.sigma_within,
        "sigma_overall": c.sigma_overall,
        "spec_lower": c.spec_lower,
        "spec_upper": c.spec_upper,
        "cp": c.cp,
        "cpk": c.cpk,
        "pp": c.pp,
        "ppk": c.ppk,
    })
}

type QueryParams = Result<Query<crate::http::Params>, QueryRejection>;

#[utoipa::path(
    get,
    path = "/api/spc/charts",
    tag = "spc",
    operation_id = "spc_charts",
    params(
        ("product" = Option<String>, Query, description = "Only rows of this product"),
        ("parameter" = Option<String>, Query, description = "Only rows of this parameter"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn charts(State(queries): State<SpcQueries>, query: QueryParams) -> Response {
    respond(
        async {
            let params = params(query, &["product", "parameter", "page_size", "page_token"])?;
            let filter = ChartFilter {
                product: param(&params, "product").to_owned(),
                parameter: param(&params, "parameter").to_owned(),
            };
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.charts(&filter, page).await?;
            Ok(json!({
                "charts": rows.iter().map(chart_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}",
    tag = "spc",
    operation_id = "spc_chart",
    params(
        ("id" = String, Path, description = "The id"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn chart(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let row = queries.chart(&id).await?;
            Ok(chart_json(&row))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/points",
    tag = "spc",
    operation_id = "spc_points",
    params(
        ("id" = String, Path, description = "The id"),
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
async fn points(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Response {
    respond(
        async {
            let params = params(query, &["from", "to", "page_size", "page_token"])?;
            let range = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.points(&id, range, page).await?;
            Ok(json!({
                "chart_id": id,
                "points": rows.iter().map(point_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/violations",
    tag = "spc",
    operation_id = "spc_violations",
    params(
        ("id" = String, Path, description = "The id"),
        ("from" = Option<String>, Query, format = DateTime, description = "Start of the range (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "End of the range (RFC 3339)"),
        ("rule" = Option<String>, Query, description = "Only rows of this rule"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn violations(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Response {
    respond(
        async {
            let params = params(query, &["from", "to", "rule", "page_size", "page_token"])?;
            let range = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
            let rule = match param(&params, "rule") {
                "" => 0,
                text => text.parse::<u32>().map_err(|_| {
                    QueryError::InvalidArgument(format!(
                        "rule {text:?} is not a rule number from 1 to 8"
                    ))
                })?,
            };
            let filter = ViolationFilter::new(range, rule)?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.violations(&id, &filter, page).await?;
            Ok(json!({
                "chart_id": id,
                "violations": rows.iter().map(violation_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/capability",
    tag = "spc",
    operation_id = "spc_capability",
    params(
        ("id" = String, Path, description = "The id"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn capability(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let row = queries.capability(&id).await?;
            Ok(capability_json(&id, &row))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<SpcQueries> {
    ApiRouter::new()
        .routes(routes!(charts))
        .routes(routes!(chart))
        .routes(routes!(points))
        .routes(routes!(violations))
        .routes(routes!(capability))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: SpcQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: SpcQueries) -> ApiRouter {
    routes().with_state(queries)
}
