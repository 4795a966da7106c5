//! The maintenance gRPC API: requests become domain commands (`contract`), the application
//! resolves what they name in the asset registry, runs them through the executors, and every
//! rejection maps to one status code here. A repeated idempotency key answers the original
//! version instead of an error.

use std::sync::Arc;

use cqrs_es::{Aggregate, AggregateError};
use mom_eventstore::{CommandMetadata, Executor};
use mom_grpc::{
    command_metadata, command_status, execute_replayable, traceparent, ClassifiedError, Replayable,
};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_service_server::MaintenanceService;
use tonic::{Code, Request, Response, Status};

use crate::contract::{self, ParsedCommand, RequestError};
use crate::domain::{
    AssetCommand, AssetError, AssetId, AssetLevel, Equipment, ErrorKind, PlanOccurrence, Versioned,
    WorkOrderCommand, WorkOrderError, WorkOrderId,
};
use crate::Application;

const ASSET: &str = "asset";
const WORK_ORDER: &str = "work order";

/// The `MaintenanceService` implementation.
#[derive(Debug)]
pub struct MaintenanceApi {
    app: Arc<Application>,
}

impl MaintenanceApi {
    /// Returns the API over `app`.
    pub fn new(app: Arc<Application>) -> Self {
        Self { app }
    }
}

fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
        // Never sent: `execute_replayable` turns it into the original reply.
        ErrorKind::AlreadyApplied => Code::AlreadyExists,
    }
}

impl ClassifiedError for AssetError {
    fn code(&self) -> Code {
        code(self.kind())
    }
}

impl ClassifiedError for WorkOrderError {
    fn code(&self) -> Code {
        code(self.kind())
    }
}

impl Replayable for AssetError {
    fn replayed_version(&self) -> Option<u64> {
        AssetError::replayed_version(self)
    }
}

impl Replayable for WorkOrderError {
    fn replayed_version(&self) -> Option<u64> {
        WorkOrderError::replayed_version(self)
    }
}

fn invalid_argument(err: RequestError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// Runs a parsed request and maps a rejection to its status.
async fn run_parsed<A, I, C>(
    executor: &Executor<A>,
    noun: &str,
    parsed: ParsedCommand<I, C>,
    at: chrono::DateTime<chrono::Utc>,
    traceparent: String,
) -> Result<(u64, CommandMetadata), Status>
where
    A: Aggregate<Command = Versioned<C>> + Clone,
    A::Error: ClassifiedError + Replayable,
    C: Clone,
    I: std::fmt::Display,
{
    let id = parsed.id.to_string();
    let metadata = command_metadata(parsed.caller, at, traceparent);
    let version = execute_replayable(executor, noun, &id, parsed.command, &metadata)
        .await
        .map_err(|err| command_status(noun, &id, err))?;
    Ok((version, metadata))
}

impl MaintenanceApi {
    /// Returns the level of asset `id` and whether it is retired, or `None` when it is not
    /// registered.
    async fn lookup(&self, id: &AssetId) -> Result<Option<(AssetLevel, bool)>, Status> {
        let (asset, _) = self
            .app
            .assets
            .load(id.as_str())
            .await
            .map_err(|err| command_status(ASSET, id.as_str(), err))?;
        Ok(asset
            .state()
            .map(|state| (state.level(), state.retired().is_some())))
    }

    async fn asset_command(
        &self,
        parsed: contract::AssetRequest,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let id = parsed.id.clone();
        let at = parsed.command.command.at();
        let (version, _) = run_parsed(&self.app.assets, ASSET, parsed, at, traceparent).await?;
        Ok(Response::new(contract::command_reply(&id, version, &[])))
    }

    async fn work_order_command(
        &self,
        parsed: contract::WorkOrderRequest,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let id = parsed.id;
        let at = parsed.command.command.at();
        let (version, _) =
            run_parsed(&self.app.work_orders, WORK_ORDER, parsed, at, traceparent).await?;
        Ok(Response::new(contract::command_reply(&id, version, &[])))
    }

    /// Runs a usage record or plan check, then creates the work orders its due plans raised.
    /// The asset stores each raise with a work order id derived from the plan occurrence in the
    /// same append as the due event; creating the order afterwards is idempotent, so a retry
    /// with the same idempotency key completes what a crash interrupted, and a plan check
    /// completes every raise. The orders carry the command's correlation id and the command as
    /// their cause.
    async fn plan_command(
        &self,
        parsed: contract::AssetRequest,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let id = parsed.id.clone();
        let at = parsed.command.command.at();
        let check_all = matches!(parsed.command.command, AssetCommand::CheckPlans { .. });
        let (version, command_metadata) =
            run_parsed(&self.app.assets, ASSET, parsed, at, traceparent).await?;
        let (asset, _) = self
            .app
            .assets
            .load(id.as_str())
            .await
            .map_err(|err| command_status(ASSET, id.as_str(), err))?;
        let Some(state) = asset.state() else {
            return Ok(Response::new(contract::command_reply(&id, version, &[])));
        };
        let equipment = Equipment {
            id: id.clone(),
            found: Some((state.level(), state.retired().is_some())),
        };
        let mut raised_now = Vec::new();
        for raised in state.raised_work_orders() {
            let now = raised.at == at;
            if !(now || check_all) {
                continue;
            }
            let work_order = raised.work_order;
            let command = WorkOrderCommand::RequestPreventive {
                work_order,
                equipment: equipment.clone(),
                plan: Some(PlanOccurrence {
                    plan: raised.plan,
                    occurrence: raised.occurrence,
                }),
                description: Some(raised.description),
                at: raised.at,
            };
            let mut metadata = CommandMetadata::new(command_metadata.actor.clone(), raised.at);
            metadata.correlation_id = command_metadata.correlation_id;
            metadata.causation_id = command_metadata.command_id;
            metadata.traceparent = command_metadata.traceparent.clone();
            let order_id = work_order.to_string();
            match execute_replayable(
                &self.app.work_orders,
                WORK_ORDER,
                &order_id,
                Versioned::from(command),
                &metadata,
            )
            .await
            {
                Ok(_) => {
                    tracing::info!(work_unit = %id, work_order = %order_id, "preventive work order raised");
                }
                // Created by an earlier call.
                Err(AggregateError::UserError(WorkOrderError::AlreadyExists { .. })) => {}
                Err(err) => return Err(command_status(WORK_ORDER, &order_id, err)),
            }
            if now {
                raised_now.push(work_order);
            }
        }
        Ok(Response::new(contract::command_reply(
            &id,
            version,
            &raised_now,
        )))
    }
}

#[tonic::async_trait]
impl MaintenanceService for MaintenanceApi {
    async fn register_asset(
        &self,
        request: Request<pb::RegisterAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed =
            contract::register_asset(request.into_inner()).map_err(invalid_argument)?;
        if let AssetCommand::Register {
            parent: Some(parent),
            ..
        } = &mut parsed.command.command
        {
            parent.found = self.lookup(&parent.id).await?;
        }
        self.asset_command(parsed, traceparent).await
    }

    async fn move_asset(
        &self,
        request: Request<pb::MoveAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed = contract::move_asset(request.into_inner()).map_err(invalid_argument)?;
        if let AssetCommand::Move { parent, .. } = &mut parsed.command.command {
            parent.found = self.lookup(&parent.id).await?;
        }
        self.asset_command(parsed, traceparent).await
    }

    async fn retire_asset(
        &self,
        request: Request<pb::RetireAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::retire_asset(request.into_inner()).map_err(invalid_argument)?;
        self.asset_command(parsed, traceparent).await
    }

    async fn define_plan(
        &self,
        request: Request<pb::DefinePlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::define_plan(request.into_inner()).map_err(invalid_argument)?;
        self.asset_command(parsed, traceparent).await
    }

    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::record_usage(request.into_inner()).map_err(invalid_argument)?;
        self.plan_command(parsed, traceparent).await
    }

    async fn check_plans(
        &self,
        request: Request<pb::CheckPlansRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::check_plans(request.into_inner()).map_err(invalid_argument)?;
        self.plan_command(parsed, traceparent).await
    }

    async fn get_asset(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<pb::Asset>, Status> {
        let id = contract::get_asset(request.get_ref()).map_err(invalid_argument)?;
        let (asset, _) = self
            .app
            .assets
            .load(id.as_str())
            .await
            .map_err(|err| command_status(ASSET, id.as_str(), err))?;
        let reply = contract::asset_reply(&asset)
            .map_err(|err| command_status(ASSET, id.as_str(), AggregateError::UserError(err)))?;
        Ok(Response::new(reply))
    }

    async fn report_breakdown(
        &self,
        request: Request<pb::ReportBreakdownRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed = contract::report_breakdown(request.into_inner(), WorkOrderId::generate)
            .map_err(invalid_argument)?;
        if let WorkOrderCommand::ReportBreakdown { equipment, .. } = &mut parsed.command.command {
            equipment.found = self.lookup(&equipment.id).await?;
        }
        self.work_order_command(parsed, traceparent).await
    }

    async fn request_preventive_work(
        &self,
        request: Request<pb::RequestPreventiveWorkRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed =
            contract::request_preventive_work(request.into_inner(), WorkOrderId::generate)
                .map_err(invalid_argument)?;
        if let WorkOrderCommand::RequestPreventive { equipment, .. } = &mut parsed.command.command {
            equipment.found = self.lookup(&equipment.id).await?;
        }
        self.work_order_command(parsed, traceparent).await
    }

    async fn schedule_work_order(
        &self,
        request: Request<pb::ScheduleWorkOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed =
            contract::schedule_work_order(request.into_inner()).map_err(invalid_argument)?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn start_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::start_work(request.into_inner()).map_err(invalid_argument)?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn complete_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::complete_work(request.into_inner()).map_err(invalid_argument)?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn cancel_work_order(
        &self,
        request: Request<pb::CancelWorkOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::cancel_work_order(request.into_inner()).map_err(invalid_argument)?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn get_work_order(
        &self,
        request: Request<pb::GetWorkOrderRequest>,
    ) -> Result<Response<pb::WorkOrder>, Status> {
        let id = contract::get_work_order(request.get_ref()).map_err(invalid_argument)?;
        let id = id.to_string();
        let (order, _) = self
            .app
            .work_orders
            .load(&id)
            .await
            .map_err(|err| command_status(WORK_ORDER, &id, err))?;
        let reply = contract::work_order_reply(&order)
            .map_err(|err| command_status(WORK_ORDER, &id, AggregateError::UserError(err)))?;
        Ok(Response::new(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_class_maps_to_its_status_code() {
        let cases = [
            (AssetError::EmptyUsage, Code::InvalidArgument),
            (AssetError::Retired, Code::FailedPrecondition),
            (AssetError::NotRegistered, Code::NotFound),
            (
                AssetError::VersionConflict {
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status(ASSET, "press-7", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("asset press-7: "));
        }
        let status = command_status(
            WORK_ORDER,
            "w-1",
            AggregateError::UserError(WorkOrderError::NotFound),
        );
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "work order w-1: work order does not exist"
        );
    }

    #[test]
    fn only_already_applied_is_replayable() {
        assert_eq!(
            Replayable::replayed_version(&AssetError::AlreadyApplied { version: 4 }),
            Some(4)
        );
        assert_eq!(Replayable::replayed_version(&AssetError::Retired), None);
        assert_eq!(
            Replayable::replayed_version(&WorkOrderError::AlreadyApplied { version: 2 }),
            Some(2)
        );
    }
}
