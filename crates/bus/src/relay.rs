//! The outbox relay: claims unpublished outbox rows, publishes them with the idempotent producer
//! and marks them published only after the broker acknowledged them.
//!
//! Invariants: at least once, each key in order (a key's later rows are never marked before its
//! earlier ones; a parked row holds its key back); no database transaction is open while the
//! relay waits for the broker (the claim's lane locks are session locks on a connection it
//! keeps). A row that fails `max_attempts` times, or with an error no retry can cure (a message
//! too large for the broker), is parked with its error for an operator (`mom outbox`), so the
//! other keys go on. Marking a row published removes it from the outbox (the event log keeps the
//! event and its message); rows an earlier version marked and kept are pruned after the
//! retention, in small batches.

use mom_telemetry::internal_events::{
    emit, OutboxBacklogMeasured, OutboxParkedMeasured, OutboxPruned, OutboxPublished,
    OutboxRowParked,
};
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mom_eventstore::{EventStore, OutboxFailure, OutboxRecord};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio_util::sync::CancellationToken;

use mom_telemetry::trace_context::{set_parent, traceparent_of};

use crate::envelope::TRACEPARENT;
use crate::publisher::{Deliveries, Outgoing, Publisher};
use crate::topics::{dlq_topic, ensure_topics};
use crate::BusError;

/// Configuration of the relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Kafka bootstrap servers.
    pub bootstrap_servers: String,
    /// Topics to create at start when missing (their `.dlq` topics are created too).
    pub topics: Vec<String>,
    /// Partitions of created topics.
    pub partitions: i32,
    /// Replication factor of created topics.
    pub replication: i32,
    /// Outbox rows claimed per round.
    pub batch_size: u32,
    /// Longest wait of an idle relay: a commit wakes it at once (`EventStore::commits`), this
    /// poll only covers a wake-up that was lost (a notification listener reconnecting).
    pub idle_poll: Duration,
    /// Longest wait between retries after a failure (backoff doubles up to it).
    pub max_backoff: Duration,
    /// How long the producer keeps retrying one message before it reports a failure.
    pub message_timeout: Duration,
    /// Failed rounds after which a row is parked (at least 1).
    pub max_attempts: u32,
    /// How long published rows stay in the outbox (`None`: for ever).
    pub retention: Option<Duration>,
    /// Published rows deleted per statement when pruning (at most [`PRUNE_BATCHES`] statements
    /// every 60 s).
    pub prune_batch: u32,
}

/// Default of [`RelayConfig::max_attempts`] (`MOM_RELAY_MAX_ATTEMPTS`).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Default of [`RelayConfig::retention`] (`MOM_OUTBOX_RETENTION`).
pub const DEFAULT_OUTBOX_RETENTION: &str = "7d";

impl RelayConfig {
    /// Returns defaults for `bootstrap_servers` and `topics`.
    pub fn new(bootstrap_servers: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            topics,
            partitions: 6,
            replication: 1,
            batch_size: 1000,
            idle_poll: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            message_timeout: Duration::from_secs(120),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retention: Some(Duration::from_secs(7 * 86_400)),
            prune_batch: 1000,
        }
    }
}

/// Counters of one relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Messages acknowledged by the broker.
    pub published: AtomicU64,
    /// Messages the broker did not acknowledge (they are retried, or parked).
    pub failed: AtomicU64,
    /// Rows parked.
    pub parked: AtomicU64,
    /// Published rows pruned after the retention.
    pub pruned: AtomicU64,
}

/// Publishes the outbox of one store.
pub struct Relay {
    store: EventStore,
    publisher: Publisher,
    config: RelayConfig,
    stats: Arc<RelayStats>,
    /// The `topic` attribute of the relay's metrics (its topics, comma-separated).
    metric_topic: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Creates the topics that are missing and the idempotent producer.
    pub async fn start(store: EventStore, config: RelayConfig) -> Result<Self, BusError> {
        let mut topics = config.topics.clone();
        topics.extend(config.topics.iter().map(|t| dlq_topic(t)));
        ensure_topics(
            &config.bootstrap_servers,
            &topics,
            config.partitions,
            config.replication,
        )
        .await?;
        let publisher = Publisher::new(&config.bootstrap_servers, config.message_timeout)?;
        Ok(Self {
            store,
            publisher,
            metric_topic: config.topics.join(","),
            config,
            stats: Arc::new(RelayStats::default()),
        })
    }

    /// Returns the relay's counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// Publishes chains of rounds until `shutdown` is cancelled. A chain claims no further round
    /// once the token is cancelled, and its rounds in flight finish (their rows are marked or
    /// left pending), unless they are still waiting for the broker [`crate::SHUTDOWN_GRACE`]
    /// after the shutdown began: then they are dropped, their lanes are released with their
    /// connection, and their rows stay pending (published again by the next relay, at least
    /// once).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut backoff = Duration::ZERO;
        let mut backlog_reported = tokio::time::Instant::now() - BACKLOG_EVERY;
        let mut pruned = tokio::time::Instant::now() - PRUNE_EVERY;
        let mut commits = self.store.commits();
        loop {
            if backlog_reported.elapsed() >= BACKLOG_EVERY {
                backlog_reported = tokio::time::Instant::now();
                self.report_backlog().await;
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                if let Err(err) = self.prune().await {
                    tracing::warn!(error = %err, "outbox not pruned");
                }
            }
            // Commits from here on wake the wait below, also those made while this round reads.
            commits.mark_seen();
            let Some(round) = crate::finish_within_grace(
                &shutdown,
                self.publish_rounds(CHAIN_ROUNDS, Some(&shutdown)),
            )
            .await
            else {
                tracing::warn!(
                    grace = ?crate::SHUTDOWN_GRACE,
                    "stopping with a publishing round still waiting for the broker: its rows stay pending and are published again after the restart"
                );
                return Ok(());
            };
            match round {
                Ok(0) => {
                    backoff = Duration::ZERO;
                    // Idle: the next commit wakes the relay (this process's at once, other
                    // processes' through the database's notification); the poll is the fallback.
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return Ok(()),
                        _ = commits.wait(self.config.idle_poll) => {}
                    }
                }
                Ok(_) => {
                    backoff = Duration::ZERO;
                    if shutdown.is_cancelled() {
                        return Ok(());
                    }
                }
                Err(err) => {
                    backoff = (backoff * 2)
                        .max(Duration::from_millis(50))
                        .min(self.config.max_backoff);
                    tracing::warn!(error = %err, backoff_ms = backoff.as_millis() as u64, "outbox relay round failed");
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }

    /// Reports the backlog and the parked rows, and returns held rows that nothing holds back
    /// any more to the queue (every [`BACKLOG_EVERY`]).
    async fn report_backlog(&self) {
        match self.store.outbox_backlog().await {
            Ok(pending) => emit(OutboxBacklogMeasured {
                topic: &self.metric_topic,
                pending,
            }),
            Err(err) => tracing::debug!(error = %err, "outbox backlog not read"),
        }
        match self.store.outbox_parked().await {
            Ok(parked) => emit(OutboxParkedMeasured {
                topic: &self.metric_topic,
                parked,
            }),
            Err(err) => tracing::debug!(error = %err, "parked outbox rows not counted"),
        }
        // Rows set aside behind a parked row that an operator retried or skipped while a claim
        // was setting them aside.
        if let Err(err) = self.store.release_held().await {
            tracing::debug!(error = %err, "held outbox rows not released");
        }
    }

    /// Deletes rows an earlier version marked published and kept, once older than the retention
    /// (this version deletes a row when it marks it), a batch at a time (at most
    /// [`PRUNE_BATCHES`] batches per call, so a large first prune never stalls publishing);
    /// returns how many.
    pub async fn prune(&self) -> Result<u64, BusError> {
        let Some(retention) = self.config.retention else {
            return Ok(0);
        };
        // A retention longer than the calendar reaches prunes nothing.
        let Some(before) = chrono::Duration::from_std(retention)
            .ok()
            .and_then(|retention| mom_clock::now().checked_sub_signed(retention))
        else {
            return Ok(0);
        };
        let mut total = 0;
        for _ in 0..PRUNE_BATCHES {
            let count = self
                .store
                .prune_outbox(before, self.config.prune_batch)
                .await?;
            total += count;
            if count < u64::from(self.config.prune_batch) {
                break;
            }
        }
        if total > 0 {
            self.stats.pruned.fetch_add(total, Ordering::Relaxed);
            emit(OutboxPruned {
                topic: &self.metric_topic,
                count: total,
            });
        }
        Ok(total)
    }

    /// Claims one batch and publishes it; returns how many messages were acknowledged. No
    /// database transaction is open while it waits for the broker: the claim's reads and the
    /// marks afterwards are short statements of their own.
    pub async fn publish_once(&self) -> Result<usize, BusError> {
        self.publish_rounds(1, None).await
    }

    /// Publishes rounds back to back, up to [`CHAIN_ROUNDS`] of them and while rows keep
    /// coming, on one lease of the outbox: rounds are claimed and handed to the producer while
    /// earlier ones (up to four, 64 MB of payloads) still wait for the broker's acknowledgements,
    /// so the database's work and the broker's overlap. Returns how many messages were
    /// acknowledged.
    pub async fn publish_chain(&self) -> Result<usize, BusError> {
        self.publish_rounds(CHAIN_ROUNDS, None).await
    }

    /// Claims and publishes up to `rounds` rounds, several in flight while the next is claimed
    /// and handed over; stops claiming when a claim comes back empty, when a round failed or was
    /// refused (the lease does not claim its rows again: the next lease starts from them), or
    /// when `shutdown` is cancelled. Rounds are marked in the order they were claimed, so a
    /// key's later rows are never marked before its earlier ones.
    async fn publish_rounds(
        &self,
        rounds: u32,
        shutdown: Option<&CancellationToken>,
    ) -> Result<usize, BusError> {
        let mut lease = self.store.lease_outbox().await?;
        // Keys with a failed row: their later rows, in this round or the next, stay pending.
        let mut broken_keys: HashSet<String> = HashSet::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(IN_FLIGHT_ROUNDS);
        let mut claiming = true;
        let mut claimed = 0;
        let mut count = 0;
        let mut retry_error = None;
        loop {
            if claiming
                && (claimed == rounds
                    || !broken_keys.is_empty()
                    || in_flight.iter().any(|round| round.deliveries.refused())
                    || shutdown.is_some_and(CancellationToken::is_cancelled))
            {
                claiming = false;
            }
            if claiming {
                claimed += 1;
                let records = lease.claim(self.config.batch_size).await?;
                if records.is_empty() {
                    claiming = false;
                } else {
                    in_flight.push_back(self.send(records).await);
                }
            }
            if claiming
                && in_flight.len() < IN_FLIGHT_ROUNDS
                && in_flight.iter().map(|round| round.bytes).sum::<usize>() < IN_FLIGHT_BYTES
            {
                continue;
            }
            // The oldest round's acknowledgements, while the later ones travel.
            let Some(round) = in_flight.pop_front() else {
                break;
            };
            let settled = self.settle(round, &mut broken_keys).await;
            count += settled.published.len();
            // Only failures that will be tried again call for a backoff; parked rows are out
            // of the way.
            if retry_error.is_none() {
                retry_error = settled
                    .failed
                    .iter()
                    .find(|f| !f.park)
                    .map(|f| f.error.clone());
            }
            lease.mark(&settled.published, &settled.failed).await?;
        }
        lease.release().await?;
        match retry_error {
            Some(reason) => Err(BusError::Kafka(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )))
            .inspect_err(|_| tracing::warn!(reason, "outbox messages not acknowledged")),
            None => Ok(count),
        }
    }

    /// Waits for a round's acknowledgements and sorts its rows: published, failed (parked when
    /// the failure says so), or held back behind a failed row of their key (left pending
    /// untouched: no attempt counted, they did not fail themselves).
    async fn settle(&self, round: InFlight, broken_keys: &mut HashSet<String>) -> Settled {
        let results = round.deliveries.wait().await;
        for (span, result) in round.spans.iter().zip(&results) {
            if let Err(err) = result {
                span.in_scope(|| tracing::warn!(error = %err, "not acknowledged"));
            }
        }
        let mut published = Vec::with_capacity(results.len());
        let mut failed = Vec::new();
        let mut held_back = 0u64;
        for (record, result) in round.records.iter().zip(results) {
            if broken_keys.contains(record.key.as_str()) {
                // Behind a failed row of its key: a key's later rows must not be marked before
                // its earlier ones, or a retry would put them out of order. A failure here is
                // that one's consequence (the producer fails a partition's later messages with
                // it), so no attempt is counted.
                held_back += 1;
                continue;
            }
            match result {
                Ok(()) => published.push(record.position),
                Err(err) => {
                    broken_keys.insert(record.key.clone());
                    let attempts = record.attempts.saturating_add(1);
                    let park = is_permanent(&err) || attempts >= self.config.max_attempts;
                    let error = err.to_string();
                    if park {
                        emit(OutboxRowParked {
                            topic: &self.metric_topic,
                            position: record.position,
                            key: &record.key,
                            attempts,
                            error: &error,
                        });
                    }
                    failed.push(OutboxFailure {
                        position: record.position,
                        error,
                        park,
                    });
                }
            }
        }
        let parked = failed.iter().filter(|f| f.park).count() as u64;
        self.stats.parked.fetch_add(parked, Ordering::Relaxed);
        emit(OutboxPublished {
            topic: &self.metric_topic,
            count: published.len() as u64,
            failed: failed.len() as u64 + held_back,
        });
        self.stats
            .published
            .fetch_add(published.len() as u64, Ordering::Relaxed);
        self.stats
            .failed
            .fetch_add(failed.len() as u64, Ordering::Relaxed);
        Settled { published, failed }
    }

    /// Hands `records` to the producer, each in a producer span that continues the trace of
    /// the command that stored it; the message's `traceparent` header names that span, so a
    /// consumer's span becomes its child.
    async fn send(&self, records: Vec<OutboxRecord>) -> InFlight {
        let spans: Vec<tracing::Span> = records.iter().map(publish_span).collect();
        let headers: Vec<Cow<'_, [(String, String)]>> = records
            .iter()
            .zip(&spans)
            .map(|(record, span)| match traceparent_of(span) {
                Some(traceparent) => Cow::Owned(with_traceparent(&record.headers, traceparent)),
                None => Cow::Borrowed(record.headers.as_slice()),
            })
            .collect();
        let messages: Vec<Outgoing<'_>> = records
            .iter()
            .zip(&headers)
            .map(|(record, headers)| Outgoing {
                topic: &record.topic,
                key: &record.key,
                payload: &record.payload,
                headers,
            })
            .collect();
        let deliveries = self.publisher.enqueue(&messages).await;
        drop(messages);
        drop(headers);
        InFlight {
            bytes: records.iter().map(|record| record.payload.len()).sum(),
            records,
            spans,
            deliveries,
        }
    }
}

/// A round handed to the producer, its acknowledgements to come.
struct InFlight {
    /// The payloads' bytes the round holds.
    bytes: usize,
    records: Vec<OutboxRecord>,
    spans: Vec<tracing::Span>,
    deliveries: Deliveries,
}

/// What a round's acknowledgements decided.
struct Settled {
    published: Vec<u64>,
    failed: Vec<OutboxFailure>,
}

/// Most rounds one lease of the outbox publishes before it releases its lanes (other relays
/// take them at the next claim) and claims afresh.
pub const CHAIN_ROUNDS: u32 = 16;

/// Rounds of a chain handed to the producer and not yet settled: while the oldest waits for
/// its acknowledgements, the next ones are claimed and sent.
const IN_FLIGHT_ROUNDS: usize = 4;

/// Payload bytes in flight above which a chain waits for its oldest round before it claims the
/// next (large messages: a round of them alone may be more).
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// How often the relay reports its outbox backlog.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// How often the relay prunes published rows.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Most batches one prune deletes.
pub const PRUNE_BATCHES: u32 = 10;

/// Whether no retry can cure `err` (the message is refused for what it is): such a row is
/// parked at once.
fn is_permanent(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTopic
        )
    )
}

fn publish_span(record: &OutboxRecord) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox.publish",
        otel.name = %format!("{} publish", record.topic),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.destination.name = %record.topic,
        messaging.kafka.message.key = %record.key,
        outbox.position = record.position,
    );
    let parent = record
        .headers
        .iter()
        .find(|(name, _)| name == TRACEPARENT)
        .map_or("", |(_, value)| value.as_str());
    set_parent(&span, parent);
    span
}

/// Returns `headers` with `traceparent` set to `traceparent`.
fn with_traceparent(headers: &[(String, String)], traceparent: String) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name != TRACEPARENT)
        .cloned()
        .collect();
    headers.push((TRACEPARENT.to_owned(), traceparent));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_about_the_message_itself_are_permanent() {
        let produce = |code| KafkaError::MessageProduction(code);
        assert!(is_permanent(&produce(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(is_permanent(&produce(RDKafkaErrorCode::InvalidTopic)));
        assert!(!is_permanent(&produce(RDKafkaErrorCode::MessageTimedOut)));
        assert!(!is_permanent(&produce(RDKafkaErrorCode::UnknownTopic)));
        assert!(!is_permanent(&KafkaError::Canceled));
    }
}
