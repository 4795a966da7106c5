//! Publishes every changed period's figures to `mom.oee.v1` for integrators.
//!
//! The read model is the outbox: each period row carries the revision that last changed it, and
//! `oee_published` keeps the highest revision acknowledged by the broker. A round reads the rows
//! of the next revisions, publishes them with the idempotent producer and moves the cursor only
//! after every one was acknowledged; after a crash the same rows go out again with the same
//! `ce_id` (a UUID v5 of work unit, granularity, period start and revision). A row changed again
//! before it was published goes out once, with its latest figures.

use std::time::Duration;

use mom_bus::envelope::CloudEvent;
use mom_bus::{ensure_topics, BusError, Outgoing, Publisher};
use mom_oee::Granularity;
use mom_proto::common::v1::EventMetadata;
use mom_proto::oee::v1 as pb;
use prost::Message as _;
use sqlx::AnyPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{figures, granularity_named, pareto};
use crate::query::{Queries, QueryError, Scope};

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS oee_published (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)";
/// Revisions per round.
const ROUND: i64 = 200;
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Why publishing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker could not be set up.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The read model could not be read.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The cursor could not be read or written.
    #[error("publish cursor: {0}")]
    Database(#[from] sqlx::Error),
}

/// The publisher of `mom.oee.v1`.
#[derive(Debug)]
pub struct OeePublisher {
    pool: AnyPool,
    queries: Queries,
    publisher: Publisher,
    topic: String,
}

fn event_id(equipment: &str, granularity: &str, start_ms: i64, revision: u64) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("mom:oee:{equipment}/{granularity}/{start_ms}/{revision}").as_bytes(),
    )
}

impl OeePublisher {
    /// Creates `topic` (and its partitions) when missing and the producer.
    pub async fn start(
        pool: AnyPool,
        queries: Queries,
        bootstrap_servers: &str,
        topic: String,
        partitions: i32,
        replication: i32,
    ) -> Result<Self, PublishError> {
        ensure_topics(
            bootstrap_servers,
            std::slice::from_ref(&topic),
            partitions,
            replication,
        )
        .await?;
        sqlx::query(SCHEMA).execute(&pool).await?;
        let publisher = Publisher::new(bootstrap_servers, Duration::from_secs(120))?;
        Ok(Self {
            pool,
            queries,
            publisher,
            topic,
        })
    }

    async fn cursor(&self) -> Result<u64, sqlx::Error> {
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM oee_published WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(u64::try_from(revision.unwrap_or(0)).unwrap_or(0))
    }

    /// Publishes the next revisions; returns how many messages the broker acknowledged.
    pub async fn publish_once(&self) -> Result<usize, PublishError> {
        let cursor = self.cursor().await?;
        let rows = self.queries.changed_rows(cursor, ROUND).await?;
        let Some(high) = rows.iter().map(|(_, _, s)| s.revision).max() else {
            return Ok(0);
        };
        let now = mom_clock::now();
        let mut messages = Vec::with_capacity(rows.len());
        for (equipment, granularity_text, summary) in &rows {
            let granularity = granularity_named(granularity_text).unwrap_or(Granularity::Custom);
            let scope = Scope::WorkUnit(equipment.clone());
            let id = event_id(
                equipment,
                granularity_text,
                summary.start.timestamp_millis(),
                summary.revision,
            );
            // The period's end, or the time of publishing while the period is still open: the
            // event time of the metadata and of the CloudEvents header alike (docs/topics/oee.md).
            let event_time = summary.end.min(now);
            let envelope = pb::OeeEvent {
                metadata: Some(EventMetadata {
                    event_id: id.to_string(),
                    aggregate_type: "oee_period".into(),
                    aggregate_id: equipment.clone(),
                    sequence: summary.revision,
                    event_time: Some(mom_proto::time::to_timestamp(event_time)),
                    recorded_time: Some(mom_proto::time::to_timestamp(now)),
                    actor: "mom/oee".into(),
                    ..EventMetadata::default()
                }),
                event: Some(pb::oee_event::Event::OeePeriodUpdated(
                    pb::OeePeriodUpdated {
                        figures: Some(figures(&scope, granularity, summary)),
                        reasons: pareto(summary),
                    },
                )),
            };
            let headers = CloudEvent {
                id,
                event_type: "mom.oee.v1.OeePeriodUpdated",
                source: "mom/oee",
                time: event_time,
                subject: equipment,
                proto_message: "mom.oee.v1.OeeEvent",
                traceparent: "",
            }
            .headers();
            messages.push((equipment.clone(), envelope.encode_to_vec(), headers));
        }
        let outgoing: Vec<Outgoing<'_>> = messages
            .iter()
            .map(|(key, payload, headers)| Outgoing {
                topic: &self.topic,
                key,
                payload,
                headers,
            })
            .collect();
        let results = self.publisher.send_all(&outgoing).await;
        if let Some(Err(err)) = results.iter().find(|r| r.is_err()) {
            return Err(BusError::Kafka(err.clone()).into());
        }
        sqlx::query(
            "INSERT INTO oee_published (id, revision) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET revision = excluded.revision",
        )
        .bind(i64::try_from(high).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(messages.len())
    }

    /// Publishes until `shutdown`, woken by the projection's `revisions`; a failed round is
    /// retried with backoff. A round still waiting for the broker
    /// [`SHUTDOWN_GRACE`](mom_bus::SHUTDOWN_GRACE) after the shutdown began is dropped (its
    /// periods are published again after the restart).
    pub async fn run(self, mut revisions: watch::Receiver<u64>, shutdown: CancellationToken) {
        let mut backoff = Duration::ZERO;
        while !shutdown.is_cancelled() {
            let Some(round) = mom_bus::finish_within_grace(&shutdown, self.publish_once()).await
            else {
                tracing::warn!(
                    grace = ?mom_bus::SHUTDOWN_GRACE,
                    "stopping with OEE periods still waiting for the broker: they are published again after the restart"
                );
                return;
            };
            match round {
                Ok(0) => {
                    backoff = Duration::ZERO;
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = revisions.changed() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Ok(_) => backoff = Duration::ZERO,
                Err(err) => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tracing::warn!(error = %err, ?backoff, "publishing OEE periods failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }
}
