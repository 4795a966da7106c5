//! Event metadata carried through cqrs-es's per-command metadata map.
//!
//! cqrs-es gives every event of one command the same `HashMap<String, String>`; these are its
//! keys. The store adds what is per event (event id, recorded time) in its own columns.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Key of the event time (RFC 3339): when it happened on the shop floor.
pub const EVENT_TIME: &str = "event_time";
/// Key of the actor who issued the command.
pub const ACTOR: &str = "actor";
/// Key of the correlation id.
pub const CORRELATION_ID: &str = "correlation_id";
/// Key of the causation id (the command id or the event that caused the command).
pub const CAUSATION_ID: &str = "causation_id";
/// Key of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// Key of the command id.
pub const COMMAND_ID: &str = "command_id";
/// Key of the verified principal that issued the command (the subject its credentials proved;
/// equal to [`ACTOR`]).
pub const PRINCIPAL: &str = "principal";
/// Key of the person or device a process manager or gateway acted for (the caller-supplied
/// actor, kept only when the principal holds the act-as permission).
pub const ON_BEHALF_OF: &str = "on_behalf_of";
/// Key of how the principal authenticated: `jwt`, `api-key`, `mtls` or `local`.
pub const AUTH_METHOD: &str = "auth_method";
/// Key of an electronic signature's meaning (`approved`, `reviewed`, `verified`).
pub const SIGNATURE_MEANING: &str = "signature_meaning";
/// Key of the signer's principal.
pub const SIGNATURE_SIGNER: &str = "signature_signer";
/// Key of the signer's display name.
pub const SIGNATURE_NAME: &str = "signature_name";
/// Key of when the signature was given (RFC 3339).
pub const SIGNATURE_TIME: &str = "signature_time";
/// Key of the signer's stated reason, if any.
pub const SIGNATURE_REASON: &str = "signature_reason";

/// Who and what caused a command; turned into the metadata map of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMetadata {
    /// Id of this command.
    pub command_id: Uuid,
    /// When it happened on the floor.
    pub event_time: DateTime<Utc>,
    /// Who issued it.
    pub actor: String,
    /// Conversation id; the command id when the command starts a conversation.
    pub correlation_id: Uuid,
    /// The event or command that caused this one; the command id when none.
    pub causation_id: Uuid,
    /// W3C traceparent, empty when not traced.
    pub traceparent: String,
    /// Who it was done for (a process manager's or gateway's caller), empty when for itself.
    pub on_behalf_of: String,
    /// How the actor authenticated (`jwt`, `api-key`, `mtls`, `local`), empty when unknown.
    pub auth_method: String,
    /// The electronic signature the command carried, if any.
    pub signature: Option<Signature>,
}

/// An electronic signature (21 CFR Part 11 §11.50) recorded with a command's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// What the signature means: `approved`, `reviewed` or `verified`.
    pub meaning: String,
    /// The signer's principal.
    pub signer: String,
    /// The signer's display name.
    pub name: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// The signer's stated reason, or empty.
    pub reason: String,
}

impl CommandMetadata {
    /// Returns metadata for a command that starts a new conversation.
    pub fn new(actor: impl Into<String>, event_time: DateTime<Utc>) -> Self {
        let command_id = Uuid::now_v7();
        Self {
            command_id,
            event_time,
            actor: actor.into(),
            correlation_id: command_id,
            causation_id: command_id,
            traceparent: String::new(),
            on_behalf_of: String::new(),
            auth_method: String::new(),
            signature: None,
        }
    }

    /// Returns the metadata of a command this one causes (a service's own follow-up) whose fact
    /// happened `at`: same actor, on-behalf-of, authentication method, conversation and trace,
    /// caused by this command.
    pub fn caused(&self, at: DateTime<Utc>) -> Self {
        Self {
            command_id: Uuid::now_v7(),
            event_time: at,
            actor: self.actor.clone(),
            correlation_id: self.correlation_id,
            causation_id: self.command_id,
            traceparent: self.traceparent.clone(),
            on_behalf_of: self.on_behalf_of.clone(),
            auth_method: self.auth_method.clone(),
            signature: None,
        }
    }

    /// Returns the cqrs-es metadata map.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::with_capacity(6);
        map.insert(COMMAND_ID.to_owned(), self.command_id.to_string());
        map.insert(
            EVENT_TIME.to_owned(),
            self.event_time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        map.insert(ACTOR.to_owned(), self.actor.clone());
        if !self.auth_method.is_empty() {
            map.insert(PRINCIPAL.to_owned(), self.actor.clone());
            map.insert(AUTH_METHOD.to_owned(), self.auth_method.clone());
        }
        if !self.on_behalf_of.is_empty() {
            map.insert(ON_BEHALF_OF.to_owned(), self.on_behalf_of.clone());
        }
        if let Some(signature) = &self.signature {
            map.insert(SIGNATURE_MEANING.to_owned(), signature.meaning.clone());
            map.insert(SIGNATURE_SIGNER.to_owned(), signature.signer.clone());
            map.insert(SIGNATURE_NAME.to_owned(), signature.name.clone());
            map.insert(
                SIGNATURE_TIME.to_owned(),
                signature
                    .signed_at
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            );
            if !signature.reason.is_empty() {
                map.insert(SIGNATURE_REASON.to_owned(), signature.reason.clone());
            }
        }
        map.insert(CORRELATION_ID.to_owned(), self.correlation_id.to_string());
        map.insert(CAUSATION_ID.to_owned(), self.causation_id.to_string());
        if !self.traceparent.is_empty() {
            map.insert(TRACEPARENT.to_owned(), self.traceparent.clone());
        }
        map
    }
}

/// Reads a string field of a stored metadata JSON object.
pub fn field<'a>(metadata: &'a serde_json::Value, key: &str) -> &'a str {
    metadata.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// Reads the event time of a stored metadata JSON object, if present and valid.
pub fn event_time(metadata: &serde_json::Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(field(metadata, EVENT_TIME))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_map_round_trips_event_time() {
        let at = DateTime::from_timestamp(1_700_000_000, 5_000_000).expect("valid time");
        let meta = CommandMetadata::new("alice", at);
        let json = serde_json::to_value(meta.to_map()).expect("serializable");
        assert_eq!(event_time(&json), Some(at));
        assert_eq!(field(&json, ACTOR), "alice");
        assert_eq!(field(&json, CORRELATION_ID), meta.command_id.to_string());
    }
}
