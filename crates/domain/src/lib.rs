//! The command kernel every domain service runs on, and the building blocks of its nouns:
//!
//! - [`Stream`]: the one `cqrs_es::Aggregate` of every service, over a state that implements
//!   [`Decide`] (or [`Lifecycle`] for aggregates a command creates), with the two guards every
//!   command may carry ([`Versioned`]: the expected version and the idempotency key, replayed
//!   from the [`KeyRing`]) and the stored event form [`Recorded`];
//! - [`Rejected`], [`DomainError`] and [`ErrorKind`]: every rejection and its class, which
//!   `mom-grpc` maps to a status code in one place;
//! - the id newtype macros [`uuid_id!`] and [`string_id!`], the syntax checks of ids and free
//!   text, the [`InvalidId`] error they return, and the shared quantities [`Units`] and
//!   [`Millis`];
//! - the parsing of a command's context (caller and guards) from its plain field values;
//! - electronic signatures: their [`Meaning`], the [`SignatureRequest`] a caller gives and the
//!   [`SignatureRule`] a designated command states ([`Timed::signature_rule`]).
//!
//! Each service keeps only its nouns (commands, events, state, rules) and its proto mapping.
//!
//! Invariant: pure. No IO, no clock, no protobuf, and no knowledge of any one service's nouns.

mod context;
mod error;
mod ids;
mod quantity;
mod signature;
mod stream;

pub use context::{
    optional_uuid, parse_context, Caller, Context, InvalidField, RawContext, ANONYMOUS,
    MAX_ACTOR_LEN,
};
pub use error::{DomainError, ErrorKind};
pub use ids::{check_id, check_text, IdempotencyKey, InvalidId, MAX_KEY_LEN};
pub use quantity::{Millis, Units};
pub use signature::{
    Meaning, SignatureFieldError, SignatureRequest, SignatureRule, MAX_SIGNATURE_REASON_LEN,
};
pub use stream::{
    CommandSpan, CommandTime, Decide, EventType, KeyRing, Lifecycle, Recorded, Rejected, Stream,
    TimeRole, Timed, Versioned, KEPT_KEYS,
};
/// The UUID type the [`uuid_id!`] newtypes wrap.
pub use uuid::Uuid;
