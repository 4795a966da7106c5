//! Kafka as a source: a consumer group per projection, offsets checkpointed in the read model.
//!
//! The consumer resumes by itself after a crash of its own process and after a broker restart:
//!
//! - **static membership**, when configured ([`ConsumerSettings`]): every member joins with
//!   `group.instance.id` (this instance's stable id), so a replacement that joins after a crash
//!   takes the crashed member's place and its partitions at once (on Apache Kafka; tansu 0.6
//!   loses a static member after each assignment, so it is off by default);
//! - **rebalance callbacks**: before partitions are revoked the offsets of what was applied are
//!   committed, so the next owner starts where this one stopped (the read model's checkpoint
//!   skips anything redelivered anyway);
//! - **a progress watchdog** (which also covers tansu handing a dynamic replacement that joins
//!   within the session timeout an empty assignment, for good, or leaving a partition with no
//!   consumer): every few seconds it compares the topics' high watermarks with the read model's
//!   checkpoints, partition by partition; when a partition's messages wait and neither its
//!   checkpoint nor what this consumer received of it moved for the stall timeout, the
//!   projection reports itself unhealthy (its status error: the
//!   health service and `/readyz` say NOT_SERVING with the reason), logs it, counts it in
//!   `mom.projection.stalls`, and the consumer is dropped and created again;
//! - **no leaving in the middle of a join**: a consumer that stops (or is re-created) while it
//!   joins its group first finishes the join (tansu 0.6 loses a forming group's leader for good
//!   when it leaves before it sent the assignment; see [`finish_join`]).
//!
//! Invariant: a message's offset is stored for commit only after its transaction committed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use mom_bus::DeadLetters;
use mom_telemetry::internal_events::{
    emit, ProjectionCommitted, ProjectionLagMeasured, ProjectionStalled,
};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::settings::ConsumerSettings;
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

/// Why one consumer stopped.
enum Ended {
    Shutdown,
    Stalled,
}

/// A partition: topic and partition id.
type Partition = (String, i32);

/// A consumer's signs of life, for the watchdog: its rebalances, and per partition the offset
/// after the last message it received.
#[derive(Debug, Default)]
struct Signs {
    /// Every assignment and revocation.
    rebalances: AtomicU64,
    received: std::sync::Mutex<BTreeMap<Partition, i64>>,
}

impl Signs {
    fn note_received(&self, batch: &[Received]) {
        if let Ok(mut received) = self.received.lock() {
            for message in batch.iter().map(|r| &r.message) {
                let next = received
                    .entry((message.topic.clone(), message.partition))
                    .or_default();
                *next = (*next).max(message.offset + 1);
            }
        }
    }

    fn received(&self) -> BTreeMap<Partition, i64> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The consumer's context: commits what was applied before partitions are revoked, logs every
/// assignment, and knows whether the consumer is in the middle of joining its group.
struct Rebalancing {
    projection: String,
    /// The watchdog's signs of life (a rebalance is one, also while joining).
    signs: Arc<Signs>,
    /// From the consumer's creation, and from each revocation (a rebalance began), until the
    /// assignment that ends the join.
    joining: AtomicBool,
}

impl ClientContext for Rebalancing {}

impl ConsumerContext for Rebalancing {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.joining.store(true, Ordering::Relaxed);
            // Nothing stored yet (or nothing new) is not an error worth more than a debug line.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => tracing::info!(
                    projection = %self.projection,
                    partitions = partitions.count(),
                    "partitions revoked, applied offsets committed"
                ),
                Err(err) => {
                    tracing::debug!(projection = %self.projection, error = %err, "commit before revoke")
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.signs.rebalances.fetch_add(1, Ordering::Relaxed);
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.joining.store(false, Ordering::Relaxed);
                tracing::info!(
                    projection = %self.projection,
                    partitions = partitions.count(),
                    "partitions assigned"
                );
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(err) => {
                tracing::warn!(projection = %self.projection, error = %err, "rebalance failed");
            }
        }
    }
}

type Kafka = StreamConsumer<Rebalancing>;

/// How long a stopping (or re-created) consumer waits for its last commit and for leaving its
/// group before it goes on without them.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer that is closed off the runtime's threads. rdkafka closes a group consumer when it
/// is dropped and waits until the group is left, which never happens while the broker is gone:
/// a runtime that cancelled such a consumer's task (a process stopping after its broker died)
/// never finished shutting down (seen in CI: a test's runtime, after its broker was killed).
/// The last reference closes it on a thread of its own; [`close`] also waits, but for
/// [`CLOSE_TIMEOUT`] at most.
struct Closing(Option<Kafka>);

impl std::ops::Deref for Closing {
    type Target = Kafka;

    fn deref(&self) -> &Kafka {
        // Taken only when the last reference is dropped or closed.
        self.0
            .as_ref()
            .expect("a consumer is not used after it is closed")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            // Where no thread can be started, the closure (and the close) is dropped here.
            let _ = std::thread::Builder::new()
                .name("kafka-close".into())
                .spawn(move || drop(consumer));
        }
    }
}

/// Commits what was applied (when `commit`) and closes `consumer` on a thread of its own,
/// waiting up to [`CLOSE_TIMEOUT`]: with the broker gone, neither ever finishes. A consumer in
/// the middle of joining its group first finishes the join ([`finish_join`], `join_wait` at
/// most), so that it never leaves a group that is forming.
async fn close(consumer: Arc<Closing>, commit: bool, projection: &str, join_wait: Duration) {
    finish_join(&consumer, projection, join_wait).await;
    let (done, finished) = tokio::sync::oneshot::channel();
    let closing = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            if commit {
                if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::debug!(error = %err, "final commit");
                }
            }
            // Closed here when this is the last reference (else by the last one, on a thread
            // of its own).
            if let Ok(mut consumer) = Arc::try_unwrap(consumer) {
                drop(consumer.0.take());
            }
            let _ = done.send(());
        });
    if closing.is_err() {
        return;
    }
    if tokio::time::timeout(CLOSE_TIMEOUT, finished).await.is_err() {
        tracing::warn!(
            projection,
            "the Kafka consumer did not commit and leave its group within {} s (is the broker reachable?); going on without it",
            CLOSE_TIMEOUT.as_secs()
        );
    }
}

/// How long one poll of [`finish_join`] waits before it looks whether the join finished.
const JOIN_POLL: Duration = Duration::from_millis(20);

/// Lets a consumer in the middle of joining its group finish the join before it leaves: polls it
/// (dropping what it receives: nothing is applied, no offset stored, so the next owner gets
/// those messages) until its assignment arrives, `wait` at most. Tansu 0.6 keeps the leader
/// of a forming group when that leader leaves: a consumer stopped after it was elected leader
/// but before it sent the group's assignment left the group without a leader for good, and
/// every later member waited for ever (seen in CI, a service stopped right after it started;
/// `crates/projection/tests/runner.rs` stops consumers at every moment of their join). Leaving
/// after the join is a plain rebalance.
async fn finish_join(consumer: &Arc<Closing>, projection: &str, wait: Duration) {
    let joining = || consumer.context().joining.load(Ordering::Relaxed);
    // A consumer none of whose topics exists yet (or whose broker does not answer) has not
    // begun to join: it leaves nothing behind.
    if !joining() || !can_join(consumer).await {
        return;
    }
    let deadline = Instant::now() + wait;
    while joining() {
        if Instant::now() >= deadline {
            tracing::warn!(
                projection,
                "the Kafka consumer did not finish joining its group within {} s; leaving it anyway",
                wait.as_secs()
            );
            return;
        }
        // The assignment arrives in a poll that returns nothing (no message waits): poll in
        // short slices and look again.
        let slice = (deadline - Instant::now()).min(JOIN_POLL);
        let _ = tokio::time::timeout(slice, consumer.recv()).await;
    }
    tracing::debug!(projection, "joined the group before leaving it");
}

/// Whether one of the topics `consumer` subscribed to exists (a consumer joins its group once
/// one does); false when the broker does not answer within [`CHECK_TIMEOUT`].
async fn can_join(consumer: &Arc<Closing>) -> bool {
    let consumer = consumer.clone();
    tokio::task::spawn_blocking(move || {
        let Ok(subscribed) = consumer.subscription() else {
            return false;
        };
        let topics: Vec<String> = subscribed
            .elements()
            .iter()
            .map(|element| element.topic().to_owned())
            .collect();
        let Ok(metadata) = consumer.fetch_metadata(None, CHECK_TIMEOUT) else {
            return false;
        };
        // Bound before `metadata` is dropped (a tail expression's borrow would outlive it).
        let joinable = present(&metadata, &topics).any(|topic| !topic.partitions().is_empty());
        joinable
    })
    .await
    .unwrap_or(false)
}

/// Feeds `projection` from Kafka until `shutdown`. Messages are applied in transactions that
/// also store the partitions' next offsets, each holding what the consumer had received when it
/// began (at most `MOM_CONSUMER_MAX_BATCH`, [`ConsumerSettings::max_batch`]); a redelivered message (offset below the stored one) is
/// skipped, so the effect is exactly once. Poison messages go to `<topic>.dlq`. A consumer that stalls is
/// replaced (see the module docs).
pub async fn run_from_kafka<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &KafkaSource,
    shutdown: CancellationToken,
) -> Result<(), ProjectionError> {
    let settings = ConsumerSettings::from_env()?;
    run_from_kafka_with(projection, models, source, &settings, shutdown).await
}

/// [`run_from_kafka`] with `settings` given rather than read from the environment.
pub async fn run_from_kafka_with<P: Projection>(
    projection: &P,
    models: &ReadModels,
    source: &KafkaSource,
    settings: &ConsumerSettings,
    shutdown: CancellationToken,
) -> Result<(), ProjectionError> {
    crate::status::started(projection.name());
    models.migrate(projection).await?;
    let group = source
        .group_id
        .clone()
        .unwrap_or_else(|| format!("mom.projection.{}", projection.name()));
    let dead_letters = DeadLetters::new(&source.bootstrap_servers)?;
    let mut after_stall = false;
    loop {
        // Messages received and rebalances: the consumer's signs of life.
        let signs = Arc::new(Signs::default());
        let consumer = Arc::new(Closing(Some(create(
            projection, source, &group, settings, &signs,
        )?)));
        let stalled = CancellationToken::new();
        let watchdog = tokio::spawn(
            Watchdog {
                projection: projection.name().to_owned(),
                topics: projection.topics().to_vec(),
                models: models.clone(),
                consumer: consumer.clone(),
                signs: signs.clone(),
                stall_timeout: settings.stall_timeout,
                join_grace: settings.session_timeout,
                after_stall,
            }
            .run(stalled.clone()),
        );
        let ended = consume(
            projection,
            models,
            &consumer,
            settings.max_batch,
            &dead_letters,
            &signs,
            &stalled,
            &shutdown,
        )
        .await;
        watchdog.abort();
        // Its reference to the consumer goes with it (a check it started on a blocking thread
        // may keep one a moment longer: that one closes the consumer).
        let _ = watchdog.await;
        match ended? {
            Ended::Shutdown => {
                close(consumer, true, projection.name(), settings.session_timeout).await;
                return Ok(());
            }
            Ended::Stalled => {
                tracing::warn!(
                    projection = projection.name(),
                    group = %group,
                    "re-creating the stalled consumer"
                );
                // Closing a static member does not leave the group: its replacement (the same
                // instance id) takes its partitions back without waiting for a rebalance.
                close(consumer, false, projection.name(), settings.session_timeout).await;
                after_stall = true;
            }
        }
    }
}

/// Creates the consumer of `projection` in `group` and subscribes it to the projection's topics.
fn create<P: Projection>(
    projection: &P,
    source: &KafkaSource,
    group: &str,
    settings: &ConsumerSettings,
    signs: &Arc<Signs>,
) -> Result<Kafka, ProjectionError> {
    let mut config = mom_bus::client_config(&source.bootstrap_servers);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            settings.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (settings.session_timeout.as_millis() / 4)
                .max(250)
                .to_string(),
        )
        // A fetch returns when data arrives on Kafka, but tansu holds it for the whole wait:
        // keep the wait short so a new event is seen within milliseconds (FETCH_WAIT_VAR).
        .set(
            "fetch.wait.max.ms",
            settings.fetch_wait.as_millis().max(1).to_string(),
        );
    // librdkafka's own debug contexts (`cgrp`, `consumer`, ...), for a consumer that misbehaves.
    if let Ok(debug) = std::env::var("MOM_KAFKA_DEBUG") {
        config.set("debug", debug);
    }
    if let Some(instance) = &settings.instance_id {
        config.set("group.instance.id", instance);
    }
    let consumer: Kafka = config.create_with_context(Rebalancing {
        projection: projection.name().to_owned(),
        signs: signs.clone(),
        joining: AtomicBool::new(true),
    })?;
    let topics: Vec<&str> = projection.topics().iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(
        projection = projection.name(),
        group,
        instance = settings.instance_id.as_deref().unwrap_or("(dynamic)"),
        "consumer joined its group"
    );
    Ok(consumer)
}

/// A message as received, with the time the broker recorded it.
struct Received {
    message: Message,
    recorded_ms: Option<i64>,
}

impl Received {
    fn from_kafka(message: &rdkafka::message::BorrowedMessage<'_>) -> Self {
        use rdkafka::Message as _;
        Self {
            message: Message::from_kafka(message),
            recorded_ms: message.timestamp().to_millis(),
        }
    }
}

/// Applies messages from `consumer` until `shutdown` (or until the watchdog cancels `stalled`):
/// each message that arrives with the ones already waiting behind it, up to `max_batch`, as one
/// batch ([`apply_batch`]).
// The consumer, what it applies to and the two ways it stops: no bundle would read better.
#[allow(clippy::too_many_arguments)]
async fn consume<P: Projection>(
    projection: &P,
    models: &ReadModels,
    consumer: &Arc<Closing>,
    max_batch: usize,
    dead_letters: &DeadLetters,
    signs: &Signs,
    stalled: &CancellationToken,
    shutdown: &CancellationToken,
) -> Result<Ended, ProjectionError> {
    let mut lag_reported = Instant::now() - LAG_EVERY;
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(Ended::Shutdown),
            () = stalled.cancelled() => return Ok(Ended::Stalled),
            received = consumer.recv() => received,
        };
        match received {
            Ok(message) => batch.push(Received::from_kafka(&message)),
            Err(err) => {
                tracing::warn!(error = %err, "projection consumer receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        // What librdkafka already fetched joins the batch; nothing here waits for the broker.
        while batch.len() < max_batch {
            match consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(Received::from_kafka(&message)),
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "projection consumer receive failed");
                    break;
                }
                None => break,
            }
        }
        signs.note_received(&batch);
        let ended = apply_batch(projection, models, dead_letters, &batch, shutdown).await?;
        // After a rebalance took the partition away an offset cannot be stored: the read
        // model's checkpoint covers it, the next owner skips the message.
        for received in &batch[..ended.applied] {
            let message = &received.message;
            if let Err(err) =
                consumer.store_offset(&message.topic, message.partition, message.offset)
            {
                tracing::debug!(error = %err, "offset not stored");
            }
        }
        if let Some(last) = batch[..ended.applied].last() {
            if lag_reported.elapsed() >= LAG_EVERY {
                lag_reported = Instant::now();
                report_lag(consumer, projection.name(), &last.message);
            }
        }
        batch.clear();
        if ended.shutdown {
            return Ok(Ended::Shutdown);
        }
    }
}

/// How far [`apply_batch`] got.
struct BatchEnd {
    /// The first this many messages of the batch are applied (or skipped, or dead-lettered).
    applied: usize,
    /// Shutdown came while a message was being retried.
    shutdown: bool,
}

/// Applies `batch` in as few transactions as it can: all of it in one ([`try_batch`]); when a
/// message in it is poison, the messages before it in one transaction and the poison one alone
/// (dead-lettered); when a transaction fails, the first message alone with retries
/// ([`apply_alone`]) and the rest as a batch again.
async fn apply_batch<P: Projection>(
    projection: &P,
    models: &ReadModels,
    dead_letters: &DeadLetters,
    batch: &[Received],
    shutdown: &CancellationToken,
) -> Result<BatchEnd, ProjectionError> {
    let mut done = 0;
    let mut limit = batch.len();
    while done < batch.len() {
        let rest = &batch[done..limit];
        if rest.len() > 1 {
            match try_batch(projection, models, rest).await {
                Ok(Tried::Committed { applied }) => {
                    if applied > 0 {
                        report_committed(projection.name(), applied, &rest[0]);
                    }
                    done = limit;
                    limit = batch.len();
                    continue;
                }
                Ok(Tried::PoisonAt(at)) if at > 0 => {
                    projection.rolled_back();
                    limit = done + at;
                    continue;
                }
                Ok(Tried::PoisonAt(_)) => projection.rolled_back(),
                Err(err) => {
                    projection.rolled_back();
                    tracing::debug!(projection = projection.name(), error = %err, "batch failed, applying its first message alone");
                }
            }
        }
        if !apply_alone(projection, models, dead_letters, &batch[done], shutdown).await? {
            return Ok(BatchEnd {
                applied: done,
                shutdown: true,
            });
        }
        done += 1;
        limit = batch.len();
    }
    Ok(BatchEnd {
        applied: done,
        shutdown: false,
    })
}

/// Reports a committed transaction of `applied` messages, the oldest of them `oldest`: the
/// metric (with the time since the broker recorded it) and the projection's status.
fn report_committed(projection: &str, applied: u64, oldest: &Received) {
    emit(ProjectionCommitted {
        projection,
        applied,
        latency: oldest.recorded_ms.and_then(crate::since_epoch_ms),
    });
    crate::status::consumed(projection, applied);
}

/// Applies one message in its own transaction, retrying with backoff until it is applied,
/// skipped or dead-lettered; false when shutdown came first.
async fn apply_alone<P: Projection>(
    projection: &P,
    models: &ReadModels,
    dead_letters: &DeadLetters,
    received: &Received,
    shutdown: &CancellationToken,
) -> Result<bool, ProjectionError> {
    let message = &received.message;
    let span = crate::apply_span(projection.name(), message);
    let mut backoff = Duration::from_millis(50);
    loop {
        let result = apply_one(projection, models, message)
            .instrument(span.clone())
            .await;
        let failure = match result {
            Ok(Outcome::Applied) => {
                report_committed(projection.name(), 1, received);
                return Ok(true);
            }
            Ok(Outcome::Skipped) => return Ok(true),
            Ok(Outcome::Poison(reason)) => match dead_letters.send(message, &reason).await {
                Ok(()) => return Ok(true),
                Err(err) => err.to_string(),
            },
            Err(err) => err.to_string(),
        };
        tracing::warn!(projection = projection.name(), error = %failure, "projection apply failed, retrying");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(false),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// How often a consumer reports its lag (a watermark request to the broker).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Reports how far the partition of `message` is behind its high watermark, from a blocking
/// task (the watermark request waits for the broker).
fn report_lag(consumer: &Arc<Closing>, projection: &str, message: &Message) {
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

/// A partition whose messages wait, as the watchdog saw it at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiting {
    /// Messages waiting: the high watermark minus the read model's checkpoint.
    behind: u64,
    /// How far the partition got: the read model's checkpoint (any instance's progress) or,
    /// when further, the offset after the last message this consumer received.
    reached: i64,
}

/// What the watchdog saw at one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Seen {
    /// The partitions whose messages wait.
    waiting: BTreeMap<Partition, Waiting>,
    /// This consumer's rebalances so far.
    rebalances: u64,
}

impl Seen {
    fn behind(&self) -> u64 {
        self.waiting.values().map(|w| w.behind).sum()
    }
}

/// The watchdog's verdict on a sequence of checks, partition by partition: a partition whose
/// messages wait while it does not move is idle, even while others move (a partition no member
/// of the group consumes, which tansu leaves behind after a member it lost, while this
/// consumer's own partitions go on).
#[derive(Debug)]
struct Progress {
    last: Option<Seen>,
    /// Since when each waiting partition has not moved.
    since: BTreeMap<Partition, Instant>,
    /// Where idle time of the first check counts from (after the join grace).
    start: Instant,
}

impl Progress {
    fn new(start: Instant) -> Self {
        Self {
            last: None,
            since: BTreeMap::new(),
            start,
        }
    }

    /// Notes `seen` at `now`; returns the longest time a partition did not move while its
    /// messages waited, unless nothing waits or every waiting partition moved.
    fn note(&mut self, seen: Seen, now: Instant) -> Option<Duration> {
        // A rebalance restarts every partition's count (its owner may have changed).
        let rebalanced = self
            .last
            .as_ref()
            .is_some_and(|last| last.rebalances != seen.rebalances);
        let mut since = BTreeMap::new();
        for (partition, waiting) in &seen.waiting {
            let from = match &self.last {
                // The first check has nothing to compare with: idle time counts from the start.
                None => self.start,
                Some(last) => match last.waiting.get(partition) {
                    Some(before) if before.reached == waiting.reached && !rebalanced => {
                        self.since.get(partition).copied().unwrap_or(now)
                    }
                    // Moved, or waiting since this check.
                    _ => now,
                },
            };
            since.insert(partition.clone(), from);
        }
        self.since = since;
        self.last = Some(seen);
        if self.since.values().all(|from| *from == now) {
            return None;
        }
        self.since
            .values()
            .map(|from| now.saturating_duration_since(*from))
            .max()
    }

    /// The partitions idle for `at_least`, as `topic/partition`.
    fn idle(&self, now: Instant, at_least: Duration) -> Vec<String> {
        self.since
            .iter()
            .filter(|(_, from)| now.saturating_duration_since(**from) >= at_least)
            .map(|((topic, partition), _)| format!("{topic}/{partition}"))
            .collect()
    }
}

/// The progress watchdog of one consumer.
struct Watchdog {
    projection: String,
    topics: Vec<String>,
    models: ReadModels,
    consumer: Arc<Closing>,
    /// Messages the consumer received and its rebalances.
    signs: Arc<Signs>,
    stall_timeout: Duration,
    /// Time a new consumer gets to join its group before idle time counts (tansu completes a
    /// join after about a session timeout).
    join_grace: Duration,
    /// The consumer replaces a stalled one, whose report stands until progress is seen.
    after_stall: bool,
}

impl Watchdog {
    /// Checks the consumer's progress every few seconds until aborted; cancels `stalled` when
    /// it made none for the stall timeout while messages waited. Keeps the projection's status.
    async fn run(self, stalled: CancellationToken) {
        let Self {
            projection,
            topics,
            models,
            consumer,
            signs,
            stall_timeout,
            join_grace,
            mut after_stall,
        } = self;
        let every = (stall_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let mut progress = Progress::new(Instant::now() + join_grace);
        let mut failed_checks = 0u32;
        loop {
            tokio::time::sleep(every).await;
            let seen = match backlog(&projection, &topics, &models, &consumer, &signs).await {
                Ok(seen) => seen,
                Err(why) => {
                    // One slow answer is no outage: report from the second failed check on.
                    failed_checks += 1;
                    if failed_checks >= 2 {
                        crate::status::consumer_checked(&projection, None, Some(why));
                    }
                    continue;
                }
            };
            failed_checks = 0;
            let behind = seen.behind();
            let now = Instant::now();
            match progress.note(seen, now) {
                Some(idle) if idle >= stall_timeout => {
                    let assigned = consumer.assignment().map_or(0, |a| a.count());
                    let reason = format!(
                        "no progress for {}s on {} while {behind} messages wait (partitions assigned to this consumer: {assigned}); consumer re-created",
                        idle.as_secs(),
                        progress.idle(now, stall_timeout).join(", "),
                    );
                    emit(ProjectionStalled {
                        projection: &projection,
                        behind,
                        reason: &reason,
                    });
                    crate::status::consumer_checked(&projection, Some(behind), Some(reason));
                    stalled.cancel();
                    return;
                }
                // Idle within the stall timeout: healthy, except that a stall reported by the
                // consumer this one replaced stays reported until progress is seen.
                Some(_) if after_stall => {}
                Some(_) => crate::status::consumer_checked(&projection, Some(behind), None),
                None => {
                    after_stall = false;
                    crate::status::consumer_checked(&projection, Some(behind), None);
                }
            }
        }
    }
}

/// Reads the topics' watermarks (from a blocking task) and the read model's checkpoints, and
/// returns the partitions whose messages wait. The error names what did not answer.
async fn backlog(
    projection: &str,
    topics: &[String],
    models: &ReadModels,
    consumer: &Arc<Closing>,
    signs: &Signs,
) -> Result<Seen, String> {
    let checkpoints: Vec<(String, i32, i64)> = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_as(
            "SELECT topic, partition_id, next_offset FROM mom_projection_offsets \
             WHERE projection = $1",
        )
        .bind(projection)
        .fetch_all(models.pool()),
    )
    .await
    .map_err(|_| "read-model database did not answer within 3s".to_owned())?
    .map_err(|err| format!("read-model database: {err}"))?;
    let checkpoints: BTreeMap<Partition, i64> = checkpoints
        .into_iter()
        .map(|(topic, partition, next)| ((topic, partition), next))
        .collect();
    let (consumer, topics) = (consumer.clone(), topics.to_vec());
    let watermarks = tokio::task::spawn_blocking(move || watermarks(&consumer, &topics))
        .await
        .map_err(|err| format!("watchdog task: {err}"))?
        .map_err(|err| format!("broker: {err}"))?;
    // Read after the watermarks: at least as recent as they are.
    let received = signs.received();
    let mut seen = Seen {
        waiting: BTreeMap::new(),
        rebalances: signs.rebalances.load(Ordering::Relaxed),
    };
    for (partition, (low, high)) in watermarks {
        let next = checkpoints.get(&partition).copied().unwrap_or(low).max(low);
        let behind = u64::try_from(high - next).unwrap_or(0);
        if behind > 0 {
            let reached = received.get(&partition).copied().unwrap_or(next).max(next);
            seen.waiting.insert(partition, Waiting { behind, reached });
        }
    }
    Ok(seen)
}

/// The low and high watermark of each partition.
type Watermarks = BTreeMap<Partition, (i64, i64)>;

/// How long one check waits for the database or the broker.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The topics of `metadata` that are among `topics` and exist (the broker answered them without
/// an error).
fn present<'a>(
    metadata: &'a rdkafka::metadata::Metadata,
    topics: &'a [String],
) -> impl Iterator<Item = &'a rdkafka::metadata::MetadataTopic> {
    metadata
        .topics()
        .iter()
        .filter(move |found| found.error().is_none() && topics.iter().any(|t| t == found.name()))
}

/// Returns the low and high watermark of every partition of `topics` (a topic that does not
/// exist yet has none).
fn watermarks(consumer: &Kafka, topics: &[String]) -> Result<Watermarks, KafkaError> {
    let metadata = consumer.fetch_metadata(None, CHECK_TIMEOUT)?;
    let mut all = BTreeMap::new();
    for found in present(&metadata, topics) {
        for partition in found.partitions() {
            let marks = consumer.fetch_watermarks(found.name(), partition.id(), CHECK_TIMEOUT)?;
            all.insert((found.name().to_owned(), partition.id()), marks);
        }
    }
    Ok(all)
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
    let next = stored_offset(&mut tx, projection.name(), message).await?;
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
    store_next_offset(
        &mut tx,
        projection.name(),
        &message.topic,
        message.partition,
        message.offset + 1,
    )
    .await?;
    tx.commit().await?;
    projection.committed();
    Ok(outcome)
}

/// How [`try_batch`] ended.
enum Tried {
    /// The batch committed; this many messages were applied (the rest were redeliveries).
    Committed { applied: u64 },
    /// The message at this index of the batch is poison; nothing was committed.
    PoisonAt(usize),
}

/// Applies `batch` in one transaction that also stores each partition's next offset, skipping
/// the messages below a partition's stored offset (redeliveries); stops at the first poison
/// message and commits nothing then.
async fn try_batch<P: Projection>(
    projection: &P,
    models: &ReadModels,
    batch: &[Received],
) -> Result<Tried, ProjectionError> {
    let mut tx = models.pool().begin().await?;
    // Each partition's next offset: as stored, then as this batch moves it.
    let mut next: BTreeMap<(&str, i32), (Option<i64>, bool)> = BTreeMap::new();
    let mut applied = 0u64;
    for (index, received) in batch.iter().enumerate() {
        let message = &received.message;
        let key = (message.topic.as_str(), message.partition);
        let stored = match next.get(&key) {
            Some((stored, _)) => *stored,
            None => {
                let stored = stored_offset(&mut tx, projection.name(), message).await?;
                next.insert(key, (stored, false));
                stored
            }
        };
        if stored.is_some_and(|next| message.offset < next) {
            continue;
        }
        let result = projection
            .apply(&mut tx, message)
            .instrument(crate::apply_span(projection.name(), message))
            .await;
        match result {
            Ok(()) => applied += 1,
            // Dropping the transaction rolls back whatever the batch wrote.
            Err(ApplyError::Poison(_)) => return Ok(Tried::PoisonAt(index)),
            Err(ApplyError::Database(err)) => return Err(err.into()),
            Err(ApplyError::Transient(reason)) => return Err(ProjectionError::Transient(reason)),
        }
        next.insert(key, (Some(message.offset + 1), true));
    }
    if applied == 0 {
        return Ok(Tried::Committed { applied });
    }
    projection.flush(&mut tx).await?;
    for ((topic, partition), (offset, moved)) in &next {
        if let (Some(offset), true) = (offset, moved) {
            store_next_offset(&mut tx, projection.name(), topic, *partition, *offset).await?;
        }
    }
    tx.commit().await?;
    projection.committed();
    Ok(Tried::Committed { applied })
}

/// The next offset stored for the partition of `message`.
async fn stored_offset(
    connection: &mut crate::Connection,
    projection: &str,
    message: &Message,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT next_offset FROM mom_projection_offsets \
         WHERE projection = $1 AND topic = $2 AND partition_id = $3",
    )
    .bind(projection)
    .bind(&message.topic)
    .bind(message.partition)
    .fetch_optional(connection)
    .await
}

/// Stores `next` as the next offset of `topic`/`partition`.
async fn store_next_offset(
    connection: &mut crate::Connection,
    projection: &str,
    topic: &str,
    partition: i32,
    next: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mom_projection_offsets (projection, topic, partition_id, next_offset) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (projection, topic, partition_id) \
         DO UPDATE SET next_offset = excluded.next_offset",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(next)
    .execute(connection)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a check saw: `(partition, behind, reached)` for each waiting partition of topic `t`.
    fn seen(waiting: &[(i32, u64, i64)], rebalances: u64) -> Seen {
        Seen {
            waiting: waiting
                .iter()
                .map(|&(partition, behind, reached)| {
                    (("t".to_owned(), partition), Waiting { behind, reached })
                })
                .collect(),
            rebalances,
        }
    }

    #[test]
    fn the_watchdog_counts_idle_time_only_while_messages_wait_and_nothing_moves() {
        let start = Instant::now();
        let mut progress = Progress::new(start);
        let at = |s: u64| start + Duration::from_secs(s);
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(
            progress.note(seen(&[(0, 5, 10)], 1), at(1)),
            secs(1),
            "idle since the start"
        );
        assert_eq!(progress.note(seen(&[(0, 9, 10)], 1), at(3)), secs(3));
        assert_eq!(progress.note(seen(&[(0, 9, 10)], 1), at(6)), secs(6));
        assert_eq!(
            progress.note(seen(&[(0, 9, 11)], 1), at(7)),
            None,
            "checkpoint (or what this consumer received) moved"
        );
        assert_eq!(progress.note(seen(&[(0, 9, 11)], 1), at(8)), secs(1));
        assert_eq!(
            progress.note(seen(&[(0, 9, 11)], 2), at(9)),
            None,
            "rebalanced"
        );
        assert_eq!(progress.note(seen(&[], 2), at(20)), None, "nothing waits");
        assert_eq!(progress.note(seen(&[(0, 1, 11)], 2), at(22)), None);
        assert_eq!(progress.note(seen(&[(0, 1, 11)], 2), at(24)), secs(2));
        let mut joining = Progress::new(at(10));
        assert_eq!(
            joining.note(seen(&[(0, 5, 0)], 0), at(4)),
            Some(Duration::ZERO),
            "a new consumer's join grace does not count"
        );
    }

    /// A partition nobody consumes (tansu left it behind after a member it lost) is idle while
    /// this consumer's own partitions move: before, the sum of all checkpoints moved and the
    /// watchdog never saw it.
    #[test]
    fn a_partition_that_does_not_move_is_idle_while_the_others_move() {
        let start = Instant::now();
        let mut progress = Progress::new(start);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(
            progress.note(seen(&[(0, 3, 100), (1, 7, 40)], 0), at(1)),
            Some(Duration::from_secs(1))
        );
        for (check, reached) in (2..=16).zip(101..) {
            let idle = progress.note(seen(&[(0, 3, reached), (1, 7, 40)], 0), at(check));
            assert_eq!(idle, Some(Duration::from_secs(check)), "check {check}");
        }
        assert_eq!(
            progress.idle(at(16), Duration::from_secs(15)),
            vec!["t/1".to_owned()]
        );
        // Its messages consumed at last: nothing idle any more.
        assert_eq!(
            progress.note(seen(&[(0, 3, 200)], 0), at(17)),
            None,
            "partition 1 caught up, partition 0 moved"
        );
        assert!(progress.idle(at(17), Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn a_received_message_counts_once_per_partition_as_its_next_offset() {
        let signs = Signs::default();
        let received = |topic: &str, partition, offset| Received {
            message: Message {
                partition,
                offset,
                ..Message::new(topic, None, vec![])
            },
            recorded_ms: None,
        };
        signs.note_received(&[
            received("a", 0, 4),
            received("a", 0, 2),
            received("b", 1, 9),
        ]);
        signs.note_received(&[received("a", 0, 3)]);
        let by_partition = signs.received();
        assert_eq!(by_partition[&("a".to_owned(), 0)], 5);
        assert_eq!(by_partition[&("b".to_owned(), 1)], 10);
    }
}
