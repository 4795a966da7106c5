//! Domain building blocks shared by the MOM services: the syntax checks of identifiers and free
//! text, the [`InvalidId`] error they return, and the [`string_newtype_conversions!`] macro that
//! gives a checked string newtype its `Display`, `FromStr` and `String` conversions. Each service
//! keeps its own newtypes; only the machinery behind them lives here.
//!
//! Invariant: pure. No IO, no clock, no protobuf, and no knowledge of any one service's nouns.

mod ids;

pub use ids::{check_id, check_text, InvalidId};
