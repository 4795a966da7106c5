//! The inventory gRPC API: requests become domain commands (`contract`), run through the
//! executors, and every rejection maps to one status code here.
//!
//! Some commands keep two aggregates in step. A consume also links the lot into its order's
//! genealogy (`order_lots`), ends a starvation of the work unit on that material, or, when the
//! location holds too little, starts one; a produced lot is linked into its order's genealogy.
//! The follow-up commands run after the first one is stored and are idempotent (keyed by the
//! first command's lot and version), so a retry of the request completes a follow-up a crash cut
//! short.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use mom_eventstore::Executor;
use mom_grpc::{command_metadata, command_status, traceparent, ClassifiedError};
use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_service_server::InventoryService;
use tonic::{Code, Request, Response, Status};

use crate::contract::{self, Caller, ParsedCommand, RequestError};
use crate::domain::{
    Decide, ErrorKind, IdempotencyKey, LocationCommand, LocationError, LocationId, LotCommand,
    LotError, LotId, LotState, MaterialCommand, MaterialError, MaterialId, OrderId,
    OrderLotsCommand, OrderLotsError, OrderLotsRules, StarvationCause, Stream, SupplyCommand,
    SupplyError, Versioned,
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

/// The one mapping from domain error kinds to status codes.
fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
    }
}

macro_rules! classified {
    ($($error:ty),*) => {$(
        impl ClassifiedError for $error {
            fn code(&self) -> Code {
                code(self.kind())
            }
        }
    )*};
}

classified!(
    MaterialError,
    LocationError,
    LotError,
    OrderLotsError,
    SupplyError
);

fn invalid_argument(err: RequestError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// A command that says when its fact happened on the floor.
trait Timed {
    fn at(&self) -> DateTime<Utc>;
}

macro_rules! timed {
    ($($command:ty),*) => {$(
        impl Timed for $command {
            fn at(&self) -> DateTime<Utc> {
                <$command>::at(self)
            }
        }
    )*};
}

timed!(
    MaterialCommand,
    LocationCommand,
    LotCommand,
    OrderLotsCommand,
    SupplyCommand
);

/// Runs `command` on aggregate `id` with metadata from the caller and returns the version to
/// reply with: the new version, or, for a repeated idempotency key, the version the first
/// command with that key produced.
async fn execute<S>(
    executor: &Executor<Stream<S>>,
    id: &str,
    command: Versioned<S::Command>,
    caller: &Caller,
    traceparent: &str,
) -> Result<u64, AggregateError<S::Error>>
where
    S: Decide,
    S::Command: Timed,
{
    let metadata = command_metadata(caller.clone(), command.command.at(), traceparent.to_owned());
    let key = command.idempotency_key.clone();
    let version = executor.execute(id, command, metadata.to_map()).await?;
    let Some(key) = key else {
        return Ok(version);
    };
    let (aggregate, _) = executor.load(id).await?;
    Ok(aggregate.version_of(&key).unwrap_or(version))
}

/// Runs a parsed command and replies with the version.
async fn run<S, I>(
    executor: &Executor<Stream<S>>,
    noun: &str,
    parsed: ParsedCommand<I, S::Command>,
    traceparent: String,
) -> Result<Response<pb::CommandReply>, Status>
where
    S: Decide,
    S::Command: Timed,
    S::Error: ClassifiedError,
    I: std::fmt::Display,
{
    let id = parsed.id.to_string();
    let version = execute(executor, &id, parsed.command, &parsed.caller, &traceparent)
        .await
        .map_err(|err| command_status(noun, &id, err))?;
    tracing::debug!(aggregate_id = %id, version, "command accepted");
    Ok(Response::new(contract::command_reply(&id, version)))
}

/// Runs a follow-up command whose failure must not fail the request it follows: a rejection
/// (nothing to end, a starvation already running) is expected and logged at debug level, a store
/// failure at warn level, since a retry of the request is then needed to complete it.
async fn follow_up<S>(
    executor: &Executor<Stream<S>>,
    id: &str,
    command: Versioned<S::Command>,
    caller: &Caller,
    traceparent: &str,
) where
    S: Decide,
    S::Command: Timed,
{
    match execute(executor, id, command, caller, traceparent).await {
        Ok(_) => {}
        Err(AggregateError::UserError(err)) => {
            tracing::debug!(aggregate_id = %id, error = %err, "follow-up command not needed");
        }
        Err(err) => {
            tracing::warn!(aggregate_id = %id, error = %err, "follow-up command failed");
        }
    }
}

impl InventoryApi {
    async fn require_material(&self, material: &MaterialId) -> Result<(), Status> {
        let id = material.to_string();
        let (aggregate, _) = self
            .app
            .materials
            .load(&id)
            .await
            .map_err(|err| command_status("material", &id, err))?;
        match aggregate.state().definition() {
            Some(_) => Ok(()),
            None => Err(command_status(
                "material",
                &id,
                AggregateError::UserError(MaterialError::NotDefined),
            )),
        }
    }

    async fn require_location(&self, location: &LocationId) -> Result<(), Status> {
        let id = location.to_string();
        let (aggregate, _) = self
            .app
            .locations
            .load(&id)
            .await
            .map_err(|err| command_status("location", &id, err))?;
        match aggregate.state().definition() {
            Some(_) => Ok(()),
            None => Err(command_status(
                "location",
                &id,
                AggregateError::UserError(LocationError::NotDefined),
            )),
        }
    }

    async fn load_lot(&self, lot: &LotId) -> Result<Option<LotState>, Status> {
        let id = lot.to_string();
        let (aggregate, _) = self
            .app
            .lots
            .load(&id)
            .await
            .map_err(|err| command_status("lot", &id, err))?;
        Ok(aggregate.state().as_ref().cloned())
    }

    async fn require_lot(&self, lot: &LotId) -> Result<LotState, Status> {
        self.load_lot(lot).await?.ok_or_else(|| {
            command_status(
                "lot",
                lot.as_str(),
                AggregateError::UserError(LotError::NotFound),
            )
        })
    }

    async fn load_order_lots(&self, order: OrderId) -> Result<OrderLotsRules, Status> {
        let id = order.to_string();
        let (aggregate, _) = self
            .app
            .order_lots
            .load(&id)
            .await
            .map_err(|err| command_status("order", &id, err))?;
        Ok(aggregate.state().clone())
    }

    /// Runs a consume; links it into the order's genealogy and ends a starvation of the work
    /// unit on success, starts one when the location held too little.
    async fn consume(
        &self,
        parsed: ParsedCommand<LotId, LotCommand>,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let LotCommand::Consume {
            order,
            work_unit,
            quantity,
            at,
            ..
        } = parsed.command.command.clone()
        else {
            return Err(Status::internal("consume handler got another command"));
        };
        let id = parsed.id.to_string();
        let caller = parsed.caller.clone();
        let result = execute(
            &self.app.lots,
            &id,
            parsed.command,
            &parsed.caller,
            &traceparent,
        )
        .await;
        let version = match result {
            Ok(version) => version,
            Err(AggregateError::UserError(LotError::InsufficientQuantity {
                material,
                location,
                available,
                requested,
            })) => {
                let start = SupplyCommand::StartStarvation {
                    work_unit: work_unit.clone(),
                    material: material.clone(),
                    order: Some(order),
                    cause: StarvationCause::ConsumeNotServed,
                    at,
                };
                follow_up(
                    &self.app.supplies,
                    work_unit.as_str(),
                    start.into(),
                    &caller,
                    &traceparent,
                )
                .await;
                let err = LotError::InsufficientQuantity {
                    material,
                    location,
                    available,
                    requested,
                };
                return Err(command_status("lot", &id, AggregateError::UserError(err)));
            }
            Err(err) => return Err(command_status("lot", &id, err)),
        };
        let state = self.require_lot(&parsed.id).await?;
        let link = OrderLotsCommand::LinkInput {
            order,
            lot: parsed.id.clone(),
            material: state.material().clone(),
            quantity,
            work_unit: work_unit.clone(),
            at,
        };
        // The lot's version names this consume, so a retried request links it only once. The key
        // always fits: a lot id has at most 128 characters.
        let mut link = Versioned::from(link);
        if let Ok(key) = IdempotencyKey::new(format!("consume:{id}:{version}")) {
            link = link.keyed(key);
        }
        follow_up(
            &self.app.order_lots,
            &order.to_string(),
            link,
            &caller,
            &traceparent,
        )
        .await;
        let end = SupplyCommand::EndStarvation {
            work_unit: work_unit.clone(),
            material: state.material().clone(),
            at,
        };
        follow_up(
            &self.app.supplies,
            work_unit.as_str(),
            end.into(),
            &caller,
            &traceparent,
        )
        .await;
        Ok(Response::new(contract::command_reply(&id, version)))
    }

    /// Runs a produce: checks material, location and inputs, takes the order's consumed lots
    /// when no inputs are named, and links the output into the order's genealogy.
    async fn produce(
        &self,
        mut parsed: ParsedCommand<LotId, LotCommand>,
        traceparent: String,
    ) -> Result<Response<pb::CommandReply>, Status> {
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
        self.require_material(material).await?;
        self.require_location(location).await?;
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
                self.require_lot(input).await?;
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
        let reply = run(&self.app.lots, "lot", parsed, traceparent.clone()).await?;
        // Linking an output twice changes nothing, so a retried request is safe.
        follow_up(
            &self.app.order_lots,
            &order.to_string(),
            link.into(),
            &caller,
            &traceparent,
        )
        .await;
        Ok(reply)
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

macro_rules! command {
    ($executor:expr, $noun:expr, $request:ident, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        run($executor, $noun, parsed, traceparent).await
    }};
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn define_material(
        &self,
        request: Request<pb::DefineMaterialRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            &self.app.materials,
            "material",
            request,
            contract::define_material
        )
    }

    async fn define_location(
        &self,
        request: Request<pb::DefineLocationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            &self.app.locations,
            "location",
            request,
            contract::define_location
        )
    }

    async fn receive_lot(
        &self,
        request: Request<pb::ReceiveLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::receive_lot(request.into_inner()).map_err(invalid_argument)?;
        if let LotCommand::Receive {
            material, location, ..
        } = &parsed.command.command
        {
            self.require_material(material).await?;
            self.require_location(location).await?;
        }
        run(&self.app.lots, "lot", parsed, traceparent).await
    }

    async fn move_lot(
        &self,
        request: Request<pb::MoveLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::move_lot(request.into_inner()).map_err(invalid_argument)?;
        if let LotCommand::Move { to, .. } = &parsed.command.command {
            self.require_location(to).await?;
        }
        run(&self.app.lots, "lot", parsed, traceparent).await
    }

    async fn consume_lot(
        &self,
        request: Request<pb::ConsumeLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::consume_lot(request.into_inner()).map_err(invalid_argument)?;
        self.consume(parsed, traceparent).await
    }

    async fn produce_lot(
        &self,
        request: Request<pb::ProduceLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::produce_lot(request.into_inner()).map_err(invalid_argument)?;
        self.produce(parsed, traceparent).await
    }

    async fn hold_lot(
        &self,
        request: Request<pb::HoldLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(&self.app.lots, "lot", request, contract::hold_lot)
    }

    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(&self.app.lots, "lot", request, contract::release_hold)
    }

    async fn scrap_lot(
        &self,
        request: Request<pb::ScrapLotRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(&self.app.lots, "lot", request, contract::scrap_lot)
    }

    async fn get_lot(
        &self,
        request: Request<pb::GetLotRequest>,
    ) -> Result<Response<pb::Lot>, Status> {
        let id = contract::get_lot(request.get_ref()).map_err(invalid_argument)?;
        let id = id.to_string();
        let (lot, _) = self
            .app
            .lots
            .load(&id)
            .await
            .map_err(|err| command_status("lot", &id, err))?;
        let reply = contract::lot_reply(&lot)
            .map_err(|err| command_status("lot", &id, AggregateError::UserError(err)))?;
        Ok(Response::new(reply))
    }

    async fn get_order_lots(
        &self,
        request: Request<pb::GetOrderLotsRequest>,
    ) -> Result<Response<pb::OrderLots>, Status> {
        let id = contract::get_order_lots(request.get_ref()).map_err(invalid_argument)?;
        let id = id.to_string();
        let (lots, _) = self
            .app
            .order_lots
            .load(&id)
            .await
            .map_err(|err| command_status("order", &id, err))?;
        let reply = contract::order_lots_reply(&lots)
            .map_err(|err| command_status("order", &id, AggregateError::UserError(err)))?;
        Ok(Response::new(reply))
    }

    async fn get_genealogy(
        &self,
        request: Request<pb::GetGenealogyRequest>,
    ) -> Result<Response<pb::Genealogy>, Status> {
        let (lot, direction, depth) =
            contract::get_genealogy(request.get_ref()).map_err(invalid_argument)?;
        let links = genealogy::walk(self, &lot, direction, depth)
            .await?
            .ok_or_else(|| {
                command_status(
                    "lot",
                    lot.as_str(),
                    AggregateError::UserError(LotError::NotFound),
                )
            })?;
        Ok(Response::new(contract::genealogy_reply(
            &lot, direction, &links,
        )))
    }

    async fn start_starvation(
        &self,
        request: Request<pb::StartStarvationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            &self.app.supplies,
            "work unit",
            request,
            contract::start_starvation
        )
    }

    async fn report_starvation(
        &self,
        request: Request<pb::ReportStarvationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            &self.app.supplies,
            "work unit",
            request,
            contract::report_starvation
        )
    }

    async fn get_work_unit_supply(
        &self,
        request: Request<pb::GetWorkUnitSupplyRequest>,
    ) -> Result<Response<pb::WorkUnitSupply>, Status> {
        let work_unit =
            contract::get_work_unit_supply(request.get_ref()).map_err(invalid_argument)?;
        let id = work_unit.to_string();
        let (supply, _) = self
            .app
            .supplies
            .load(&id)
            .await
            .map_err(|err| command_status("work unit", &id, err))?;
        Ok(Response::new(contract::work_unit_supply_reply(
            &work_unit, &supply,
        )))
    }

    async fn end_starvation(
        &self,
        request: Request<pb::EndStarvationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            &self.app.supplies,
            "work unit",
            request,
            contract::end_starvation
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (LotError::ZeroQuantity, Code::InvalidArgument),
            (
                LotError::OnHold {
                    holds: "NCR-1".to_owned(),
                },
                Code::FailedPrecondition,
            ),
            (LotError::NotFound, Code::NotFound),
            (
                LotError::VersionConflict {
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
