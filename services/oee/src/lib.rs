//! The streaming OEE projection: maps events of the four domains' topics to OEE engine facts,
//! feeds the engine (the same one `mom oee replay` uses), and keeps every changed period's
//! figures in the `oee_periods` read model.
//!
//! Every applied message is also kept in `oee_messages`, in the same transaction as the figures
//! and the checkpoint, so the in-memory engine can be rebuilt from the committed state after a
//! restart or a rolled-back page; a redelivered message (same event id) is not applied twice.
//!
//! Invariant: no gRPC, no service code; it reads the topic contract only.

mod facts;
mod projection;

pub use facts::{Input, Mapper};
pub use projection::OeeProjection;
