//! The benchmarks of `mom bench`, each a workload that drives the platform as its users would and
//! prints a report: production commands through the command handler and the gRPC API on Postgres
//! with the outbox, then the relay's throughput to a broker (`commands`, with `--compare
//! postgres-es` beside cqrs-es's own Postgres repository in the same run); the OEE engine alone
//! (`oee`); the latency from a production command to the `WatchOee` update that shows it, in the
//! distributed and the embedded mode (`oee_latency`); the rebuild of every projection from event
//! logs of the four services written by a generated plant (`rebuild`); and machine signals
//! through the edge service — Sparkplug B metric updates per second taken on one core, and the
//! latency from a signal to the updated OEE figures (`edge`); and the outbox relay against the
//! write path, against tansu in memory and on SQLite (`relay`).
//!
//! Layout: `config.rs` holds each subcommand's options, `workload/` one file per workload,
//! `provision.rs` what a run starts and takes down (databases, stores, broker, services' configs),
//! `plant/` the rebuild's log generator, `report.rs` every printed table.
//!
//! Invariant: a harness, not a component. It reaches the services only through their public
//! entry points (`start`, `Application` and its command handlers, gRPC) and never their tables;
//! nothing in the platform depends on it. Of the `mom` binary it knows only the command the
//! rebuild runs as a child process (`mom projections rebuild`) and the projection names the
//! binary passes in; the command line of `mom bench` is parsed by the binary. The peer of
//! `--compare` (postgres-es) runs our work-unit aggregate in tables of its own (`events`,
//! `snapshots`) in the run's database, which the bench creates as postgres-es ships them.

mod config;
mod plant;
mod provision;
mod report;
mod workload;

pub use config::{
    Backend, CommandsArgs, ConsumeArgs, EdgeArgs, OeeArgs, OeeLatencyArgs, Peer, RebuildArgs,
    RelayArgs,
};
pub use report::{ComparedRow, Comparison, Figures};

/// Bad input (an option out of range, an unknown projection): the binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Runs `mom bench commands` and prints its report.
pub async fn commands(args: CommandsArgs) -> anyhow::Result<()> {
    workload::commands::run(args).await
}

/// Runs the compared part of `mom bench commands --compare` on the existing Postgres database at
/// `database_url` (not a fresh one: the caller can look at both sides' tables afterwards): our
/// command handler and the peer's at every concurrency, then our gRPC API, printed and returned
/// as the comparison; no paced run, no relay. Bad options (no `compare`, `seconds` not above
/// zero) are [`BadInput`].
pub async fn commands_compared_on(
    args: &CommandsArgs,
    database_url: &str,
) -> anyhow::Result<Comparison> {
    workload::commands::compare_on(args, database_url).await
}

/// Runs `mom bench oee` and prints its report.
pub async fn oee(args: OeeArgs) -> anyhow::Result<()> {
    workload::oee::run(args).await
}

/// Runs `mom bench oee-latency` and prints its report.
pub async fn oee_latency(args: OeeLatencyArgs) -> anyhow::Result<()> {
    workload::oee_latency::run(args).await
}

/// Runs `mom bench edge` and prints its report.
pub async fn edge(args: EdgeArgs) -> anyhow::Result<()> {
    workload::edge::run(args).await
}

/// Runs `mom bench rebuild` and prints its report. `projections` are the projections
/// `mom projections rebuild` knows, which `--projections` chooses from; each rebuild runs the
/// current executable as `mom projections rebuild`.
pub async fn rebuild(args: RebuildArgs, projections: &[&str]) -> anyhow::Result<()> {
    workload::rebuild::run(args, projections).await
}

/// Runs `mom bench relay` and prints its report.
pub async fn relay(args: RelayArgs) -> anyhow::Result<()> {
    workload::relay::run(args).await
}

/// Runs `mom bench consume` and prints its report.
pub async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    workload::consume::run(args).await
}
