//! The parameter change log as JSON over HTTP, over [`ParameterQueries`] like the gRPC API:
//!
//! - `GET /api/parameters?order=&work_unit=&parameter=&page_size=&page_token=` (exactly one of
//!   `order` and `work_unit`; bad input is 400 naming the parameter)

use axum::extract::State;
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{ChangeFilter, ChangeRow, ParameterQueries};
use crate::http::{
    page, param, params_with, respond, PageParams, QueryRoutes, QueryString, PAGE_PARAMS,
};
use crate::query::rfc3339;

/// The answer of `GET /api/parameters`: a page of the change log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParameterChangesAnswer {
    /// The changes, oldest first.
    pub changes: Vec<ParameterChange>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// One entry of the process-parameter change log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "kind": "recorded", "work_unit": "oven-1", "order_id": "po-1001", "operation": 20,
    "recipe": "bake", "version": 3, "parameter": "temperature", "unit": "degC",
    "value": 181.5, "setpoint": 180.0, "lower": 175.0, "upper": 185.0, "status": "within",
    "hold_order": false, "old_setpoint": null, "reason": "", "actor": "edge", "on_behalf_of": "",
    "at": "2026-01-05T07:00:00.000Z", "sequence": 42
}))]
pub struct ParameterChange {
    /// `downloaded`, `recorded`, `deviated` or `overridden`.
    pub kind: String,
    /// The work unit.
    pub work_unit: String,
    /// The order (empty when none).
    pub order_id: String,
    /// The operation number.
    pub operation: i64,
    /// The recipe.
    pub recipe: String,
    /// The recipe's version.
    pub version: i64,
    /// The parameter's name.
    pub parameter: String,
    /// Its unit of measure.
    pub unit: String,
    /// The reported value; null when the change reports none.
    pub value: Option<f64>,
    /// The setpoint; null when none.
    pub setpoint: Option<f64>,
    /// The lower limit; null when none.
    pub lower: Option<f64>,
    /// The upper limit; null when none.
    pub upper: Option<f64>,
    /// `within`, `warning` or `deviation` for recorded values (empty otherwise).
    pub status: String,
    /// Whether a deviation holds the order.
    pub hold_order: bool,
    /// The setpoint before an override; null otherwise.
    pub old_setpoint: Option<f64>,
    /// The reason given (empty when none).
    pub reason: String,
    /// Who made the change.
    pub actor: String,
    /// On whose behalf (empty when the actor acted for itself).
    pub on_behalf_of: String,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The work unit's event sequence.
    pub sequence: i64,
}

impl From<&ChangeRow> for ParameterChange {
    fn from(row: &ChangeRow) -> Self {
        Self {
            kind: row.kind.clone(),
            work_unit: row.work_unit.clone(),
            order_id: row.order_id.clone(),
            operation: row.operation,
            recipe: row.recipe.clone(),
            version: row.version,
            parameter: row.parameter.clone(),
            unit: row.unit.clone(),
            value: row.value,
            setpoint: row.setpoint,
            lower: row.lower_limit,
            upper: row.upper_limit,
            status: row.status.clone(),
            hold_order: row.hold_order != 0,
            old_setpoint: row.old_setpoint,
            reason: row.reason.clone(),
            actor: row.actor.clone(),
            on_behalf_of: row.on_behalf_of.clone(),
            at: rfc3339(row.at_ms),
            sequence: row.sequence,
        }
    }
}

/// A page of the process-parameter change log of one order or one work unit.
#[utoipa::path(
    get,
    path = "/api/parameters",
    tag = "recipes",
    operation_id = "recipes_changes",
    params(
        ("order" = Option<String>, Query, description = "The order's changes (exactly one of order and work_unit)"),
        ("work_unit" = Option<String>, Query, description = "The work unit's changes (exactly one of order and work_unit)"),
        ("parameter" = Option<String>, Query, description = "Only changes of this parameter"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the change log", body = ParameterChangesAnswer),
        QueryErrors,
    ),
)]
async fn changes(State(queries): State<ParameterQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["order", "work_unit", "parameter"], &[&PAGE_PARAMS])?;
            let filter = ChangeFilter::new(
                param(&params, "order"),
                "order",
                param(&params, "work_unit"),
                param(&params, "parameter"),
            )?;
            let (rows, next) = queries.changes(&filter, page(&params)?).await?;
            Ok(ParameterChangesAnswer {
                changes: rows.iter().map(ParameterChange::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

impl QueryRoutes for ParameterQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new().routes(routes!(changes))
    }
}
