//! The dispatch list as JSON over HTTP, over [`DispatchQueries`] like the gRPC API:
//!
//! - `GET /api/dispatch?work_center=&page_size=&page_token=` (every work center when
//!   `work_center` is absent; bad input is 400 with `{"error": ...}` naming the parameter)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{work_center_filter, DispatchQueries, DispatchRow};
use crate::http::{optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page};

fn row_json(row: &DispatchRow) -> Value {
    json!({
        "work_center": row.work_center,
        "order_id": row.order_id,
        "operation": row.operation,
        "name": row.name,
        "product": row.product,
        "quantity": row.quantity,
        "priority": row.priority,
        "due": row.due_ms.map(rfc3339),
        "position": (row.position > 0).then_some(row.position),
        "eligible_work_units": row.eligible_work_units(),
        "dispatched_work_unit": row.dispatched_unit,
        "work_unit": row.work_unit,
        "state": row.state,
        "order_status": row.order_status,
        "held": row.held != 0,
    })
}

#[utoipa::path(
    get,
    path = "/api/dispatch",
    tag = "dispatch",
    operation_id = "dispatch_list",
    params(
        ("work_center" = Option<String>, Query, description = "Only rows of this work center"),
        ("page_size" = Option<u32>, Query, description = "Rows per page, 1 to 1000 (a default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page (first page when absent)"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn list(
    State(queries): State<DispatchQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_center", "page_size", "page_token"])?;
            let work_center = work_center_filter(param(&params, "work_center"))?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.list(&work_center, page).await?;
            Ok(json!({
                "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<DispatchQueries> {
    ApiRouter::new().routes(routes!(list))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: DispatchQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: DispatchQueries) -> ApiRouter {
    routes().with_state(queries)
}
