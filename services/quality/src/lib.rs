//! Quality service (being built).

pub mod domain;
