//! Electronic signatures (21 CFR Part 11 §11.50, §11.200), checked in the command kernel before
//! a command runs: a designated command ([`mom_domain::Timed::signature_rule`]) needs a
//! signature with the rule's meaning, from a principal who re-authenticated within the
//! signature window, and (with the two-person rule on) who is not the author of the record.
//! The accepted signature (meaning, signer, name, time, reason) is recorded with the events.
//!
//! The rules apply whenever authentication is on. With authentication disabled (`mom dev`,
//! `--auth-disabled`) nobody can re-authenticate, so the rules are off (the host logs it once at
//! start); a signature a caller sends anyway is recorded with the local identity, whose
//! `auth_method` (`local`) says it proves nothing.
//!
//! Invariant: knows no domain. The rules come from the command types; the record's authors
//! from the stored events' metadata.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use mom_auth::{AuthMethod, Principal};
use mom_domain::{SignatureRequest, SignatureRule};
use mom_eventstore::{AuthoredEvent, EventStore, Signature};
use tonic::Status;

use crate::limits::Call;

/// The signature window unless configured: how recent the signer's authentication must be.
pub const DEFAULT_SIGNATURE_MAX_AGE: StdDuration = StdDuration::from_secs(300);

/// How far a token's `auth_time` may lie ahead of the server clock (clock skew) and still count
/// as now.
const AUTH_TIME_SKEW: Duration = Duration::seconds(60);

/// The electronic-signature options of a command service.
#[derive(Debug, Clone, clap::Args)]
pub struct SignatureArgs {
    /// How recent the signer's authentication must be for an electronic signature: a token's
    /// auth_time, or an API key's second factor given with the request (e.g. 5m).
    #[arg(long, env = "MOM_SIGNATURE_MAX_AGE", default_value = "5m", value_parser = parse_max_age)]
    pub signature_max_age: StdDuration,
    /// Two-person rule: the signer of a designated command must not be the author of the record
    /// (who opened the NCR or the CAPA, implemented its action, or placed the hold).
    #[arg(
        long,
        env = "MOM_SIGNATURE_TWO_PERSON",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub signature_two_person: bool,
}

impl Default for SignatureArgs {
    fn default() -> Self {
        Self {
            signature_max_age: DEFAULT_SIGNATURE_MAX_AGE,
            signature_two_person: true,
        }
    }
}

impl SignatureArgs {
    /// Returns the policy these options set.
    pub fn policy(&self) -> SignaturePolicy {
        SignaturePolicy {
            max_age: Duration::from_std(self.signature_max_age).unwrap_or(Duration::seconds(300)),
            two_person: self.signature_two_person,
        }
    }
}

fn parse_max_age(text: &str) -> Result<StdDuration, String> {
    let duration = mom_clock::parse_duration(text)?;
    duration
        .to_std()
        .ok()
        .filter(|d| !d.is_zero() && *d <= StdDuration::from_secs(86_400))
        .ok_or_else(|| format!("{text:?} is not a duration between 1s and 1d"))
}

/// The signature rules a server applies, handed to every request (see [`crate::call`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// How recent the signer's authentication must be.
    pub max_age: Duration,
    /// Whether the signer must not be the record's author.
    pub two_person: bool,
}

impl Default for SignaturePolicy {
    fn default() -> Self {
        SignatureArgs::default().policy()
    }
}

/// Decides the signature of a command before it runs and returns what its events record:
/// `None` for an unsigned command that needs none.
///
/// - a designated command (`rule`) without a signature: FAILED_PRECONDITION;
/// - a signature whose meaning is not the rule's: INVALID_ARGUMENT naming
///   `context.signature.meaning`;
/// - a signer without an authentication within the window: UNAUTHENTICATED naming the age and
///   the window;
/// - with the two-person rule, a signer who authored the record (`authors` of the aggregate):
///   PERMISSION_DENIED naming both.
///
/// A signature on a command that is not designated is accepted after the same re-authentication
/// check and recorded (its meaning as given). Without a verified caller (a handler called
/// directly) or with the local identity of disabled authentication, the rules are off.
pub async fn decide_signature(
    rule: Option<SignatureRule>,
    request: Option<SignatureRequest>,
    call: &Call,
    now: DateTime<Utc>,
    record: (&str, &str),
    store: &EventStore,
    aggregate_type: &str,
) -> Result<Option<Signature>, Status> {
    let Some(principal) = call.verified.as_ref().map(|v| &v.principal) else {
        return Ok(None);
    };
    if principal.method == AuthMethod::Local {
        return Ok(request.map(|request| signature(principal, &request, now)));
    }
    let policy = &call.signatures;
    let (noun, id) = record;
    let request = match (&rule, request) {
        (None, None) => return Ok(None),
        (Some(rule), None) => {
            return Err(Status::failed_precondition(format!(
                "{noun} {id}: {what} requires an electronic signature (meaning {meaning}): send context.signature and re-authenticate (a token with auth_time within {window}, or your API key's second factor in {header})",
                what = rule.what,
                meaning = rule.meaning,
                window = mom_clock::format_limit(policy.max_age),
                header = mom_auth::SECOND_FACTOR_HEADER,
            )))
        }
        (_, Some(request)) => request,
    };
    if let Some(rule) = &rule {
        if request.meaning != rule.meaning {
            return Err(crate::invalid_argument(
                "context.signature.meaning",
                format!(
                    "field context.signature.meaning is {given}, but {what} is signed as {meaning}",
                    given = request.meaning,
                    what = rule.what,
                    meaning = rule.meaning,
                ),
            ));
        }
    }
    check_fresh(principal, policy.max_age, now)?;
    if let (Some(rule), true) = (&rule, policy.two_person) {
        let events = store
            .authored_events(aggregate_type, id, rule.authored_by)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, aggregate_id = id, "reading the record's authors failed");
                Status::unavailable("event store unavailable")
            })?;
        if let Some((author, event)) = authored_by(rule, &events, &principal.subject) {
            return Err(Status::permission_denied(format!(
                "{noun} {id}: two-person rule: {signer} may not sign {what}, because {author} authored it ({event_type} at version {version}); another person must sign",
                signer = principal.subject,
                what = rule.what,
                event_type = event.event_type,
                version = event.sequence,
            )));
        }
    }
    Ok(Some(signature(principal, &request, now)))
}

/// Refuses a principal whose last interactive authentication is unknown or older than
/// `max_age`.
fn check_fresh(principal: &Principal, max_age: Duration, now: DateTime<Utc>) -> Result<(), Status> {
    let window = mom_clock::format_limit(max_age);
    let how = match principal.method {
        AuthMethod::ApiKey => format!(
            "send the API key's second factor in the {} header",
            mom_auth::SECOND_FACTOR_HEADER
        ),
        AuthMethod::Jwt => "log in again for a token with a fresh auth_time".to_owned(),
        _ => "use a token with auth_time or an API key with its second factor".to_owned(),
    };
    let Some(auth_time) = principal.auth_time else {
        return Err(Status::unauthenticated(format!(
            "an electronic signature needs a re-authentication within {window}, but the {method} credentials of {subject} carry no authentication time: {how}",
            method = principal.method,
            subject = principal.subject,
        )));
    };
    if auth_time > now + AUTH_TIME_SKEW {
        return Err(Status::unauthenticated(format!(
            "an electronic signature needs a re-authentication within {window}, but the authentication time of {subject} ({auth_time}) lies in the future: {how}",
            subject = principal.subject,
        )));
    }
    let age = now - auth_time;
    if age > max_age {
        return Err(Status::unauthenticated(format!(
            "an electronic signature needs a re-authentication within {window}, but {subject} authenticated {age} ago: {how}",
            subject = principal.subject,
            age = format_age(age),
        )));
    }
    Ok(())
}

/// Returns the author (or the person they acted for) of the record that is `signer`, with the
/// event that made them one: per event type of the rule, the newest event matching the rule.
fn authored_by<'a>(
    rule: &SignatureRule,
    events: &'a [AuthoredEvent],
    signer: &str,
) -> Option<(String, &'a AuthoredEvent)> {
    rule.authored_by.iter().find_map(|event_type| {
        let event = events.iter().find(|event| {
            event.event_type == *event_type
                && rule
                    .matching
                    .as_ref()
                    .is_none_or(|(field, value)| has_field(&event.payload, field, value, 3))
        })?;
        [event.author(), event.on_behalf_of()]
            .into_iter()
            .flatten()
            .find(|author| *author == signer)
            .map(|author| (author.to_owned(), event))
    })
}

/// Whether `json` has `field` equal to the string `value` (or a number written as `value`) at most `depth` objects deep (a
/// stored payload wraps the event: `{"event": {"LotHeld": {"hold": "H1"}}}`).
fn has_field(json: &serde_json::Value, field: &str, value: &str, depth: u8) -> bool {
    let Some(object) = json.as_object() else {
        return false;
    };
    // A number matches its decimal form (a recipe version: `{"version": 3}` matches "3").
    let matches = match object.get(field) {
        Some(serde_json::Value::String(text)) => text == value,
        Some(serde_json::Value::Number(number)) => number.to_string() == value,
        _ => false,
    };
    if matches {
        return true;
    }
    depth > 0
        && object
            .values()
            .any(|inner| has_field(inner, field, value, depth - 1))
}

fn format_age(age: Duration) -> String {
    let seconds = age.num_seconds();
    match seconds {
        s if s >= 3_600 => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn signature(principal: &Principal, request: &SignatureRequest, now: DateTime<Utc>) -> Signature {
    Signature {
        meaning: request.meaning.as_str().to_owned(),
        signer: principal.subject.clone(),
        name: principal.name.clone(),
        signed_at: now,
        reason: request.reason.clone(),
    }
}
