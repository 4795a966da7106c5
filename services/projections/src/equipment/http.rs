//! The equipment query API as JSON over HTTP, over [`EquipmentQueries`] like the gRPC API:
//!
//! - `GET /api/equipment[?work_center=..&area=..&state=..]`: current state of every work unit,
//!   plus a count of units per state for each work center;
//! - `GET /api/equipment/timeline?work_unit=..[&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/equipment/downtime[?work_unit=..&kind=..&from=..&to=..&page_size=..&page_token=..]`.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde_json::{json, Value};

use super::query::{
    required_field, Downtime, DowntimeFilter, EquipmentQueries, Interval, UnitFilter, UnitState,
};
use crate::http::{optional_param, param, params, respond, Params};
use crate::query::{rfc3339, Page, TimeRange};

/// The JSON of a work unit's state.
fn unit_json(unit: &UnitState) -> Value {
    json!({
        "work_unit": unit.work_unit,
        "name": unit.name,
        "work_center": unit.work_center,
        "area": unit.area,
        "state": unit.state,
        "since": unit.since_ms.map(rfc3339),
        "reason": unit.reason,
        "product": unit.product,
    })
}

/// The JSON of a timeline interval.
fn interval_json(interval: &Interval) -> Value {
    json!({
        "state": interval.state,
        "from": rfc3339(interval.from_ms),
        "to": interval.to_ms.map(rfc3339),
        "reason": interval.reason,
        "source": interval.source,
    })
}

/// The JSON of a downtime.
fn downtime_json(downtime: &Downtime) -> Value {
    json!({
        "work_unit": downtime.work_unit,
        "kind": downtime.kind,
        "reason": downtime.reason,
        "from": rfc3339(downtime.from_ms),
        "to": downtime.to_ms.map(rfc3339),
        "duration_ms": downtime.duration_ms,
        "source": downtime.source,
        "work_order": downtime.work_order,
    })
}

#[utoipa::path(
    get,
    path = "/api/equipment",
    tag = "equipment",
    operation_id = "equipment",
    params(
        ("work_center" = Option<String>, Query, description = "Only rows of this work center"),
        ("area" = Option<String>, Query, description = "Only rows of this area"),
        ("state" = Option<String>, Query, description = "Only rows of this state"),
    ),
    responses(
        (status = 200, description = "The answer as JSON (see the module's documentation for its fields)", content_type = "application/json", body = Object),
        QueryErrors,
    ),
)]
async fn equipment(
    State(queries): State<EquipmentQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(query, &["work_center", "area", "state"])?;
            let filter = UnitFilter::new(
                param(&params, "work_center"),
                param(&params, "area"),
                param(&params, "state"),
            )?;
            let units = queries.units(&filter, mom_clock::now()).await?;
            let mut groups: BTreeMap<(&str, &str), BTreeMap<&str, u32>> = BTreeMap::new();
            for unit in &units {
                *groups
                    .entry((unit.area.as_str(), unit.work_center.as_str()))
                    .or_default()
                    .entry(unit.state.as_str())
                    .or_default() += 1;
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|((area, work_center), states)| {
                    json!({ "area": area, "work_center": work_center, "states": states })
                })
                .collect();
            Ok(json!({
                "equipment": units.iter().map(unit_json).collect::<Vec<_>>(),
                "work_centers": groups,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/equipment/timeline",
    tag = "equipment",
    operation_id = "equipment_timeline",
    params(
        ("work_unit" = String, Query, description = "Only rows of this work unit"),
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
async fn timeline(
    State(queries): State<EquipmentQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["work_unit", "from", "to", "page_size", "page_token"],
            )?;
            let work_unit = required_field(param(&params, "work_unit"), "work_unit")?;
            let range = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (intervals, next) = queries.timeline(&work_unit, range, page).await?;
            Ok(json!({
                "work_unit": work_unit,
                "intervals": intervals.iter().map(interval_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/equipment/downtime",
    tag = "equipment",
    operation_id = "equipment_downtime",
    params(
        ("work_unit" = Option<String>, Query, description = "Only rows of this work unit"),
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
async fn downtime(
    State(queries): State<EquipmentQueries>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    respond(
        async {
            let params = params(
                query,
                &["work_unit", "kind", "from", "to", "page_size", "page_token"],
            )?;
            let range = TimeRange::from_params(
                optional_param(&params, "from"),
                optional_param(&params, "to"),
            )?;
            let filter =
                DowntimeFilter::new(param(&params, "work_unit"), param(&params, "kind"), range)?;
            let page = Page::from_params(
                optional_param(&params, "page_size"),
                optional_param(&params, "page_token"),
            )?;
            let (rows, next) = queries.downtime(&filter, page).await?;
            Ok(json!({
                "downtime": rows.iter().map(downtime_json).collect::<Vec<_>>(),
                "next_page_token": next,
            }))
        }
        .await,
    )
}

/// Returns the read model's routes with their OpenAPI paths, without their state.
pub(crate) fn routes() -> ApiRouter<EquipmentQueries> {
    ApiRouter::new()
        .routes(routes!(equipment))
        .routes(routes!(timeline))
        .routes(routes!(downtime))
}

/// Returns the HTTP routes of the read model.
pub fn router(queries: EquipmentQueries) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model with their OpenAPI paths.
pub(crate) fn api_router(queries: EquipmentQueries) -> ApiRouter {
    routes().with_state(queries)
}
