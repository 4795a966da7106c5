//! The caller and the guards of a command, parsed from the plain field values of a service's
//! `CommandContext` message (each service has its own generated type with the same fields).

use uuid::Uuid;

use crate::{check_text, InvalidId};

/// The actor recorded when a request names no one.
pub const ANONYMOUS: &str = "anonymous";

/// Longest actor name accepted, in characters (a user principal or a service name).
pub const MAX_ACTOR_LEN: usize = 256;

/// Who sent a command, from the request's `CommandContext`, for the events' metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who issued the command; [`ANONYMOUS`] when the request names no one.
    pub actor: String,
    /// The conversation the command belongs to; `None` when it starts one.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this command; `None` when the command is its own cause.
    pub causation_id: Option<Uuid>,
}

/// The fields of a `CommandContext` as the wire carries them: empty strings mean unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawContext {
    /// Who issued the command; blank means anonymous.
    pub actor: String,
    /// The conversation's UUID, or empty.
    pub correlation_id: String,
    /// The causing event's or command's UUID, or empty.
    pub causation_id: String,
    /// The caller's idempotency key, or empty.
    pub idempotency_key: String,
    /// The aggregate version the caller expects, if any.
    pub expected_version: Option<u64>,
}

/// A parsed `CommandContext`: the caller and the guards of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context<K> {
    /// Who sent the command.
    pub caller: Caller,
    /// The aggregate version the caller expects, if any.
    pub expected_version: Option<u64>,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<K>,
}

/// A malformed field of a request: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's name, such as `context.correlation_id`.
    pub field: &'static str,
    /// Why the value is not valid.
    pub source: InvalidId,
}

/// Parses a context: a blank actor becomes [`ANONYMOUS`], empty UUIDs and keys become `None`,
/// and `key` checks a non-empty idempotency key. The fields are checked in the order
/// idempotency key, correlation id, causation id; the first malformed one is returned.
pub fn parse_context<K>(
    raw: RawContext,
    key: impl FnOnce(String) -> Result<K, InvalidId>,
) -> Result<Context<K>, InvalidField> {
    let actor = match raw.actor.trim() {
        "" => ANONYMOUS.to_owned(),
        actor => {
            check_text(actor, MAX_ACTOR_LEN).map_err(|source| InvalidField {
                field: "context.actor",
                source,
            })?;
            actor.to_owned()
        }
    };
    let idempotency_key = match raw.idempotency_key.as_str() {
        "" => None,
        _ => Some(key(raw.idempotency_key).map_err(|source| InvalidField {
            field: "context.idempotency_key",
            source,
        })?),
    };
    Ok(Context {
        caller: Caller {
            actor,
            correlation_id: optional_uuid(&raw.correlation_id, "context.correlation_id")?,
            causation_id: optional_uuid(&raw.causation_id, "context.causation_id")?,
        },
        expected_version: raw.expected_version,
        idempotency_key,
    })
}

/// Parses an optional UUID field (empty = none), naming the field when malformed.
pub fn optional_uuid(value: &str, field: &'static str) -> Result<Option<Uuid>, InvalidField> {
    match value {
        "" => Ok(None),
        value => Uuid::parse_str(value).map(Some).map_err(|_| InvalidField {
            field,
            source: InvalidId::NotUuid {
                value: value.to_owned(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn no_key(_: String) -> Result<(), InvalidId> {
        Err(InvalidId::Empty)
    }

    #[test]
    fn empty_context_is_anonymous_without_guards() {
        let context = parse_context(RawContext::default(), no_key);
        assert_eq!(
            context,
            Ok(Context {
                caller: Caller {
                    actor: ANONYMOUS.to_owned(),
                    correlation_id: None,
                    causation_id: None,
                },
                expected_version: None,
                idempotency_key: None,
            })
        );
    }

    #[test]
    fn an_actor_is_bounded_and_free_of_control_characters() {
        let raw = |actor: String| RawContext {
            actor,
            ..RawContext::default()
        };
        let long = parse_context(raw("x".repeat(2_000_000)), no_key).unwrap_err();
        assert_eq!(long.field, "context.actor");
        assert_eq!(
            long.source,
            InvalidId::TooLong {
                len: 2_000_000,
                max: MAX_ACTOR_LEN
            }
        );
        let odd = parse_context(raw("al\u{0}ice".to_owned()), no_key).unwrap_err();
        assert_eq!(odd.field, "context.actor");
        assert!(parse_context(raw("x".repeat(MAX_ACTOR_LEN)), no_key).is_ok());
    }

    #[test]
    fn fields_are_parsed_and_malformed_ones_named() {
        let uuid = "0191e1b4-7c1a-7000-8000-000000000001";
        let raw = RawContext {
            actor: " alice ".to_owned(),
            correlation_id: uuid.to_owned(),
            causation_id: String::new(),
            idempotency_key: "k-1".to_owned(),
            expected_version: Some(3),
        };
        let context = parse_context(raw.clone(), Ok::<_, InvalidId>);
        let expected_uuid = Uuid::parse_str(uuid).ok();
        assert_eq!(
            context,
            Ok(Context {
                caller: Caller {
                    actor: "alice".to_owned(),
                    correlation_id: expected_uuid,
                    causation_id: None,
                },
                expected_version: Some(3),
                idempotency_key: Some("k-1".to_owned()),
            })
        );
        let bad = RawContext {
            causation_id: "nope".to_owned(),
            ..raw.clone()
        };
        assert_eq!(
            parse_context(bad, Ok::<_, InvalidId>),
            Err(InvalidField {
                field: "context.causation_id",
                source: InvalidId::NotUuid {
                    value: "nope".to_owned()
                },
            })
        );
        assert_eq!(
            parse_context(raw, no_key).map(|_| ()),
            Err(InvalidField {
                field: "context.idempotency_key",
                source: InvalidId::Empty,
            })
        );
    }
}
