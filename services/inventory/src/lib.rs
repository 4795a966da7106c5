//! Inventory service: materials, locations and lots with their quantities per location, moves,
//! consumption by production orders, output lots with their genealogy, holds, and material
//! starvation of work units. Commands arrive over gRPC, become events in the event store and
//! reach `mom.inventory.v1` through the outbox relay.
//!
//! Invariant: knows no other service; it shares only `proto` types and its topic.

pub mod domain;
