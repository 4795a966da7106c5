//! The projection runner. A projection is a subscription (topics), a handler and its read-model
//! tables; the runner feeds it messages from one of two sources behind one contract:
//!
//! - the event store's own ordered log (embedded single-node mode, and rebuilds), checkpointed by
//!   log position per store;
//! - Kafka (deployments), as a consumer group, checkpointed by offset per partition.
//!
//! Either way the checkpoint is written in the same read-model transaction as the handler's
//! changes, so a crash never applies a message twice or skips one, whatever the source redelivers.
//! Read models live in Postgres or SQLite through sqlx's `Any` driver, so a projection writes one
//! SQL for both (`$1` parameters, `ON CONFLICT` upserts).
//!
//! Invariant: knows no domain; messages are the topic contract's bytes and headers.

mod error;
mod kafka;
mod log;
mod params;
mod read_models;
mod sequence;
pub mod settings;
mod source;
pub mod status;
pub mod streams;

use std::future::Future;

pub use error::{ApplyError, ProjectionError};
pub use kafka::{run_from_kafka, run_from_kafka_with, KafkaSource};
pub use log::{rebuild, run_from_log, LogSource, Progress};
pub use mom_bus::BusMessage as Message;
pub use params::{fetch_in, Params};
pub use read_models::ReadModels;
pub use sequence::{Deferred, PageSequences};
pub use settings::ConsumerSettings;
pub use source::{rebuild_sources, run, Source};

/// Returns the span in which `projection` applies `message`: a consumer span continuing the
/// trace of the command that stored the event (the message's `traceparent`).
pub(crate) fn apply_span(projection: &str, message: &Message) -> tracing::Span {
    let span = tracing::info_span!(
        "projection.apply",
        otel.name = %format!("{} apply", projection),
        otel.kind = "consumer",
        projection = %projection,
        messaging.system = "kafka",
        messaging.source.name = %message.topic,
        messaging.kafka.partition = message.partition,
        messaging.kafka.offset = message.offset,
        event_id = %message.event_id,
    );
    let traceparent = message
        .headers
        .iter()
        .find(|(name, _)| name == mom_bus::envelope::TRACEPARENT)
        .map_or("", |(_, value)| value.as_str());
    mom_telemetry::trace_context::set_parent(&span, traceparent);
    span
}

/// Returns the time elapsed since `ms` (milliseconds since the Unix epoch), if it is past.
pub(crate) fn since_epoch_ms(ms: i64) -> Option<std::time::Duration> {
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).ok()?);
    std::time::SystemTime::now().duration_since(then).ok()
}

/// A connection inside the read model's transaction.
pub type Connection = sqlx::AnyConnection;

/// A read model fed by the runner.
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint key and the Kafka consumer group suffix.
    fn name(&self) -> &str;

    /// Topics the projection reads.
    fn topics(&self) -> &[String];

    /// Aggregate types whose events the projection handles (`None`: every type). A rebuild
    /// reads only those from the log, so a projection that names them must ignore every other
    /// type's events (the live sources still hand them over).
    fn aggregate_types(&self) -> Option<&[String]> {
        None
    }

    /// Statements that create the read-model tables when missing (`CREATE TABLE IF NOT EXISTS`),
    /// valid on Postgres and SQLite.
    fn schema(&self) -> &[&str];

    /// Statements run after [`Projection::schema`] on Postgres only: storage settings SQLite has
    /// no notion of (a column's compression, say). Each runs at every start, so it must be
    /// idempotent and cheap once applied. None by default.
    fn postgres_schema(&self) -> &[&str] {
        &[]
    }

    /// Tables a rebuild empties.
    fn tables(&self) -> &[&str];

    /// Applies one message inside the read model's transaction. An error rolls the whole
    /// transaction back (checkpoint included).
    fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// Called once per transaction after its messages were applied and before the checkpoint is
    /// written, in the same transaction: a projection that keeps changes in memory while a page
    /// is applied writes them here once (a rebuild then writes each changed row once per page,
    /// not once per message). An error rolls the transaction back like one from `apply`.
    fn flush(
        &self,
        connection: &mut Connection,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send {
        let _ = connection;
        async { Ok(()) }
    }

    /// Called when a transaction that applied messages was rolled back, so a projection that
    /// keeps state in memory can drop what the database no longer holds.
    fn rolled_back(&self) {}

    /// Called after a transaction that applied messages committed (for example to wake readers
    /// that wait for changes).
    fn committed(&self) {}
}
