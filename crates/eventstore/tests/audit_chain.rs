//! The audit hash chain on both backends: an intact store verifies, an edited event, a deleted
//! event and an edited snapshot are each caught (and the snapshot is refused on load), events
//! written before the chain existed are chained at connect, auditors list events, and two stores
//! appending to one log keep it gap-free and chained.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, CqrsFramework, DomainEvent};
use mom_eventstore::{
    AggregateStore, AuditQuery, BrokenLink, CommandMetadata, EncodeError, EventStore,
    OutboxEncoder, OutboxMessage, PendingEvent, SnapshotFault, SqlEventRepository, StoreOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counter {
    value: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CounterEvent {
    Incremented { by: u64 },
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Incremented".to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("counter error")]
struct CounterError;

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = u64;
    type Event = CounterEvent;
    type Error = CounterError;
    type Services = ();

    async fn handle(
        &mut self,
        by: u64,
        _: &(),
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), CounterError> {
        sink.write(CounterEvent::Incremented { by }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CounterEvent) {
        let CounterEvent::Incremented { by } = event;
        self.value += by;
    }
}

struct JsonEncoder;

impl OutboxEncoder for JsonEncoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        Ok(OutboxMessage {
            topic: "mom.test.v1".to_owned(),
            key: event.aggregate_id.to_owned(),
            payload: event.payload.to_string().into_bytes(),
            headers: vec![
                ("ce_id".to_owned(), event.event_id.to_string()),
                ("ce_type".to_owned(), event.event_type.to_owned()),
            ],
        })
    }
}

enum Db {
    Postgres(mom_testkit::TestDatabase),
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
}

impl Db {
    async fn create(kind: &str) -> (String, Db) {
        match kind {
            "postgres" => {
                let db = mom_testkit::TestDatabase::create().await.unwrap();
                (db.url.clone(), Db::Postgres(db))
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("events.db").display());
                (url, Db::Sqlite(dir))
            }
        }
    }

    /// Runs `sql` on a connection of its own, as someone with write access to the database.
    async fn tamper(&self, url: &str, sql: &str) {
        match self {
            Db::Postgres(_) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Db::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    async fn cleanup(self, store: EventStore) {
        store.close().await;
        if let Db::Postgres(db) = self {
            db.drop_database().await.unwrap();
        }
    }
}

async fn open(kind: &str) -> (EventStore, String, Db) {
    let (url, db) = Db::create(kind).await;
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    (store, url, db)
}

fn repository(store: &EventStore) -> SqlEventRepository {
    SqlEventRepository::new(store.clone(), Arc::new(JsonEncoder))
}

/// Payloads JSONB would hand back differently than written: floats, big and tiny numbers,
/// unicode, escapes, nested objects with unsorted keys.
fn awkward_payload(n: u64) -> serde_json::Value {
    json!({
        "zeta": n,
        "alpha": {"z": [1, {"b": 2.5, "a": -0.0}], "a": null, "m": true},
        "float": 0.1 + 0.2,
        "big": 1e17,
        "huge": 1e300,
        "tiny": 1e-7,
        "whole": 10.0,
        "text": "Grüße — 工場 🏭 \"quoted\" \\ back\tslash\n",
        "empty": {},
        "list": [],
    })
}

/// Event `sequence` of aggregate `id`, recorded for `principal` (authenticated by API key).
fn event(id: &str, sequence: usize, principal: &str) -> SerializedEvent {
    let at =
        chrono::DateTime::from_timestamp(1_700_000_000 + sequence as i64, 123_456_789).unwrap();
    let mut metadata = CommandMetadata::new(principal, at);
    metadata.auth_method = "api-key".to_owned();
    metadata.on_behalf_of = "operator 7".to_owned();
    SerializedEvent::new(
        id.to_owned(),
        sequence,
        Counter::TYPE.to_owned(),
        "Incremented".to_owned(),
        "1".to_owned(),
        awkward_payload(sequence as u64),
        serde_json::to_value(metadata.to_map()).unwrap(),
    )
}

/// Appends 3 events to `a-1` (alice) and 2 to `b-1` (bob), in separate appends: positions 1-5.
async fn five_events(store: &EventStore) {
    let repo = repository(store);
    repo.persist::<Counter>(&[event("a-1", 1, "alice"), event("a-1", 2, "alice")], None)
        .await
        .unwrap();
    repo.persist::<Counter>(&[event("b-1", 1, "bob")], None)
        .await
        .unwrap();
    repo.persist::<Counter>(&[event("a-1", 3, "alice")], None)
        .await
        .unwrap();
    repo.persist::<Counter>(&[event("b-1", 2, "bob")], None)
        .await
        .unwrap();
}

async fn intact_store_verifies_through_a_json_round_trip(kind: &str) {
    let (store, url, db) = open(kind).await;
    let empty = store.verify_chain(2).await.unwrap();
    assert_eq!(empty.broken, None);
    assert_eq!(empty.events_checked, 0);
    five_events(&store).await;
    // Pages of 2: the walk crosses page boundaries.
    let report = store.verify_chain(2).await.unwrap();
    assert_eq!(report.broken, None, "{:?}", report.broken);
    assert_eq!(report.events_checked, 5);
    let head = store.chain_head().await.unwrap();
    assert_eq!(report.head, head);
    assert_eq!(head.position, 5);
    // Another connection (a restart) sees the same chain.
    store.close().await;
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.chain_head().await.unwrap(), head);
    assert_eq!(store.verify_chain(1000).await.unwrap().broken, None);
    db.cleanup(store).await;
}

async fn edited_event_is_caught_with_its_position(kind: &str) {
    let (store, url, db) = open(kind).await;
    five_events(&store).await;
    let sql = match kind {
        "postgres" => {
            "UPDATE mom_events SET payload = jsonb_set(payload, '{zeta}', '99') WHERE position = 3"
        }
        _ => "UPDATE mom_events SET payload = json_set(payload, '$.zeta', 99) WHERE position = 3",
    };
    db.tamper(&url, sql).await;
    let report = store.verify_chain(2).await.unwrap();
    assert_eq!(
        report.broken,
        Some(BrokenLink::EventEdited {
            position: 3,
            aggregate_type: "counter".to_owned(),
            aggregate_id: "b-1".to_owned(),
            sequence: 1,
        })
    );
    assert_eq!(report.events_checked, 2);
    let message = report.broken.unwrap().to_string();
    assert!(
        message.starts_with("position 3 (counter b-1 sequence 1)"),
        "{message}"
    );
    db.cleanup(store).await;
}

async fn edited_principal_is_caught(kind: &str) {
    let (store, url, db) = open(kind).await;
    five_events(&store).await;
    let sql = match kind {
        "postgres" => "UPDATE mom_events SET metadata = jsonb_set(metadata, '{principal}', '\"mallory\"') WHERE position = 4",
        _ => "UPDATE mom_events SET metadata = json_set(metadata, '$.principal', 'mallory') WHERE position = 4",
    };
    db.tamper(&url, sql).await;
    let report = store.verify_chain(1000).await.unwrap();
    assert!(
        matches!(
            report.broken,
            Some(BrokenLink::EventEdited { position: 4, .. })
        ),
        "{:?}",
        report.broken
    );
    db.cleanup(store).await;
}

async fn deleted_event_is_caught(kind: &str) {
    let (store, url, db) = open(kind).await;
    five_events(&store).await;
    // The outbox row refers to the event, so it goes first.
    db.tamper(
        &url,
        "DELETE FROM mom_outbox WHERE position = 2; DELETE FROM mom_events WHERE position = 2;",
    )
    .await;
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(
        report.broken,
        Some(BrokenLink::EventsMissing { from: 2, to: 2 })
    );
    assert_eq!(
        report.broken.unwrap().to_string(),
        "position 2: missing: the event was deleted"
    );
    db.cleanup(store).await;
}

async fn deleted_last_event_is_caught(kind: &str) {
    let (store, url, db) = open(kind).await;
    five_events(&store).await;
    db.tamper(
        &url,
        "DELETE FROM mom_outbox WHERE position = 5; DELETE FROM mom_events WHERE position = 5;",
    )
    .await;
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(
        report.broken,
        Some(BrokenLink::EventsMissing { from: 5, to: 5 })
    );
    // Moving the head back as well leaves the head hash behind.
    db.tamper(&url, "UPDATE mom_log_head SET position = 4")
        .await;
    let report = store.verify_chain(1000).await.unwrap();
    assert!(
        matches!(
            report.broken,
            Some(BrokenLink::HeadDiffers { position: 4, .. })
        ),
        "{:?}",
        report.broken
    );
    db.cleanup(store).await;
}

async fn edited_snapshot_is_caught_and_refused_on_load(kind: &str) {
    let (store, url, db) = open(kind).await;
    let cqrs = CqrsFramework::new(
        AggregateStore::<Counter>::new(repository(&store), 2),
        vec![],
        (),
    );
    for by in 1..=4 {
        cqrs.execute("s-1", by).await.unwrap();
    }
    let repo = repository(&store);
    let snapshot = repo.get_snapshot::<Counter>("s-1").await.unwrap().unwrap();
    assert_eq!(snapshot.aggregate, json!({"value": 10}));
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.snapshots_checked, 1);

    let sql = match kind {
        "postgres" => "UPDATE mom_snapshots SET payload = '{\"value\": 1000}'",
        _ => "UPDATE mom_snapshots SET payload = '{\"value\":1000}'",
    };
    db.tamper(&url, sql).await;
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(
        report.broken,
        Some(BrokenLink::Snapshot {
            aggregate_type: "counter".to_owned(),
            aggregate_id: "s-1".to_owned(),
            sequence: 4,
            fault: SnapshotFault::ContentEdited,
        })
    );
    // The edited snapshot is refused: the aggregate is rebuilt from its events.
    assert!(repo.get_snapshot::<Counter>("s-1").await.unwrap().is_none());
    cqrs.execute("s-1", 5).await.unwrap();
    // Sequence 5 writes no snapshot (every second event): the edited one is still refused.
    assert!(repo.get_snapshot::<Counter>("s-1").await.unwrap().is_none());
    let events: u64 = repo
        .get_events::<Counter>("s-1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.payload["Incremented"]["by"].as_u64().unwrap())
        .sum();
    assert_eq!(events, 15);
    // The next snapshot is built from the events (1+...+6), not from the edited 1000.
    cqrs.execute("s-1", 6).await.unwrap();
    let snapshot = repo.get_snapshot::<Counter>("s-1").await.unwrap().unwrap();
    assert_eq!(snapshot.aggregate, json!({"value": 21}));
    assert_eq!(store.verify_chain(1000).await.unwrap().broken, None);

    // A snapshot moved onto another event no longer matches that event's hash.
    db.tamper(&url, "UPDATE mom_snapshots SET last_sequence = 5")
        .await;
    let report = store.verify_chain(1000).await.unwrap();
    assert!(
        matches!(
            report.broken,
            Some(BrokenLink::Snapshot {
                fault: SnapshotFault::EventHashDiffers,
                ..
            })
        ),
        "{:?}",
        report.broken
    );
    assert!(repo.get_snapshot::<Counter>("s-1").await.unwrap().is_none());
    db.cleanup(store).await;
}

/// A store written before the chain (migrations 1 to 3 only) is chained when it connects.
async fn events_written_before_the_chain_are_chained_at_connect(kind: &str) {
    let (url, db) = Db::create(kind).await;
    let rows = "UPDATE mom_log_head SET position = 2 WHERE id = 1; \
         INSERT INTO mom_events (position, event_id, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, metadata, event_time, recorded_time, topic, msg_key, \
         message, headers) VALUES \
         (1, '0190f0a4-0000-7000-8000-000000000001', 'counter', 'c-1', 1, 'Incremented', '1', \
          '{\"b\": 1.5, \"a\": \"x\"}', '{\"actor\": \"old\"}', '2026-01-01T00:00:00Z', \
          '2026-01-01T00:00:00.123456Z', 'mom.test.v1', 'c-1', 'old', '[[\"ce_id\",\"1\"]]'), \
         (2, '0190f0a4-0000-7000-8000-000000000002', 'counter', 'c-1', 2, 'Incremented', '1', \
          '{}', '{\"actor\": \"old\"}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', \
          'mom.test.v1', 'c-1', 'old', '[]');";
    match &db {
        Db::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            migrator.migrations = migrator
                .migrations
                .iter()
                .filter(|m| m.version <= 3)
                .cloned()
                .collect();
            migrator.run(&pool).await.unwrap();
            sqlx::raw_sql(rows).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Db::Sqlite(_) => {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            let mut migrator = sqlx::migrate!("./migrations/sqlite");
            migrator.migrations = migrator
                .migrations
                .iter()
                .filter(|m| m.version <= 3)
                .cloned()
                .collect();
            migrator.run(&pool).await.unwrap();
            sqlx::raw_sql(rows).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.events_checked, 2);
    // New events continue the chain.
    repository(&store)
        .persist::<Counter>(&[event("c-1", 3, "alice")], None)
        .await
        .unwrap();
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.events_checked, 3);
    db.cleanup(store).await;
}

fn canonical(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    mom_eventstore::canonical_json(value, &mut out);
    String::from_utf8(out).unwrap()
}

async fn auditors_list_events_newest_first_by_aggregate_principal_and_time(kind: &str) {
    let (store, _url, db) = open(kind).await;
    five_events(&store).await;
    let all = store
        .list_audit_events(&AuditQuery::default(), 100)
        .await
        .unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![5, 4, 3, 2, 1]);
    assert!(all.iter().all(|e| e.hash.is_some()));
    // JSONB hands back 1e17 as an integer and -0.0 as 0.0: equal by value, canonically.
    assert_eq!(canonical(&all[0].payload), canonical(&awkward_payload(2)));
    assert_eq!(all[0].metadata["on_behalf_of"], "operator 7");

    let alice = AuditQuery {
        principal: Some("alice"),
        ..AuditQuery::default()
    };
    let page = store.list_audit_events(&alice, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), [4, 2]);
    let next = AuditQuery {
        before: Some(2),
        ..alice
    };
    let page = store.list_audit_events(&next, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), [1]);

    let b1 = AuditQuery {
        aggregate_type: Some("counter"),
        aggregate_id: Some("b-1"),
        ..AuditQuery::default()
    };
    let page = store.list_audit_events(&b1, 100).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), [5, 3]);

    let future = AuditQuery {
        from: Some(all[0].recorded_time + chrono::Duration::seconds(1)),
        ..AuditQuery::default()
    };
    assert!(store
        .list_audit_events(&future, 100)
        .await
        .unwrap()
        .is_empty());
    let window = AuditQuery {
        from: Some(all[4].recorded_time),
        until: Some(all[0].recorded_time + chrono::Duration::seconds(1)),
        ..AuditQuery::default()
    };
    assert_eq!(
        store.list_audit_events(&window, 100).await.unwrap().len(),
        5
    );
    db.cleanup(store).await;
}

/// Two stores on one log, as two processes: each one's appender keeps the head it last wrote
/// and, on Postgres, writes its next batch in one statement that only applies when the head is
/// still there. Appends that alternate (the head always moved meanwhile) and appends racing from
/// both sides must leave a gap-free log whose chain verifies, with every event stored once.
async fn two_stores_appending_to_one_log_keep_it_gap_free_and_chained(kind: &str) {
    let (first, url, db) = open(kind).await;
    let second = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    // Alone, the first store writes its first batch the long way (it does not know the head
    // yet) and the next ones in one statement each (Postgres).
    for sequence in 1..=3 {
        repository(&first)
            .persist::<Counter>(&[event("solo", sequence, "alice")], None)
            .await
            .unwrap();
    }
    let alone = first.append_batches();
    match kind {
        "postgres" => assert_eq!((alone.locked, alone.one_statement), (1, 2)),
        _ => assert_eq!((alone.locked, alone.one_statement), (3, 0)),
    }
    let stores = [first.clone(), second.clone()];
    // Alternating: every append but the first finds the head moved by the other store.
    for sequence in 1..=6 {
        for (index, store) in stores.iter().enumerate() {
            repository(store)
                .persist::<Counter>(&[event(&format!("alt-{index}"), sequence, "alice")], None)
                .await
                .unwrap();
        }
    }
    // Racing: 16 aggregates per store, 5 appends each, all at once.
    let mut racing = tokio::task::JoinSet::new();
    for (index, store) in stores.iter().enumerate() {
        for unit in 0..16 {
            let repo = repository(store);
            racing.spawn(async move {
                for sequence in 1..=5 {
                    repo.persist::<Counter>(
                        &[event(&format!("race-{index}-{unit}"), sequence, "bob")],
                        None,
                    )
                    .await
                    .unwrap();
                }
            });
        }
    }
    while let Some(joined) = racing.join_next().await {
        joined.unwrap();
    }
    // And alternating again after the race, from the side that wrote last or not.
    for (index, store) in stores.iter().enumerate() {
        repository(store)
            .persist::<Counter>(&[event(&format!("alt-{index}"), 7, "alice")], None)
            .await
            .unwrap();
    }

    // The head moved under both (the other store appended): those batches went the long way.
    assert!(first.append_batches().locked > alone.locked);
    assert!(second.append_batches().locked > 1);

    let total = 3 + 2 * 7 + 2 * 16 * 5;
    let positions: Vec<u64> = first
        .read_log(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, (1..=total).collect::<Vec<u64>>(), "gap-free");
    for store in &stores {
        assert_eq!(store.head().await.unwrap(), total);
        let report = store.verify_chain(1000).await.unwrap();
        assert_eq!(report.broken, None, "{:?}", report.broken);
        assert_eq!(report.events_checked, total);
    }
    for index in 0..2 {
        let events = repository(&first)
            .get_events::<Counter>(&format!("alt-{index}"))
            .await
            .unwrap();
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>()
        );
    }
    second.close().await;
    db.cleanup(first).await;
}

/// One store, many writers: group-committed batches of many appends go the short way on
/// Postgres (after the first). The log stays gap-free and chained and every append is stored
/// once, in its aggregate's order.
async fn many_writers_of_one_store_keep_the_log_gap_free_and_chained(kind: &str) {
    let (store, _url, db) = open(kind).await;
    let mut writers = tokio::task::JoinSet::new();
    for unit in 0..48 {
        let repo = repository(&store);
        writers.spawn(async move {
            for sequence in 1..=10 {
                repo.persist::<Counter>(&[event(&format!("w-{unit}"), sequence, "carol")], None)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(joined) = writers.join_next().await {
        joined.unwrap();
    }
    let total = 48 * 10;
    let batches = store.append_batches();
    if kind == "postgres" {
        assert_eq!(
            batches.locked, 1,
            "only the first batch goes the long way: {batches:?}"
        );
        assert!(batches.one_statement > 0, "{batches:?}");
    }
    let log = store.read_log(0, 1000).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<u64>>()
    );
    let report = store.verify_chain(1000).await.unwrap();
    assert_eq!(report.broken, None, "{:?}", report.broken);
    assert_eq!(report.events_checked, total);
    for unit in 0..48 {
        let sequences: Vec<usize> = repository(&store)
            .get_events::<Counter>(&format!("w-{unit}"))
            .await
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(sequences, (1..=10).collect::<Vec<_>>());
    }
    db.cleanup(store).await;
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$case("postgres").await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$case("sqlite").await;
                }
            }
        )*
    };
}

on_both_backends!(
    intact_store_verifies_through_a_json_round_trip,
    edited_event_is_caught_with_its_position,
    edited_principal_is_caught,
    deleted_event_is_caught,
    deleted_last_event_is_caught,
    edited_snapshot_is_caught_and_refused_on_load,
    events_written_before_the_chain_are_chained_at_connect,
    auditors_list_events_newest_first_by_aggregate_principal_and_time,
    two_stores_appending_to_one_log_keep_it_gap_free_and_chained,
    many_writers_of_one_store_keep_the_log_gap_free_and_chained,
);
