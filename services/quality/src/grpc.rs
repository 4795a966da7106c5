//! The quality gRPC API: requests become domain commands (`contract`) and run on the command
//! kernel through `mom_grpc::run`, which answers a repeated idempotency key with the original
//! reply and maps every rejection to its status code. Commands that need another
//! aggregate's state (an inspection's plan, an NCR's source inspection, a CAPA's NCRs) load it
//! first, so an unknown reference is `NOT_FOUND` and the domain decides on a snapshot. A control
//! chart's reply adds who changed its limits, from the stored events' metadata.

use std::fmt::Display;
use std::sync::Arc;

use mom_domain::{Decide, Lifecycle, Recorded, Stream, Timed};
use mom_eventstore::Executor;
use mom_grpc::{call, get, run, Call, ParsedCommand};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_server::QualityService;
use tonic::{Request, Response, Status};

use crate::contract;
use crate::domain::{
    CapaCommand, CapaId, ChartEvent, ChartState, InspectionError, InspectionId, InspectionSummary,
    NcrError, NcrId, PlanError, PlanId, PlanSnapshot,
};
use crate::Application;

/// The `QualityService` implementation.
#[derive(Debug)]
pub struct QualityApi {
    app: Arc<Application>,
}

impl QualityApi {
    /// Returns the API over `app`.
    pub fn new(app: Arc<Application>) -> Self {
        Self { app }
    }
}

/// Runs a parsed command on the kernel and replies with the aggregate's version afterwards (for
/// a repeated idempotency key, the version the first run produced).
async fn run_command<S, I>(
    executor: &Executor<Stream<S>>,
    parsed: ParsedCommand<I, S::Command>,
    call: Call,
) -> Result<Response<pb::CommandReply>, Status>
where
    S: Decide,
    S::Command: Timed,
    I: Display,
{
    let ran = run(executor, parsed, call).await?;
    Ok(Response::new(contract::command_reply(&ran.id, ran.version)))
}

/// Loads aggregate `id` and returns its state, or `NOT_FOUND` with `not_found` when it does not
/// exist.
async fn existing<L: Lifecycle>(
    executor: &Executor<Stream<Option<L>>>,
    id: &str,
    not_found: L::Error,
) -> Result<L, Status> {
    get(executor, id, |stream| {
        stream.state().clone().ok_or(not_found)
    })
    .await
}

impl QualityApi {
    /// Checks that every NCR in `ncrs` exists (`NOT_FOUND` naming the first that does not).
    async fn check_ncrs(&self, ncrs: &[NcrId]) -> Result<(), Status> {
        for ncr in ncrs {
            existing(
                &self.app.nonconformances,
                &ncr.to_string(),
                NcrError::NotFound,
            )
            .await?;
        }
        Ok(())
    }
}

macro_rules! command {
    ($self:ident, $request:ident, $executor:ident, $parse:expr) => {{
        let call = call(&$request);
        let parsed = $parse($request.into_inner())?;
        run_command(&$self.app.$executor, parsed, call).await
    }};
}

#[tonic::async_trait]
impl QualityService for QualityApi {
    async fn define_inspection_plan(
        &self,
        request: Request<pb::DefineInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, |req| {
            contract::define_inspection_plan(req, PlanId::generate)
        })
    }

    async fn revise_inspection_plan(
        &self,
        request: Request<pb::ReviseInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, contract::revise_inspection_plan)
    }

    async fn retire_inspection_plan(
        &self,
        request: Request<pb::RetireInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, contract::retire_inspection_plan)
    }

    async fn get_inspection_plan(
        &self,
        request: Request<pb::GetInspectionPlanRequest>,
    ) -> Result<Response<pb::InspectionPlan>, Status> {
        let id = contract::get_inspection_plan(request.get_ref())?;
        get(&self.app.plans, &id.to_string(), contract::plan_reply)
            .await
            .map(Response::new)
    }

    async fn start_inspection(
        &self,
        request: Request<pb::StartInspectionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::start_inspection(request.into_inner(), InspectionId::generate)?;
        let plan_id = parsed.command.command.plan.to_string();
        let plan = existing(&self.app.plans, &plan_id, PlanError::NotFound).await?;
        let snapshot = PlanSnapshot::from(&plan);
        let parsed = parsed.map(|start| start.with_plan(snapshot));
        run_command(&self.app.inspections, parsed, call).await
    }

    async fn record_inspection_result(
        &self,
        request: Request<pb::RecordInspectionResultRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            inspections,
            contract::record_inspection_result
        )
    }

    async fn complete_inspection(
        &self,
        request: Request<pb::CompleteInspectionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, inspections, contract::complete_inspection)
    }

    async fn get_inspection(
        &self,
        request: Request<pb::GetInspectionRequest>,
    ) -> Result<Response<pb::Inspection>, Status> {
        let id = contract::get_inspection(request.get_ref())?;
        get(
            &self.app.inspections,
            &id.to_string(),
            contract::inspection_reply,
        )
        .await
        .map(Response::new)
    }

    async fn open_nonconformance(
        &self,
        request: Request<pb::OpenNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::open_nonconformance(request.into_inner(), NcrId::generate)?;
        let source = match parsed.command.command.inspection {
            None => None,
            Some(inspection) => {
                let state = existing(
                    &self.app.inspections,
                    &inspection.to_string(),
                    InspectionError::NotFound,
                )
                .await?;
                Some(InspectionSummary::from(&state))
            }
        };
        let parsed = parsed.map(|open| open.with_source(source));
        run_command(&self.app.nonconformances, parsed, call).await
    }

    async fn contain_nonconformance(
        &self,
        request: Request<pb::ContainNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            nonconformances,
            contract::contain_nonconformance
        )
    }

    async fn disposition_nonconformance(
        &self,
        request: Request<pb::DispositionNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            nonconformances,
            contract::disposition_nonconformance
        )
    }

    async fn close_nonconformance(
        &self,
        request: Request<pb::CloseNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            nonconformances,
            contract::close_nonconformance
        )
    }

    async fn get_nonconformance(
        &self,
        request: Request<pb::GetNonconformanceRequest>,
    ) -> Result<Response<pb::Nonconformance>, Status> {
        let id = contract::get_nonconformance(request.get_ref())?;
        get(
            &self.app.nonconformances,
            &id.to_string(),
            contract::nonconformance_reply,
        )
        .await
        .map(Response::new)
    }

    async fn open_capa(
        &self,
        request: Request<pb::OpenCapaRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::open_capa(request.into_inner(), CapaId::generate)?;
        if let CapaCommand::Open { ncrs, .. } = &parsed.command.command {
            self.check_ncrs(ncrs).await?;
        }
        run_command(&self.app.capas, parsed, call).await
    }

    async fn link_capa_nonconformance(
        &self,
        request: Request<pb::LinkCapaNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let call = call(&request);
        let parsed = contract::link_capa_nonconformance(request.into_inner())?;
        if let CapaCommand::LinkNcr { ncr, .. } = &parsed.command.command {
            self.check_ncrs(std::slice::from_ref(ncr)).await?;
        }
        run_command(&self.app.capas, parsed, call).await
    }

    async fn implement_capa_action(
        &self,
        request: Request<pb::ImplementCapaActionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, capas, contract::implement_capa_action)
    }

    async fn verify_capa_effectiveness(
        &self,
        request: Request<pb::VerifyCapaEffectivenessRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, capas, contract::verify_capa_effectiveness)
    }

    async fn get_capa(
        &self,
        request: Request<pb::GetCapaRequest>,
    ) -> Result<Response<pb::Capa>, Status> {
        let id = contract::get_capa(request.get_ref())?;
        get(&self.app.capas, &id.to_string(), contract::capa_reply)
            .await
            .map(Response::new)
    }

    async fn define_control_chart(
        &self,
        request: Request<pb::DefineControlChartRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, charts, contract::define_control_chart)
    }

    async fn set_control_limits(
        &self,
        request: Request<pb::SetControlLimitsRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, charts, contract::set_control_limits)
    }

    async fn recompute_control_limits(
        &self,
        request: Request<pb::RecomputeControlLimitsRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, charts, contract::recompute_control_limits)
    }

    async fn record_rule_violation(
        &self,
        request: Request<pb::RecordRuleViolationRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, charts, contract::record_rule_violation)
    }

    async fn get_control_chart(
        &self,
        request: Request<pb::GetControlChartRequest>,
    ) -> Result<Response<pb::ControlChart>, Status> {
        let id = contract::get_control_chart(request.get_ref())?.to_string();
        let history = self.limit_history(&id).await?;
        get(&self.app.charts, &id, |chart| {
            contract::control_chart_reply(chart, history)
        })
        .await
        .map(Response::new)
    }
}

impl QualityApi {
    /// Returns the definition and limit changes of chart `id` as stored, with who made them
    /// (the newest 1000).
    async fn limit_history(&self, id: &str) -> Result<Vec<contract::LimitChange>, Status> {
        let stored = self
            .app
            .store
            .authored_events(ChartState::TYPE, id, ChartEvent::LIMIT_TYPES)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "event store call failed");
                Status::unavailable("event store unavailable")
            })?;
        let mut history = Vec::with_capacity(stored.len());
        for event in stored {
            let recorded: Recorded<ChartEvent> = serde_json::from_value(event.payload.clone())
                .map_err(|err| {
                    tracing::error!(error = %err, chart = id, "stored chart event unreadable");
                    Status::internal("stored control chart event unreadable")
                })?;
            history.push(contract::LimitChange {
                by: event.author().unwrap_or_default().to_owned(),
                on_behalf_of: event.on_behalf_of().unwrap_or_default().to_owned(),
                sequence: event.sequence,
                event: recorded.event,
            });
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::AggregateError;
    use mom_domain::Rejected;
    use mom_grpc::command_status;
    use tonic::Code;

    use super::*;
    use crate::domain::Units;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (
                Rejected::Domain(NcrError::ZeroQuantity),
                Code::InvalidArgument,
            ),
            (
                Rejected::Domain(NcrError::Undisposed {
                    remaining: Units(3),
                }),
                Code::FailedPrecondition,
            ),
            (Rejected::Domain(NcrError::NotFound), Code::NotFound),
            (
                Rejected::VersionConflict {
                    noun: "nonconformance",
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status("nonconformance", "ncr-7", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("nonconformance ncr-7: "));
        }
    }
}
