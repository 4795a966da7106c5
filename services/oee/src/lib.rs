//! The streaming OEE projection: maps events of the four domains' topics to OEE engine facts,
//! feeds the engine (the same one `mom oee replay` uses), and keeps every changed period's
//! figures in the `oee_periods` read model.
//!
//! Every applied message is also kept in `oee_messages`, in the same transaction as the figures
//! and the checkpoint, so the in-memory engine can be rebuilt from the committed state after a
//! restart or a rolled-back page; a redelivered message (same event id) is not applied twice.
//!
//! Invariant: no service code; it reads the topic contract only. (Its query API is not built
//! yet: the figures are in `oee_periods` for dashboards and Grafana.)

pub mod config;
mod facts;
mod projection;

use chrono::Weekday;
use mom_oee::{Calendar, ShiftPattern};
use mom_projection::{ProjectionError, ReadModels, Source};
use tokio_util::sync::CancellationToken;

pub use config::OeeConfig;
pub use facts::{Input, Mapper};
pub use projection::OeeProjection;

/// The domains whose topics feed the projection.
pub const DOMAINS: [&str; 4] = ["production", "quality", "maintenance", "inventory"];

/// Runs the projection until `shutdown`, from Kafka when a broker is configured, else from the
/// configured event-store logs.
pub async fn serve(config: OeeConfig, shutdown: CancellationToken) -> Result<(), ProjectionError> {
    let models = ReadModels::connect(&config.database_url).await?;
    let names = config.kafka.topic_names();
    let topics = DOMAINS.iter().map(|domain| names.domain(domain)).collect();
    let calendar = Calendar::new(config.time_zone, ShiftPattern::three_shifts(), Weekday::Mon);
    let projection = OeeProjection::new(topics, calendar);
    let source = Source::open(
        config.kafka.kafka_bootstrap_servers.as_deref(),
        &config.log_sources,
    )
    .await?;
    tracing::info!("oee projection running");
    mom_projection::run(&projection, &models, &source, shutdown).await
}
