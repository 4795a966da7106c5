//! The production gRPC API: requests become domain commands (`contract`) and run on the kernel
//! through `mom_grpc::run`, which maps every rejection to its status code and answers a repeated
//! idempotency key with the original reply.

use std::sync::Arc;

use mom_grpc::{call, Ran};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_server::ProductionService;
use tonic::{Request, Response, Status};

use cqrs_es::Aggregate;

use crate::binding;
use crate::contract::{self, RecipeAuthors};
use crate::counting;
use crate::domain::{OrderId, Recipe};
use crate::reasons;
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
        let call = call(&request);
        let parsed = contract::start_operation(request.into_inner())?;
        Ok(reply(
            binding::start_operation(&self.app, parsed, call).await?,
        ))
    }

    async fn report_quantity(
        &self,
        request: Request<pb::ReportQuantityRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::report_quantity(request.into_inner())?;
        Ok(reply(
            reasons::report_quantity(&self.app, parsed, call).await?,
        ))
    }

    async fn complete_operation(
        &self,
        request: Request<pb::CompleteOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::complete_operation(request.into_inner())?;
        Ok(reply(
            binding::complete_operation(&self.app, parsed, call).await?,
        ))
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

    async fn change_order_planning(
        &self,
        request: Request<pb::ChangeOrderPlanningRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::change_order_planning)
    }

    async fn sequence_order(
        &self,
        request: Request<pb::SequenceOrderRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::sequence_order)
    }

    async fn dispatch_operation(
        &self,
        request: Request<pb::DispatchOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::dispatch_operation)
    }

    async fn redispatch_operation(
        &self,
        request: Request<pb::RedispatchOperationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.orders, request, contract::redispatch_operation)
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
        let call = call(&request);
        let parsed = contract::report_stopped(request.into_inner())?;
        Ok(reply(
            reasons::report_stopped(&self.app, parsed, call).await?,
        ))
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
        let call = call(&request);
        let parsed = contract::report_count(request.into_inner())?;
        Ok(reply(
            counting::report_count(&self.app, parsed, call).await?,
        ))
    }

    async fn get_work_unit(
        &self,
        request: Request<pb::GetWorkUnitRequest>,
    ) -> Result<Response<pb::WorkUnit>, Status> {
        let id = contract::get_work_unit(request.get_ref())?.to_string();
        let unit = mom_grpc::get(&self.app.work_units, &id, contract::work_unit_reply).await?;
        Ok(Response::new(unit))
    }

    async fn define_recipe(
        &self,
        request: Request<pb::DefineRecipeRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.recipes, request, contract::define_recipe)
    }

    async fn draft_recipe_version(
        &self,
        request: Request<pb::DraftRecipeVersionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.recipes, request, contract::draft_recipe_version)
    }

    async fn approve_recipe_version(
        &self,
        request: Request<pb::RecipeVersionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.recipes, request, contract::approve_recipe_version)
    }

    async fn retire_recipe_version(
        &self,
        request: Request<pb::RetireRecipeVersionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.recipes, request, contract::retire_recipe_version)
    }

    async fn get_recipe(
        &self,
        request: Request<pb::GetRecipeRequest>,
    ) -> Result<Response<pb::Recipe>, Status> {
        let id = contract::get_recipe(request.get_ref())?.to_string();
        let authors = recipe_authors(&self.app, &id).await?;
        let recipe = mom_grpc::get(&self.app.recipes, &id, |recipe| {
            contract::recipe_reply(recipe, &authors)
        })
        .await?;
        Ok(Response::new(recipe))
    }

    async fn report_parameter(
        &self,
        request: Request<pb::ReportParameterRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::report_parameter)
    }

    async fn override_parameter(
        &self,
        request: Request<pb::OverrideParameterRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.work_units, request, contract::override_parameter)
    }

    async fn set_default_ideal_cycle_time(
        &self,
        request: Request<pb::SetDefaultIdealCycleTimeRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self.app.work_units,
            request,
            contract::set_default_ideal_cycle_time
        )
    }

    async fn define_reason_category(
        &self,
        request: Request<pb::DefineReasonCategoryRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self.app.reason_catalogues,
            request,
            contract::define_reason_category
        )
    }

    async fn define_reason(
        &self,
        request: Request<pb::DefineReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.reason_catalogues, request, contract::define_reason)
    }

    async fn retire_reason(
        &self,
        request: Request<pb::RetireReasonRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.reason_catalogues, request, contract::retire_reason)
    }

    async fn set_unknown_reason_policy(
        &self,
        request: Request<pb::SetUnknownReasonPolicyRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self.app.reason_catalogues,
            request,
            contract::set_unknown_reason_policy
        )
    }

    async fn get_reason_catalogue(
        &self,
        request: Request<pb::GetReasonCatalogueRequest>,
    ) -> Result<Response<pb::ReasonCatalogue>, Status> {
        let site = contract::get_reason_catalogue(request.get_ref())?.to_string();
        let catalogue = mom_grpc::get(
            &self.app.reason_catalogues,
            &site,
            contract::reason_catalogue_reply,
        )
        .await?;
        Ok(Response::new(catalogue))
    }

    async fn define_calendar(
        &self,
        request: Request<pb::DefineCalendarRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self.app.calendars, request, contract::define_calendar)
    }

    async fn publish_calendar_version(
        &self,
        request: Request<pb::PublishCalendarVersionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self.app.calendars,
            request,
            contract::publish_calendar_version
        )
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::PlantCalendar>, Status> {
        let scope = contract::get_calendar(request.get_ref())?.to_string();
        let calendar =
            mom_grpc::get(&self.app.calendars, &scope, contract::plant_calendar_reply).await?;
        Ok(Response::new(calendar))
    }
}

/// Returns who drafted, approved and retired each version of recipe `id`: the principals of its
/// stored events, matched by the events' `version` field.
async fn recipe_authors(app: &Application, id: &str) -> Result<RecipeAuthors, Status> {
    const TYPES: [&str; 3] = [
        "RecipeVersionDrafted",
        "RecipeVersionApproved",
        "RecipeVersionRetired",
    ];
    let events = app
        .store
        .authored_events(Recipe::TYPE, id, &TYPES)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "recipe history lookup failed");
            Status::unavailable("event store unavailable")
        })?;
    let mut authors = RecipeAuthors::default();
    for event in &events {
        let Some(version) = payload_version(&event.payload, &event.event_type) else {
            continue;
        };
        let who = event.author().unwrap_or_default().to_owned();
        if event.event_type == "RecipeVersionApproved" {
            if let Some(reason) = event
                .metadata
                .get("signature_reason")
                .and_then(serde_json::Value::as_str)
                .filter(|reason| !reason.is_empty())
            {
                authors
                    .approval_reasons
                    .entry(version)
                    .or_insert_with(|| reason.to_owned());
            }
        }
        let map = match event.event_type.as_str() {
            "RecipeVersionDrafted" => &mut authors.drafted,
            "RecipeVersionApproved" => &mut authors.approved,
            _ => &mut authors.retired,
        };
        // Newest first: keep the first (newest) author of each version.
        map.entry(version).or_insert(who);
    }
    Ok(authors)
}

/// Returns the `version` of a stored recipe event payload (`{"event": {"<type>": {...}}}`, or
/// the bare `{"<type>": {...}}`).
fn payload_version(payload: &serde_json::Value, event_type: &str) -> Option<u32> {
    let inner = payload.get("event").unwrap_or(payload).get(event_type)?;
    inner
        .get("version")?
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
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
