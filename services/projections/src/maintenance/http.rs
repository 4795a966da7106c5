//! The maintenance query API as JSON over HTTP:
//!
//! - `GET /api/maintenance/backlog[?work_unit=..&status=open|all|..&kind=..&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/maintenance/pm-compliance[?work_unit=..&plan=..&from=..&to=..]`;
//! - `GET /api/maintenance/reliability[?work_unit=..&failure_mode=..]`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::api::{occurrence_json, order_json, plan_json, reliability_json, text};
use super::query::{BacklogFilter, MaintenanceQueries};
use crate::http::{params, respond, Params};
use crate::query::{Page, TimeRange};

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

fn range(params: &Params) -> Result<TimeRange, crate::query::QueryError> {
    TimeRange::from_params(text(param(params, "from")), text(param(params, "to")))
}

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
            let page = Page::from_params(
                params.get("page_size").map(String::as_str),
                params.get("page_token").map(String::as_str),
            )?;
            let (orders, next) = queries.backlog(&filter, page, mom_clock::now()).await?;
            Ok(json!({
                "work_orders": orders.iter().map(order_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

async fn pm_compliance(
    State(queries): State<MaintenanceQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "plan", "from", "to"])?;
            let (plans, occurrences) = queries
                .pm_compliance(
                    text(param(&params, "work_unit")),
                    text(param(&params, "plan")),
                    range(&params)?,
                )
                .await?;
            Ok(json!({
                "plans": plans.iter().map(plan_json).collect::<Vec<_>>(),
                "occurrences": occurrences.iter().map(occurrence_json).collect::<Vec<_>>(),
            }))
        }
        .await,
    )
}

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

/// Returns the HTTP routes of the maintenance read model.
pub fn router(queries: MaintenanceQueries) -> Router {
    Router::new()
        .route("/api/maintenance/backlog", get(backlog))
        .route("/api/maintenance/pm-compliance", get(pm_compliance))
        .route("/api/maintenance/reliability", get(reliability))
        .with_state(queries)
}
