//! The dispatch list as JSON over HTTP, over [`DispatchQueries`] like the gRPC API:
//!
//! - `GET /api/dispatch?work_center=&page_size=&page_token=` (every work center when
//!   `work_center` is absent; bad input is 400 with `{"error": ...}` naming the parameter)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
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

/// Returns the HTTP routes of the dispatch list.
pub fn router(queries: DispatchQueries) -> Router {
    Router::new()
        .route("/api/dispatch", get(list))
        .with_state(queries)
}
