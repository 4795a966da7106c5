//! The workloads of `mom bench`, one file each: what a run does to the platform and what it
//! measures. Each starts what it needs through [`crate::provision`] and prints through
//! [`crate::report`].
//!
//! Invariant: a workload measures; it does not format. Every table and line of the report is
//! printed by `report.rs`, so a workload's figures can be read without its printing.

pub(crate) mod commands;
pub(crate) mod consume;
pub(crate) mod edge;
pub(crate) mod oee;
pub(crate) mod oee_latency;
pub(crate) mod rebuild;
pub(crate) mod relay;
