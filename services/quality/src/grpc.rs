//! The quality gRPC API: requests become domain commands (`contract`), run through the
//! executors, and every rejection maps to one status code here. Commands that need another
//! aggregate's state (an inspection's plan, an NCR's source inspection, a CAPA's NCRs) load it
//! first, so an unknown reference is `NOT_FOUND` and the domain decides on a snapshot.

use std::fmt::Display;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use mom_eventstore::Executor;
use mom_grpc::{
    command_metadata, command_status, execute_replayable, traceparent, ClassifiedError, Replayable,
};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_server::QualityService;
use tonic::{Code, Request, Response, Status};

use crate::contract::{self, ParsedCommand, RequestError};
use crate::domain::{
    CapaCommand, CapaError, CapaId, DomainError, ErrorKind, InspectionCommand, InspectionError,
    InspectionId, InspectionSummary, Lifecycle, NcrCommand, NcrError, NcrId, PlanCommand,
    PlanError, PlanId, PlanSnapshot, Tracked,
};
use crate::Application;

const PLAN: &str = "inspection plan";
const INSPECTION: &str = "inspection";
const NCR: &str = "nonconformance";
const CAPA: &str = "capa";

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

        impl Replayable for $error {
            fn replayed_version(&self) -> Option<u64> {
                DomainError::replayed_version(self)
            }
        }
    )*};
}

classified!(PlanError, InspectionError, NcrError, CapaError);

fn invalid_argument(err: RequestError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// A command that says when its fact happened.
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

timed!(PlanCommand, InspectionCommand, NcrCommand, CapaCommand);

/// Runs a parsed command on `executor` and replies with the new version. A command whose
/// idempotency key the aggregate remembers stores nothing and gets the version its first
/// run produced.
async fn run<S, I>(
    executor: &Executor<Tracked<S>>,
    noun: &str,
    parsed: ParsedCommand<I, S::Command>,
    traceparent: String,
) -> Result<Response<pb::CommandReply>, Status>
where
    S: Lifecycle,
    S::Command: Timed,
    S::Error: ClassifiedError + Replayable,
    I: Display,
{
    let id = parsed.id.to_string();
    let at = parsed.command.command.at();
    let metadata = command_metadata(parsed.caller, at, traceparent);
    let version = execute_replayable(executor, noun, &id, parsed.command, &metadata)
        .await
        .map_err(|err| command_status(noun, &id, err))?;
    Ok(Response::new(contract::command_reply(&id, version)))
}

/// Loads aggregate `id`; a store failure becomes its status.
async fn load<S>(
    executor: &Executor<Tracked<S>>,
    noun: &str,
    id: &str,
) -> Result<Tracked<S>, Status>
where
    S: Lifecycle,
    S::Error: ClassifiedError,
{
    let (aggregate, _) = executor
        .load(id)
        .await
        .map_err(|err| command_status(noun, id, err))?;
    Ok(aggregate)
}

/// Loads aggregate `id` and returns its state, or `NOT_FOUND` with `not_found` when it does not
/// exist.
async fn existing<S>(
    executor: &Executor<Tracked<S>>,
    noun: &str,
    id: &str,
    not_found: S::Error,
) -> Result<S, Status>
where
    S: Lifecycle,
    S::Error: ClassifiedError,
{
    let aggregate = load(executor, noun, id).await?;
    match aggregate.state() {
        Some(state) => Ok(state.clone()),
        None => Err(command_status(
            noun,
            id,
            AggregateError::UserError(not_found),
        )),
    }
}

/// Returns the reply `to_reply` makes of aggregate `id`, or its rejection as a status.
async fn get<S, R>(
    executor: &Executor<Tracked<S>>,
    noun: &str,
    id: &str,
    to_reply: impl FnOnce(&Tracked<S>) -> Result<R, S::Error>,
) -> Result<Response<R>, Status>
where
    S: Lifecycle,
    S::Error: ClassifiedError,
{
    let aggregate = load(executor, noun, id).await?;
    let reply = to_reply(&aggregate)
        .map_err(|err| command_status(noun, id, AggregateError::UserError(err)))?;
    Ok(Response::new(reply))
}

impl QualityApi {
    /// Checks that every NCR in `ncrs` exists (`NOT_FOUND` naming the first that does not).
    async fn check_ncrs(&self, ncrs: &[NcrId]) -> Result<(), Status> {
        for ncr in ncrs {
            existing(
                &self.app.nonconformances,
                NCR,
                &ncr.to_string(),
                NcrError::NotFound,
            )
            .await?;
        }
        Ok(())
    }
}

macro_rules! command {
    ($self:ident, $request:ident, $executor:ident, $noun:expr, $parse:expr) => {{
        let traceparent = traceparent(&$request);
        let parsed = $parse($request.into_inner()).map_err(invalid_argument)?;
        run(&$self.app.$executor, $noun, parsed, traceparent).await
    }};
}

#[tonic::async_trait]
impl QualityService for QualityApi {
    async fn define_inspection_plan(
        &self,
        request: Request<pb::DefineInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, PLAN, |req| {
            contract::define_inspection_plan(req, PlanId::generate)
        })
    }

    async fn revise_inspection_plan(
        &self,
        request: Request<pb::ReviseInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, PLAN, contract::revise_inspection_plan)
    }

    async fn retire_inspection_plan(
        &self,
        request: Request<pb::RetireInspectionPlanRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, plans, PLAN, contract::retire_inspection_plan)
    }

    async fn get_inspection_plan(
        &self,
        request: Request<pb::GetInspectionPlanRequest>,
    ) -> Result<Response<pb::InspectionPlan>, Status> {
        let id = contract::get_inspection_plan(request.get_ref()).map_err(invalid_argument)?;
        get(&self.app.plans, PLAN, &id.to_string(), contract::plan_reply).await
    }

    async fn start_inspection(
        &self,
        request: Request<pb::StartInspectionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::start_inspection(request.into_inner(), InspectionId::generate)
            .map_err(invalid_argument)?;
        let plan_id = parsed.command.command.plan.to_string();
        let plan = existing(&self.app.plans, PLAN, &plan_id, PlanError::NotFound).await?;
        let snapshot = PlanSnapshot::from(&plan);
        let parsed = parsed.map(|start| start.with_plan(snapshot));
        run(&self.app.inspections, INSPECTION, parsed, traceparent).await
    }

    async fn record_inspection_result(
        &self,
        request: Request<pb::RecordInspectionResultRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            inspections,
            INSPECTION,
            contract::record_inspection_result
        )
    }

    async fn complete_inspection(
        &self,
        request: Request<pb::CompleteInspectionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            inspections,
            INSPECTION,
            contract::complete_inspection
        )
    }

    async fn get_inspection(
        &self,
        request: Request<pb::GetInspectionRequest>,
    ) -> Result<Response<pb::Inspection>, Status> {
        let id = contract::get_inspection(request.get_ref()).map_err(invalid_argument)?;
        get(
            &self.app.inspections,
            INSPECTION,
            &id.to_string(),
            contract::inspection_reply,
        )
        .await
    }

    async fn open_nonconformance(
        &self,
        request: Request<pb::OpenNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::open_nonconformance(request.into_inner(), NcrId::generate)
            .map_err(invalid_argument)?;
        let source = match parsed.command.command.inspection {
            None => None,
            Some(inspection) => {
                let state = existing(
                    &self.app.inspections,
                    INSPECTION,
                    &inspection.to_string(),
                    InspectionError::NotFound,
                )
                .await?;
                Some(InspectionSummary::from(&state))
            }
        };
        let parsed = parsed.map(|open| open.with_source(source));
        run(&self.app.nonconformances, NCR, parsed, traceparent).await
    }

    async fn contain_nonconformance(
        &self,
        request: Request<pb::ContainNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            nonconformances,
            NCR,
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
            NCR,
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
            NCR,
            contract::close_nonconformance
        )
    }

    async fn get_nonconformance(
        &self,
        request: Request<pb::GetNonconformanceRequest>,
    ) -> Result<Response<pb::Nonconformance>, Status> {
        let id = contract::get_nonconformance(request.get_ref()).map_err(invalid_argument)?;
        get(
            &self.app.nonconformances,
            NCR,
            &id.to_string(),
            contract::nonconformance_reply,
        )
        .await
    }

    async fn open_capa(
        &self,
        request: Request<pb::OpenCapaRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed = contract::open_capa(request.into_inner(), CapaId::generate)
            .map_err(invalid_argument)?;
        if let CapaCommand::Open { ncrs, .. } = &parsed.command.command {
            self.check_ncrs(ncrs).await?;
        }
        run(&self.app.capas, CAPA, parsed, traceparent).await
    }

    async fn link_capa_nonconformance(
        &self,
        request: Request<pb::LinkCapaNonconformanceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let traceparent = traceparent(&request);
        let parsed =
            contract::link_capa_nonconformance(request.into_inner()).map_err(invalid_argument)?;
        if let CapaCommand::LinkNcr { ncr, .. } = &parsed.command.command {
            self.check_ncrs(std::slice::from_ref(ncr)).await?;
        }
        run(&self.app.capas, CAPA, parsed, traceparent).await
    }

    async fn implement_capa_action(
        &self,
        request: Request<pb::ImplementCapaActionRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(self, request, capas, CAPA, contract::implement_capa_action)
    }

    async fn verify_capa_effectiveness(
        &self,
        request: Request<pb::VerifyCapaEffectivenessRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        command!(
            self,
            request,
            capas,
            CAPA,
            contract::verify_capa_effectiveness
        )
    }

    async fn get_capa(
        &self,
        request: Request<pb::GetCapaRequest>,
    ) -> Result<Response<pb::Capa>, Status> {
        let id = contract::get_capa(request.get_ref()).map_err(invalid_argument)?;
        get(&self.app.capas, CAPA, &id.to_string(), contract::capa_reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Units;

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        let cases = [
            (NcrError::ZeroQuantity, Code::InvalidArgument),
            (
                NcrError::Undisposed {
                    remaining: Units(3),
                },
                Code::FailedPrecondition,
            ),
            (NcrError::NotFound, Code::NotFound),
            (
                NcrError::VersionConflict {
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (err, expected) in cases {
            let status = command_status(NCR, "ncr-7", AggregateError::UserError(err));
            assert_eq!(status.code(), expected);
            assert!(status.message().starts_with("nonconformance ncr-7: "));
        }
    }
}
