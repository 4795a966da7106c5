//! The maintenance gRPC API: requests become domain commands (`contract`), the application
//! resolves what they name in the asset registry and runs them like `mom_grpc::run` (tried again
//! when a concurrent append wins), which maps every rejection to its status code and answers a
//! repeated idempotency key with the original version instead of an error.

use std::sync::Arc;

use cqrs_es::AggregateError;
use mom_domain::{Decide, Lifecycle, Rejected, Stream, Timed, Versioned};
use mom_eventstore::{CommandMetadata, Executor};
use mom_grpc::{
    command_metadata, command_status, execute_replayable, traceparent, ParsedCommand, Ran,
};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_service_server::MaintenanceService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::contract;
use crate::domain::{
    AssetCommand, AssetId, AssetLevel, Equipment, PlanOccurrence, WorkOrderCommand, WorkOrderError,
    WorkOrderId, WorkOrderState,
};
use crate::Application;

/// How often a command is tried while concurrent appends to its aggregate win. The store can
/// answer a conflict before the winning append is committed (both were in one batch), so the
/// second try may decide on the state before it again; its append then waits for the winner's
/// commit, and the third try decides on the committed state, where a repeat of the winner's
/// idempotency key gets the winner's reply.
const TRIES: usize = 3;

/// Runs `parsed` like `mom_grpc::run` (its span, metadata and status mapping), but tries it again
/// when a concurrent append won ([`TRIES`]): the executor does so itself only for a command it
/// decided on its cached state.
async fn run<S, I>(
    executor: &Executor<Stream<S>>,
    parsed: ParsedCommand<I, S::Command>,
    traceparent: String,
) -> Result<Ran, Status>
where
    S: Decide,
    S::Command: Timed,
    I: std::fmt::Display,
{
    let id = parsed.id.to_string();
    let span = tracing::info_span!("command", aggregate = S::NOUN, aggregate_id = %id);
    async move {
        let metadata = command_metadata(parsed.caller, parsed.command.command.at(), traceparent);
        let version = execute_tried(executor, S::NOUN, &id, parsed.command, &metadata)
            .await
            .map_err(|err| command_status(S::NOUN, &id, err))?;
        Ok(Ran {
            id,
            version,
            metadata,
        })
    }
    .instrument(span)
    .await
}

/// Runs `command` on aggregate `id` with `execute_replayable`, tried again while a concurrent
/// append wins, at most [`TRIES`] times.
async fn execute_tried<S: Decide>(
    executor: &Executor<Stream<S>>,
    noun: &str,
    id: &str,
    command: Versioned<S::Command>,
    metadata: &CommandMetadata,
) -> Result<u64, AggregateError<Rejected<S::Error>>> {
    let mut tries = 1;
    loop {
        match execute_replayable(executor, noun, id, command.clone(), metadata).await {
            Err(AggregateError::AggregateConflict) if tries < TRIES => tries += 1,
            result => return result,
        }
    }
}

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

    /// Returns the level of asset `id` and whether it is retired, or `None` when it is not
    /// registered.
    async fn lookup(&self, id: &AssetId) -> Result<Option<(AssetLevel, bool)>, Status> {
        let asset = mom_grpc::load(&self.app.assets, id.as_str()).await?;
        Ok(asset
            .state()
            .as_ref()
            .map(|state| (state.level(), state.retired().is_some())))
    }

    async fn asset_command(
        &self,
        parsed: contract::AssetRequest,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let ran = run(&self.app.assets, parsed, traceparent).await?;
        Ok(Response::new(contract::command_reply(
            &ran.id,
            ran.version,
            &[],
        )))
    }

    async fn work_order_command(
        &self,
        parsed: contract::WorkOrderRequest,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let ran = run(&self.app.work_orders, parsed, traceparent).await?;
        Ok(Response::new(contract::command_reply(
            &ran.id,
            ran.version,
            &[],
        )))
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
        let ran = run(&self.app.assets, parsed, traceparent).await?;
        let asset = mom_grpc::load(&self.app.assets, id.as_str()).await?;
        let Some(state) = asset.state() else {
            return Ok(Response::new(contract::command_reply(
                &id,
                ran.version,
                &[],
            )));
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
            let command = WorkOrderCommand::RequestPreventive {
                work_order: raised.work_order,
                equipment: equipment.clone(),
                plan: Some(PlanOccurrence {
                    plan: raised.plan,
                    occurrence: raised.occurrence,
                }),
                description: Some(raised.description),
                at: raised.at,
            };
            self.raise(&id, raised.work_order, command, &ran.metadata)
                .await?;
            if now {
                raised_now.push(raised.work_order);
            }
        }
        Ok(Response::new(contract::command_reply(
            &id,
            ran.version,
            &raised_now,
        )))
    }

    /// Creates the preventive work order `work_order` a due plan of `work_unit` raised, caused
    /// by the asset command with `cause`; an order an earlier call created stays as it is.
    async fn raise(
        &self,
        work_unit: &AssetId,
        work_order: WorkOrderId,
        command: WorkOrderCommand,
        cause: &CommandMetadata,
    ) -> Result<(), Status> {
        let mut metadata = CommandMetadata::new(cause.actor.clone(), command.at());
        metadata.correlation_id = cause.correlation_id;
        metadata.causation_id = cause.command_id;
        metadata.traceparent = cause.traceparent.clone();
        let noun = <WorkOrderState as Lifecycle>::NOUN;
        let order_id = work_order.to_string();
        let command = Versioned::from(command);
        // A concurrent repeat of the asset command may create it first; trying again finds it.
        match execute_tried(&self.app.work_orders, noun, &order_id, command, &metadata).await {
            Ok(_) => {
                tracing::info!(work_unit = %work_unit, work_order = %order_id, "preventive work order raised");
                Ok(())
            }
            // Created by an earlier call.
            Err(AggregateError::UserError(Rejected::Domain(WorkOrderError::AlreadyExists {
                ..
            }))) => Ok(()),
            Err(err) => Err(command_status(noun, &order_id, err)),
        }
    }
}

#[tonic::async_trait]
impl MaintenanceService for MaintenanceApi {
    async fn register_asset(
        &self,
        request: Request<pb::RegisterAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed = contract::register_asset(request.into_inner())?;
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
        let mut parsed = contract::move_asset(request.into_inner())?;
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
        let parsed = contract::retire_asset(request.into_inner())?;
        self.asset_command(parsed, traceparent).await
    }

    async fn define_plan(
        &self,
        request: Request<pb::DefinePlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::define_plan(request.into_inner())?;
        self.asset_command(parsed, traceparent).await
    }

    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::record_usage(request.into_inner())?;
        self.plan_command(parsed, traceparent).await
    }

    async fn check_plans(
        &self,
        request: Request<pb::CheckPlansRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::check_plans(request.into_inner())?;
        self.plan_command(parsed, traceparent).await
    }

    async fn get_asset(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<pb::Asset>, Status> {
        let id = contract::get_asset(request.get_ref())?;
        let reply = mom_grpc::get(&self.app.assets, id.as_str(), contract::asset_reply).await?;
        Ok(Response::new(reply))
    }

    async fn report_breakdown(
        &self,
        request: Request<pb::ReportBreakdownRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let mut parsed = contract::report_breakdown(request.into_inner(), WorkOrderId::generate)?;
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
            contract::request_preventive_work(request.into_inner(), WorkOrderId::generate)?;
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
        let parsed = contract::schedule_work_order(request.into_inner())?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn start_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::start_work(request.into_inner())?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn complete_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::complete_work(request.into_inner())?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn cancel_work_order(
        &self,
        request: Request<pb::CancelWorkOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::cancel_work_order(request.into_inner())?;
        self.work_order_command(parsed, traceparent).await
    }

    async fn get_work_order(
        &self,
        request: Request<pb::GetWorkOrderRequest>,
    ) -> Result<Response<pb::WorkOrder>, Status> {
        let id = contract::get_work_order(request.get_ref())?.to_string();
        let reply = mom_grpc::get(&self.app.work_orders, &id, contract::work_order_reply).await?;
        Ok(Response::new(reply))
    }
}

#[cfg(test)]
mod tests {
    use mom_grpc::Replayable;
    use tonic::Code;

    use super::*;
    use crate::domain::{AssetError, AssetState};

    #[test]
    fn every_error_class_maps_to_its_status_code() {
        let asset = <AssetState as Lifecycle>::NOUN;
        let cases = [
            (
                Rejected::Domain(AssetError::EmptyUsage),
                Code::InvalidArgument,
            ),
            (
                Rejected::Domain(AssetError::Retired),
                Code::FailedPrecondition,
            ),
            (Rejected::Domain(AssetError::NotRegistered), Code::NotFound),
            (
                Rejected::VersionConflict {
                    noun: asset,
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status(asset, "press-7", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("asset press-7: "));
        }
        let status = command_status(
            <WorkOrderState as Lifecycle>::NOUN,
            "w-1",
            AggregateError::UserError(Rejected::Domain(WorkOrderError::NotFound)),
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
            Replayable::replayed_version(&Rejected::<AssetError>::Replayed { version: 4 }),
            Some(4)
        );
        assert_eq!(
            Replayable::replayed_version(&Rejected::Domain(AssetError::Retired)),
            None
        );
        assert_eq!(
            Replayable::replayed_version(&Rejected::<WorkOrderError>::Replayed { version: 2 }),
            Some(2)
        );
    }
}
