//! The request-parsing scaffold every command service shares: field errors that name the field,
//! the parsed command with its guards and caller, and the field helpers the services' `contract`
//! modules build their request mappings from.
//!
//! Every problem with a request is a [`RequestError`] naming the offending field
//! (`context.idempotency_key`, `routing[1].eligible_work_units[0]`), reported as
//! `INVALID_ARGUMENT`; parsing never panics.

use chrono::{DateTime, Utc};
use mom_domain::{
    parse_context, Caller, IdempotencyKey, InvalidField, InvalidId, Meaning, RawContext,
    SignatureFieldError, SignatureRequest, Units, Versioned,
};
use mom_proto::time::{from_timestamp, TimestampError};
use thiserror::Error;
use tonic::Status;

/// A request field that is missing or malformed; always reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A required field is empty or unset.
    #[error("field {field} is required")]
    Missing { field: String },
    /// A required list is empty.
    #[error("field {field} must not be empty")]
    Empty { field: String },
    /// A signed quantity is negative.
    #[error("field {field} must not be negative, got {value}")]
    Negative { field: String, value: i64 },
    /// A timestamp is outside the representable range.
    #[error("field {field} is not a valid timestamp")]
    BadTimestamp { field: String },
    /// An enum value this version of the contract does not know.
    #[error("field {field} has unknown value {value}")]
    UnknownEnum { field: String, value: i32 },
    /// An id, name or text is malformed.
    #[error("field {field} is invalid: {source}")]
    Invalid {
        field: String,
        #[source]
        source: InvalidId,
    },
    /// A time is outside the event-time policy (a device or client with a wrong clock).
    #[error("field {field} is outside the event-time policy: {reason}")]
    OutsideTimePolicy { field: String, reason: String },
    /// An interval is longer than the longest of its kind.
    #[error("field {field} makes a {what} of {length}, longer than the maximum {max}")]
    TooLong {
        field: String,
        what: &'static str,
        length: String,
        max: String,
    },
    /// A repeated field holds more items than allowed.
    #[error("field {field} has {len} items, more than the maximum {max}")]
    TooMany {
        field: String,
        len: usize,
        max: usize,
    },
    /// A text field holds a value outside its fixed set (a signature's meaning).
    #[error("field {field} is {value:?}, not one of {allowed}")]
    NotOneOf {
        field: String,
        value: String,
        allowed: String,
    },
}

impl RequestError {
    /// Returns the name of the offending field (`at`, `characteristics[1].name`, ...).
    pub fn field(&self) -> &str {
        match self {
            RequestError::Missing { field }
            | RequestError::Empty { field }
            | RequestError::Negative { field, .. }
            | RequestError::BadTimestamp { field }
            | RequestError::UnknownEnum { field, .. }
            | RequestError::Invalid { field, .. }
            | RequestError::OutsideTimePolicy { field, .. }
            | RequestError::TooLong { field, .. }
            | RequestError::TooMany { field, .. }
            | RequestError::NotOneOf { field, .. } => field,
        }
    }
}

impl From<TimestampError> for RequestError {
    fn from(err: TimestampError) -> Self {
        match err {
            TimestampError::Missing { field } => missing(field),
            TimestampError::OutOfRange { field } => RequestError::BadTimestamp {
                field: field.to_owned(),
            },
        }
    }
}

impl From<InvalidField> for RequestError {
    fn from(err: InvalidField) -> Self {
        invalid(err.field, err.source)
    }
}

impl From<SignatureFieldError> for RequestError {
    fn from(err: SignatureFieldError) -> Self {
        let field = err.field().to_owned();
        match err {
            SignatureFieldError::UnknownMeaning { value } => RequestError::NotOneOf {
                field,
                value,
                allowed: Meaning::NAMES.join(", "),
            },
            SignatureFieldError::Reason(source) => RequestError::Invalid { field, source },
        }
    }
}

impl From<RequestError> for Status {
    fn from(err: RequestError) -> Self {
        crate::invalid_argument(err.field(), err.to_string())
    }
}

/// A request turned into a domain command: the target aggregate, the command with the caller's
/// expected version and idempotency key, the caller, and the electronic signature it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand<I, C> {
    /// The aggregate the command is for (its `Display` is the aggregate id in the store).
    pub id: I,
    /// The command, guarded by the request's `expected_version` and `idempotency_key`.
    pub command: Versioned<C>,
    /// Who sent it.
    pub caller: Caller,
    /// The electronic signature of `context.signature`, if given (checked by [`crate::run`]).
    pub signature: Option<SignatureRequest>,
}

impl<I, C> ParsedCommand<I, C> {
    /// Returns the request with its command turned into another by `f` (for commands that need
    /// state the caller loads, such as the plan of an inspection).
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> ParsedCommand<I, D> {
        ParsedCommand {
            id: self.id,
            command: self.command.map(f),
            caller: self.caller,
            signature: self.signature,
        }
    }
}

/// The caller and the command guards of a request's `CommandContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guards {
    /// Who sent the command.
    pub caller: Caller,
    /// The aggregate version the caller expects, if any.
    pub expected_version: Option<u64>,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The electronic signature the request gives, if any.
    pub signature: Option<SignatureRequest>,
}

impl Guards {
    /// Returns the parsed command for aggregate `id` with these guards and caller.
    pub fn parsed<I, C>(self, id: I, command: C) -> ParsedCommand<I, C> {
        ParsedCommand {
            id,
            command: Versioned {
                command,
                expected_version: self.expected_version,
                idempotency_key: self.idempotency_key,
            },
            caller: self.caller,
            signature: self.signature,
        }
    }
}

/// A service's `CommandContext` message: each proto package has its own type with the same
/// fields.
pub trait WireContext: Default {
    /// Returns the fields as plain values.
    fn into_raw(self) -> RawContext;

    /// Takes the electronic signature the context carries, if any.
    fn take_signature(&mut self) -> Option<mom_proto::common::v1::SignatureRequest>;
}

macro_rules! wire_context {
    ($($context:ty),* $(,)?) => {$(
        impl WireContext for $context {
            fn into_raw(self) -> RawContext {
                RawContext {
                    actor: self.actor,
                    correlation_id: self.correlation_id,
                    causation_id: self.causation_id,
                    idempotency_key: self.idempotency_key,
                    expected_version: self.expected_version,
                }
            }

            fn take_signature(&mut self) -> Option<mom_proto::common::v1::SignatureRequest> {
                self.signature.take()
            }
        }
    )*};
}

wire_context!(
    mom_proto::production::v1::CommandContext,
    mom_proto::quality::v1::CommandContext,
    mom_proto::maintenance::v1::CommandContext,
    mom_proto::inventory::v1::CommandContext,
);

/// Parses a request's optional `CommandContext`: a blank actor is anonymous, the ids must be
/// UUIDs and the key a valid [`IdempotencyKey`], each error naming its `context.*` field. A
/// signature's meaning must be one of `approved`, `reviewed`, `verified` and its reason at most
/// 1000 characters without control characters.
pub fn guards<W: WireContext>(context: Option<W>) -> Result<Guards, RequestError> {
    let mut context = context.unwrap_or_default();
    let signature = match context.take_signature() {
        Some(wire) => Some(SignatureRequest::parse(&wire.meaning, wire.reason)?),
        None => None,
    };
    let context = parse_context(context.into_raw(), IdempotencyKey::new)?;
    Ok(Guards {
        caller: context.caller,
        expected_version: context.expected_version,
        idempotency_key: context.idempotency_key,
        signature,
    })
}

/// Returns the error for a required field that is empty.
pub fn missing(field: &str) -> RequestError {
    RequestError::Missing {
        field: field.to_owned(),
    }
}

/// Returns the error for a malformed field.
pub fn invalid(field: &str, source: InvalidId) -> RequestError {
    RequestError::Invalid {
        field: field.to_owned(),
        source,
    }
}

/// Parses a required id or text field of a type with a fallible constructor from `String`.
pub fn required<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    parse(value).map_err(|source| invalid(field, source))
}

/// Parses an optional id or text field: empty means absent.
pub fn optional<T>(
    value: String,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<Option<T>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    required(value, field, parse).map(Some)
}

/// Parses a required UUID id field.
pub fn uuid_id<T: std::str::FromStr<Err = InvalidId>>(
    value: &str,
    field: &str,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    value.parse().map_err(|source| invalid(field, source))
}

/// Parses a UUID id field that takes the id `new_id` returns when empty.
pub fn uuid_id_or<T: std::str::FromStr<Err = InvalidId>>(
    value: &str,
    field: &str,
    new_id: impl FnOnce() -> T,
) -> Result<T, RequestError> {
    if value.is_empty() {
        return Ok(new_id());
    }
    uuid_id(value, field)
}

/// Parses a required timestamp field.
pub fn at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, RequestError> {
    Ok(from_timestamp(timestamp, field)?)
}

/// Parses an optional timestamp field: unset means absent.
pub fn optional_at(
    timestamp: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, RequestError> {
    match timestamp {
        None => Ok(None),
        Some(_) => at(timestamp, field).map(Some),
    }
}

/// Parses a signed count that must not be negative.
pub fn units(value: i64, field: &str) -> Result<Units, RequestError> {
    u64::try_from(value)
        .map(Units)
        .map_err(|_| RequestError::Negative {
            field: field.to_owned(),
            value,
        })
}

/// Parses a proto enum field, naming a value this version does not know.
pub fn known_enum<T: TryFrom<i32>>(value: i32, field: &str) -> Result<T, RequestError> {
    T::try_from(value).map_err(|_| RequestError::UnknownEnum {
        field: field.to_owned(),
        value,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mom_proto::production::v1 as pb;

    mom_domain::uuid_id!(
        /// An order id.
        OrderId
    );

    #[test]
    fn every_error_names_its_field_and_is_invalid_argument() {
        let err = required(String::new(), "work_unit", Ok::<_, InvalidId>).unwrap_err();
        assert_eq!(err.field(), "work_unit");
        assert_eq!(err.to_string(), "field work_unit is required");
        let status = Status::from(units(-3, "good").unwrap_err());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "field good must not be negative, got -3");
        assert_eq!(
            uuid_id::<OrderId>("x", "order_id").map_err(|err| err.field().to_owned()),
            Err("order_id".to_owned())
        );
        assert_eq!(at(None, "at").unwrap_err(), missing("at"));
    }

    #[test]
    fn optional_fields_are_absent_when_empty_and_checked_when_given() {
        assert_eq!(
            optional(String::new(), "product", IdempotencyKey::new),
            Ok(None)
        );
        assert!(optional(" ".to_owned(), "product", IdempotencyKey::new).is_err());
        assert_eq!(optional_at(None, "until"), Ok(None));
    }

    #[test]
    fn guards_carry_the_key_and_name_a_bad_one() {
        let guards = guards(Some(pb::CommandContext {
            idempotency_key: "retry-1".to_owned(),
            expected_version: Some(3),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(guards.idempotency_key, IdempotencyKey::new("retry-1").ok());
        assert_eq!(guards.expected_version, Some(3));
        assert_eq!(guards.caller.actor, mom_domain::ANONYMOUS);
        let err = super::guards(Some(pb::CommandContext {
            idempotency_key: "x".repeat(257),
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(err.field(), "context.idempotency_key");
        let parsed = super::guards(None::<pb::CommandContext>)
            .unwrap()
            .parsed("u1", 7);
        assert_eq!(parsed.command, Versioned::from(7));
        assert_eq!(parsed.map(|n| n * 2).command.command, 14);
    }

    #[test]
    fn a_signature_is_parsed_and_a_bad_meaning_or_reason_named() {
        let signed = |meaning: &str, reason: &str| {
            super::guards(Some(pb::CommandContext {
                signature: Some(mom_proto::common::v1::SignatureRequest {
                    meaning: meaning.to_owned(),
                    reason: reason.to_owned(),
                }),
                ..Default::default()
            }))
        };
        let guards = signed("approved", "lot checked").unwrap();
        assert_eq!(
            guards.signature,
            Some(SignatureRequest {
                meaning: Meaning::Approved,
                reason: "lot checked".to_owned()
            })
        );
        assert_eq!(
            guards.parsed("u1", 7).signature.unwrap().meaning,
            Meaning::Approved
        );
        let err = signed("okay", "").unwrap_err();
        assert_eq!(err.field(), "context.signature.meaning");
        assert_eq!(
            Status::from(err).message(),
            "field context.signature.meaning is \"okay\", not one of approved, reviewed, verified"
        );
        let err = signed("verified", &"x".repeat(1_001)).unwrap_err();
        assert_eq!(err.field(), "context.signature.reason");
        let err = signed("verified", "line\nbreak").unwrap_err();
        assert_eq!(err.field(), "context.signature.reason");
        assert_eq!(
            super::guards(None::<pb::CommandContext>).unwrap().signature,
            None
        );
    }
}
