//! Domain building blocks shared by the MOM services: the syntax checks of identifiers and free
//! text, the [`InvalidId`] error they return, and the [`string_newtype_conversions!`] macro that
//! gives a checked string newtype its `Display`, `FromStr` and `String` conversions, and the
//! parsing of a command's context (caller and guards) from its plain field values. Each service
//! keeps its own newtypes and proto types; only the machinery behind them lives here.
//!
//! Invariant: pure. No IO, no clock, no protobuf, and no knowledge of any one service's nouns.

mod context;
mod ids;

pub use context::{
    optional_uuid, parse_context, Caller, Context, InvalidField, RawContext, ANONYMOUS,
};
pub use ids::{check_id, check_text, InvalidId};
