//! The maintenance query API as JSON over HTTP, over [`MaintenanceQueries`] like the gRPC API:
//!
//! - `GET /api/maintenance/backlog[?work_unit=..&status=open|all|..&kind=..&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/maintenance/pm-compliance[?work_unit=..&plan=..&from=..&to=..&page_size=..&page_token=..]`;
//! - `GET /api/maintenance/reliability[?work_unit=..&failure_mode=..]`.

use axum::extract::State;
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{
    text, BacklogFilter, MaintenanceQueries, PlanCompliance, PmOccurrence, Reliability, WorkOrder,
};
use crate::http::{
    page, param, params, params_with, range, respond, PageParams, QueryRoutes, QueryString,
    RangeParams, PAGE_PARAMS, RANGE_PARAMS,
};
use crate::query::rfc3339;

/// The answer of `GET /api/maintenance/backlog`: a page of work orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogAnswer {
    /// The work orders, oldest request first.
    pub work_orders: Vec<BacklogWorkOrder>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A maintenance work order in the backlog.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "work_order": "wo-17", "kind": "corrective", "priority": "high", "status": "scheduled",
    "work_unit": "press-1", "reason": "hydraulics", "description": "oil leak",
    "requested": "2026-01-05T08:00:00.000Z", "age_ms": 3600000,
    "scheduled_from": "2026-01-05T10:00:00.000Z", "scheduled_until": "2026-01-05T12:00:00.000Z",
    "started": null, "closed": null
}))]
pub struct BacklogWorkOrder {
    /// The work order's id.
    pub work_order: String,
    /// `corrective` or `preventive`.
    pub kind: String,
    /// Its priority.
    pub priority: String,
    /// `requested`, `scheduled`, `in_progress`, `done` or `cancelled`.
    pub status: String,
    /// The work unit to maintain.
    pub work_unit: String,
    /// The reason code (empty when none).
    pub reason: String,
    /// What to do.
    pub description: String,
    /// When it was requested (RFC 3339).
    #[schema(format = DateTime)]
    pub requested: String,
    /// Milliseconds from the request to its close, or to now while open.
    pub age_ms: i64,
    /// Start of the scheduled window (RFC 3339); null when not scheduled.
    #[schema(format = DateTime)]
    pub scheduled_from: Option<String>,
    /// End of the scheduled window (RFC 3339); null when not scheduled.
    #[schema(format = DateTime)]
    pub scheduled_until: Option<String>,
    /// When work started (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub started: Option<String>,
    /// When it was done or cancelled (RFC 3339); null while open.
    #[schema(format = DateTime)]
    pub closed: Option<String>,
}

impl From<&WorkOrder> for BacklogWorkOrder {
    fn from(order: &WorkOrder) -> Self {
        Self {
            work_order: order.work_order.clone(),
            kind: order.kind.clone(),
            priority: order.priority.clone(),
            status: order.status.clone(),
            work_unit: order.work_unit.clone(),
            reason: order.reason.clone(),
            description: order.description.clone(),
            requested: rfc3339(order.requested_ms),
            age_ms: order.age_ms,
            scheduled_from: order.scheduled_from_ms.map(rfc3339),
            scheduled_until: order.scheduled_until_ms.map(rfc3339),
            started: order.started_ms.map(rfc3339),
            closed: order.closed_ms.map(rfc3339),
        }
    }
}

/// The answer of `GET /api/maintenance/pm-compliance`: compliance per plan and a page of the
/// plans' occurrences.
#[derive(Debug, Serialize, ToSchema)]
pub struct PmComplianceAnswer {
    /// Per work unit and plan, its occurrences by outcome and its compliance.
    pub plans: Vec<PlanComplianceEntry>,
    /// A page of the occurrences due in the range.
    pub occurrences: Vec<PmOccurrenceEntry>,
    /// The `page_token` of the next page of occurrences; empty on the last page.
    pub next_page_token: String,
}

/// The compliance of one preventive-maintenance plan on one work unit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "work_unit": "press-1", "plan": "lube-weekly", "on_time": 3, "late": 1, "missed": 0,
    "open": 1, "compliance": 0.75
}))]
pub struct PlanComplianceEntry {
    /// The work unit.
    pub work_unit: String,
    /// The plan.
    pub plan: String,
    /// Occurrences done by their due time.
    pub on_time: u32,
    /// Occurrences done after it.
    pub late: u32,
    /// Occurrences not done.
    pub missed: u32,
    /// Occurrences not decided yet.
    pub open: u32,
    /// on_time / (on_time + late + missed), from 0 to 1; 0 when none was decided yet.
    pub compliance: f64,
}

impl From<&PlanCompliance> for PlanComplianceEntry {
    fn from(plan: &PlanCompliance) -> Self {
        Self {
            work_unit: plan.work_unit.clone(),
            plan: plan.plan.clone(),
            on_time: plan.on_time,
            late: plan.late,
            missed: plan.missed,
            open: plan.open,
            compliance: plan.compliance(),
        }
    }
}

/// One due occurrence of a preventive-maintenance plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PmOccurrenceEntry {
    /// The work unit.
    pub work_unit: String,
    /// The plan.
    pub plan: String,
    /// Its number within the plan.
    pub occurrence: i64,
    /// When it is due (RFC 3339).
    #[schema(format = DateTime)]
    pub due: String,
    /// The work order issued for it (empty when none).
    pub work_order: String,
    /// When it was done (RFC 3339); null when not done.
    #[schema(format = DateTime)]
    pub completed: Option<String>,
    /// `on_time`, `late`, `missed` or `open`.
    pub status: String,
}

impl From<&PmOccurrence> for PmOccurrenceEntry {
    fn from(occurrence: &PmOccurrence) -> Self {
        Self {
            work_unit: occurrence.work_unit.clone(),
            plan: occurrence.plan.clone(),
            occurrence: occurrence.occurrence,
            due: rfc3339(occurrence.due_ms),
            work_order: occurrence.work_order.clone(),
            completed: occurrence.completed_ms.map(rfc3339),
            status: occurrence.status.clone(),
        }
    }
}

/// The answer of `GET /api/maintenance/reliability`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReliabilityAnswer {
    /// Per work unit and failure mode, its failures, repairs, MTBF and MTTR.
    pub reliability: Vec<Reliability>,
}

/// A page of the work-order backlog (open work orders unless `status` says otherwise).
#[utoipa::path(
    get,
    path = "/api/maintenance/backlog",
    tag = "maintenance",
    operation_id = "maintenance_backlog",
    params(
        ("work_unit" = Option<String>, Query, description = "Only work orders of this work unit"),
        ("status" = Option<String>, Query, description = "requested, scheduled, in_progress, done, cancelled, open (the default: not done nor cancelled) or all", example = "open"),
        ("kind" = Option<String>, Query, description = "Only work orders of this kind: corrective or preventive"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of work orders", body = BacklogAnswer),
        QueryErrors,
    ),
)]
async fn backlog(State(queries): State<MaintenanceQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["work_unit", "status", "kind"],
                &[&RANGE_PARAMS, &PAGE_PARAMS],
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
            Ok(BacklogAnswer {
                work_orders: orders.iter().map(BacklogWorkOrder::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// Preventive-maintenance compliance per plan, with a page of the occurrences due in the range.
#[utoipa::path(
    get,
    path = "/api/maintenance/pm-compliance",
    tag = "maintenance",
    operation_id = "maintenance_pm_compliance",
    params(
        ("work_unit" = Option<String>, Query, description = "Only plans of this work unit"),
        ("plan" = Option<String>, Query, description = "Only this plan"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "Compliance per plan and a page of occurrences", body = PmComplianceAnswer),
        QueryErrors,
    ),
)]
async fn pm_compliance(State(queries): State<MaintenanceQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["work_unit", "plan"],
                &[&RANGE_PARAMS, &PAGE_PARAMS],
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
            Ok(PmComplianceAnswer {
                plans: plans.iter().map(PlanComplianceEntry::from).collect(),
                occurrences: occurrences.iter().map(PmOccurrenceEntry::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// MTBF and MTTR per work unit and failure mode.
#[utoipa::path(
    get,
    path = "/api/maintenance/reliability",
    tag = "maintenance",
    operation_id = "maintenance_reliability",
    params(
        ("work_unit" = Option<String>, Query, description = "Only this work unit"),
        ("failure_mode" = Option<String>, Query, description = "Only this failure mode"),
    ),
    responses(
        (status = 200, description = "Reliability per work unit and failure mode", body = ReliabilityAnswer),
        QueryErrors,
    ),
)]
async fn reliability(State(queries): State<MaintenanceQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params(query, &["work_unit", "failure_mode"])?;
            let rows = queries
                .reliability(
                    text(param(&params, "work_unit")),
                    text(param(&params, "failure_mode")),
                )
                .await?;
            Ok(ReliabilityAnswer { reliability: rows })
        }
        .await,
    )
}

impl QueryRoutes for MaintenanceQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(backlog))
            .routes(routes!(pm_compliance))
            .routes(routes!(reliability))
    }
}
