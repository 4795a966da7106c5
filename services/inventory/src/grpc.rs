//! The inventory gRPC API: requests become domain commands (`contract`) and run through the
//! command kernel (`mom_grpc::run`: the replay of a repeated idempotency key, the status codes,
//! the command metric and span); gets read through `mom_grpc::get`.
//!
//! Some commands keep two aggregates in step. A consume also links the lot into its order's
//! genealogy (`order_lots`), ends a starvation of the work unit on that material, or, when the
//! location holds too little, starts one; a produced lot is linked into its order's genealogy.
//! The follow-up commands run after the first one is stored and are idempotent (keyed by the
//! first command's lot and version), so a retry of the request completes a follow-up a crash cut
//! short.

use std::sync::Arc;

use cqrs_es::AggregateError;
use mom_domain::{Caller, Decide, IdempotencyKey, Lifecycle, Rejected, Stream, Timed, Versioned};
use mom_eventstore::Executor;
use mom_grpc::{call, command_metadata, Call, Ran};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_service_server::InventoryService;
use tonic::{Code, Request, Response, Status};

use crate::contract::{self, LotRequest};
use crate::domain::{
    LocationError, LotCommand, LotError, LotId, LotState, MaterialError, OrderId, OrderLotsCommand,
    OrderLotsRules, StarvationCause, SupplyCommand,
};
use crate::genealogy::{self, GenealogySource};
use crate::Application;

/// The `InventoryService` implementation.
#[derive(Debug)]
pub struct InventoryApi {
    app: Arc<Application>,
}

impl InventoryApi {
    /// Returns the API over `app`.
    pub fn new(app: Arc<Application>) -> Self {
        Self { app }
    }
}

/// The reply to a command RPC.
type CommandResult = Result<Response<pb::CommandReply>, Status>;

/// Returns the reply to a command that ran (or was a repeat): the aggregate and its version.
fn reply(ran: Ran) -> Response<pb::CommandReply> {
    Response::new(contract::command_reply(&ran.id, ran.version))
}

/// Runs a follow-up command whose failure must not fail the request it follows: a rejection
/// (nothing to end, a starvation already running) is expected and logged at debug level, a store
/// failure at warn level, since a retry of the request is then needed to complete it.
async fn follow_up<S>(
    executor: &Executor<Stream<S>>,
    id: &str,
    command: Versioned<S::Command>,
    caller: &Caller,
    call: &Call,
) where
    S: Decide,
    S::Command: Timed,
{
    let metadata = match command_metadata(caller.clone(), command.command.at(), call) {
        Ok(metadata) => metadata,
        Err(status) => {
            tracing::warn!(aggregate_id = %id, error = %status.message(), "follow-up command refused");
            return;
        }
    };
    match mom_grpc::execute_replayable(executor, id, command, &metadata).await {
        Ok(_) => {}
        Err(AggregateError::UserError(err)) => {
            tracing::debug!(aggregate_id = %id, error = %err, "follow-up command not needed");
        }
        Err(err) => {
            tracing::warn!(aggregate_id = %id, error = %err, "follow-up command failed");
        }
    }
}

/// Returns the state of the aggregate `id`, which a command names and a command created; when it
/// does not exist, `missing` is the status's rejection.
async fn require<L: Lifecycle>(
    executor: &Executor<Stream<Option<L>>>,
    id: &str,
    missing: L::Error,
) -> Result<L, Status> {
    mom_grpc::get(executor, id, |stream| stream.state().clone().ok_or(missing)).await
}

/// Returns the status of a lot that does not exist.
fn lot_not_found(lot: &LotId) -> Status {
    mom_grpc::command_status(
        LotState::NOUN,
        lot.as_str(),
        AggregateError::UserError(Rejected::Domain(LotError::NotFound)),
    )
}

impl InventoryApi {
    async fn load_lot(&self, lot: &LotId) -> Result<Option<LotState>, Status> {
        Ok(mom_grpc::load(&self.app.lots, lot.as_str())
            .await?
            .state()
            .clone())
    }

    async fn load_order_lots(&self, order: OrderId) -> Result<OrderLotsRules, Status> {
        Ok(mom_grpc::load(&self.app.order_lots, &order.to_string())
            .await?
            .state()
            .clone())
    }

    /// Runs a consume; links it into the order's genealogy and ends a starvation of the work
    /// unit on success, starts one when the location held too little.
    async fn consume(&self, parsed: LotRequest, call: Call) -> CommandResult {
        let command = parsed.command.command.clone();
        let LotCommand::Consume {
            order,
            work_unit,
            quantity,
            at,
            ..
        } = command.clone()
        else {
            return Err(Status::internal("consume handler got another command"));
        };
        let lot = parsed.id.clone();
        let caller = parsed.caller.clone();
        let ran = match mom_grpc::run(&self.app.lots, parsed, call.clone()).await {
            Ok(ran) => ran,
            Err(status) => {
                if status.code() == Code::InvalidArgument {
                    self.starve_if_short(&lot, command, &caller, &call).await;
                }
                return Err(status);
            }
        };
        let material = require(&self.app.lots, lot.as_str(), LotError::NotFound)
            .await?
            .material()
            .clone();
        let link = OrderLotsCommand::LinkInput {
            order,
            lot: lot.clone(),
            material: material.clone(),
            quantity,
            work_unit: work_unit.clone(),
            at,
        };
        // The lot's version names this consume, so a retried request links it only once. The key
        // always fits: a lot id has at most 128 characters.
        let mut link = Versioned::from(link);
        if let Ok(key) = IdempotencyKey::new(format!("consume:{lot}:{}", ran.version)) {
            link = link.keyed(key);
        }
        follow_up(
            &self.app.order_lots,
            &order.to_string(),
            link,
            &caller,
            &call,
        )
        .await;
        let end = SupplyCommand::EndStarvation {
            work_unit: work_unit.clone(),
            material,
            at,
        };
        follow_up(
            &self.app.supplies,
            work_unit.as_str(),
            end.into(),
            &caller,
            &call,
        )
        .await;
        Ok(reply(ran))
    }

    /// After a rejected consume: when the location held too little, the work unit starts
    /// waiting for the lot's material. The status does not carry the rejection, so the consume
    /// is decided once more on the lot as stored (on this failure path only).
    async fn starve_if_short(
        &self,
        lot: &LotId,
        command: LotCommand,
        caller: &Caller,
        call: &Call,
    ) {
        let LotCommand::Consume {
            order,
            work_unit,
            at,
            ..
        } = command.clone()
        else {
            return;
        };
        let Ok(stream) = mom_grpc::load(&self.app.lots, lot.as_str()).await else {
            return;
        };
        if let Err(LotError::InsufficientQuantity { material, .. }) = stream.state().decide(command)
        {
            let start = SupplyCommand::StartStarvation {
                work_unit: work_unit.clone(),
                material,
                order: Some(order),
                cause: StarvationCause::ConsumeNotServed,
                at,
            };
            follow_up(
                &self.app.supplies,
                work_unit.as_str(),
                start.into(),
                caller,
                call,
            )
            .await;
        }
    }

    /// Runs a produce: checks material, location and inputs, takes the order's consumed lots
    /// when no inputs are named, and links the output into the order's genealogy.
    async fn produce(&self, mut parsed: LotRequest, call: Call) -> CommandResult {
        let LotCommand::Produce {
            material,
            order,
            location,
            quantity,
            inputs,
            at,
            ..
        } = &mut parsed.command.command
        else {
            return Err(Status::internal("produce handler got another command"));
        };
        require(
            &self.app.materials,
            material.as_str(),
            MaterialError::NotDefined,
        )
        .await?;
        require(
            &self.app.locations,
            location.as_str(),
            LocationError::NotDefined,
        )
        .await?;
        if inputs.is_empty() {
            *inputs = self
                .load_order_lots(*order)
                .await?
                .inputs()
                .keys()
                .cloned()
                .collect();
        } else {
            for input in inputs.iter() {
                require(&self.app.lots, input.as_str(), LotError::NotFound).await?;
            }
        }
        let link = OrderLotsCommand::LinkOutput {
            order: *order,
            lot: parsed.id.clone(),
            material: material.clone(),
            quantity: *quantity,
            inputs: inputs.clone(),
            at: *at,
        };
        let order = *order;
        let caller = parsed.caller.clone();
        let ran = mom_grpc::run(&self.app.lots, parsed, call.clone()).await?;
        // Linking an output twice changes nothing, so a retried request is safe.
        follow_up(
            &self.app.order_lots,
            &order.to_string(),
            link.into(),
            &caller,
            &call,
        )
        .await;
        Ok(reply(ran))
    }
}

impl GenealogySource for InventoryApi {
    type Error = Status;

    async fn lot(&self, lot: &LotId) -> Result<Option<LotState>, Status> {
        self.load_lot(lot).await
    }

    async fn order_lots(&self, order: OrderId) -> Result<OrderLotsRules, Status> {
        self.load_order_lots(order).await
    }
}

/// Parses a command request with `$parse` and runs it on `$executor`.
macro_rules! command {
    ($executor:expr, $request:ident, $parse:path) => {{
        let call = call(&$request);
        let parsed = $parse($request.into_inner())?;
        Ok(reply(mom_grpc::run($executor, parsed, call).await?))
    }};
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn define_material(&self, request: Request<pb::DefineMaterialRequest>) -> CommandResult {
        command!(&self.app.materials, request, contract::define_material)
    }

    async fn define_location(&self, request: Request<pb::DefineLocationRequest>) -> CommandResult {
        command!(&self.app.locations, request, contract::define_location)
    }

    async fn receive_lot(&self, request: Request<pb::ReceiveLotRequest>) -> CommandResult {
        let call = call(&request);
        let parsed = contract::receive_lot(request.into_inner())?;
        if let LotCommand::Receive {
            material, location, ..
        } = &parsed.command.command
        {
            require(
                &self.app.materials,
                material.as_str(),
                MaterialError::NotDefined,
            )
            .await?;
            require(
                &self.app.locations,
                location.as_str(),
                LocationError::NotDefined,
            )
            .await?;
        }
        Ok(reply(mom_grpc::run(&self.app.lots, parsed, call).await?))
    }

    async fn move_lot(&self, request: Request<pb::MoveLotRequest>) -> CommandResult {
        let call = call(&request);
        let parsed = contract::move_lot(request.into_inner())?;
        if let LotCommand::Move { to, .. } = &parsed.command.command {
            require(&self.app.locations, to.as_str(), LocationError::NotDefined).await?;
        }
        Ok(reply(mom_grpc::run(&self.app.lots, parsed, call).await?))
    }

    async fn consume_lot(&self, request: Request<pb::ConsumeLotRequest>) -> CommandResult {
        let call = call(&request);
        let parsed = contract::consume_lot(request.into_inner())?;
        self.consume(parsed, call).await
    }

    async fn produce_lot(&self, request: Request<pb::ProduceLotRequest>) -> CommandResult {
        let call = call(&request);
        let parsed = contract::produce_lot(request.into_inner())?;
        self.produce(parsed, call).await
    }

    async fn hold_lot(&self, request: Request<pb::HoldLotRequest>) -> CommandResult {
        command!(&self.app.lots, request, contract::hold_lot)
    }

    async fn release_hold(&self, request: Request<pb::ReleaseHoldRequest>) -> CommandResult {
        command!(&self.app.lots, request, contract::release_hold)
    }

    async fn scrap_lot(&self, request: Request<pb::ScrapLotRequest>) -> CommandResult {
        command!(&self.app.lots, request, contract::scrap_lot)
    }

    async fn get_lot(
        &self,
        request: Request<pb::GetLotRequest>,
    ) -> Result<Response<pb::Lot>, Status> {
        let lot = contract::get_lot(request.get_ref())?;
        let reply = mom_grpc::get(&self.app.lots, lot.as_str(), contract::lot_reply).await?;
        Ok(Response::new(reply))
    }

    async fn get_order_lots(
        &self,
        request: Request<pb::GetOrderLotsRequest>,
    ) -> Result<Response<pb::OrderLots>, Status> {
        let order = contract::get_order_lots(request.get_ref())?;
        let reply = mom_grpc::get(
            &self.app.order_lots,
            &order.to_string(),
            contract::order_lots_reply,
        )
        .await?;
        Ok(Response::new(reply))
    }

    async fn get_genealogy(
        &self,
        request: Request<pb::GetGenealogyRequest>,
    ) -> Result<Response<pb::Genealogy>, Status> {
        let (lot, direction, depth) = contract::get_genealogy(request.get_ref())?;
        let walked = genealogy::walk(self, &lot, direction, depth)
            .await?
            .ok_or_else(|| lot_not_found(&lot))?;
        Ok(Response::new(contract::genealogy_reply(
            &lot, direction, &walked,
        )))
    }

    async fn start_starvation(
        &self,
        request: Request<pb::StartStarvationRequest>,
    ) -> CommandResult {
        command!(&self.app.supplies, request, contract::start_starvation)
    }

    async fn report_starvation(
        &self,
        request: Request<pb::ReportStarvationRequest>,
    ) -> CommandResult {
        command!(&self.app.supplies, request, contract::report_starvation)
    }

    async fn get_work_unit_supply(
        &self,
        request: Request<pb::GetWorkUnitSupplyRequest>,
    ) -> Result<Response<pb::WorkUnitSupply>, Status> {
        let work_unit = contract::get_work_unit_supply(request.get_ref())?;
        let reply = mom_grpc::get(&self.app.supplies, work_unit.as_str(), |supply| {
            Ok(contract::work_unit_supply_reply(&work_unit, supply))
        })
        .await?;
        Ok(Response::new(reply))
    }

    async fn end_starvation(&self, request: Request<pb::EndStarvationRequest>) -> CommandResult {
        command!(&self.app.supplies, request, contract::end_starvation)
    }
}

#[cfg(test)]
mod tests {
    use mom_grpc::command_status;

    use super::*;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (
                Rejected::Domain(LotError::ZeroQuantity),
                Code::InvalidArgument,
            ),
            (
                Rejected::Domain(LotError::OnHold {
                    holds: "NCR-1".to_owned(),
                }),
                Code::FailedPrecondition,
            ),
            (Rejected::Domain(LotError::NotFound), Code::NotFound),
            (
                Rejected::VersionConflict {
                    noun: LotState::NOUN,
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status("lot", "L-1", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("lot L-1: "));
        }
    }
}
