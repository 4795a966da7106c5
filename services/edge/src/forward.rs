//! The forwarder: sends the queued commands to the platform in queue order, as any client does
//! (gRPC, the edge service's own credentials, an idempotency key per command so a resend after a
//! lost reply or a crash stores nothing twice). While the platform is unreachable the commands
//! wait on disk; a command the platform refuses for good is kept in the `refused` table with the
//! reason, and the queue goes on.

use std::time::Duration;

use mom_auth::ClientCredentials;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use mom_telemetry::internal_events::{EdgeCommandSent, InternalEvent};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

use crate::process::Command;
use crate::store::{Queued, Store, StoreError};

type Connection = InterceptedService<Channel, ClientCredentials>;

/// The gRPC clients of the services the edge service commands.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Production.
    pub production: ProductionServiceClient<Connection>,
    /// Quality (failed inspection results for reject counters).
    pub quality: QualityServiceClient<Connection>,
}

impl Clients {
    /// Returns lazily connected clients.
    pub fn new(production: Channel, quality: Channel, credentials: ClientCredentials) -> Self {
        Self {
            production: ProductionServiceClient::with_interceptor(production, credentials.clone()),
            quality: QualityServiceClient::with_interceptor(quality, credentials),
        }
    }
}

/// How a send ended.
enum Sent {
    /// Accepted (or already accepted under its key).
    Accepted,
    /// Refused for good: the command is wrong for the platform's state.
    Refused(String),
    /// Not now: the platform is unreachable, overloaded or our credentials are refused.
    Retry(String),
}

fn classify(status: &tonic::Status) -> Sent {
    match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::NotFound
        | Code::AlreadyExists
        | Code::OutOfRange => Sent::Refused(format!("{:?}: {}", status.code(), status.message())),
        // Credentials and permissions are configuration: the commands wait until it is fixed.
        _ => Sent::Retry(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// Runs the forwarder until `shutdown`, then returns (commands still queued stay on disk).
pub async fn run(
    store: Store,
    clients: Clients,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let batch = store.next(256).await?;
        if batch.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            continue;
        }
        let mut stalled = None;
        for queued in &batch {
            let sent = tokio::select! {
                () = shutdown.cancelled() => None,
                sent = send(&clients, queued) => Some(sent),
            };
            match sent {
                None => {
                    store.untake().await?;
                    return Ok(());
                }
                Some(Sent::Accepted) => {
                    store.done(queued.id).await?;
                    crate::Stats::get()
                        .commands_accepted
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    EdgeCommandSent {
                        command: queued.command.name(),
                        outcome: "accepted",
                    }
                    .emit();
                }
                Some(Sent::Refused(reason)) => {
                    tracing::warn!(
                        command = queued.command.name(),
                        work_unit = queued.command.work_unit(),
                        key = %queued.key,
                        reason = %reason,
                        "the platform refused an edge command; kept in the refused table"
                    );
                    store.refuse(queued, &reason).await?;
                    EdgeCommandSent {
                        command: queued.command.name(),
                        outcome: "refused",
                    }
                    .emit();
                }
                Some(Sent::Retry(reason)) => {
                    stalled = Some(reason);
                    break;
                }
            }
        }
        match stalled {
            None => backoff = Duration::from_millis(100),
            Some(reason) => {
                store.untake().await?;
                tracing::warn!(reason = %reason, retry_in_ms = backoff.as_millis() as u64, "platform unreachable; edge commands wait on disk");
                EdgeCommandSent {
                    command: "any",
                    outcome: "unavailable",
                }
                .emit();
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn pctx(key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

fn qctx(key: &str) -> Option<qa::CommandContext> {
    Some(qa::CommandContext {
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

async fn send(clients: &Clients, queued: &Queued) -> Sent {
    let mut production = clients.production.clone();
    let key = queued.key.as_str();
    let result = match &queued.command {
        Command::Running {
            work_unit,
            product,
            at,
        } => production
            .report_running(pb::ReportRunningRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                product: product.clone().unwrap_or_default(),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::Stopped {
            work_unit,
            reason,
            at,
        } => production
            .report_stopped(pb::ReportStoppedRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                reason: reason.clone(),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::SetupStarted { work_unit, at } => production
            .start_setup(pb::StartSetupRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                next_product: String::new(),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::SetupEnded {
            work_unit,
            product,
            at,
        } => production
            .end_setup(pb::EndSetupRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                product: product.clone().unwrap_or_default(),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::PlannedShutdown {
            work_unit,
            from,
            until,
            reason,
        } => production
            .schedule_planned_shutdown(pb::SchedulePlannedShutdownRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                from: Some(to_timestamp(*from)),
                until: Some(to_timestamp(*until)),
                reason: reason.clone(),
            })
            .await
            .map(drop),
        Command::Count {
            work_unit,
            product,
            total,
            at,
        } => production
            .report_count(pb::ReportCountRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                product: product.clone().unwrap_or_default(),
                total: i64::try_from(*total).unwrap_or(i64::MAX),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::Disconnected {
            work_unit,
            reason,
            at,
        } => production
            .report_disconnected(pb::ReportDisconnectedRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                reason: reason.clone(),
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::Parameter {
            work_unit,
            parameter,
            value,
            at,
        } => production
            .report_parameter(pb::ReportParameterRequest {
                context: pctx(key),
                work_unit: work_unit.clone(),
                parameter: parameter.clone(),
                value: *value,
                at: Some(to_timestamp(*at)),
            })
            .await
            .map(drop),
        Command::Rejects {
            work_unit,
            plan,
            characteristic,
            count,
            at,
        } => return rejects(clients, key, work_unit, plan, characteristic, *count, *at).await,
    };
    match result {
        Ok(()) => Sent::Accepted,
        Err(status) => classify(&status),
    }
}

/// A reject counter's delta: one inspection of the plan, with one failed result of `count` units
/// made on `work_unit` at `at`, completed. The inspection's id comes from the command's key, so a
/// resend finds the same inspection and each step's key makes it a no-op.
#[allow(clippy::too_many_arguments)]
async fn rejects(
    clients: &Clients,
    key: &str,
    work_unit: &str,
    plan: &str,
    characteristic: &str,
    count: u64,
    at: chrono::DateTime<chrono::Utc>,
) -> Sent {
    let mut quality = clients.quality.clone();
    let inspection = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string();
    let started = quality
        .start_inspection(qa::StartInspectionRequest {
            context: qctx(&format!("{key}:start")),
            inspection_id: inspection.clone(),
            plan_id: plan.to_owned(),
            work_unit: work_unit.to_owned(),
            lot: String::new(),
            produced_at: Some(to_timestamp(at)),
            at: Some(to_timestamp(at)),
        })
        .await;
    if let Err(status) = started {
        return classify(&status);
    }
    let recorded = quality
        .record_inspection_result(qa::RecordInspectionResultRequest {
            context: qctx(&format!("{key}:result")),
            inspection_id: inspection.clone(),
            quantity: i64::try_from(count).unwrap_or(i64::MAX),
            values: vec![qa::MeasurementValue {
                characteristic: characteristic.to_owned(),
                value: Some(qa::measurement_value::Value::Passed(false)),
            }],
            work_unit: work_unit.to_owned(),
            lot: String::new(),
            produced_at: Some(to_timestamp(at)),
            at: Some(to_timestamp(at)),
        })
        .await;
    if let Err(status) = recorded {
        return classify(&status);
    }
    let completed = quality
        .complete_inspection(qa::CompleteInspectionRequest {
            context: qctx(&format!("{key}:complete")),
            inspection_id: inspection,
            at: Some(to_timestamp(at)),
        })
        .await;
    match completed {
        Ok(_) => Sent::Accepted,
        Err(status) => classify(&status),
    }
}
