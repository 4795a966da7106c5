//! Maintenance service (being built).

pub mod domain;
