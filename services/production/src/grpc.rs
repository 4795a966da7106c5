//! The production gRPC API: requests become domain commands (`contract`), run through the
//! executors, and every rejection maps to one status code here.

use std::sync::Arc;

use cqrs_es::{Aggregate, AggregateError};
use mom_eventstore::Executor;
use mom_grpc::{command_metadata, command_status, traceparent, ClassifiedError};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_server::ProductionService;
use tonic::{Code, Request, Response, Status};

use crate::contract::{self, ParsedCommand, RequestError};
use crate::domain::{
    ErrorKind, OrderCommand, OrderError, OrderId, Versioned, WorkUnitCommand, WorkUnitError,
};
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

/// The one mapping from domain error kinds to status codes.
fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
    }
}

impl ClassifiedError for OrderError {
    fn code(&self) -> Code {
        code(self.kind())
    }
}

impl ClassifiedError for WorkUnitError {
    fn code(&self) -> Code {
        code(self.kind())
    }
}

fn invalid_argument(err: RequestError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// Runs a parsed command on `executor` and replies with the new version.
async fn run<A, I, C>(
    executor: &Executor<A>,
    noun: &str,
    parsed: ParsedCommand<I, C>,
    traceparent: String,
) -> Result<Response<pb::CommandReply>, Status>
where
    A: Aggregate<Command = Versioned<C>> + Clone,
    A::Error: ClassifiedError,
    I: std::fmt::Display,
    C: Timed + Clone,
{
    let id = parsed.id.to_string();
    let at = parsed.command.command.at();
    let metadata = command_metadata(parsed.caller, at, traceparent);
    let version = mom_grpc::execute(executor, noun, &id, parsed.command, metadata).await?;
    Ok(Response::new(contract::command_reply(&id, version)))
}

/// A command that says when its fact happened on the floor.
trait Timed {
    fn at(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Timed for OrderCommand {
    fn at(&self) -> chrono::DateTime<chrono::Utc> {
        OrderCommand::at(self)
    }
}

impl Timed for WorkUnitCommand {
    fn at(&self) -> chrono::DateTime<chrono::Utc> {
        WorkUnitCommand::at(self)
    }
}

macro_rules! order_command {
    ($self:ident, $request:ident, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        run(&$self.app.orders, "production order", parsed, traceparent).await
    }};
}

macro_rules! work_unit_command {
    ($self:ident, $request:ident, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        run(&$self.app.work_units, "work unit", parsed, traceparent).await
    }};
}

#[tonic::async_trait]
impl ProductionService for ProductionApi {
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, |req| contract::create_order(
            req,
            OrderId::generate
        ))
    }

    async fn release_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::release_order)
    }

    async fn start_operation(
        &self,
        request: Request<pb::StartOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::start_operation)
    }

    async fn report_quantity(
        &self,
        request: Request<pb::ReportQuantityRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::report_quantity)
    }

    async fn complete_operation(
        &self,
        request: Request<pb::CompleteOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::complete_operation)
    }

    async fn hold_order(
        &self,
        request: Request<pb::ReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::hold_order)
    }

    async fn resume_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::resume_order)
    }

    async fn complete_order(
        &self,
        request: Request<pb::OrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::complete_order)
    }

    async fn cancel_order(
        &self,
        request: Request<pb::ReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        order_command!(self, request, contract::cancel_order)
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let id = contract::get_order(request.get_ref()).map_err(invalid_argument)?;
        let id = id.to_string();
        let (order, _) = self
            .app
            .orders
            .load(&id)
            .await
            .map_err(|err| command_status("production order", &id, err))?;
        let reply = contract::order_reply(&order).map_err(|err| {
            command_status("production order", &id, AggregateError::UserError(err))
        })?;
        Ok(Response::new(reply))
    }

    async fn register_work_unit(
        &self,
        request: Request<pb::RegisterWorkUnitRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::register_work_unit)
    }

    async fn set_ideal_cycle_time(
        &self,
        request: Request<pb::SetIdealCycleTimeRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::set_ideal_cycle_time)
    }

    async fn report_running(
        &self,
        request: Request<pb::ReportRunningRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::report_running)
    }

    async fn report_stopped(
        &self,
        request: Request<pb::ReportStoppedRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::report_stopped)
    }

    async fn start_setup(
        &self,
        request: Request<pb::StartSetupRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::start_setup)
    }

    async fn end_setup(
        &self,
        request: Request<pb::EndSetupRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::end_setup)
    }

    async fn schedule_planned_shutdown(
        &self,
        request: Request<pb::SchedulePlannedShutdownRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::schedule_planned_shutdown)
    }

    async fn report_count(
        &self,
        request: Request<pb::ReportCountRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        work_unit_command!(self, request, contract::report_count)
    }

    async fn get_work_unit(
        &self,
        request: Request<pb::GetWorkUnitRequest>,
    ) -> Result<Response<pb::WorkUnit>, Status> {
        let id = contract::get_work_unit(request.get_ref()).map_err(invalid_argument)?;
        let id = id.to_string();
        let (unit, _) = self
            .app
            .work_units
            .load(&id)
            .await
            .map_err(|err| command_status("work unit", &id, err))?;
        let reply = contract::work_unit_reply(&unit)
            .map_err(|err| command_status("work unit", &id, AggregateError::UserError(err)))?;
        Ok(Response::new(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (WorkUnitError::ZeroCount, Code::InvalidArgument),
            (WorkUnitError::SetupNotStarted, Code::FailedPrecondition),
            (WorkUnitError::NotRegistered, Code::NotFound),
            (
                WorkUnitError::VersionConflict {
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
