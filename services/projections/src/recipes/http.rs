//! The parameter change log as JSON over HTTP, over [`ParameterQueries`] like the gRPC API:
//!
//! - `GET /api/parameters?order=&work_unit=&parameter=&page_size=&page_token=` (exactly one of
//!   `order` and `work_unit`; bad input is 400 naming the parameter)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{ChangeFilter, ChangeRow, ParameterQueries};
use crate::http::{optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page};

fn change_json(row: &ChangeRow) -> Value {
    json!({
        "kind": row.kind,
        "work_unit": row.work_unit,
        "order_id": row.order_id,
        "operation": row.operation,
        "recipe": row.recipe,
        "version": row.version,
        "parameter": row.parameter,
        "unit": row.unit,
        "value": row.value,
        "setpoint": row.setpoint,
        "lower": row.lower_limit,
        "upper": row.upper_limit,
        "status": row.status,
        "hold_order": row.hold_order != 0,
        "old_setpoint": row.old_setpoint,
        "reason": row.reason,
        "actor": row.actor,
        "on_behalf_of": row.on_behalf_of,
        "at": rfc3339(row.at_ms),
        "sequence": row.sequence,
    })
}

#[utoipa::path(
    get,
    path = "/api/parameters",
    tag = "recipes",
    operation_id = "recipes_changes",
    params(
        ("order" = Option<String>, Query, description = "Only rows of this order"),
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("parameter" = Option<String>, Query, description = "Only rows of this parameter"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn changes(
    State(queries): State<ParameterQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["order", "work_unit", "parameter", "page_size", "page_token"],
            )?;
            let filter = ChangeFilter::new(
                param(&params, "order"),
                "order",
                param(&params, "work_unit"),
                param(&params, "parameter"),
            )?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.changes(&filter, page).await?;
            Ok(json!({
                "changes": rows.iter().map(change_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<ParameterQueries> {
    ApiRouter::new().routes(routes!(changes))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: ParameterQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: ParameterQueries) -> ApiRouter {
    routes().with_state(queries)
}
