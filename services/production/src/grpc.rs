//! The production gRPC API: requests become domain commands (`contract`) and run on the kernel
//! through `mom_grpc::run`, which maps every rejection to its status code and answers a repeated
//! idempotency key with the original reply.

use std::sync::Arc;

use mom_grpc::{call, Ran};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_server::ProductionService;
use tonic::{Request, Response, Status};

use crate::contract;
use crate::domain::OrderId;
use crate::Application;

/// The `ProductionService` implementation.
#[derive(Debug)]
pub struct ProductionApi {
    app: Arc<Application>,
}

impl ProductionApi {
    /// Returns the API over `app`.
    pub fn new(app: Arc<Application>) -> Self {
        Self { app }
    }
}

/// Returns the reply to a command that ran (or was replayed).
fn reply(ran: Ran) -> Response<pb::CommandReply> {
    Response::new(contract::command_reply(&ran.id, ran.version))
}

/// Parses a command request with `$parse` (a malformed field is `INVALID_ARGUMENT`), runs it on
/// `$executor` and replies with the aggregate's id and version.
macro_rules! command {
    ($executor:expr, $request:ident, $parse:expr) => {{
        let call = call(&$request);
        let parsed = $parse($request.into_inner())?;
        Ok(reply(mom_grpc::run(&$executor, parsed, call).await?))
    }};
}

#[tonic::async_trait]
impl ProductionService for ProductionApi {
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, |req| contract::create_order(
            req,
            OrderId::generate
        ))
    }

    async fn release_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::release_order)
    }

    async fn start_operation(
        &self,
        request: Request<pb::StartOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::start_operation)
    }

    async fn report_quantity(
        &self,
        request: Request<pb::ReportQuantityRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::report_quantity)
    }

    async fn complete_operation(
        &self,
        request: Request<pb::CompleteOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::complete_operation)
    }

    async fn hold_order(
        &self,
        request: Request<pb::ReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::hold_order)
    }

    async fn resume_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::resume_order)
    }

    async fn complete_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::complete_order)
    }

    async fn cancel_order(
        &self,
        request: Request<pb::ReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::cancel_order)
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let id = contract::get_order(request.get_ref())?.to_string();
        let order = mom_grpc::get(&self.app.orders, &id, contract::order_reply).await?;
        Ok(Response::new(order))
    }

    async fn register_work_unit(
        &self,
        request: Request<pb::RegisterWorkUnitRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::register_work_unit)
    }

    async fn set_ideal_cycle_time(
        &self,
        request: Request<pb::SetIdealCycleTimeRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::set_ideal_cycle_time)
    }

    async fn report_running(
        &self,
        request: Request<pb::ReportRunningRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::report_running)
    }

    async fn report_stopped(
        &self,
        request: Request<pb::ReportStoppedRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::report_stopped)
    }

    async fn report_disconnected(
        &self,
        request: Request<pb::ReportDisconnectedRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::report_disconnected)
    }

    async fn start_setup(
        &self,
        request: Request<pb::StartSetupRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::start_setup)
    }

    async fn end_setup(
        &self,
        request: Request<pb::EndSetupRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::end_setup)
    }

    async fn schedule_planned_shutdown(
        &self,
        request: Request<pb::SchedulePlannedShutdownRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self.app.work_units,
            request,
            contract::schedule_planned_shutdown
        )
    }

    async fn report_count(
        &self,
        request: Request<pb::ReportCountRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::report_count)
    }

    async fn get_work_unit(
        &self,
        request: Request<pb::GetWorkUnitRequest>,
    ) -> Result<Response<pb::WorkUnit>, Status> {
        let id = contract::get_work_unit(request.get_ref())?.to_string();
        let unit = mom_grpc::get(&self.app.work_units, &id, contract::work_unit_reply).await?;
        Ok(Response::new(unit))
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::AggregateError;
    use mom_domain::Rejected;
    use mom_grpc::command_status;
    use tonic::Code;

    use crate::domain::WorkUnitError;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (
                Rejected::Domain(WorkUnitError::ZeroCount),
                Code::InvalidArgument,
            ),
            (
                Rejected::Domain(WorkUnitError::SetupNotStarted),
                Code::FailedPrecondition,
            ),
            (
                Rejected::Domain(WorkUnitError::NotRegistered),
                Code::NotFound,
            ),
            (
                Rejected::VersionConflict {
                    noun: "work unit",
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status("work unit", "press-7", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("work unit press-7: "));
        }
    }
}
