//! The maintenance gRPC API: requests become domain commands (`contract`), the application
//! resolves what they name in the asset registry and runs them through `mom_grpc::run`, which
//! maps every rejection to its status code and answers a repeated idempotency key with the
//! original version instead of an error.

use std::sync::Arc;

use cqrs_es::AggregateError;
use mom_domain::{Lifecycle, Rejected, Timed, Versioned};
use mom_eventstore::CommandMetadata;
use mom_grpc::{call, command_status, execute_replayable, Call};
use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_service_server::MaintenanceService;
use tonic::{Request, Response, Status};

use crate::contract;
use crate::domain::{
    AssetCommand, AssetId, AssetLevel, Equipment, PlanOccurrence, WorkOrderCommand, WorkOrderError,
    WorkOrderId, WorkOrderState,
};
use crate::Application;

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
        call: Call,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let ran = mom_grpc::run(&self.app.assets, parsed, call).await?;
        Ok(Response::new(contract::command_reply(
            &ran.id,
            ran.version,
            &[],
        )))
    }

    async fn work_order_command(
        &self,
        parsed: contract::WorkOrderRequest,
        call: Call,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let ran = mom_grpc::run(&self.app.work_orders, parsed, call).await?;
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
        call: Call,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let id = parsed.id.clone();
        let at = parsed.command.command.at();
        let check_all = matches!(parsed.command.command, AssetCommand::CheckPlans { .. });
        let ran = mom_grpc::run(&self.app.assets, parsed, call).await?;
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
        let metadata = cause.caused(command.at());
        let noun = <WorkOrderState as Lifecycle>::NOUN;
        let order_id = work_order.to_string();
        // A concurrent repeat of the asset command may create it first: its append then
        // conflicts with ours, and trying again on the stored state finds the order (the
        // command carries no idempotency key of its own, so the kernel does not retry it).
        let mut attempt = 1;
        loop {
            let versioned = Versioned::from(command.clone());
            match execute_replayable(&self.app.work_orders, &order_id, versioned, &metadata).await {
                Ok(_) => {
                    tracing::info!(work_unit = %work_unit, work_order = %order_id, "preventive work order raised");
                    return Ok(());
                }
                // Created by an earlier or concurrent call.
                Err(AggregateError::UserError(Rejected::Domain(
                    WorkOrderError::AlreadyExists { .. },
                ))) => return Ok(()),
                Err(AggregateError::AggregateConflict) if attempt < 3 => attempt += 1,
                Err(err) => return Err(command_status(noun, &order_id, err)),
            }
        }
    }
}

#[tonic::async_trait]
impl MaintenanceService for MaintenanceApi {
    async fn register_asset(
        &self,
        request: Request<pb::RegisterAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let mut parsed = contract::register_asset(request.into_inner())?;
        if let AssetCommand::Register {
            parent: Some(parent),
            ..
        } = &mut parsed.command.command
        {
            parent.found = self.lookup(&parent.id).await?;
        }
        self.asset_command(parsed, call).await
    }

    async fn move_asset(
        &self,
        request: Request<pb::MoveAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let mut parsed = contract::move_asset(request.into_inner())?;
        if let AssetCommand::Move { parent, .. } = &mut parsed.command.command {
            parent.found = self.lookup(&parent.id).await?;
        }
        self.asset_command(parsed, call).await
    }

    async fn retire_asset(
        &self,
        request: Request<pb::RetireAssetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::retire_asset(request.into_inner())?;
        self.asset_command(parsed, call).await
    }

    async fn define_plan(
        &self,
        request: Request<pb::DefinePlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::define_plan(request.into_inner())?;
        self.asset_command(parsed, call).await
    }

    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::record_usage(request.into_inner())?;
        self.plan_command(parsed, call).await
    }

    async fn check_plans(
        &self,
        request: Request<pb::CheckPlansRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::check_plans(request.into_inner())?;
        self.plan_command(parsed, call).await
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
        let call = call(&request);
        let mut parsed = contract::report_breakdown(request.into_inner(), WorkOrderId::generate)?;
        if let WorkOrderCommand::ReportBreakdown { equipment, .. } = &mut parsed.command.command {
            equipment.found = self.lookup(&equipment.id).await?;
        }
        self.work_order_command(parsed, call).await
    }

    async fn request_preventive_work(
        &self,
        request: Request<pb::RequestPreventiveWorkRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let mut parsed =
            contract::request_preventive_work(request.into_inner(), WorkOrderId::generate)?;
        if let WorkOrderCommand::RequestPreventive { equipment, .. } = &mut parsed.command.command {
            equipment.found = self.lookup(&equipment.id).await?;
        }
        self.work_order_command(parsed, call).await
    }

    async fn schedule_work_order(
        &self,
        request: Request<pb::ScheduleWorkOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::schedule_work_order(request.into_inner())?;
        self.work_order_command(parsed, call).await
    }

    async fn start_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::start_work(request.into_inner())?;
        self.work_order_command(parsed, call).await
    }

    async fn complete_work(
        &self,
        request: Request<pb::WorkOrderCommandRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::complete_work(request.into_inner())?;
        self.work_order_command(parsed, call).await
    }

    async fn cancel_work_order(
        &self,
        request: Request<pb::CancelWorkOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::cancel_work_order(request.into_inner())?;
        self.work_order_command(parsed, call).await
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
}
