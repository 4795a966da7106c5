//! The equipment query API as JSON over HTTP, over [`EquipmentQueries`] like the gRPC API:
//!
//! - `GET /api/equipment[?work_center=..&area=..&state=..]`: current state of every work unit,
//!   plus a count of units per state for each work center;
//! - `GET /api/equipment/timeline?work_unit=..[&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/equipment/downtime[?work_unit=..&kind=..&from=..&to=..&page_size=..&page_token=..]`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{
    required_field, Downtime, DowntimeFilter, EquipmentQueries, Interval, UnitFilter, UnitState,
};
use crate::http::{
    page, param, params, params_with, range, respond, PageParams, QueryRoutes, QueryString,
    RangeParams, PAGE_PARAMS, RANGE_PARAMS,
};
use crate::query::rfc3339;

/// The answer of `GET /api/equipment`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EquipmentAnswer {
    /// The current state of every work unit the filter selects.
    pub equipment: Vec<EquipmentUnit>,
    /// Per area and work center, how many of those units are in each state.
    pub work_centers: Vec<WorkCenterStates>,
}

/// A work unit's current state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "work_unit": "press-1", "name": "Press 1", "work_center": "pressing", "area": "body",
    "state": "running", "since": "2026-01-05T06:00:00.000Z", "reason": "", "product": "bracket"
}))]
pub struct EquipmentUnit {
    /// The work unit's id.
    pub work_unit: String,
    /// Its display name (empty when maintenance has not registered it).
    pub name: String,
    /// Its work center (empty when not registered).
    pub work_center: String,
    /// Its area (empty when not registered).
    pub area: String,
    /// `running`, `stopped`, `setup`, `down`, `starved`, `planned_shutdown` or `unknown`.
    pub state: String,
    /// When it entered the state (RFC 3339); null when no state was ever reported.
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// The reason code of the state (empty when none).
    pub reason: String,
    /// The product it is making (empty when none).
    pub product: String,
}

impl From<&UnitState> for EquipmentUnit {
    fn from(unit: &UnitState) -> Self {
        Self {
            work_unit: unit.work_unit.clone(),
            name: unit.name.clone(),
            work_center: unit.work_center.clone(),
            area: unit.area.clone(),
            state: unit.state.clone(),
            since: unit.since_ms.map(rfc3339),
            reason: unit.reason.clone(),
            product: unit.product.clone(),
        }
    }
}

/// How many units of one work center are in each state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"area": "body", "work_center": "pressing", "states": {"running": 2, "down": 1}}))]
pub struct WorkCenterStates {
    /// The area.
    pub area: String,
    /// The work center.
    pub work_center: String,
    /// Units per state name.
    pub states: BTreeMap<String, u32>,
}

/// The answer of `GET /api/equipment/timeline`: a page of a work unit's state intervals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineAnswer {
    /// The work unit asked for.
    pub work_unit: String,
    /// Its state intervals in the range, newest first.
    pub intervals: Vec<TimelineInterval>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// One interval a work unit spent in one state.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineInterval {
    /// The state.
    pub state: String,
    /// Start (RFC 3339).
    #[schema(format = DateTime)]
    pub from: String,
    /// End (RFC 3339); null while the interval lasts.
    #[schema(format = DateTime)]
    pub to: Option<String>,
    /// The reason code (empty when none).
    pub reason: String,
    /// What reported it (`machine`, `operator`, ...).
    pub source: String,
}

impl From<&Interval> for TimelineInterval {
    fn from(interval: &Interval) -> Self {
        Self {
            state: interval.state.clone(),
            from: rfc3339(interval.from_ms),
            to: interval.to_ms.map(rfc3339),
            reason: interval.reason.clone(),
            source: interval.source.clone(),
        }
    }
}

/// The answer of `GET /api/equipment/downtime`: a page of the downtime log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DowntimeAnswer {
    /// The downtimes, newest first.
    pub downtime: Vec<DowntimeEntry>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// One downtime: a stop, a breakdown or starvation of a work unit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "work_unit": "press-1", "kind": "breakdown", "reason": "hydraulics",
    "from": "2026-01-05T08:00:00.000Z", "to": "2026-01-05T08:20:00.000Z",
    "duration_ms": 1200000, "source": "machine", "work_order": "wo-17"
}))]
pub struct DowntimeEntry {
    /// The work unit.
    pub work_unit: String,
    /// `stop`, `breakdown` or `starvation`.
    pub kind: String,
    /// The reason code (empty when none).
    pub reason: String,
    /// Start (RFC 3339).
    #[schema(format = DateTime)]
    pub from: String,
    /// End (RFC 3339); null while it lasts.
    #[schema(format = DateTime)]
    pub to: Option<String>,
    /// Its length so far, in milliseconds.
    pub duration_ms: i64,
    /// What reported it.
    pub source: String,
    /// The maintenance work order that repaired it (empty when none).
    pub work_order: String,
}

impl From<&Downtime> for DowntimeEntry {
    fn from(downtime: &Downtime) -> Self {
        Self {
            work_unit: downtime.work_unit.clone(),
            kind: downtime.kind.clone(),
            reason: downtime.reason.clone(),
            from: rfc3339(downtime.from_ms),
            to: downtime.to_ms.map(rfc3339),
            duration_ms: downtime.duration_ms,
            source: downtime.source.clone(),
            work_order: downtime.work_order.clone(),
        }
    }
}

/// The current state of every work unit, and how many units of each work center are in each
/// state.
#[utoipa::path(
    get,
    path = "/api/equipment",
    tag = "equipment",
    operation_id = "equipment",
    params(
        ("work_center" = Option<String>, Query, description = "Only units of this work center"),
        ("area" = Option<String>, Query, description = "Only units of this area"),
        ("state" = Option<String>, Query, description = "Only units in this state", example = "down"),
    ),
    responses(
        (status = 200, description = "The units and the counts per work center", body = EquipmentAnswer),
        QueryErrors,
    ),
)]
async fn equipment(State(queries): State<EquipmentQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params(query, &["work_center", "area", "state"])?;
            let filter = UnitFilter::new(
                param(&params, "work_center"),
                param(&params, "area"),
                param(&params, "state"),
            )?;
            let units = queries.units(&filter, mom_clock::now()).await?;
            let mut groups: BTreeMap<(&str, &str), BTreeMap<String, u32>> = BTreeMap::new();
            for unit in &units {
                *groups
                    .entry((unit.area.as_str(), unit.work_center.as_str()))
                    .or_default()
                    .entry(unit.state.clone())
                    .or_default() += 1;
            }
            let work_centers = groups
                .into_iter()
                .map(|((area, work_center), states)| WorkCenterStates {
                    area: area.to_owned(),
                    work_center: work_center.to_owned(),
                    states,
                })
                .collect();
            Ok(EquipmentAnswer {
                equipment: units.iter().map(EquipmentUnit::from).collect(),
                work_centers,
            })
        }
        .await,
    )
}

/// A page of one work unit's state timeline.
#[utoipa::path(
    get,
    path = "/api/equipment/timeline",
    tag = "equipment",
    operation_id = "equipment_timeline",
    params(
        ("work_unit" = String, Query, description = "The work unit", example = "press-1"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the unit's state intervals", body = TimelineAnswer),
        QueryErrors,
    ),
)]
async fn timeline(State(queries): State<EquipmentQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["work_unit"], &[&RANGE_PARAMS, &PAGE_PARAMS])?;
            let work_unit = required_field(param(&params, "work_unit"), "work_unit")?;
            let (intervals, next) = queries
                .timeline(&work_unit, range(&params)?, page(&params)?)
                .await?;
            Ok(TimelineAnswer {
                work_unit,
                intervals: intervals.iter().map(TimelineInterval::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// A page of the downtime log (stops, breakdowns, starvation) with reasons and durations.
#[utoipa::path(
    get,
    path = "/api/equipment/downtime",
    tag = "equipment",
    operation_id = "equipment_downtime",
    params(
        ("work_unit" = Option<String>, Query, description = "Only downtime of this work unit"),
        ("kind" = Option<String>, Query, description = "Only downtime of this kind: stop, breakdown or starvation"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the downtime log", body = DowntimeAnswer),
        QueryErrors,
    ),
)]
async fn downtime(State(queries): State<EquipmentQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["work_unit", "kind"],
                &[&RANGE_PARAMS, &PAGE_PARAMS],
            )?;
            let filter = DowntimeFilter::new(
                param(&params, "work_unit"),
                param(&params, "kind"),
                range(&params)?,
            )?;
            let (rows, next) = queries.downtime(&filter, page(&params)?).await?;
            Ok(DowntimeAnswer {
                downtime: rows.iter().map(DowntimeEntry::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

impl QueryRoutes for EquipmentQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(equipment))
            .routes(routes!(timeline))
            .routes(routes!(downtime))
    }
}
