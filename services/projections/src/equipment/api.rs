//! The equipment query API over gRPC (`mom.projections.v1.EquipmentReadService`), over
//! [`EquipmentQueries`] like the HTTP API.

use mom_proto::projections::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{
    required_field, Downtime, DowntimeFilter, EquipmentQueries, Interval, UnitFilter, UnitState,
};
use crate::query::{timestamp, Page, TimeRange};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct EquipmentReadService {
    queries: EquipmentQueries,
}

impl EquipmentReadService {
    /// Returns the service over `queries`.
    pub fn new(queries: EquipmentQueries) -> Self {
        Self { queries }
    }
}

fn unit_proto(unit: UnitState) -> pb::EquipmentState {
    pb::EquipmentState {
        since: unit.since_ms.map(timestamp),
        work_unit: unit.work_unit,
        name: unit.name,
        work_center: unit.work_center,
        area: unit.area,
        state: unit.state,
        reason: unit.reason,
        product: unit.product,
    }
}

fn interval_proto(interval: Interval) -> pb::StateInterval {
    pb::StateInterval {
        state: interval.state,
        from: Some(timestamp(interval.from_ms)),
        to: interval.to_ms.map(timestamp),
        reason: interval.reason,
        source: interval.source,
    }
}

fn downtime_proto(downtime: Downtime) -> pb::Downtime {
    pb::Downtime {
        from: Some(timestamp(downtime.from_ms)),
        to: downtime.to_ms.map(timestamp),
        duration_ms: u64::try_from(downtime.duration_ms).unwrap_or(0),
        work_unit: downtime.work_unit,
        kind: downtime.kind,
        reason: downtime.reason,
        source: downtime.source,
        work_order: downtime.work_order,
    }
}

#[tonic::async_trait]
impl pb::equipment_read_service_server::EquipmentReadService for EquipmentReadService {
    async fn list_equipment(
        &self,
        request: Request<pb::ListEquipmentRequest>,
    ) -> Result<Response<pb::ListEquipmentResponse>, Status> {
        let request = request.into_inner();
        let filter = UnitFilter::new(&request.work_center, &request.area, &request.state)?;
        let units = self.queries.units(&filter, mom_clock::now()).await?;
        Ok(Response::new(pb::ListEquipmentResponse {
            equipment: units.into_iter().map(unit_proto).collect(),
        }))
    }

    async fn get_timeline(
        &self,
        request: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, Status> {
        let request = request.into_inner();
        let work_unit = required_field(&request.work_unit, "work_unit")?;
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (intervals, next_page_token) = self.queries.timeline(&work_unit, range, page).await?;
        Ok(Response::new(pb::GetTimelineResponse {
            intervals: intervals.into_iter().map(interval_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_downtime(
        &self,
        request: Request<pb::ListDowntimeRequest>,
    ) -> Result<Response<pb::ListDowntimeResponse>, Status> {
        let request = request.into_inner();
        let range = TimeRange::from_proto(request.from.as_ref(), request.to.as_ref())?;
        let filter = DowntimeFilter::new(&request.work_unit, &request.kind, range)?;
        let page = Page::new(request.page_size, &request.page_token)?;
        let (rows, next_page_token) = self.queries.downtime(&filter, page).await?;
        Ok(Response::new(pb::ListDowntimeResponse {
            downtime: rows.into_iter().map(downtime_proto).collect(),
            next_page_token,
        }))
    }
}
