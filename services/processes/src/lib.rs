//! Process managers: consumers that turn one domain's events into another domain's commands.
//!
//! - NCR opened or contained with lots (quality) → hold on each contained lot (inventory);
//! - NCR disposition `scrap` on a lot (quality) → scrap move of that quantity (inventory);
//! - units counted on a work unit (production) → usage of its preventive plans (maintenance);
//! - PM window scheduled (maintenance) → planned shutdown on the work unit (production);
//! - production order completed (production) → output lot with genealogy from the order's
//!   consumed lots (inventory);
//! - a timer asks maintenance to check the calendar plans of its work units, so a plan due by
//!   date raises its work order;
//! - chart definitions, limit changes, inspection results (quality) and recorded process
//!   parameters (production) → the SPC engine → rule violations recorded in quality (`spc_watch`);
//! - a violation of one of its chart's NCR rules (quality) → an NCR (quality, `spc_ncr`);
//! - a failed inspection whose plan asks for it (quality) → an NCR (quality, `inspection_ncr`);
//! - NCR closed (quality) → the holds it placed released as its dispositions allow (inventory,
//!   `ncr_hold`);
//! - a breakdown stop longer than a threshold (production) → a corrective work order
//!   (maintenance, `breakdown_work_order`), unless one reported by hand covers it;
//! - run time between a work unit's running and its next state change (production) → usage of
//!   its run-hour plans (maintenance, `pm_usage`).
//!
//! Each manager is a projection on the shared runner: its checkpoint is stored transactionally,
//! every command it sends carries the source event's id as idempotency key and causation id and
//! the source's correlation id, so a redelivered event does nothing twice; a message it cannot act
//! on goes to the dead-letter topic (Kafka) and the manager goes on.
//!
//! Invariant: knows no service's code; it talks to the services only through their topics and
//! gRPC APIs.

mod clients;
pub mod config;
pub mod managers;

use mom_projection::{ProjectionError, ReadModels, Source};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use clients::Clients;
pub use config::ProcessesConfig;

/// A failure running the process managers.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The runner failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A service address is not a valid URI.
    #[error("invalid service url {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS files of the clients cannot be used.
    #[error("client tls: {0}")]
    Tls(#[from] mom_tls::TlsError),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
}

/// Runs every process manager until `shutdown`.
pub async fn serve(
    config: ProcessesConfig,
    shutdown: CancellationToken,
) -> Result<(), ProcessError> {
    // The database may be down at start: wait for it (a stop meanwhile is a clean stop).
    let Some(models) = ReadModels::connect_retrying(&config.database_url, &shutdown).await? else {
        return Ok(());
    };
    let clients = Clients::connect(&config)?;
    let names = config.kafka.topic_names();
    let managers = managers::all(&names, &clients, &config);
    let source = Source::open(
        config.kafka.kafka_bootstrap_servers.as_deref(),
        &config.log_sources,
    )
    .await?;
    let mut tasks = JoinSet::new();
    for manager in managers {
        let models = models.clone();
        let source = source.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            mom_projection::run(manager.as_ref(), &models, &source, shutdown).await
        });
    }
    {
        let models = models.clone();
        let clients = clients.clone();
        let every = std::time::Duration::from_secs(config.pm_check_interval_secs.max(1));
        let shutdown = shutdown.clone();
        tasks.spawn(async move { managers::run_timer(models, clients, every, shutdown).await });
    }
    {
        let models = models.clone();
        let clients = clients.clone();
        let loops = config.loops.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            managers::run_breakdown_timer(models, clients, loops, shutdown).await
        });
    }
    tracing::info!("process managers running");
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined
            .map_err(|err| ProcessError::Task(err.to_string()))
            .and_then(|r| r.map_err(ProcessError::from));
        if let Err(err) = outcome {
            tracing::error!(error = %err, "process manager failed");
            shutdown.cancel();
            if result.is_ok() {
                result = Err(err);
            }
        }
    }
    result
}
