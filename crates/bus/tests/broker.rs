//! The relay and the dead-letter topics against a real Kafka-protocol broker (tansu) and a real
//! Postgres.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use mom_bus::envelope::{header, CloudEvent, CE_ID, DLQ_ERROR, DLQ_ORIGIN};
use mom_bus::{BusMessage, DeadLetters, Relay, RelayConfig};
use mom_eventstore::{
    CommandMetadata, EncodeError, EventStore, OutboxEncoder, OutboxMessage, PendingEvent,
    SqlEventRepository, StoreOptions,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "mom.test.v1";

struct TestEncoder;

impl OutboxEncoder for TestEncoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        // The first event of an aggregate named "huge-..." is larger than the broker takes.
        let filler = if event.aggregate_id.starts_with("huge") && event.sequence == 1 {
            "x".repeat(1_500_000)
        } else {
            String::new()
        };
        Ok(OutboxMessage {
            topic: TOPIC.to_owned(),
            key: event.aggregate_id.to_owned(),
            payload: format!("{filler}{}#{}", event.aggregate_id, event.sequence).into_bytes(),
            headers: CloudEvent {
                id: event.event_id,
                event_type: "mom.test.v1.Incremented",
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

fn event(id: &str, sequence: usize) -> SerializedEvent {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    SerializedEvent::new(
        id.to_owned(),
        sequence,
        "counter".to_owned(),
        "Incremented".to_owned(),
        "1".to_owned(),
        serde_json::json!({"by": 1}),
        serde_json::to_value(CommandMetadata::new("tester", at).to_map()).unwrap(),
    )
}

/// Persists `per_key` events for each of `keys` aggregates, interleaved.
async fn write_events(repo: &SqlEventRepository, keys: usize, per_key: usize) {
    for seq in 1..=per_key {
        let batch: Vec<_> = (0..keys)
            .map(|k| {
                let repo = repo.clone();
                async move {
                    repo.persist::<Counter>(&[event(&format!("agg-{k}"), seq)], None)
                        .await
                        .unwrap()
                }
            })
            .collect();
        futures::future::join_all(batch).await;
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Counter;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Incremented;

impl cqrs_es::DomainEvent for Incremented {
    fn event_type(&self) -> String {
        "Incremented".to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl cqrs_es::Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = ();
    type Event = Incremented;
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
    fn apply(&mut self, _: Incremented) {}
}

fn raw_consumer(bootstrap: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("raw-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// Reads messages until `expected` distinct event ids were seen (or the deadline passes);
/// returns (event id, key, payload) in arrival order, duplicates included.
async fn read_until(
    consumer: &StreamConsumer,
    expected: usize,
    deadline: Duration,
) -> Vec<(String, String, String, Vec<(String, String)>)> {
    let until = Instant::now() + deadline;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while seen.len() < expected && Instant::now() < until {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        let headers: Vec<(String, String)> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let id = header(&headers, CE_ID).unwrap_or_default().to_owned();
        seen.insert(id.clone());
        out.push((
            id,
            String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
            headers,
        ));
    }
    out
}

async fn wait_for_empty_outbox(store: &EventStore, deadline: Duration) {
    let until = Instant::now() + deadline;
    loop {
        let backlog = store.outbox_backlog().await.unwrap();
        if backlog == 0 {
            return;
        }
        assert!(Instant::now() < until, "outbox still holds {backlog} rows");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_outbox_rows_with_cloudevents_headers() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    write_events(&repo, 3, 4).await;

    let relay = Relay::start(
        store.clone(),
        RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]),
    )
    .await
    .unwrap();
    let shutdown = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    wait_for_empty_outbox(&store, Duration::from_secs(60)).await;

    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, 12, Duration::from_secs(60)).await;
    let log = store.read_log(0, 100).await.unwrap();
    assert_eq!(messages.len(), 12);
    for entry in &log {
        let (_, key, payload, headers) = messages
            .iter()
            .find(|(id, ..)| *id == entry.event_id.to_string())
            .expect("every stored event is on the topic");
        assert_eq!(key, &entry.aggregate_id);
        assert_eq!(
            payload,
            &format!("{}#{}", entry.aggregate_id, entry.sequence)
        );
        assert_eq!(header(headers, "ce_type"), Some("mom.test.v1.Incremented"));
        assert_eq!(
            header(headers, "ce_subject"),
            Some(entry.aggregate_id.as_str())
        );
        assert_eq!(header(headers, "ce_specversion"), Some("1.0"));
    }
    shutdown.cancel();
    relay_task.await.unwrap().unwrap();
    store.close().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_while_relay_publishes_loses_nothing_and_keeps_key_order() {
    let mut broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    let (keys, per_key) = (10, 100);
    write_events(&repo, keys, per_key).await;

    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.batch_size = 50;
    let relay = Relay::start(store.clone(), config).await.unwrap();
    let stats = relay.stats();
    let shutdown = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));

    // Kill the broker once the relay is part-way through the outbox.
    let until = Instant::now() + Duration::from_secs(60);
    while stats.published.load(std::sync::atomic::Ordering::Relaxed) < 100 {
        assert!(Instant::now() < until, "relay published nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill().await.unwrap();
    let backlog_at_kill = store.outbox_backlog().await.unwrap();
    assert!(
        backlog_at_kill > 0,
        "the kill came too late to test anything"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.restart().await.unwrap();
    wait_for_empty_outbox(&store, Duration::from_secs(120)).await;

    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, keys * per_key, Duration::from_secs(120)).await;
    // De-duplicate by event id, as consumers do, then check every event arrived exactly once and
    // in sequence order per key.
    let mut seen = HashSet::new();
    let mut per_key_order: HashMap<String, Vec<u64>> = HashMap::new();
    for (id, key, payload, _) in &messages {
        if seen.insert(id.clone()) {
            let seq: u64 = payload.rsplit('#').next().unwrap().parse().unwrap();
            per_key_order.entry(key.clone()).or_default().push(seq);
        }
    }
    assert_eq!(seen.len(), keys * per_key, "every event arrived");
    for (key, seqs) in &per_key_order {
        assert_eq!(
            seqs,
            &(1..=per_key as u64).collect::<Vec<_>>(),
            "order of {key}"
        );
    }
    shutdown.cancel();
    relay_task.await.unwrap().unwrap();
    store.close().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_store_share_the_outbox_and_keep_key_order() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    let (keys, per_key) = (16, 60);
    write_events(&repo, keys, per_key).await;

    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.batch_size = 40;
    let first = Relay::start(store.clone(), config.clone()).await.unwrap();
    let second = Relay::start(store.clone(), config).await.unwrap();
    let (first_stats, second_stats) = (first.stats(), second.stats());
    // One round each first, so both surely take part (a fast relay could otherwise drain the
    // whole outbox before the other's first claim); then both run concurrently on the rest.
    assert!(first.publish_once().await.unwrap() > 0);
    assert!(second.publish_once().await.unwrap() > 0);
    let shutdown = CancellationToken::new();
    let tasks = [
        tokio::spawn(first.run(shutdown.clone())),
        tokio::spawn(second.run(shutdown.clone())),
    ];
    wait_for_empty_outbox(&store, Duration::from_secs(120)).await;
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let published =
        |s: &Arc<mom_bus::RelayStats>| s.published.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        published(&first_stats) + published(&second_stats),
        (keys * per_key) as u64,
        "no row published twice by the two relays"
    );
    assert!(
        published(&first_stats) > 0 && published(&second_stats) > 0,
        "both relays took part"
    );

    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, keys * per_key, Duration::from_secs(120)).await;
    let mut per_key_order: HashMap<String, Vec<u64>> = HashMap::new();
    let mut seen = HashSet::new();
    for (id, key, payload, _) in &messages {
        if seen.insert(id.clone()) {
            let seq: u64 = payload.rsplit('#').next().unwrap().parse().unwrap();
            per_key_order.entry(key.clone()).or_default().push(seq);
        }
    }
    assert_eq!(seen.len(), keys * per_key);
    for (key, seqs) in &per_key_order {
        assert_eq!(
            seqs,
            &(1..=per_key as u64).collect::<Vec<_>>(),
            "order of {key}"
        );
    }
    store.close().await;
    db.drop_database().await.unwrap();
}

/// A chain claims each round while the one before still waits for the broker: one call
/// publishes several rounds, every row once and each key in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_publishes_rounds_back_to_back_once_and_in_key_order() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    let (keys, per_key) = (8, 40);
    write_events(&repo, keys, per_key).await;
    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.batch_size = 25;
    let relay = Relay::start(store.clone(), config).await.unwrap();
    // 320 rows in rounds of 25: one chain (up to 16 rounds) takes them all.
    assert_eq!(relay.publish_chain().await.unwrap(), keys * per_key);
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    assert_eq!(relay.publish_chain().await.unwrap(), 0);

    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, keys * per_key, Duration::from_secs(120)).await;
    let ids: HashSet<&String> = messages.iter().map(|(id, ..)| id).collect();
    assert_eq!(ids.len(), keys * per_key, "every event once");
    let mut per_key_order: HashMap<&str, Vec<u64>> = HashMap::new();
    for (_, key, payload, _) in &messages {
        let seq: u64 = payload.rsplit('#').next().unwrap().parse().unwrap();
        per_key_order.entry(key).or_default().push(seq);
    }
    let in_order: Vec<u64> = (1..=per_key as u64).collect();
    assert!(per_key_order.values().all(|seqs| seqs == &in_order));
    store.close().await;
    db.drop_database().await.unwrap();
}

/// A message sent to its dead-letter topic keeps its key, value and headers, and gains the
/// reason and its origin (topic/partition/offset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_the_message_and_name_the_reason_and_origin() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let topic = "mom.consumer-test.v1";
    mom_bus::ensure_topics(
        &broker.bootstrap_servers(),
        &[topic.to_owned(), mom_bus::dlq_topic(topic)],
        1,
        1,
    )
    .await
    .unwrap();
    let dead_letters = DeadLetters::new(&broker.bootstrap_servers()).unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let mut poison = BusMessage::new(topic, Some("k"), b"poison".to_vec());
    poison.partition = 0;
    poison.offset = 7;
    poison.headers = vec![(CE_ID.to_owned(), id.clone())];
    dead_letters
        .send(&poison, "payload is poison")
        .await
        .unwrap();
    let dlq = raw_consumer(&broker.bootstrap_servers(), &mom_bus::dlq_topic(topic));
    let dead = read_until(&dlq, 1, Duration::from_secs(60)).await;
    assert_eq!(dead.len(), 1);
    let (dead_id, key, payload, headers) = &dead[0];
    assert_eq!(
        (dead_id, key.as_str(), payload.as_str()),
        (&id, "k", "poison")
    );
    assert_eq!(header(headers, DLQ_ERROR), Some("payload is poison"));
    assert_eq!(
        header(headers, DLQ_ORIGIN),
        Some(format!("{topic}/0/7").as_str())
    );
}

/// Counts the sessions of the store's database that sit in an open transaction.
async fn open_transactions(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let locks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(locks > 0, "the relay holds its lanes while it waits");
    count
}

/// A relay whose broker was killed after it started, running over `keys` × `per_key` written
/// events that it cannot publish.
struct Stranded {
    broker: mom_testkit::Broker,
    db: mom_testkit::TestDatabase,
    store: EventStore,
    shutdown: CancellationToken,
    relay_task: tokio::task::JoinHandle<Result<(), mom_bus::BusError>>,
}

async fn stranded_relay(message_timeout: Duration, keys: usize, per_key: usize) -> Stranded {
    let mut broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.message_timeout = message_timeout;
    let relay = Relay::start(store.clone(), config).await.unwrap();
    broker.kill().await.unwrap();
    write_events(&repo, keys, per_key).await;
    let shutdown = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    Stranded {
        broker,
        db,
        store,
        shutdown,
        relay_task,
    }
}

/// While the broker is down and the relay waits for it, no transaction of the store is open
/// (the lanes are held by session locks); afterwards every row is published in key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_holds_no_transaction_while_it_waits_for_the_broker() {
    let Stranded {
        mut broker,
        db,
        store,
        shutdown,
        relay_task,
    } = stranded_relay(Duration::from_secs(20), 4, 5).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        20,
        "nothing published yet"
    );
    assert_eq!(open_transactions(&db.url).await, 0);
    broker.restart().await.unwrap();
    wait_for_empty_outbox(&store, Duration::from_secs(120)).await;
    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, 20, Duration::from_secs(60)).await;
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    let mut seen = HashSet::new();
    for (id, key, payload, _) in &messages {
        if seen.insert(id.clone()) {
            let seq: u64 = payload.rsplit('#').next().unwrap().parse().unwrap();
            per_key.entry(key.clone()).or_default().push(seq);
        }
    }
    assert_eq!(seen.len(), 20);
    for seqs in per_key.values() {
        assert_eq!(seqs, &(1..=5).collect::<Vec<u64>>());
    }
    shutdown.cancel();
    relay_task.await.unwrap().unwrap();
    store.close().await;
    db.drop_database().await.unwrap();
}

/// A shutdown while a round waits for a broker that is gone ends within the grace, not after
/// the producer's message timeout; the round's rows stay pending for the next relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_round_waiting_for_a_broker_that_is_gone() {
    let Stranded {
        broker: _broker,
        db,
        store,
        shutdown,
        relay_task,
    } = stranded_relay(Duration::from_secs(600), 2, 3).await;
    // The round has claimed the rows and waits for acknowledgements that cannot come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), relay_task)
        .await
        .expect("the relay stops within the grace, not after the message timeout")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() >= mom_bus::SHUTDOWN_GRACE);
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        6,
        "the rows stay pending"
    );
    // The dropped round's lanes were released with its connection.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let locks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if locks == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{locks} lane locks still held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    store.close().await;
    db.drop_database().await.unwrap();
}

/// A message the broker refuses for its size is parked at once; the other keys are published,
/// the later rows of its key wait; skipped by an operator, the key goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_row_is_parked_and_only_its_key_waits() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    // The store's own limit is raised, so the row reaches the broker (as a row stored before
    // the limit existed would).
    let options = StoreOptions {
        max_message_bytes: 4_000_000,
        ..StoreOptions::default()
    };
    let store = EventStore::connect(&db.url, &options).await.unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    for seq in 1..=3 {
        for key in ["agg-0", "huge-1", "agg-2"] {
            repo.persist::<Counter>(&[event(key, seq)], None)
                .await
                .unwrap();
        }
    }
    let relay = Relay::start(
        store.clone(),
        RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]),
    )
    .await
    .unwrap();
    let stats = relay.stats();
    let shutdown = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));

    // huge-1#1 is parked; huge-1#2 and #3 wait behind it.
    let until = Instant::now() + Duration::from_secs(60);
    while store.outbox_backlog().await.unwrap() > 2 || store.outbox_parked().await.unwrap() < 1 {
        assert!(Instant::now() < until, "the other keys were not published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.outbox_backlog().await.unwrap(), 2, "its key waits");
    let parked = store.list_parked(false, 0, 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].key.as_str(), parked[0].attempts), ("huge-1", 1));
    assert!(
        parked[0].error.to_lowercase().contains("size"),
        "{}",
        parked[0].error
    );
    assert_eq!(stats.parked.load(std::sync::atomic::Ordering::Relaxed), 1);

    assert!(store
        .skip_parked(parked[0].position, "tester")
        .await
        .unwrap());
    wait_for_empty_outbox(&store, Duration::from_secs(60)).await;
    let consumer = raw_consumer(&broker.bootstrap_servers(), TOPIC);
    let messages = read_until(&consumer, 8, Duration::from_secs(60)).await;
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for (_, key, payload, _) in &messages {
        let seq: u64 = payload.rsplit('#').next().unwrap().parse().unwrap();
        per_key.entry(key.clone()).or_default().push(seq);
    }
    assert_eq!(per_key["agg-0"], vec![1, 2, 3]);
    assert_eq!(per_key["agg-2"], vec![1, 2, 3]);
    assert_eq!(
        per_key["huge-1"],
        vec![2, 3],
        "the skipped row is not published"
    );
    assert_eq!(
        store.read_log(0, 100).await.unwrap().len(),
        9,
        "the event stays"
    );
    shutdown.cancel();
    relay_task.await.unwrap().unwrap();
    store.close().await;
    db.drop_database().await.unwrap();
}

/// A row that keeps failing is parked after `max_attempts` rounds with the broker's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_that_keeps_failing_is_parked_after_max_attempts() {
    let mut broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.message_timeout = Duration::from_millis(300);
    config.max_attempts = 3;
    let relay = Relay::start(store.clone(), config).await.unwrap();
    broker.kill().await.unwrap();
    write_events(&repo, 1, 2).await;
    for round in 1..=3 {
        assert!(relay.publish_once().await.is_err() || round == 3);
    }
    assert_eq!(
        store.outbox_parked().await.unwrap(),
        1,
        "the first row is parked"
    );
    let parked = store.list_parked(false, 0, 10).await.unwrap();
    assert_eq!(parked[0].attempts, 3);
    assert!(!parked[0].error.is_empty());
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        1,
        "its key's second row waits"
    );
    broker.restart().await.unwrap();
    assert_eq!(relay.publish_once().await.unwrap(), 0, "nothing to claim");
    // A relay with the default timeout and attempts, so the restarted broker's first moments
    // cannot park the row again.
    let relay = Relay::start(
        store.clone(),
        RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]),
    )
    .await
    .unwrap();
    assert_eq!(store.retry_parked(None).await.unwrap(), 1);
    wait_until_published(&relay, &store).await;
    store.close().await;
    db.drop_database().await.unwrap();
}

async fn wait_until_published(relay: &Relay, store: &EventStore) {
    let until = Instant::now() + Duration::from_secs(60);
    while store.outbox_backlog().await.unwrap() > 0 {
        assert!(Instant::now() < until, "not published after the retry");
        let _ = relay.publish_once().await;
    }
}

/// Published rows leave the outbox as the broker acknowledges them; rows an earlier version
/// marked published and kept are pruned after the retention; the log keeps every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_removes_published_rows_and_prunes_kept_ones_after_the_retention() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let outbox_rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mom_outbox")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let repo = SqlEventRepository::new(store.clone(), Arc::new(TestEncoder));
    write_events(&repo, 3, 3).await;
    let mut config = RelayConfig::new(broker.bootstrap_servers(), vec![TOPIC.to_owned()]);
    config.retention = Some(Duration::from_millis(200));
    config.prune_batch = 2;
    let relay = Relay::start(store.clone(), config).await.unwrap();
    wait_until_published(&relay, &store).await;
    assert_eq!(outbox_rows().await, 0, "published rows left the outbox");
    // Three more, marked published the way an earlier version did (the row kept).
    for k in 0..3 {
        repo.persist::<Counter>(&[event(&format!("kept-{k}"), 1)], None)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE mom_outbox SET published_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    assert_eq!(relay.prune().await.unwrap(), 0, "too young");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(relay.prune().await.unwrap(), 3);
    assert_eq!(
        relay
            .stats()
            .pruned
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(outbox_rows().await, 0);
    assert_eq!(store.read_messages(0, 100).await.unwrap().len(), 12);
    pool.close().await;
    store.close().await;
    db.drop_database().await.unwrap();
}
