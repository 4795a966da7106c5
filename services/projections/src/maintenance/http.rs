//! The maintenance query API as JSON over HTTP, over [`MaintenanceQueries`] like the gRPC API:
//!
//! - `GET /api/maintenance/backlog[?work_unit=..&status=open|all|..&kind=..&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/maintenance/pm-compliance[?work_unit=..&plan=..&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/maintenance/reliability[?work_unit=..&failure_mode=..]`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{
    text, BacklogFilter, MaintenanceQueries, PlanCompliance, PmOccurrence, Reliability, WorkOrder,
};
use crate::http::{param, params, respond, Params};
use crate::query::{rfc3339, Page, QueryError, TimeRange};

/// The JSON of a work order.
fn order_json(order: &WorkOrder) -> Value {
    json!({
        "work_order": order.work_order,
        "kind": order.kind,
        "priority": order.priority,
        "status": order.status,
        "work_unit": order.work_unit,
        "reason": order.reason,
        "description": order.description,
        "requested": rfc3339(order.requested_ms),
        "age_ms": order.age_ms,
        "scheduled_from": order.scheduled_from_ms.map(rfc3339),
        "scheduled_until": order.scheduled_until_ms.map(rfc3339),
        "started": order.started_ms.map(rfc3339),
        "closed": order.closed_ms.map(rfc3339),
    })
}

/// The JSON of a plan's compliance.
fn plan_json(plan: &PlanCompliance) -> Value {
    json!({
        "work_unit": plan.work_unit,
        "plan": plan.plan,
        "on_time": plan.on_time,
        "late": plan.late,
        "missed": plan.missed,
        "open": plan.open,
        "compliance": plan.compliance(),
    })
}

/// The JSON of a PM occurrence.
fn occurrence_json(occurrence: &PmOccurrence) -> Value {
    json!({
        "work_unit": occurrence.work_unit,
        "plan": occurrence.plan,
        "occurrence": occurrence.occurrence,
        "due": rfc3339(occurrence.due_ms),
        "work_order": occurrence.work_order,
        "completed": occurrence.completed_ms.map(rfc3339),
        "status": occurrence.status,
    })
}

/// The JSON of a reliability row.
fn reliability_json(row: &Reliability) -> Value {
    json!({
        "work_unit": row.work_unit,
        "failure_mode": row.failure_mode,
        "failures": row.failures,
        "repairs": row.repairs,
        "mtbf_ms": row.mtbf_ms,
        "mttr_ms": row.mttr_ms,
        "mean_downtime_ms": row.mean_downtime_ms,
    })
}

fn range(params: &Params) -> Result<TimeRange, QueryError> {
    TimeRange::from_params(text(param(params, "from")), text(param(params, "to")))
}

fn page(params: &Params) -> Result<Page, QueryError> {
    Page::from_params(
        text(param(params, "page_size")),
        text(param(params, "page_token")),
    )
}

#[utoipa::path(
    get,
    path = "/api/maintenance/backlog",
    tag = "maintenance",
    operation_id = "maintenance_backlog",
    params(
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("status" = Option<String>, Query, description = "Only rows of this status"),
        ("kind" = Option<String>, Query, description = "Only rows of this kind"),
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
async fn backlog(
    State(queries): State<MaintenanceQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &[
                    "work_unit",
                    "status",
                    "kind",
                    "from",
                    "to",
                    "page_size",
                    "page_token",
                ],
            )?;
            let filter = BacklogFilter::new(
                param(&params, "work_unit"),
                param(&params, "status"),
                param(&params, "kind"),
                range(&params)?,
            )?;
            let (orders, next) = queries
                .backlog(&filter, page(&params)?, mom_clock::now())
                .await?;
            Ok(json!({
                "work_orders": orders.iter().map(order_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/maintenance/pm-compliance",
    tag = "maintenance",
    operation_id = "maintenance_pm_compliance",
    params(
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("plan" = Option<String>, Query, description = "Only rows of this plan"),
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
async fn pm_compliance(
    State(queries): State<MaintenanceQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["work_unit", "plan", "from", "to", "page_size", "page_token"],
            )?;
            let (plans, occurrences, next) = queries
                .pm_compliance(
                    text(param(&params, "work_unit")),
                    text(param(&params, "plan")),
                    range(&params)?,
                    mom_clock::now(),
                    page(&params)?,
                )
                .await?;
            Ok(json!({
                "plans": plans.iter().map(plan_json).collect::<Vec<_>>(),
                "occurrences": occurrences.iter().map(occurrence_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/maintenance/reliability",
    tag = "maintenance",
    operation_id = "maintenance_reliability",
    params(
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
        ("failure_mode" = Option<String>, Query, description = "Only rows of this failure mode"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn reliability(
    State(queries): State<MaintenanceQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "failure_mode"])?;
            let rows = queries
                .reliability(
                    text(param(&params, "work_unit")),
                    text(param(&params, "failure_mode")),
                )
                .await?;
            Ok(json!({ "reliability": rows.iter().map(reliability_json).collect::<Vec<_>>() }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<MaintenanceQueries> {
    ApiRouter::new()
        .routes(routes!(backlog))
        .routes(routes!(pm_compliance))
        .routes(routes!(reliability))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: MaintenanceQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: MaintenanceQueries) -> ApiRouter {
    routes().with_state(queries)
}
