//! The maintenance query API over gRPC (`mom.projections.v1.MaintenanceReadService`), over
//! [`MaintenanceQueries`] like the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{
    text, BacklogFilter, MaintenanceQueries, PlanCompliance, PmOccurrence, Reliability, WorkOrder,
};
use crate::query::{timestamp, Page, TimeRange};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct MaintenanceReadService {
    queries: MaintenanceQueries,
}

impl MaintenanceReadService {
    /// Returns the service over `queries`.
    pub fn new(queries: MaintenanceQueries) -> Self {
        Self { queries }
    }
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn order_proto(order: WorkOrder) -> pb::WorkOrder {
    pb::WorkOrder {
        requested: Some(timestamp(order.requested_ms)),
        age_ms: unsigned(order.age_ms),
        scheduled_from: order.scheduled_from_ms.map(timestamp),
        scheduled_until: order.scheduled_until_ms.map(timestamp),
        started: order.started_ms.map(timestamp),
        closed: order.closed_ms.map(timestamp),
        work_order: order.work_order,
        kind: order.kind,
        priority: order.priority,
        status: order.status,
        work_unit: order.work_unit,
        reason: order.reason,
        description: order.description,
    }
}

fn plan_proto(plan: PlanCompliance) -> pb::PmPlanCompliance {
    pb::PmPlanCompliance {
        compliance: plan.compliance(),
        on_time: plan.on_time,
        late: plan.late,
        missed: plan.missed,
        open: plan.open,
        work_unit: plan.work_unit,
        plan: plan.plan,
    }
}

fn occurrence_proto(occurrence: PmOccurrence) -> pb::PmOccurrence {
    pb::PmOccurrence {
        occurrence: u32::try_from(occurrence.occurrence).unwrap_or(0),
        due: Some(timestamp(occurrence.due_ms)),
        completed: occurrence.completed_ms.map(timestamp),
        work_unit: occurrence.work_unit,
        plan: occurrence.plan,
        work_order: occurrence.work_order,
        status: occurrence.status,
    }
}

fn reliability_proto(row: Reliability) -> pb::Reliability {
    pb::Reliability {
        failures: u32::try_from(row.failures).unwrap_or(0),
        repairs: u32::try_from(row.repairs).unwrap_or(0),
        mtbf_ms: unsigned(row.mtbf_ms),
        mttr_ms: unsigned(row.mttr_ms),
        mean_downtime_ms: unsigned(row.mean_downtime_ms),
        work_unit: row.work_unit,
        failure_mode: row.failure_mode,
    }
}

#[tonic::async_trait]
impl pb::maintenance_read_service_server::MaintenanceReadService for MaintenanceReadService {
    async fn list_backlog(
        &self,
        request: Request<pb::ListBacklogRequest>,
    ) -> Result<Response<pb::ListBacklogResponse>, Status> {
        let request = request.into_inner();
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = BacklogFilter::new(&request.work_unit, &request.status, &request.kind, range)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (orders, next_page_token) = self
            .queries
            .backlog(&filter, page, mom_clock::now())
            .await?;
        Ok(Response::new(pb::ListBacklogResponse {
            work_orders: orders.into_iter().map(order_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_pm_compliance(
        &self,
        request: Request<pb::GetPmComplianceRequest>,
    ) -> Result<Response<pb::GetPmComplianceResponse>, Status> {
        let request = request.into_inner();
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (plans, occurrences, next_page_token) = self
            .queries
            .pm_compliance(
                text(&request.work_unit),
                text(&request.plan),
                range,
                mom_clock::now(),
                page,
            )
            .await?;
        Ok(Response::new(pb::GetPmComplianceResponse {
            plans: plans.into_iter().map(plan_proto).collect(),
            occurrences: occurrences.into_iter().map(occurrence_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_reliability(
        &self,
        request: Request<pb::GetReliabilityRequest>,
    ) -> Result<Response<pb::GetReliabilityResponse>, Status> {
        let request = request.into_inner();
        let rows = self
            .queries
            .reliability(text(&request.work_unit), text(&request.failure_mode))
            .await?;
        Ok(Response::new(pb::GetReliabilityResponse {
            reliability: rows.into_iter().map(reliability_proto).collect(),
        }))
    }
}
