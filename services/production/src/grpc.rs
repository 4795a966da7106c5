//! The production gRPC API: requests become domain commands (`contract`), run through the
//! executors, and every rejection maps to one status code here.

use std::sync::Arc;

use cqrs_es::{Aggregate, AggregateError};
use mom_eventstore::{CommandMetadata, Executor};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_server::{
    ProductionService, ProductionServiceServer,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::contract::{self, ParsedCommand, RequestError};
use crate::domain::{ErrorKind, OrderError, OrderId, WorkUnitError};
use crate::{Application, ServiceError};

/// Serves the production API, health and reflection on `listener` until `shutdown`; in-flight
/// requests finish first.
pub(crate) async fn serve(
    app: Arc<Application>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ProductionServiceServer<ProductionApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(mom_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|err| ServiceError::Task(format!("reflection: {err}")))?;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(ProductionServiceServer::new(ProductionApi { app }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// The `ProductionService` implementation.
#[derive(Debug)]
pub struct ProductionApi {
    app: Arc<Application>,
}

/// A domain error that knows its class.
trait Classified: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

impl Classified for OrderError {
    fn kind(&self) -> ErrorKind {
        OrderError::kind(self)
    }
}

impl Classified for WorkUnitError {
    fn kind(&self) -> ErrorKind {
        WorkUnitError::kind(self)
    }
}

fn invalid_argument(err: RequestError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// Maps a failed command to its status; the message names the aggregate.
fn command_status<E: Classified>(noun: &str, id: &str, err: AggregateError<E>) -> Status {
    match err {
        AggregateError::UserError(err) => {
            let message = format!("{noun} {id}: {err}");
            match err.kind() {
                ErrorKind::InvalidArgument => Status::invalid_argument(message),
                ErrorKind::FailedPrecondition => Status::failed_precondition(message),
                ErrorKind::NotFound => Status::not_found(message),
                ErrorKind::Conflict => Status::aborted(message),
            }
        }
        AggregateError::AggregateConflict => Status::aborted(format!(
            "{noun} {id} was changed by a concurrent command (version conflict); reload it and retry"
        )),
        AggregateError::DatabaseConnectionError(err) => {
            tracing::error!(error = %err, "event store unavailable");
            Status::unavailable("event store unavailable")
        }
        AggregateError::DeserializationError(err) | AggregateError::UnexpectedError(err) => {
            tracing::error!(error = %err, aggregate_id = id, "command failed");
            Status::internal("internal error; see the service log")
        }
    }
}

fn traceparent<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(mom_telemetry::trace_context::valid_traceparent)
        .unwrap_or_default()
        .to_owned()
}

/// Runs a parsed command on `executor` and replies with the new version.
async fn execute<A, I, C>(
    executor: &Executor<A>,
    noun: &str,
    parsed: ParsedCommand<I, C>,
    at: chrono::DateTime<chrono::Utc>,
    traceparent: String,
) -> Result<Response<pb::CommandReply>, Status>
where
    A: Aggregate<Command = crate::domain::Versioned<C>>,
    A::Error: Classified,
    I: std::fmt::Display,
{
    let id = parsed.id.to_string();
    let mut metadata = CommandMetadata::new(parsed.caller.actor, at);
    if let Some(correlation) = parsed.caller.correlation_id {
        metadata.correlation_id = correlation;
    }
    metadata.traceparent = traceparent;
    let version = executor
        .execute(&id, parsed.command, metadata.to_map())
        .await
        .map_err(|err| command_status(noun, &id, err))?;
    tracing::debug!(aggregate_id = %id, version, "command accepted");
    Ok(Response::new(contract::command_reply(&id, version)))
}

macro_rules! order_command {
    ($self:ident, $request:ident, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        let at = parsed.command.command.at();
        execute(
            &$self.app.orders,
            "production order",
            parsed,
            at,
            traceparent,
        )
        .await
    }};
}

macro_rules! work_unit_command {
    ($self:ident, $request:ident, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        let at = parsed.command.command.at();
        execute(&$self.app.work_units, "work unit", parsed, at, traceparent).await
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
    fn every_error_class_maps_to_its_status_code() {
        let cases = [
            (WorkUnitError::ZeroCount, tonic::Code::InvalidArgument),
            (
                WorkUnitError::SetupNotStarted,
                tonic::Code::FailedPrecondition,
            ),
            (WorkUnitError::NotRegistered, tonic::Code::NotFound),
            (
                WorkUnitError::VersionConflict {
                    expected: 1,
                    actual: 2,
                },
                tonic::Code::Aborted,
            ),
        ];
        for (err, code) in cases {
            let status = command_status("work unit", "press-7", AggregateError::UserError(err));
            assert_eq!(status.code(), code);
            assert!(status.message().starts_with("work unit press-7: "));
        }
        let conflict: AggregateError<WorkUnitError> = AggregateError::AggregateConflict;
        assert_eq!(
            command_status("work unit", "press-7", conflict).code(),
            tonic::Code::Aborted
        );
        let down: AggregateError<WorkUnitError> =
            AggregateError::DatabaseConnectionError(Box::new(std::io::Error::other("down")));
        let status = command_status("work unit", "press-7", down);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            !status.message().contains("down"),
            "no internals on the wire"
        );
    }
}
