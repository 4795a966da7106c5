//! Running a parsed command and mapping its failure to a gRPC status: the one place every
//! command of every service passes, so each gets the same replay meaning, the same status codes,
//! the `mom.commands` metric and a `command` span.

use cqrs_es::AggregateError;
use mom_domain::{Caller, Decide, DomainError, ErrorKind, Rejected, Stream, Timed, Versioned};
use mom_eventstore::{CommandMetadata, Executor};
use mom_telemetry::internal_events::{emit, CommandHandled, CommandOutcome};
use tonic::{Code, Request, Status};
use tracing::Instrument;

use crate::limits::{check_times, Call};
use crate::request::ParsedCommand;

/// Returns the status code of a rejection class: the one mapping of every service.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
    }
}

impl<E: DomainError> ClassifiedError for Rejected<E> {
    fn code(&self) -> Code {
        code(self.kind())
    }

    fn field(&self) -> Option<&str> {
        match self {
            Rejected::Domain(err) => err.field(),
            Rejected::Replayed { .. } | Rejected::VersionConflict { .. } => None,
        }
    }
}

/// An accepted (or replayed) command: the aggregate id, its version afterwards (for a replay,
/// the version the first run produced) and the metadata its events carry.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The aggregate id in the store.
    pub id: String,
    /// The version the command produced.
    pub version: u64,
    /// The metadata of the command's events (caller, correlation, trace).
    pub metadata: CommandMetadata,
}

/// How many times a keyed command runs when concurrent appends keep beating it: two sends of one
/// key at once race, and the loser must find the winner's key on a fresh load (the store may
/// refuse its append before the winner's commit is visible, so one reload is not always enough).
const KEYED_ATTEMPTS: u32 = 3;

/// Runs a parsed command on its aggregate, in a `command` span, and returns what it produced:
/// the command's times checked against the call's event-time policy ([`check_times`], a refusal
/// is `INVALID_ARGUMENT` naming the field), its electronic signature against the command's
/// rule ([`crate::decide_signature`]: a designated command needs one, from a recently
/// re-authenticated principal who did not author the record), then [`execute_replayable`] with
/// the caller's metadata (and the signature), every rejection mapped to its status.
pub async fn run<S, I>(
    executor: &Executor<Stream<S>>,
    parsed: ParsedCommand<I, S::Command>,
    call: Call,
) -> Result<Ran, Status>
where
    S: Decide,
    S::Command: Timed,
    I: std::fmt::Display,
{
    let id = parsed.id.to_string();
    let span = tracing::info_span!("command", aggregate = S::NOUN, aggregate_id = %id);
    async move {
        if let Err(err) = check_times(&parsed.command.command, &call.time_policy, mom_clock::now())
        {
            emit(CommandHandled {
                aggregate: S::NOUN,
                aggregate_id: &id,
                outcome: CommandOutcome::Rejected,
                version: None,
            });
            return Err(Status::from(err));
        }
        let at = parsed.command.command.at();
        let signature = crate::decide_signature(
            parsed.command.command.signature_rule(),
            parsed.signature,
            &call,
            mom_clock::now(),
            (S::NOUN, &id),
            executor.event_store(),
            S::TYPE,
        )
        .await
        .inspect_err(|_| {
            emit(CommandHandled {
                aggregate: S::NOUN,
                aggregate_id: &id,
                outcome: CommandOutcome::Rejected,
                version: None,
            });
        })?;
        let mut metadata = command_metadata(parsed.caller, at, &call)?;
        metadata.signature = signature;
        let version = execute_replayable(executor, &id, parsed.command, &metadata)
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

/// Returns how a command ended and its answer: a replayed idempotency key answers the version
/// its first run produced.
fn settle<E: DomainError>(
    result: Result<u64, AggregateError<Rejected<E>>>,
) -> (CommandOutcome, Result<u64, AggregateError<Rejected<E>>>) {
    match result {
        Err(AggregateError::UserError(err)) => match err.replayed_version() {
            Some(version) => (CommandOutcome::Replayed, Ok(version)),
            None => (
                CommandOutcome::Rejected,
                Err(AggregateError::UserError(err)),
            ),
        },
        Ok(version) => (CommandOutcome::Accepted, Ok(version)),
        Err(err @ AggregateError::AggregateConflict) => (CommandOutcome::Conflict, Err(err)),
        Err(err @ AggregateError::DatabaseConnectionError(_)) => {
            (CommandOutcome::Unavailable, Err(err))
        }
        Err(AggregateError::UnexpectedError(err)) if refused_by_store(err.as_ref()) => (
            CommandOutcome::Rejected,
            Err(AggregateError::UnexpectedError(err)),
        ),
        Err(err) => (CommandOutcome::Error, Err(err)),
    }
}

/// Loads aggregate `id`, mapping a store failure to its status.
pub async fn load<S: Decide>(
    executor: &Executor<Stream<S>>,
    id: &str,
) -> Result<Stream<S>, Status> {
    let (stream, _) = executor
        .load(id)
        .await
        .map_err(|err| command_status(S::NOUN, id, err))?;
    Ok(stream)
}

/// Answers a get request: loads aggregate `id` and builds the reply from it; a rejection of
/// `reply` (typically "does not exist") maps to its status like a command's.
pub async fn get<S: Decide, R>(
    executor: &Executor<Stream<S>>,
    id: &str,
    reply: impl FnOnce(&Stream<S>) -> Result<R, S::Error>,
) -> Result<R, Status> {
    let stream = load(executor, id).await?;
    reply(&stream).map_err(|err| {
        command_status(
            S::NOUN,
            id,
            AggregateError::UserError(Rejected::<S::Error>::Domain(err)),
        )
    })
}

/// A rejection that knows its status code; implemented once, for the kernel's [`Rejected`], from
/// the error's [`ErrorKind`].
pub trait ClassifiedError: std::error::Error {
    /// Returns the status code of this rejection.
    fn code(&self) -> Code;

    /// Returns the request field an INVALID_ARGUMENT rejection is about, when one is to blame.
    fn field(&self) -> Option<&str> {
        None
    }
}

/// Maps a failed command to its status; the message names the aggregate (`noun` `id`) and says
/// why. Store failures are logged and reported without internals.
pub fn command_status<E: ClassifiedError>(noun: &str, id: &str, err: AggregateError<E>) -> Status {
    match err {
        AggregateError::UserError(err) => {
            let message = format!("{noun} {id}: {err}");
            match (err.code(), err.field()) {
                (Code::InvalidArgument, Some(field)) => crate::invalid_argument(field, message),
                (code, _) => Status::new(code, message),
            }
        }
        AggregateError::AggregateConflict => Status::aborted(format!(
            "{noun} {id} was changed by a concurrent command (version conflict); reload it and retry"
        )),
        AggregateError::DatabaseConnectionError(err) => {
            tracing::error!(error = %err, "event store unavailable");
            Status::unavailable("event store unavailable")
        }
        AggregateError::UnexpectedError(err) if refused_by_store(err.as_ref()) => {
            Status::invalid_argument(format!("{noun} {id}: {err}"))
        }
        AggregateError::DeserializationError(err) | AggregateError::UnexpectedError(err) => {
            tracing::error!(error = %err, aggregate_id = id, "command failed");
            Status::internal("internal error; see the service log")
        }
    }
}

/// Whether the event store refused the append for the command's input (an outbox message over
/// `MOM_MAX_MESSAGE_BYTES`): INVALID_ARGUMENT, never stored. cqrs-es hands it over boxed in
/// `AggregateError::UnexpectedError`.
fn refused_by_store(err: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    err.downcast_ref::<mom_eventstore::StoreError>()
        .is_some_and(mom_eventstore::StoreError::is_invalid_input)
}

/// Returns the request's W3C `traceparent` metadata when valid, else an empty string.
pub fn traceparent<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(mom_telemetry::trace_context::valid_traceparent)
        .unwrap_or_default()
        .to_owned()
}

/// Returns the events' metadata for a command from `caller` whose fact happened `at`, carrying
/// the request's `traceparent`; the caller's correlation and causation ids replace the fresh ones
/// when given.
///
/// The actor is the verified principal of the call. An actor the caller names in
/// `context.actor` is kept as `on_behalf_of` when the principal holds the act-as permission
/// (process managers, gateways) and refused with PERMISSION_DENIED otherwise; naming itself (or
/// no one) is always fine. A call without a verified caller (a handler called directly, without
/// a server) keeps the named actor, with no authentication method recorded.
pub fn command_metadata(
    caller: Caller,
    at: chrono::DateTime<chrono::Utc>,
    call: &Call,
) -> Result<CommandMetadata, Status> {
    let mut metadata = match &call.verified {
        Some(verified) => {
            let principal = &verified.principal;
            let named = caller.actor.as_str();
            let mut metadata = CommandMetadata::new(principal.subject.clone(), at);
            metadata.auth_method = principal.method.as_str().to_owned();
            if named != mom_domain::ANONYMOUS && named != principal.subject {
                if !verified.may_act_as {
                    return Err(Status::permission_denied(format!(
                        "context.actor names {named:?}, but {} may not act on behalf of another actor (permission {} is required)",
                        principal.subject,
                        mom_auth::ACT_AS
                    )));
                }
                metadata.on_behalf_of = caller.actor;
            }
            metadata
        }
        None => CommandMetadata::new(caller.actor, at),
    };
    if let Some(correlation_id) = caller.correlation_id {
        metadata.correlation_id = correlation_id;
    }
    if let Some(causation_id) = caller.causation_id {
        metadata.causation_id = causation_id;
    }
    // The command's own span (the gRPC server span) when traced, so the stored events, their
    // Kafka messages and the projections that apply them continue this trace.
    metadata.traceparent = mom_telemetry::trace_context::current_or(call.traceparent.clone());
    Ok(metadata)
}

/// Runs `command` on aggregate `id` with `metadata` and returns its version afterwards: the
/// command path under [`run`], also for the follow-up commands a service runs itself. A command
/// whose idempotency key the aggregate remembers stores nothing and gets the version its first
/// run produced, so a retry gets the original reply. A keyed command beaten by a concurrent
/// append runs again on the stored state (at most [`KEYED_ATTEMPTS`] times), where it finds its
/// own repeat's key; anything else it finds there is decided as usual, so a stale expected
/// version is still a conflict. An unkeyed command beaten that way fails at once: only the
/// caller can tell whether it still makes sense. Emits [`CommandHandled`] once.
pub async fn execute_replayable<S: Decide>(
    executor: &Executor<Stream<S>>,
    id: &str,
    command: Versioned<S::Command>,
    metadata: &CommandMetadata,
) -> Result<u64, AggregateError<Rejected<S::Error>>> {
    let keyed = command.idempotency_key.is_some();
    let mut attempt = 1;
    let result = loop {
        match executor
            .execute(id, command.clone(), metadata.to_map())
            .await
        {
            Err(AggregateError::AggregateConflict) if keyed && attempt < KEYED_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5)).await;
            }
            result => break result,
        }
    };
    let (outcome, result) = settle(result);
    emit(CommandHandled {
        aggregate: S::NOUN,
        aggregate_id: id,
        outcome,
        version: result.as_ref().ok().copied(),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no setup is running")]
    struct NoSetup;

    impl ClassifiedError for NoSetup {
        fn code(&self) -> Code {
            Code::FailedPrecondition
        }
    }

    #[test]
    fn domain_rejection_keeps_its_code_and_names_the_aggregate() {
        let status = command_status("work unit", "press-7", AggregateError::UserError(NoSetup));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "work unit press-7: no setup is running");
    }

    #[test]
    fn every_error_kind_maps_to_its_status_code() {
        assert_eq!(code(ErrorKind::InvalidArgument), Code::InvalidArgument);
        assert_eq!(
            code(ErrorKind::FailedPrecondition),
            Code::FailedPrecondition
        );
        assert_eq!(code(ErrorKind::NotFound), Code::NotFound);
        assert_eq!(code(ErrorKind::Conflict), Code::Aborted);
        let conflict = Rejected::<Unknown>::VersionConflict {
            noun: "lot",
            expected: 1,
            actual: 2,
        };
        let status = command_status("lot", "L1", AggregateError::UserError(conflict));
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(
            status.message(),
            "lot L1: lot is at version 2, not the expected version 1; reload it and retry"
        );
        let status = command_status(
            "lot",
            "L1",
            AggregateError::UserError(Rejected::Domain(Unknown)),
        );
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "lot L1: lot does not exist");
        let (outcome, answer) = settle(Err(AggregateError::UserError(
            Rejected::<Unknown>::Replayed { version: 4 },
        )));
        assert_eq!(outcome, CommandOutcome::Replayed);
        assert_eq!(answer.ok(), Some(4));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("lot does not exist")]
    struct Unknown;

    impl DomainError for Unknown {
        fn kind(&self) -> ErrorKind {
            ErrorKind::NotFound
        }
    }

    #[test]
    fn concurrent_append_is_aborted() {
        let status =
            command_status::<NoSetup>("work unit", "press-7", AggregateError::AggregateConflict);
        assert_eq!(status.code(), Code::Aborted);
    }

    #[test]
    fn store_failure_is_unavailable_without_internals() {
        let err = AggregateError::<NoSetup>::DatabaseConnectionError(Box::new(
            std::io::Error::other("password authentication failed for user mom"),
        ));
        let status = command_status("work unit", "press-7", err);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("password"));
    }

    #[test]
    fn message_over_the_limit_is_invalid_argument_naming_size_and_limit() {
        let err = AggregateError::<NoSetup>::UnexpectedError(Box::new(
            mom_eventstore::StoreError::MessageTooLarge {
                event_type: "CountReported".to_owned(),
                aggregate_id: "press-7".to_owned(),
                size: 2_097_300,
                limit: 960_000,
            },
        ));
        let status = command_status("work unit", "press-7", err);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("2097300") && status.message().contains("960000"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn traceparent_is_taken_only_when_valid() {
        let mut request = Request::new(());
        assert_eq!(traceparent(&request), "");
        request
            .metadata_mut()
            .insert("traceparent", "garbage".parse().expect("ascii"));
        assert_eq!(traceparent(&request), "");
        let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        request
            .metadata_mut()
            .insert("traceparent", valid.parse().expect("ascii"));
        assert_eq!(traceparent(&request), valid);
    }
}
