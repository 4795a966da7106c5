//! The dispatch list as JSON over HTTP, over [`DispatchQueries`] like the gRPC API:
//!
//! - `GET /api/dispatch?work_center=&page_size=&page_token=` (every work center when
//!   `work_center` is absent; bad input is 400 with `{"error": ...}` naming the parameter)

use axum::extract::State;
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{work_center_filter, DispatchQueries, DispatchRow};
use crate::http::{
    page, param, params_with, respond, PageParams, QueryRoutes, QueryString, PAGE_PARAMS,
};
use crate::query::rfc3339;

/// The answer of `GET /api/dispatch`: a page of the dispatch list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DispatchAnswer {
    /// The operations waiting or running, per work center in queue order.
    pub rows: Vec<DispatchEntry>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// An operation of a released order on a work center's dispatch list.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "work_center": "pressing", "order_id": "po-1001", "operation": 10, "name": "press",
    "product": "bracket", "quantity": 500, "priority": 3, "due": "2026-01-07T00:00:00.000Z",
    "position": 1, "eligible_work_units": ["press-1", "press-2"], "dispatched_work_unit": "press-1",
    "work_unit": "", "state": "dispatched", "order_status": "released", "held": false
}))]
pub struct DispatchEntry {
    /// The work center.
    pub work_center: String,
    /// The order.
    pub order_id: String,
    /// The operation number.
    pub operation: i64,
    /// The operation's name.
    pub name: String,
    /// The product.
    pub product: String,
    /// The quantity to make.
    pub quantity: i64,
    /// 1 (most urgent) to 9.
    pub priority: i64,
    /// The order's due date (RFC 3339); null when not given.
    #[schema(format = DateTime)]
    pub due: Option<String>,
    /// Its position in the work center's queue, from 1; null when not sequenced.
    pub position: Option<i64>,
    /// The work units of the work center allowed to run it.
    pub eligible_work_units: Vec<String>,
    /// The work unit it is dispatched to (empty when none).
    pub dispatched_work_unit: String,
    /// The work unit running it (empty when none).
    pub work_unit: String,
    /// `pending`, `dispatched` or `running`.
    pub state: String,
    /// The order's status: `released` or `in_progress`.
    pub order_status: String,
    /// Whether the order is on hold.
    pub held: bool,
}

impl From<&DispatchRow> for DispatchEntry {
    fn from(row: &DispatchRow) -> Self {
        Self {
            work_center: row.work_center.clone(),
            order_id: row.order_id.clone(),
            operation: row.operation,
            name: row.name.clone(),
            product: row.product.clone(),
            quantity: row.quantity,
            priority: row.priority,
            due: row.due_ms.map(rfc3339),
            position: (row.position > 0).then_some(row.position),
            eligible_work_units: row.eligible_work_units(),
            dispatched_work_unit: row.dispatched_unit.clone(),
            work_unit: row.work_unit.clone(),
            state: row.state.clone(),
            order_status: row.order_status.clone(),
            held: row.held != 0,
        }
    }
}

/// A page of the dispatch list: the operations of released orders waiting for or running on
/// each work center, in queue order.
#[utoipa::path(
    get,
    path = "/api/dispatch",
    tag = "dispatch",
    operation_id = "dispatch_list",
    params(
        ("work_center" = Option<String>, Query, description = "Only this work center (every one when absent)"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the dispatch list", body = DispatchAnswer),
        QueryErrors,
    ),
)]
async fn list(State(queries): State<DispatchQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["work_center"], &[&PAGE_PARAMS])?;
            let work_center = work_center_filter(param(&params, "work_center"))?;
            let (rows, next) = queries.list(&work_center, page(&params)?).await?;
            Ok(DispatchAnswer {
                rows: rows.iter().map(DispatchEntry::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

impl QueryRoutes for DispatchQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new().routes(routes!(list))
    }
}
