//! The SPC query API as JSON over HTTP, over [`SpcQueries`] like the gRPC API:
//!
//! - `GET /api/spc/charts?product=&parameter=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}`
//! - `GET /api/spc/charts/{id}/points?from=&to=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}/violations?from=&to=&rule=&page_size=&page_token=`
//! - `GET /api/spc/charts/{id}/capability`
//!
//! Bad input is a 400 with `{"error": "..."}` naming the parameter; an unknown chart a 404.

use axum::extract::{Path, State};
use axum::response::Response;
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::query::{
    rules_of, CapabilityRow, ChartFilter, ChartRow, PointRow, SpcQueries, ViolationFilter,
    ViolationRow,
};
use crate::http::{
    page, param, params, params_with, range, respond, PageParams, QueryRoutes, QueryString,
    RangeParams, PAGE_PARAMS, RANGE_PARAMS,
};
use crate::query::{rfc3339, QueryError};

/// The path of one chart's operations (`/api/spc/charts/{id}...`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the OpenAPI derive only.
struct ChartPath {
    /// The chart's id.
    #[param(example = "bore-dia")]
    id: String,
}

/// The answer of `GET /api/spc/charts`: a page of control charts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartsAnswer {
    /// The charts, by id.
    pub charts: Vec<ChartSummary>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A control chart's definition and summary.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "chart_id": "bore-dia", "kind": "xbar_r", "source": "characteristic", "product": "bracket",
    "operation": 20, "characteristic": "bore_diameter", "work_unit": "", "parameter": "",
    "subgroup_size": 5, "window_ms": null, "baseline_subgroups": 25, "baseline_limits": null,
    "spec_lower": 9.95, "spec_upper": 10.05, "ncr_rules": [1], "description": "",
    "defined_at": "2026-01-05T05:00:00.000Z", "points": 40, "violations": 1,
    "last_point_at": "2026-01-05T09:00:00.000Z"
}))]
pub struct ChartSummary {
    /// The chart's id.
    pub chart_id: String,
    /// `i_mr`, `xbar_r`, `xbar_s`, `p`, `np`, `c` or `u`.
    pub kind: String,
    /// `characteristic` (inspection results) or `parameter` (process parameters).
    pub source: String,
    /// The product (characteristic charts; empty otherwise).
    pub product: String,
    /// The operation number (characteristic charts; 0 otherwise).
    pub operation: i64,
    /// The characteristic (characteristic charts; empty otherwise).
    pub characteristic: String,
    /// The work unit (parameter charts; empty: any).
    pub work_unit: String,
    /// The parameter (parameter charts; empty otherwise).
    pub parameter: String,
    /// Samples per subgroup; null when subgroups are time windows.
    pub subgroup_size: Option<i64>,
    /// A subgroup's time window in milliseconds; null when subgroups are by size.
    pub window_ms: Option<i64>,
    /// Subgroups the limits are computed from; null when the limits are explicit.
    pub baseline_subgroups: Option<i64>,
    /// The explicit limits; null when computed from a baseline.
    pub baseline_limits: Option<BaselineLimits>,
    /// The lower specification limit; null when none.
    pub spec_lower: Option<f64>,
    /// The upper specification limit; null when none.
    pub spec_upper: Option<f64>,
    /// The Nelson rules (1 to 8) whose violation opens an NCR.
    pub ncr_rules: Vec<u32>,
    /// Its description.
    pub description: String,
    /// When it was defined (RFC 3339).
    #[schema(format = DateTime)]
    pub defined_at: String,
    /// Points plotted.
    pub points: i64,
    /// Rule violations found.
    pub violations: i64,
    /// The last point's subgroup start (RFC 3339); null before the first point.
    #[schema(format = DateTime)]
    pub last_point_at: Option<String>,
}

/// Explicit control limits: the primary chart's, and optionally the dispersion chart's.
#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineLimits {
    /// The primary center line.
    pub center: f64,
    /// The primary lower control limit.
    pub lower: f64,
    /// The primary upper control limit.
    pub upper: f64,
    /// The dispersion center line; null when none.
    pub dispersion_center: Option<f64>,
    /// The dispersion lower control limit; null when none.
    pub dispersion_lower: Option<f64>,
    /// The dispersion upper control limit; null when none.
    pub dispersion_upper: Option<f64>,
}

impl From<mom_spc::ControlLimits> for BaselineLimits {
    fn from(l: mom_spc::ControlLimits) -> Self {
        Self {
            center: l.center,
            lower: l.lower,
            upper: l.upper,
            dispersion_center: l.dispersion_center,
            dispersion_lower: l.dispersion_lower,
            dispersion_upper: l.dispersion_upper,
        }
    }
}

impl From<&ChartRow> for ChartSummary {
    fn from(row: &ChartRow) -> Self {
        Self {
            chart_id: row.chart_id.clone(),
            kind: row.kind.clone(),
            source: row.source.clone(),
            product: row.product.clone(),
            operation: row.operation,
            characteristic: row.characteristic.clone(),
            work_unit: row.work_unit.clone(),
            parameter: row.parameter.clone(),
            subgroup_size: (row.subgroup_size > 0).then_some(row.subgroup_size),
            window_ms: (row.window_ms > 0).then_some(row.window_ms),
            baseline_subgroups: (row.baseline_subgroups > 0).then_some(row.baseline_subgroups),
            baseline_limits: row.baseline_limits().map(BaselineLimits::from),
            spec_lower: row.spec_lower,
            spec_upper: row.spec_upper,
            ncr_rules: row.ncr_rules(),
            description: row.description.clone(),
            defined_at: rfc3339(row.defined_ms),
            points: row.points,
            violations: row.violations,
            last_point_at: row.last_point_ms.map(rfc3339),
        }
    }
}

/// The answer of `GET /api/spc/charts/{id}/points`: a page of a chart's points.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsAnswer {
    /// The chart.
    pub chart_id: String,
    /// Its points, oldest first.
    pub points: Vec<ChartPoint>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// One plotted point of a control chart.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "index": 41, "subgroup_start": "2026-01-05T09:00:00.000Z", "n": 5, "value": 10.01,
    "dispersion": 0.03, "limits": {"center": 10.0, "lower": 9.97, "upper": 10.03},
    "dispersion_limits": {"center": 0.03, "lower": 0.0, "upper": 0.07},
    "rules": [], "dispersion_rules": []
}))]
pub struct ChartPoint {
    /// Its index on the chart, from 0.
    pub index: i64,
    /// Its subgroup's start (RFC 3339).
    #[schema(format = DateTime)]
    pub subgroup_start: String,
    /// Samples in its subgroup.
    pub n: i64,
    /// The plotted value (mean, individual, proportion or count).
    pub value: f64,
    /// The dispersion (range, standard deviation or moving range); null for attribute charts.
    pub dispersion: Option<f64>,
    /// The primary chart's limits at this point; null during the baseline.
    pub limits: Option<PointLimits>,
    /// The dispersion chart's limits at this point; null when none.
    pub dispersion_limits: Option<PointLimits>,
    /// The Nelson rules (1 to 8) the value violates.
    pub rules: Vec<u32>,
    /// The Nelson rules (1 to 8) the dispersion violates.
    pub dispersion_rules: Vec<u32>,
}

/// The control limits of one chart part at one point.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointLimits {
    /// The center line.
    pub center: f64,
    /// The lower control limit.
    pub lower: f64,
    /// The upper control limit.
    pub upper: f64,
}

impl PointLimits {
    fn of(center: Option<f64>, lower: Option<f64>, upper: Option<f64>) -> Option<Self> {
        Some(Self {
            center: center?,
            lower: lower?,
            upper: upper?,
        })
    }
}

impl From<&PointRow> for ChartPoint {
    fn from(row: &PointRow) -> Self {
        Self {
            index: row.idx,
            subgroup_start: rfc3339(row.start_ms),
            n: row.n,
            value: row.value,
            dispersion: row.dispersion,
            limits: PointLimits::of(row.center, row.lower_limit, row.upper_limit),
            dispersion_limits: PointLimits::of(
                row.dispersion_center,
                row.dispersion_lower,
                row.dispersion_upper,
            ),
            rules: rules_of(row.flags),
            dispersion_rules: rules_of(row.dispersion_flags),
        }
    }
}

/// The answer of `GET /api/spc/charts/{id}/violations`: a page of a chart's rule violations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViolationsAnswer {
    /// The chart.
    pub chart_id: String,
    /// Its violations, oldest first.
    pub violations: Vec<ChartViolation>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A Nelson-rule violation found on a chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartViolation {
    /// The violation's id.
    pub violation_id: String,
    /// The Nelson rule, 1 to 8.
    pub rule: i64,
    /// The chart part it was found on: `value` or `dispersion`.
    pub part: String,
    /// When it was found: the last point's subgroup start (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The points that make it, oldest first.
    pub points: Vec<ViolationPoint>,
    /// The rule in words.
    pub description: String,
    /// Whether quality recorded it (and opened an NCR when the chart says so).
    pub recorded: bool,
}

/// One point of a violation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViolationPoint {
    /// Its subgroup's start (RFC 3339).
    #[schema(format = DateTime)]
    pub subgroup_start: String,
    /// Its value.
    pub value: f64,
}

impl From<&ViolationRow> for ChartViolation {
    fn from(row: &ViolationRow) -> Self {
        let rule = u8::try_from(row.rule).unwrap_or(0);
        Self {
            violation_id: row.violation_id.clone(),
            rule: row.rule,
            part: row.part.clone(),
            at: rfc3339(row.at_ms),
            points: row
                .points()
                .into_iter()
                .map(|(subgroup_start, value)| ViolationPoint {
                    subgroup_start,
                    value,
                })
                .collect(),
            description: mom_spc::Rule(rule).describe().to_owned(),
            recorded: row.recorded != 0,
        }
    }
}

/// The answer of `GET /api/spc/charts/{id}/capability`: process capability over the chart's
/// points.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "chart_id": "bore-dia", "count": 200, "mean": 10.002, "sigma_within": 0.011,
    "sigma_overall": 0.012, "spec_lower": 9.95, "spec_upper": 10.05, "cp": 1.52, "cpk": 1.45,
    "pp": 1.39, "ppk": 1.33
}))]
pub struct CapabilityAnswer {
    /// The chart.
    pub chart_id: String,
    /// The figures.
    #[serde(flatten)]
    pub capability: CapabilityRow,
}

/// A page of the control charts defined in quality.
#[utoipa::path(
    get,
    path = "/api/spc/charts",
    tag = "spc",
    operation_id = "spc_charts",
    params(
        ("product" = Option<String>, Query, description = "Only characteristic charts of this product"),
        ("parameter" = Option<String>, Query, description = "Only parameter charts of this parameter"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of charts", body = ChartsAnswer),
        QueryErrors,
    ),
)]
async fn charts(State(queries): State<SpcQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["product", "parameter"], &[&PAGE_PARAMS])?;
            let filter = ChartFilter {
                product: param(&params, "product").to_owned(),
                parameter: param(&params, "parameter").to_owned(),
            };
            let (rows, next) = queries.charts(&filter, page(&params)?).await?;
            Ok(ChartsAnswer {
                charts: rows.iter().map(ChartSummary::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// One control chart's definition and summary.
#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}",
    tag = "spc",
    operation_id = "spc_chart",
    params(
        ChartPath,
    ),
    responses(
        (status = 200, description = "The chart", body = ChartSummary),
        QueryErrors,
    ),
)]
async fn chart(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let row = queries.chart(&id).await?;
            Ok(ChartSummary::from(&row))
        }
        .await,
    )
}

/// A page of a chart's points with their control limits and rule flags.
#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/points",
    tag = "spc",
    operation_id = "spc_points",
    params(
        ChartPath,
        RangeParams,
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the chart's points", body = PointsAnswer),
        QueryErrors,
    ),
)]
async fn points(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            let params = params_with(query, &[], &[&RANGE_PARAMS, &PAGE_PARAMS])?;
            let (rows, next) = queries.points(&id, range(&params)?, page(&params)?).await?;
            Ok(PointsAnswer {
                chart_id: id,
                points: rows.iter().map(ChartPoint::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// A page of a chart's Nelson-rule violations.
#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/violations",
    tag = "spc",
    operation_id = "spc_violations",
    params(
        ChartPath,
        RangeParams,
        ("rule" = Option<u32>, Query, description = "Only violations of this Nelson rule, 1 to 8", minimum = 0, maximum = 8),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the chart's violations", body = ViolationsAnswer),
        QueryErrors,
    ),
)]
async fn violations(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            let params = params_with(query, &["rule"], &[&RANGE_PARAMS, &PAGE_PARAMS])?;
            let rule = match param(&params, "rule") {
                "" => 0,
                text => text.parse::<u32>().map_err(|_| {
                    QueryError::invalid(
                        "rule",
                        format!("rule {text:?} is not a rule number from 1 to 8"),
                    )
                })?,
            };
            let filter = ViolationFilter::new(range(&params)?, rule)?;
            let (rows, next) = queries.violations(&id, &filter, page(&params)?).await?;
            Ok(ViolationsAnswer {
                chart_id: id,
                violations: rows.iter().map(ChartViolation::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// A chart's process capability (Cp, Cpk, Pp, Ppk).
#[utoipa::path(
    get,
    path = "/api/spc/charts/{id}/capability",
    tag = "spc",
    operation_id = "spc_capability",
    params(
        ChartPath,
    ),
    responses(
        (status = 200, description = "The chart's capability", body = CapabilityAnswer),
        QueryErrors,
    ),
)]
async fn capability(
    State(queries): State<SpcQueries>,
    Path(id): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            params(query, &[])?;
            let row = queries.capability(&id).await?;
            Ok(CapabilityAnswer {
                chart_id: id,
                capability: row,
            })
        }
        .await,
    )
}

impl QueryRoutes for SpcQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(charts))
            .routes(routes!(chart))
            .routes(routes!(points))
            .routes(routes!(violations))
            .routes(routes!(capability))
    }
}
