//! The quality query API as JSON over HTTP, over [`QualityQueries`] like the gRPC API:
//!
//! - `GET /api/quality/ncrs?status=&product=&work_unit=&from=&to=&as_of=&page_size=&page_token=`
//! - `GET /api/quality/fpy?product=&operation=&work_unit=&from=&to=`
//! - `GET /api/quality/capas?status=&owner=&overdue=true|false&as_of=&page_size=&page_token=`

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{
    rolled_yields, CapaFilter, CapaRow, NcrFilter, NcrRow, QualityQueries, YieldFilter, YieldRow,
};
use crate::http::{
    as_of_param, optional_param, page, param, params_with, range, respond, PageParams, QueryRoutes,
    QueryString, RangeParams, PAGE_PARAMS, RANGE_PARAMS,
};
use crate::query::{rfc3339, QueryError};

/// The answer of `GET /api/quality/ncrs`: a page of the NCR register.
#[derive(Debug, Serialize, ToSchema)]
pub struct NcrsAnswer {
    /// The instant ages are computed at (RFC 3339).
    #[schema(format = DateTime)]
    pub as_of: String,
    /// The nonconformance reports, newest first.
    pub ncrs: Vec<Ncr>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A nonconformance report.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "ncr_id": "ncr-9", "product": "bracket", "work_unit": "press-1", "quantity": 12,
    "description": "burr on edge", "inspection_id": "insp-31", "status": "open",
    "opened_at": "2026-01-05T09:00:00.000Z", "closed_at": null, "age_ms": 7200000,
    "dispositioned": {"scrap": 4, "rework": 0, "use_as_is": 0, "return_to_supplier": 0},
    "remaining": 8, "contained_lots": ["L-0042"]
}))]
pub struct Ncr {
    /// The NCR's id.
    pub ncr_id: String,
    /// The product.
    pub product: String,
    /// The work unit (empty when none).
    pub work_unit: String,
    /// Nonconforming units.
    pub quantity: i64,
    /// What is wrong.
    pub description: String,
    /// The failed inspection (empty when none).
    pub inspection_id: String,
    /// `open`, `dispositioned` or `closed`.
    pub status: String,
    /// When it was opened (RFC 3339).
    #[schema(format = DateTime)]
    pub opened_at: String,
    /// When it was closed (RFC 3339); null while open.
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
    /// Its age at `as_of` (until it closed when closed), in milliseconds.
    pub age_ms: i64,
    /// Units dispositioned so far, by disposition.
    pub dispositioned: NcrDispositions,
    /// Units still to disposition.
    pub remaining: i64,
    /// The lots contained by it.
    pub contained_lots: Vec<String>,
}

/// Units of an NCR by disposition.
#[derive(Debug, Serialize, ToSchema)]
pub struct NcrDispositions {
    /// Units scrapped.
    pub scrap: i64,
    /// Units reworked.
    pub rework: i64,
    /// Units used as is.
    pub use_as_is: i64,
    /// Units returned to the supplier.
    pub return_to_supplier: i64,
}

impl Ncr {
    fn new(row: &NcrRow, lots: &[String], as_of: DateTime<Utc>) -> Self {
        Self {
            ncr_id: row.ncr_id.clone(),
            product: row.product.clone(),
            work_unit: row.work_unit.clone(),
            quantity: row.quantity,
            description: row.description.clone(),
            inspection_id: row.inspection_id.clone(),
            status: row.status.clone(),
            opened_at: rfc3339(row.opened_ms),
            closed_at: row.closed_ms.map(rfc3339),
            age_ms: row.age_ms(as_of),
            dispositioned: NcrDispositions {
                scrap: row.scrap,
                rework: row.rework,
                use_as_is: row.use_as_is,
                return_to_supplier: row.return_to_supplier,
            },
            remaining: row.remaining,
            contained_lots: lots.to_vec(),
        }
    }
}

/// The answer of `GET /api/quality/fpy`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FpyAnswer {
    /// First-pass yield per product and operation.
    pub yields: Vec<YieldEntry>,
    /// Rolled throughput yield per product.
    pub products: Vec<RolledYield>,
}

/// Units inspected and rejected of one product at one operation, and its first-pass yield.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "product": "bracket", "operation": 10, "inspected": 200, "rejected": 6,
    "first_pass_yield": 0.97
}))]
pub struct YieldEntry {
    /// The product.
    pub product: String,
    /// The operation number.
    pub operation: i64,
    /// Units inspected.
    pub inspected: i64,
    /// Units rejected.
    pub rejected: i64,
    /// (inspected − rejected) / inspected; null when nothing was inspected.
    pub first_pass_yield: Option<f64>,
}

impl From<&YieldRow> for YieldEntry {
    fn from(row: &YieldRow) -> Self {
        Self {
            product: row.product.clone(),
            operation: row.operation,
            inspected: row.inspected,
            rejected: row.rejected,
            first_pass_yield: row.first_pass_yield(),
        }
    }
}

/// The rolled throughput yield of one product.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolledYield {
    /// The product.
    pub product: String,
    /// The product of its operations' first-pass yields, from 0 to 1.
    pub rolled_throughput_yield: f64,
}

/// The answer of `GET /api/quality/capas`: a page of corrective and preventive actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapasAnswer {
    /// The instant overdue is judged at (RFC 3339).
    #[schema(format = DateTime)]
    pub as_of: String,
    /// The actions, soonest due first.
    pub capas: Vec<Capa>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A corrective or preventive action.
#[derive(Debug, Serialize, ToSchema)]
pub struct Capa {
    /// The CAPA's id.
    pub capa_id: String,
    /// `corrective` or `preventive`.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Who owns it.
    pub owner: String,
    /// When it is due (RFC 3339).
    #[schema(format = DateTime)]
    pub due: String,
    /// `open`, `implemented` or `closed`.
    pub status: String,
    /// When it was opened (RFC 3339).
    #[schema(format = DateTime)]
    pub opened_at: String,
    /// When its last implementation was reported (RFC 3339); null before.
    #[schema(format = DateTime)]
    pub implemented_at: Option<String>,
    /// When it was closed (RFC 3339); null while open.
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
    /// The NCRs it addresses.
    pub ncr_ids: Vec<String>,
    /// How many verifications reopened it.
    pub reopened: i64,
    /// Whether it is past due at `as_of` and not closed.
    pub overdue: bool,
    /// How long past due, in milliseconds (0 when not overdue).
    pub overdue_ms: i64,
    /// Whether it closed after its due time.
    pub closed_late: bool,
}

impl Capa {
    fn new(row: &CapaRow, ncrs: &[String], as_of: DateTime<Utc>) -> Self {
        let overdue = row.overdue_ms(as_of);
        Self {
            capa_id: row.capa_id.clone(),
            kind: row.kind.clone(),
            title: row.title.clone(),
            owner: row.owner.clone(),
            due: rfc3339(row.due_ms),
            status: row.status.clone(),
            opened_at: rfc3339(row.opened_ms),
            implemented_at: row.implemented_ms.map(rfc3339),
            closed_at: row.closed_ms.map(rfc3339),
            ncr_ids: ncrs.to_vec(),
            reopened: row.reopened,
            overdue: overdue.is_some(),
            overdue_ms: overdue.unwrap_or(0),
            closed_late: row.closed_late(),
        }
    }
}

/// A page of the NCR register (the range is of their opening).
#[utoipa::path(
    get,
    path = "/api/quality/ncrs",
    tag = "quality",
    operation_id = "quality_ncrs",
    params(
        ("status" = Option<String>, Query, description = "Only NCRs in this status: open, dispositioned or closed"),
        ("product" = Option<String>, Query, description = "Only NCRs of this product"),
        ("work_unit" = Option<String>, Query, description = "Only NCRs of this work unit"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant ages are computed at (RFC 3339; now when absent)"),
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of NCRs", body = NcrsAnswer),
        QueryErrors,
    ),
)]
async fn ncrs(State(queries): State<QualityQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["status", "product", "work_unit", "as_of"],
                &[&RANGE_PARAMS, &PAGE_PARAMS],
            )?;
            let filter = NcrFilter::new(
                param(&params, "status"),
                param(&params, "product"),
                param(&params, "work_unit"),
                range(&params)?,
            )?;
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
            let (rows, next) = queries.ncrs(&filter, page(&params)?).await?;
            Ok(NcrsAnswer {
                as_of: as_of.to_rfc3339(),
                ncrs: rows
                    .iter()
                    .map(|(row, lots)| Ncr::new(row, lots, as_of))
                    .collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// First-pass yield per product and operation, and rolled throughput yield per product (the
/// range is of the recorded results; the last 30 days when absent).
#[utoipa::path(
    get,
    path = "/api/quality/fpy",
    tag = "quality",
    operation_id = "quality_fpy",
    params(
        ("product" = Option<String>, Query, description = "Only this product"),
        ("operation" = Option<u32>, Query, description = "Only this operation number"),
        ("work_unit" = Option<String>, Query, description = "Only results of this work unit"),
        RangeParams,
    ),
    responses(
        (status = 200, description = "The yields", body = FpyAnswer),
        QueryErrors,
    ),
)]
async fn fpy(State(queries): State<QualityQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["product", "operation", "work_unit"],
                &[&RANGE_PARAMS],
            )?;
            let operation = match param(&params, "operation") {
                "" => None,
                text => Some(text.parse::<u32>().map_err(|_| {
                    QueryError::invalid(
                        "operation",
                        format!("operation {text:?} is not an operation number"),
                    )
                })?),
            };
            let filter = YieldFilter {
                product: param(&params, "product").to_owned(),
                operation,
                work_unit: param(&params, "work_unit").to_owned(),
                recorded: range(&params)?,
            };
            let rows = queries.yields(&filter, mom_clock::now()).await?;
            Ok(FpyAnswer {
                yields: rows.iter().map(YieldEntry::from).collect(),
                products: rolled_yields(&rows)
                    .into_iter()
                    .map(|(product, rty)| RolledYield {
                        product,
                        rolled_throughput_yield: rty,
                    })
                    .collect(),
            })
        }
        .await,
    )
}

/// A page of corrective and preventive actions.
#[utoipa::path(
    get,
    path = "/api/quality/capas",
    tag = "quality",
    operation_id = "quality_capas",
    params(
        ("status" = Option<String>, Query, description = "Only actions in this status: open, implemented or closed"),
        ("owner" = Option<String>, Query, description = "Only actions of this owner"),
        ("overdue" = Option<bool>, Query, description = "true: only actions overdue at as_of"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant overdue is judged at (RFC 3339; now when absent)"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of actions", body = CapasAnswer),
        QueryErrors,
    ),
)]
async fn capas(State(queries): State<QualityQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["status", "owner", "overdue", "as_of"],
                &[&PAGE_PARAMS],
            )?;
            let overdue = match param(&params, "overdue") {
                "" | "false" => false,
                "true" => true,
                other => {
                    return Err(QueryError::invalid(
                        "overdue",
                        format!("overdue {other:?} is not true or false"),
                    ))
                }
            };
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
            let filter = CapaFilter::new(
                param(&params, "status"),
                param(&params, "owner"),
                overdue,
                as_of,
            )?;
            let (rows, next) = queries.capas(&filter, page(&params)?).await?;
            Ok(CapasAnswer {
                as_of: as_of.to_rfc3339(),
                capas: rows
                    .iter()
                    .map(|(row, ncrs)| Capa::new(row, ncrs, as_of))
                    .collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

impl QueryRoutes for QualityQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(ncrs))
            .routes(routes!(fpy))
            .routes(routes!(capas))
    }
}
