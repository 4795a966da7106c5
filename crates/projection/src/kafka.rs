//! Kafka as a source: a consumer group per projection, offsets checkpointed in the read model.

use mom_telemetry::internal_events::{emit, ProjectionCommitted, ProjectionLagMeasured};
use std::sync::Arc;
use std::time::Duration;

use mom_bus::DeadLetters;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{ApplyError, Message, Projection, ProjectionError, ReadModels};

/// Where a projection consumes from.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    /// Kafka bootstrap servers.
    pub bootstrap_servers: String,
    /// Consumer group; `mom.projection.<name>` when `None`. Instances of one projection share it
    /// and split the partitions.
    pub group_id: Option<String>,
}

enum Outcome {
    Applied,
    Skipped,
    Poison(String),
}

/// Feeds `projection` from Kafka until `shutdown`. Each message is applied in a transaction that
/// also stores the partition's next offset; a redelivered message (offset below it) is skipped,
/// so the effect is exactly once. Poison messages go to `<topic>.dlq`.
pub async fn run_from_kafka<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &KafkaSource,
    shutdown: CancellationToken,
) -> Result<(), ProjectionError> {
    models.migrate(projection).await?;
    let group = source
        .group_id
        .clone()
        .unwrap_or_else(|| format!("mom.projection.{}", projection.name()));
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &source.bootstrap_servers)
        .set("group.id", &group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A fetch returns when data arrives on Kafka, but some brokers (tansu) hold it for the
        // whole wait: keep the wait short so a new event is seen within milliseconds.
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let topics: Vec<&str> = projection.topics().iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let consumer = Arc::new(consumer);
    let dead_letters = DeadLetters::new(&source.bootstrap_servers)?;
    let mut lag_reported = tokio::time::Instant::now() - LAG_EVERY;
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            received = consumer.recv() => received,
        };
        let (message, recorded_ms) = match received {
            Ok(message) => {
                use rdkafka::Message as _;
                (
                    Message::from_kafka(&message),
                    message.timestamp().to_millis(),
                )
            }
            Err(err) => {
                tracing::warn!(error = %err, "projection consumer receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut backoff = Duration::from_millis(50);
        let span = crate::apply_span(projection.name(), &message);
        loop {
            match apply_one(projection, models, &message)
                .instrument(span.clone())
                .await
            {
                Ok(Outcome::Applied) => {
                    let latency = recorded_ms.and_then(crate::since_epoch_ms);
                    emit(ProjectionCommitted {
                        projection: projection.name(),
                        applied: 1,
                        latency,
                    });
                    break;
                }
                Ok(Outcome::Skipped) => break,
                Ok(Outcome::Poison(reason)) => {
                    dead_letters.send(&message, &reason).await?;
                    break;
                }
                Err(err) => {
                    tracing::warn!(projection = projection.name(), error = %err, "projection apply failed, retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        consumer.store_offset(&message.topic, message.partition, message.offset)?;
        if lag_reported.elapsed() >= LAG_EVERY {
            lag_reported = tokio::time::Instant::now();
            report_lag(&consumer, projection.name(), &message);
        }
    }
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %err, "final commit");
    }
    Ok(())
}

/// How often a consumer reports its lag (a watermark request to the broker).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Reports how far the partition of `message` is behind its high watermark, from a blocking
/// task (the watermark request waits for the broker).
fn report_lag(consumer: &Arc<StreamConsumer>, projection: &str, message: &Message) {
    let (consumer, projection) = (consumer.clone(), projection.to_owned());
    let (topic, partition, offset) = (message.topic.clone(), message.partition, message.offset);
    tokio::task::spawn_blocking(move || {
        match consumer.fetch_watermarks(&topic, partition, Duration::from_secs(1)) {
            Ok((_, high)) => {
                let behind = u64::try_from(high - offset - 1).unwrap_or(0);
                let source = format!("{topic}/{partition}");
                emit(ProjectionLagMeasured {
                    projection: &projection,
                    source: &source,
                    behind,
                });
            }
            Err(err) => tracing::debug!(error = %err, "watermarks not read"),
        }
    });
}

async fn apply_one<P: Projection>(
    projection: &P,
    models: &ReadModels,
    message: &Message,
) -> Result<Outcome, ProjectionError> {
    let result = try_one(projection, models, message).await;
    if matches!(result, Err(_) | Ok(Outcome::Poison(_))) {
        projection.rolled_back();
    }
    result
}

async fn try_one<P: Projection>(
    projection: &P,
    models: &ReadModels,
    message: &Message,
) -> Result<Outcome, ProjectionError> {
    let mut tx = models.pool().begin().await?;
    let next: Option<i64> = sqlx::query_scalar(
        "SELECT next_offset FROM mom_projection_offsets \
         WHERE projection = $1 AND topic = $2 AND partition_id = $3",
    )
    .bind(projection.name())
    .bind(&message.topic)
    .bind(message.partition)
    .fetch_optional(&mut *tx)
    .await?;
    if next.is_some_and(|next| message.offset < next) {
        return Ok(Outcome::Skipped);
    }
    let outcome = match projection.apply(&mut tx, message).await {
        Ok(()) => {
            projection.flush(&mut tx).await?;
            Outcome::Applied
        }
        Err(ApplyError::Poison(reason)) => {
            // Undo whatever the handler wrote before it gave up; only the offset moves on.
            tx.rollback().await?;
            tx = models.pool().begin().await?;
            Outcome::Poison(reason)
        }
        Err(ApplyError::Database(err)) => return Err(err.into()),
        Err(ApplyError::Transient(reason)) => return Err(ProjectionError::Transient(reason)),
    };
    sqlx::query(
        "INSERT INTO mom_projection_offsets (projection, topic, partition_id, next_offset) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (projection, topic, partition_id) \
         DO UPDATE SET next_offset = excluded.next_offset",
    )
    .bind(projection.name())
    .bind(&message.topic)
    .bind(message.partition)
    .bind(message.offset + 1)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    projection.committed();
    Ok(outcome)
}
