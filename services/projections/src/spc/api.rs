//! The SPC query API over gRPC (`mom.projections.v1.SpcReadService`), over [`SpcQueries`] like
//! the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{
    rules_of, CapabilityRow, ChartFilter, ChartRow, PointRow, SpcQueries, ViolationFilter,
    ViolationRow,
};
use crate::query::{timestamp, Page, TimeRange};

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn chart_proto(row: &ChartRow) -> pb::ControlChartSummary {
    pb::ControlChartSummary {
        chart_id: row.chart_id.clone(),
        kind: row.kind.clone(),
        source: row.source.clone(),
        product: row.product.clone(),
        operation: u32::try_from(row.operation).unwrap_or(0),
        characteristic: row.characteristic.clone(),
        work_unit: row.work_unit.clone(),
        parameter: row.parameter.clone(),
        subgroup_size: u32::try_from(row.subgroup_size).unwrap_or(0),
        window_ms: unsigned(row.window_ms),
        baseline_subgroups: u32::try_from(row.baseline_subgroups).unwrap_or(0),
        baseline_limits: row.baseline_limits().map(|l| pb::SpcLimits {
            center: l.center,
            lower: l.lower,
            upper: l.upper,
            dispersion_center: l.dispersion_center,
            dispersion_lower: l.dispersion_lower,
            dispersion_upper: l.dispersion_upper,
        }),
        spec_lower: row.spec_lower,
        spec_upper: row.spec_upper,
        ncr_rules: row.ncr_rules(),
        description: row.description.clone(),
        defined_at: Some(timestamp(row.defined_ms)),
        points: unsigned(row.points),
        violations: unsigned(row.violations),
        last_point_at: row.last_point_ms.map(timestamp),
    }
}

fn limits(center: Option<f64>, lower: Option<f64>, upper: Option<f64>) -> Option<pb::PartLimits> {
    Some(pb::PartLimits {
        center: center?,
        lower: lower?,
        upper: upper?,
    })
}

fn point_proto(row: &PointRow) -> pb::SpcPoint {
    pb::SpcPoint {
        index: unsigned(row.idx),
        subgroup_start: Some(timestamp(row.start_ms)),
        n: u32::try_from(row.n).unwrap_or(0),
        value: row.value,
        dispersion: row.dispersion,
        limits: limits(row.center, row.lower_limit, row.upper_limit),
        dispersion_limits: limits(
            row.dispersion_center,
            row.dispersion_lower,
            row.dispersion_upper,
        ),
        rules: rules_of(row.flags),
        dispersion_rules: rules_of(row.dispersion_flags),
    }
}

fn violation_proto(row: &ViolationRow) -> pb::SpcViolation {
    let rule = u32::try_from(row.rule).unwrap_or(0);
    pb::SpcViolation {
        violation_id: row.violation_id.clone(),
        rule,
        part: row.part.clone(),
        at: Some(timestamp(row.at_ms)),
        points: row
            .points()
            .into_iter()
            .map(|(start, value)| pb::SpcViolationPoint {
                subgroup_start: chrono::DateTime::parse_from_rfc3339(&start)
                    .ok()
                    .map(|t| mom_proto::time::to_timestamp(t.with_timezone(&chrono::Utc))),
                value,
            })
            .collect(),
        description: mom_spc::Rule(u8::try_from(rule).unwrap_or(0))
            .describe()
            .to_owned(),
        recorded: row.recorded != 0,
    }
}

fn capability_proto(chart_id: String, c: &CapabilityRow) -> pb::GetChartCapabilityResponse {
    pb::GetChartCapabilityResponse {
        chart_id,
        count: unsigned(c.count),
        mean: c.mean,
        sigma_within: c.sigma_within,
        sigma_overall: c.sigma_overall,
        spec_lower: c.spec_lower,
        spec_upper: c.spec_upper,
        cp: c.cp,
        cpk: c.cpk,
        pp: c.pp,
        ppk: c.ppk,
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct SpcService {
    queries: SpcQueries,
}

impl SpcService {
    /// Returns the service over `queries`.
    pub fn new(queries: SpcQueries) -> Self {
        Self { queries }
    }
}

#[tonic::async_trait]
impl pb::spc_read_service_server::SpcReadService for SpcService {
    async fn list_control_charts(
        &self,
        request: Request<pb::ListControlChartsRequest>,
    ) -> Result<Response<pb::ListControlChartsResponse>, Status> {
        let request = request.into_inner();
        let filter = ChartFilter {
            product: request.product,
            parameter: request.parameter,
        };
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.charts(&filter, page).await?;
        Ok(Response::new(pb::ListControlChartsResponse {
            charts: rows.iter().map(chart_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_control_chart(
        &self,
        request: Request<pb::GetControlChartRequest>,
    ) -> Result<Response<pb::GetControlChartResponse>, Status> {
        let row = self.queries.chart(&request.into_inner().chart_id).await?;
        Ok(Response::new(pb::GetControlChartResponse {
            chart: Some(chart_proto(&row)),
        }))
    }

    async fn list_chart_points(
        &self,
        request: Request<pb::ListChartPointsRequest>,
    ) -> Result<Response<pb::ListChartPointsResponse>, Status> {
        let request = request.into_inner();
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.points(&request.chart_id, range, page).await?;
        Ok(Response::new(pb::ListChartPointsResponse {
            points: rows.iter().map(point_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_chart_violations(
        &self,
        request: Request<pb::ListChartViolationsRequest>,
    ) -> Result<Response<pb::ListChartViolationsResponse>, Status> {
        let request = request.into_inner();
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = ViolationFilter::new(range, request.rule)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self
            .queries
            .violations(&request.chart_id, &filter, page)
            .await?;
        Ok(Response::new(pb::ListChartViolationsResponse {
            violations: rows.iter().map(violation_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_chart_capability(
        &self,
        request: Request<pb::GetChartCapabilityRequest>,
    ) -> Result<Response<pb::GetChartCapabilityResponse>, Status> {
        let id = request.into_inner().chart_id;
        let row = self.queries.capability(&id).await?;
        Ok(Response::new(capability_proto(id, &row)))
    }
}
