//! Choosing a projection's source: Kafka in deployments, the event stores' logs when embedded.

use std::sync::Arc;

use mom_eventstore::{EventStore, StoreOptions};
use tokio_util::sync::CancellationToken;

use crate::{
    run_from_kafka, run_from_log, KafkaSource, LogSource, Projection, ProjectionError, ReadModels,
};

/// Where a projection reads from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Kafka cluster (consumer group per projection).
    Kafka(KafkaSource),
    /// The logs of these event stores.
    Log(Arc<Vec<LogSource>>),
}

impl Source {
    /// Returns Kafka when `bootstrap_servers` is given, else the logs of `log_sources`, each
    /// `name=url` (`sqlite:path` or `postgres://...`).
    pub async fn open(
        bootstrap_servers: Option<&str>,
        log_sources: &[String],
    ) -> Result<Self, ProjectionError> {
        if let Some(servers) = bootstrap_servers {
            return Ok(Source::Kafka(KafkaSource {
                bootstrap_servers: servers.to_owned(),
                group_id: None,
            }));
        }
        let sources = connect_logs(log_sources, &StoreOptions::default()).await?;
        Ok(Source::Log(Arc::new(sources)))
    }
}

/// Opens the logs of `log_sources` (each `name=url`) for a rebuild: stores opened for bulk reads
/// ([`StoreOptions::bulk_reads`]: a SQLite log is read through a memory map, on connections of
/// its own stepped on blocking threads).
pub async fn rebuild_sources(log_sources: &[String]) -> Result<Vec<LogSource>, ProjectionError> {
    connect_logs(log_sources, &StoreOptions::bulk_reads()).await
}

async fn connect_logs(
    log_sources: &[String],
    options: &StoreOptions,
) -> Result<Vec<LogSource>, ProjectionError> {
    let mut sources = Vec::with_capacity(log_sources.len());
    for spec in log_sources {
        let (name, url) = spec.split_once('=').ok_or_else(|| {
            ProjectionError::Source(format!("log source {spec:?} must be name=url"))
        })?;
        let store = EventStore::connect(url, options).await?;
        sources.push(LogSource {
            name: name.to_owned(),
            store,
        });
    }
    if sources.is_empty() {
        return Err(ProjectionError::Source(
            "no source: give Kafka bootstrap servers or event-store log sources".to_owned(),
        ));
    }
    Ok(sources)
}

/// Feeds `projection` from `source` until `shutdown`.
pub async fn run<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &Source,
    shutdown: CancellationToken,
) -> Result<(), ProjectionError> {
    match source {
        Source::Kafka(kafka) => run_from_kafka(projection, models, kafka, shutdown).await,
        Source::Log(logs) => run_from_log(projection, models, logs, shutdown).await,
    }
}
