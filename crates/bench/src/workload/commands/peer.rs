//! The peer of `mom bench commands --compare postgres-es`: cqrs-es's own Postgres repository
//! running our production work unit on the same workload, in its own tables of the run's
//! database.
//!
//! What runs is what a user of cqrs-es would write: `postgres_es::postgres_snapshot_cqrs` (a
//! `CqrsFramework` over a `PersistedEventStore` of a `PostgresEventRepository` with its default
//! tables, `events` and `snapshots`, and no queries) over `mom_production::domain::WorkUnit`, the
//! aggregate our service runs (`Stream<WorkUnit>` implements `cqrs_es::Aggregate` with
//! `Services = ()`), given the same commands and the same metadata as our handler. Both sides
//! therefore decide the same way and serialize the same event and metadata; what differs is the
//! repository and the framework around it.
//!
//! Settings, chosen to match ours: a snapshot every `--snapshot-every` events (ours snapshots
//! as often; 0 = never, postgres-es's plain `postgres_cqrs`), and a pool of one connection per
//! worker of the largest concurrency (at least as many as our service's pool, 16), so the peer never waits for a
//! connection. What ours has and the peer does not is part of what is measured: our executor
//! keeps recently used aggregates in memory and our store commits concurrent appends in one
//! transaction, while cqrs-es loads the snapshot and the events after it for every command and
//! commits each command alone.
//!
//! Known limit of cqrs-es 0.5, left as it is: its snapshot store applies a command's events
//! again to an aggregate the `EventSink` has already applied them to (our
//! `mom_eventstore::AggregateStore` exists to avoid that), so the peer's snapshots count every
//! 20th command's events twice. It changes the snapshot's content, not what a command costs.

use std::collections::HashMap;

use anyhow::Context;
use mom_production::domain::{ProductId, Units, Versioned, WorkUnit, WorkUnitCommand, WorkUnitId};
use postgres_es::PostgresCqrs;

use crate::provision;

/// cqrs-es with postgres-es, ready to take work-unit commands.
pub(super) struct PostgresEs {
    cqrs: PostgresCqrs<WorkUnit>,
}

impl PostgresEs {
    /// The peer's path in the report's table.
    pub(super) const PATH: &'static str = "postgres-es (ReportCount)";

    /// Creates postgres-es's tables in the database at `url` and a framework over them that
    /// snapshots every `snapshot_every` events, with a pool for `max_concurrency` workers.
    pub(super) async fn create(
        url: &str,
        snapshot_every: usize,
        max_concurrency: usize,
    ) -> anyhow::Result<Self> {
        let connections = u32::try_from(max_concurrency)
            .unwrap_or(u32::MAX)
            .max(super::SERVICE_CONNECTIONS);
        let pool = provision::postgres_es_pool(url, connections).await?;
        let cqrs = if snapshot_every == 0 {
            postgres_es::postgres_cqrs(pool, Vec::new(), ())
        } else {
            postgres_es::postgres_snapshot_cqrs(pool, Vec::new(), snapshot_every, ())
        };
        Ok(Self { cqrs })
    }

    /// Registers work unit `id`, as our handler does.
    pub(super) async fn register(&self, id: &str) -> anyhow::Result<()> {
        let command = WorkUnitCommand::Register {
            work_unit: WorkUnitId::new(id)?,
            name: id.to_owned(),
            micro_stop_threshold: None,
            startup_window: None,
            at: chrono::Utc::now(),
        };
        self.execute(id, command)
            .await
            .with_context(|| format!("postgres-es: register {id}"))
    }

    /// Reports one unit counted on work unit `id`, as our handler does.
    pub(super) async fn report_count(&self, id: &str) -> anyhow::Result<()> {
        let command = WorkUnitCommand::ReportCount {
            total: Units(1),
            product: Some(ProductId::new("SKU-BENCH")?),
            at: chrono::Utc::now(),
        };
        self.execute(id, command)
            .await
            .with_context(|| format!("postgres-es: report count on {id}"))
    }

    async fn execute(&self, id: &str, command: WorkUnitCommand) -> anyhow::Result<()> {
        let metadata: HashMap<String, String> = super::metadata();
        self.cqrs
            .execute_with_metadata(id, Versioned::from(command), metadata)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))
    }
}
