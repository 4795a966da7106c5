//! The runner against real components: event stores and read models on Postgres and SQLite, and
//! a real Kafka-protocol broker.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use mom_eventstore::{
    CommandMetadata, EncodeError, EventStore, OutboxEncoder, OutboxMessage, PendingEvent,
    SqlEventRepository, StoreOptions,
};
use mom_projection::{
    rebuild, run_from_kafka, run_from_log, ApplyError, Connection, KafkaSource, LogSource, Message,
    Projection, ReadModels,
};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "mom.test.v1";
const OTHER_TOPIC: &str = "mom.other.v1";

struct Encoder;

impl OutboxEncoder for Encoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        // Keys starting with "other" go to a topic the test projection does not read.
        let topic = if event.aggregate_id.starts_with("other") {
            OTHER_TOPIC
        } else {
            TOPIC
        };
        Ok(OutboxMessage {
            topic: topic.to_owned(),
            key: event.aggregate_id.to_owned(),
            payload: event.payload["text"]
                .as_str()
                .unwrap_or("")
                .as_bytes()
                .to_vec(),
            headers: mom_bus::envelope::CloudEvent {
                id: event.event_id,
                event_type: "mom.test.v1.Noted",
                source: "mom/test",
                time: event.event_time,
                subject: event.aggregate_id,
                proto_message: "mom.test.v1.TestEvent",
                traceparent: "",
            }
            .headers(),
        })
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Note;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Noted;

impl cqrs_es::DomainEvent for Noted {
    fn event_type(&self) -> String {
        "Noted".to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl cqrs_es::Aggregate for Note {
    const TYPE: &'static str = "note";
    type Command = ();
    type Event = Noted;
    type Error = Never;
    type Services = ();
    async fn handle(
        &mut self,
        _: (),
        _: &(),
        _: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Never> {
        Ok(())
    }
    fn apply(&mut self, _: Noted) {}
}

/// Counts messages per key and keeps the last payload; "poison" payloads are poison; it fails
/// once, with a database error, on the message numbered `fail_at` (if any).
struct Counts {
    /// The projection's name (its status is kept under it, process-wide).
    name: &'static str,
    topics: Vec<String>,
    seen: AtomicUsize,
    fail_at: Option<usize>,
    /// Transactions committed.
    commits: AtomicUsize,
}

impl Counts {
    fn new(fail_at: Option<usize>) -> Self {
        Self {
            name: "test_counts",
            topics: vec![TOPIC.to_owned()],
            seen: AtomicUsize::new(0),
            fail_at,
            commits: AtomicUsize::new(0),
        }
    }
}

impl Projection for Counts {
    fn name(&self) -> &str {
        self.name
    }
    fn topics(&self) -> &[String] {
        &self.topics
    }
    fn schema(&self) -> &[&str] {
        &["CREATE TABLE IF NOT EXISTS test_counts (key TEXT PRIMARY KEY, events BIGINT NOT NULL, last_payload TEXT NOT NULL)"]
    }
    fn tables(&self) -> &[&str] {
        &["test_counts"]
    }
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at == Some(n) {
            return Err(ApplyError::Database(sqlx::Error::Protocol(
                "injected failure".into(),
            )));
        }
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        if payload == "poison" {
            return Err(ApplyError::Poison("payload is poison".into()));
        }
        sqlx::query(
            "INSERT INTO test_counts (key, events, last_payload) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET events = test_counts.events + 1, last_payload = excluded.last_payload",
        )
        .bind(message.key.clone().unwrap_or_default())
        .bind(payload)
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// Sends one message straight onto the topic (not through a store and the relay), with a valid
/// event id.
async fn produce(servers: &str, key: &str, payload: &str) {
    let producer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap();
    send(&producer, None, key, payload).await;
}

/// Sends one message with a valid event id onto the topic with `producer`, to `partition` (else
/// to the key's).
async fn send(
    producer: &rdkafka::producer::FutureProducer,
    partition: Option<i32>,
    key: &str,
    payload: &str,
) {
    let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "ce_id",
        value: Some(uuid::Uuid::now_v7().to_string().as_bytes()),
    });
    let mut record = rdkafka::producer::FutureRecord::to(TOPIC)
        .key(key)
        .payload(payload)
        .headers(headers);
    record.partition = partition;
    producer
        .send(record, Duration::from_secs(30))
        .await
        .unwrap();
}

/// Event `sequence` of the note `key`.
fn note(key: &str, sequence: usize) -> SerializedEvent {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let metadata = serde_json::to_value(CommandMetadata::new("tester", at).to_map()).unwrap();
    SerializedEvent::new(
        key.to_owned(),
        sequence,
        "note".to_owned(),
        "Noted".to_owned(),
        "1".to_owned(),
        serde_json::json!({"text": format!("{key}#{sequence}")}),
        metadata,
    )
}

/// Writes events `from` to `to` of `key`, one append each.
async fn write(repo: &SqlEventRepository, key: &str, from: usize, to: usize) {
    for sequence in from..=to {
        repo.persist::<Note>(&[note(key, sequence)], None)
            .await
            .unwrap();
    }
}

/// Writes events 1 to `count` of `key` in one append.
async fn write_at_once(repo: &SqlEventRepository, key: &str, count: usize) {
    let events: Vec<SerializedEvent> = (1..=count).map(|sequence| note(key, sequence)).collect();
    repo.persist::<Note>(&events, None).await.unwrap();
}

async fn rows(models: &ReadModels) -> Vec<(String, i64, String)> {
    sqlx::query_as("SELECT key, events, last_payload FROM test_counts ORDER BY key")
        .fetch_all(models.pool())
        .await
        .unwrap()
}

async fn total(models: &ReadModels) -> i64 {
    rows(models).await.iter().map(|(_, n, _)| n).sum()
}

async fn wait_for_total(models: &ReadModels, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = total(models).await;
        if got == expected {
            return;
        }
        assert!(
            got < expected,
            "applied {got} > {expected}: something was applied twice"
        );
        assert!(
            Instant::now() < deadline,
            "only {got} of {expected} applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the log source until the read model holds `expected` events, then stops it.
async fn run_log_until(
    projection: &Counts,
    models: &ReadModels,
    sources: &[LogSource],
    expected: i64,
) {
    models.migrate(projection).await.unwrap();
    let shutdown = CancellationToken::new();
    let run = run_from_log(projection, models, sources, shutdown.clone());
    let wait = async {
        wait_for_total(models, expected).await;
        shutdown.cancel();
    };
    let (result, ()) = tokio::join!(run, wait);
    result.unwrap();
}

async fn log_source_applies_each_event_once_across_restarts(store_url: String, models_url: String) {
    let store = EventStore::connect(&store_url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(Encoder));
    let models = ReadModels::connect(&models_url).await.unwrap();
    let sources = [LogSource {
        name: "test".into(),
        store: store.clone(),
    }];
    write(&repo, "a", 1, 30).await;
    write(&repo, "b", 1, 20).await;
    let projection = Counts::new(None);
    run_log_until(&projection, &models, &sources, 50).await;
    // A restart resumes from the stored position: only the new events are applied.
    write(&repo, "a", 31, 40).await;
    run_log_until(&projection, &models, &sources, 60).await;
    assert_eq!(
        rows(&models).await,
        vec![
            ("a".into(), 40, "a#40".into()),
            ("b".into(), 20, "b#20".into())
        ]
    );
    assert_eq!(
        models.log_position("test_counts", "test").await.unwrap(),
        60
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_source_on_sqlite_applies_each_event_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    log_source_applies_each_event_once_across_restarts(
        format!("sqlite:{}", dir.path().join("events.db").display()),
        format!("sqlite:{}", dir.path().join("models.db").display()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_source_on_postgres_applies_each_event_once_across_restarts() {
    let events = mom_testkit::TestDatabase::create().await.unwrap();
    let models = mom_testkit::TestDatabase::create().await.unwrap();
    log_source_applies_each_event_once_across_restarts(events.url.clone(), models.url.clone())
        .await;
    events.drop_database().await.unwrap();
    models.drop_database().await.unwrap();
}

/// An event store, its repository and a read-model database, on SQLite files in `dir`.
async fn sqlite_store_and_models(
    dir: &std::path::Path,
) -> (EventStore, SqlEventRepository, ReadModels) {
    let store_url = format!("sqlite:{}", dir.join("events.db").display());
    let store = EventStore::connect(&store_url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(Encoder));
    let models = ReadModels::connect(&format!("sqlite:{}", dir.join("models.db").display()))
        .await
        .unwrap();
    (store, repo, models)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_page_is_rolled_back_with_its_checkpoint_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repo, models) = sqlite_store_and_models(dir.path()).await;
    write(&repo, "a", 1, 40).await;
    // The 25th apply fails: the whole page (and its checkpoint) rolls back and is retried.
    let projection = Counts::new(Some(25));
    run_log_until(
        &projection,
        &models,
        &[LogSource {
            name: "test".into(),
            store: store.clone(),
        }],
        40,
    )
    .await;
    assert_eq!(rows(&models).await, vec![("a".into(), 40, "a#40".into())]);
    assert!(
        projection.seen.load(Ordering::SeqCst) > 40,
        "the failure really happened"
    );
    store.close().await;
}

async fn rebuild_gives_identical_tables_and_reports_progress(
    store_url: String,
    models_url: String,
) {
    let store = EventStore::connect(&store_url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(Encoder));
    let models = ReadModels::connect(&models_url).await.unwrap();
    for key in ["a", "b", "c"] {
        write(&repo, key, 1, 700).await;
        // Entries of a topic the projection does not read, between its own and after the last.
        write(&repo, &format!("other-{key}"), 1, 300).await;
    }
    write(&repo, "p", 1, 1).await;
    // Many of a rebuild's read windows (1 000 positions) of the other topic, then five of
    // its own: a window without any of its entries does not end the read.
    write_at_once(&repo, "other-bulk", 22_000).await;
    write(&repo, "q", 1, 5).await;
    write(&repo, "other-tail", 1, 50).await;
    let head = 3 * 1000 + 1 + 22_000 + 5 + 50;
    let sources = [LogSource {
        name: "test".into(),
        store: store.clone(),
    }];
    let projection = Counts::new(None);
    run_log_until(&projection, &models, &sources, 2106).await;
    let live = rows(&models).await;
    projection.seen.store(0, Ordering::SeqCst);
    let mut reports = Vec::new();
    let read = rebuild(&projection, &models, &sources, |p| reports.push(p))
        .await
        .unwrap();
    assert_eq!(read, head, "a rebuild covers the whole log");
    assert_eq!(
        projection.seen.load(Ordering::SeqCst),
        2106,
        "only the projection's topic is handed over"
    );
    assert_eq!(rows(&models).await, live, "a rebuild gives the same table");
    assert_eq!(reports.last().unwrap().done, head);
    assert_eq!(reports.last().unwrap().total, head);
    // Progress comes once per transaction (up to 10 000 entries, whatever was read ahead).
    assert!(
        reports.windows(2).all(|w| w[0].done < w[1].done),
        "progress grows with every transaction: {reports:?}"
    );
    // The checkpoint is at the head, past the other topic's tail: the live run goes on from
    // there with only the new events.
    assert_eq!(
        models.log_position("test_counts", "test").await.unwrap(),
        head
    );
    write(&repo, "a", 701, 710).await;
    run_log_until(&projection, &models, &sources, 2116).await;
    assert_eq!(rows(&models).await[0], ("a".into(), 710, "a#710".into()));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_on_postgres_gives_identical_tables_and_reports_progress() {
    let events = mom_testkit::TestDatabase::create().await.unwrap();
    let models = mom_testkit::TestDatabase::create().await.unwrap();
    rebuild_gives_identical_tables_and_reports_progress(events.url.clone(), models.url.clone())
        .await;
    events.drop_database().await.unwrap();
    models.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_on_sqlite_gives_identical_tables_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    rebuild_gives_identical_tables_and_reports_progress(
        format!("sqlite:{}", dir.path().join("events.db").display()),
        format!("sqlite:{}", dir.path().join("models.db").display()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_source_is_exactly_once_under_redelivery_and_dead_letters_poison() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let events = mom_testkit::TestDatabase::create().await.unwrap();
    let models_db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&events.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(Encoder));
    let relay = mom_bus::Relay::start(
        store.clone(),
        mom_bus::RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]),
    )
    .await
    .unwrap();
    write(&repo, "a", 1, 30).await;
    while relay.publish_once().await.unwrap() > 0 {}
    // One poison message straight onto the topic, with a valid event id, between the two
    // notes: the runner applies the backlog in batches and must still dead-letter it alone.
    produce(&broker.bootstrap_servers(), "z", "poison").await;
    write(&repo, "b", 1, 20).await;
    while relay.publish_once().await.unwrap() > 0 {}

    let models = ReadModels::connect(&models_db.url).await.unwrap();
    let projection = Counts::new(None);
    for group in ["first-group", "second-group"] {
        // The second group starts from the earliest offset again: every message is redelivered
        // and the stored offsets make the runner skip them.
        let source = KafkaSource {
            bootstrap_servers: broker.bootstrap_servers(),
            group_id: Some(group.to_owned()),
        };
        models.migrate(&projection).await.unwrap();
        let shutdown = CancellationToken::new();
        let run = run_from_kafka(&projection, &models, &source, shutdown.clone());
        let wait = async {
            wait_for_total(&models, 50).await;
            // Give redeliveries time to arrive and (wrongly) be applied, if they would be.
            tokio::time::sleep(Duration::from_secs(3)).await;
            shutdown.cancel();
        };
        let (result, ()) = tokio::join!(run, wait);
        result.unwrap();
        assert_eq!(
            rows(&models).await,
            vec![
                ("a".into(), 30, "a#30".into()),
                ("b".into(), 20, "b#20".into())
            ],
            "after {group}"
        );
        if group == "first-group" {
            // The backlog was waiting when the consumer started: it is applied in batches, not
            // in a transaction per message (the poison one is dead-lettered in its own).
            let commits = projection.commits.load(Ordering::SeqCst);
            assert!(
                commits < 50,
                "50 messages applied in {commits} transactions"
            );
        }
    }
    let dlq: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "dlq-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    rdkafka::consumer::Consumer::subscribe(&dlq, &[&mom_bus::dlq_topic(TOPIC)]).unwrap();
    let dead = tokio::time::timeout(Duration::from_secs(30), dlq.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rdkafka::Message::payload(&dead), Some(&b"poison"[..]));
    store.close().await;
    events.drop_database().await.unwrap();
    models_db.drop_database().await.unwrap();
}

/// A runner stopped while its log holds entries it has not read applies them before it
/// returns: a clean stop leaves the read model caught up with the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_log_runner_applies_what_the_log_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repo, models) = sqlite_store_and_models(dir.path()).await;
    // More than two pages of 1 000 entries, written before the runner starts.
    write_at_once(&repo, "a", 2_500).await;
    let projection = Counts::new(None);
    let sources = [LogSource {
        name: "test".into(),
        store: store.clone(),
    }];
    // Stopped before it starts: it still applies all of it, then returns.
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    run_from_log(&projection, &models, &sources, shutdown)
        .await
        .unwrap();
    assert_eq!(total(&models).await, 2_500);
    assert_eq!(
        models.log_position("test_counts", "test").await.unwrap(),
        2_500
    );
    store.close().await;
}

/// A consumer whose broker died lets go in bounded time: stopped, it gives up its last commit
/// and leaving the group after 10 s; left running while its runtime shuts down (a process
/// stopping), its close runs on a thread of its own. Before, rdkafka's close on drop waited
/// for ever for the group to be left, and the runtime never finished shutting down (seen in CI,
/// a test's runtime after its broker was killed).
#[test]
fn a_consumer_whose_broker_died_neither_holds_its_stop_nor_its_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    runtime.block_on(async {
        let mut broker = mom_testkit::Broker::start().await.unwrap();
        mom_bus::ensure_topics(&broker.bootstrap_servers(), &[TOPIC.to_owned()], 1, 1)
            .await
            .unwrap();
        produce(&broker.bootstrap_servers(), "k", "hello").await;
        // Two consumers in groups of their own, each in its group once it applied the message.
        let mut runs = Vec::new();
        for (group, stop) in [
            ("stopped-consumer", stop.clone()),
            ("left-running", CancellationToken::new()),
        ] {
            let url = format!("sqlite:{}", dir.path().join(group).display());
            let models = ReadModels::connect(&url).await.unwrap();
            models.migrate(&Counts::new(None)).await.unwrap();
            let source = KafkaSource {
                bootstrap_servers: broker.bootstrap_servers(),
                group_id: Some(group.to_owned()),
            };
            let run_models = models.clone();
            runs.push(tokio::spawn(async move {
                let projection = Counts::new(None);
                run_from_kafka(&projection, &run_models, &source, stop).await
            }));
            wait_for_total(&models, 1).await;
        }
        broker.kill().await.unwrap();
        stop.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(30), runs.remove(0)).await;
        assert!(
            stopped.is_ok(),
            "a consumer stopped after its broker died did not return within 30 s"
        );
        stopped.unwrap().unwrap().unwrap();
    });
    // The other consumer still runs: the runtime's shutdown cancels it.
    let (done, shut_down) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(runtime);
        let _ = done.send(());
    });
    assert!(
        shut_down.recv_timeout(Duration::from_secs(30)).is_ok(),
        "the runtime did not shut down within 30 s of its consumer's broker dying"
    );
}

/// Consumers stopped in the middle of joining their groups let the groups form again: stopped
/// from the moment they start to well after they joined (a service stopped right after it
/// started, eight groups joining at once as the process managers do), the next consumer of
/// each group still gets the partitions and applies what waits. Before, a consumer stopped
/// after tansu elected it the group's leader but before it sent the assignment left the group
/// with no leader for good (tansu 0.6 keeps a leader that left while the group forms): every
/// later member waited for ever (seen in CI, the SPC managers restarted through the broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_stopped_while_joining_leave_groups_the_next_ones_can_join() {
    const GROUPS: usize = 8;
    let broker = mom_testkit::Broker::start().await.unwrap();
    mom_bus::ensure_topics(&broker.bootstrap_servers(), &[TOPIC.to_owned()], 3, 1)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut groups = Vec::new();
    for group in 0..GROUPS {
        let url = format!(
            "sqlite:{}",
            dir.path().join(format!("{group}.db")).display()
        );
        let models = ReadModels::connect(&url).await.unwrap();
        models.migrate(&Counts::new(None)).await.unwrap();
        let source = KafkaSource {
            bootstrap_servers: broker.bootstrap_servers(),
            group_id: Some(format!("stopped-while-joining-{group}")),
        };
        groups.push((models, source));
    }
    let groups = Arc::new(groups);
    // Runs every group's consumer until `shutdown`.
    let run_all = |shutdown: CancellationToken| {
        let runs: Vec<_> = (0..GROUPS)
            .map(|group| {
                let (groups, shutdown) = (groups.clone(), shutdown.clone());
                tokio::spawn(async move {
                    let (models, source) = &groups[group];
                    run_from_kafka(&Counts::new(None), models, source, shutdown).await
                })
            })
            .collect();
        async move {
            for run in runs {
                run.await.unwrap().unwrap();
            }
        }
    };
    // Stopped 0, 20, 40, ... ms after they started: some of them in the middle of the join.
    for step in 0..20_u64 {
        let shutdown = CancellationToken::new();
        let runs = run_all(shutdown.clone());
        tokio::time::sleep(Duration::from_millis(step * 20)).await;
        shutdown.cancel();
        runs.await;
    }
    // The next consumers get the partitions well within a stall timeout (their watchdogs
    // cannot be what rescues them).
    produce(&broker.bootstrap_servers(), "joined", "after the stops").await;
    let shutdown = CancellationToken::new();
    let runs = run_all(shutdown.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    for (group, (models, _)) in groups.iter().enumerate() {
        while total(models).await < 1 {
            assert!(
                Instant::now() < deadline,
                "group {group}'s next consumer applied nothing within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(rows(models).await[0].0, "joined");
    }
    shutdown.cancel();
    runs.await;
}

/// A partition no member of the group consumes (its owner holds it without polling, as tansu
/// leaves one behind after a member it lost) is seen while the consumer's own partition goes
/// on: the projection reports itself stalled, naming that partition only, and re-creates its
/// consumer. Before, the watchdog watched the sum of all checkpoints, which the other partition
/// kept moving: the messages waited for ever with the projection reported healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_nobody_consumes_is_reported_while_the_other_moves() {
    const GROUP: &str = "one-member-stops-polling";
    let broker = mom_testkit::Broker::start().await.unwrap();
    let servers = broker.bootstrap_servers();
    mom_bus::ensure_topics(&servers, &[TOPIC.to_owned()], 2, 1)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("models.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let projection = Counts {
        name: "test_orphaned_partition",
        ..Counts::new(None)
    };
    let settings = mom_projection::ConsumerSettings {
        instance_id: None,
        stall_timeout: Duration::from_secs(3),
        session_timeout: Duration::from_secs(3),
        fetch_wait: Duration::from_millis(10),
        max_batch: 100,
    };
    let source = KafkaSource {
        bootstrap_servers: servers.clone(),
        group_id: Some(GROUP.to_owned()),
    };
    let shutdown = CancellationToken::new();
    let run = mom_projection::run_from_kafka_with(
        &projection,
        &models,
        &source,
        &settings,
        shutdown.clone(),
    );
    let watch = async {
        // A second member polls until the group split the two partitions, then never again.
        let holder: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("group.id", GROUP)
            .set("session.timeout.ms", "60000")
            .create()
            .unwrap();
        rdkafka::consumer::Consumer::subscribe(&holder, &[TOPIC]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let held = loop {
            let _ = holder.poll(Duration::from_millis(20));
            let assigned = rdkafka::consumer::Consumer::assignment(&holder).unwrap();
            if assigned.count() == 1 {
                break assigned.elements()[0].partition();
            }
            assert!(
                Instant::now() < deadline,
                "the group never split its partitions"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .create()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut sent = 0;
        let reason = loop {
            for partition in 0..2 {
                sent += 1;
                send(&producer, Some(partition), &format!("k{sent}"), "x").await;
            }
            let status = mom_projection::status::statuses()
                .remove(projection.name())
                .unwrap_or_default();
            if let Some(error) = status.error {
                break error;
            }
            assert!(
                Instant::now() < deadline,
                "no stall reported within 60 s ({} applied)",
                total(&models).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // The other partition went on meanwhile: the sum of the checkpoints moved.
        let applied = total(&models).await;
        shutdown.cancel();
        drop(holder);
        (held, reason, applied)
    };
    let (result, (held, reason, applied)) = tokio::join!(run, watch);
    result.unwrap();
    assert!(applied > 0, "the consumer's own partition applied nothing");
    let other = 1 - held;
    assert!(
        reason.contains(&format!("on {TOPIC}/{held} while")),
        "the reason names the held partition {held} only: {reason}"
    );
    assert!(!reason.contains(&format!("{TOPIC}/{other}")), "{reason}");
}
