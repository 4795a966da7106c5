//! One suite, two backends: every case runs against a fresh Postgres database and a fresh SQLite
//! file.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, DomainEvent};
use mom_eventstore::outbox::lane_of;
use mom_eventstore::{
    AggregateStore, CommandMetadata, EncodeError, EventStore, Executor, MessageFilter,
    OutboxEncoder, OutboxFailure, OutboxMessage, OutboxRecord, PendingEvent, SqlEventRepository,
    StoreError, StoreOptions,
};
use serde::{Deserialize, Serialize};

/// A counter: the smallest aggregate that shows lost or doubled updates.
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

/// Encodes the JSON payload as the message, to `mom.test.v1` (`mom.other.v1` for an aggregate id
/// starting with "other"); an aggregate id starting with "poison" gets an empty topic, which the outbox table refuses, to make a transaction fail after the event insert.
struct JsonEncoder;

impl OutboxEncoder for JsonEncoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        let topic = if event.aggregate_id.starts_with("poison") {
            String::new()
        } else if event.aggregate_id.starts_with("other") {
            "mom.other.v1".to_owned()
        } else {
            "mom.test.v1".to_owned()
        };
        Ok(OutboxMessage {
            topic,
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

async fn open(kind: &str) -> (EventStore, Db) {
    match kind {
        "postgres" => {
            let db = mom_testkit::TestDatabase::create().await.unwrap();
            let store = EventStore::connect(&db.url, &StoreOptions::default())
                .await
                .unwrap();
            (store, Db::Postgres(db))
        }
        _ => {
            // "sqlite-bulk": opened as a rebuild opens its log sources, so the log's reads run
            // on the store's own connections (`StoreOptions::bulk_reads`).
            let options = if kind == "sqlite-bulk" {
                StoreOptions::bulk_reads()
            } else {
                StoreOptions::default()
            };
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("events.db").display());
            let store = EventStore::connect(&url, &options).await.unwrap();
            (store, Db::Sqlite(dir))
        }
    }
}

async fn cleanup(store: EventStore, db: Db) {
    store.close().await;
    if let Db::Postgres(db) = db {
        db.drop_database().await.unwrap();
    }
}

/// Writes one event each to aggregates `{prefix}-1` to `{prefix}-{count}`, in that order
/// (positions 1 to `count` on a fresh store).
async fn persist_keys(repo: &SqlEventRepository, prefix: &str, count: usize) {
    for i in 1..=count {
        repo.persist::<Counter>(&[event(&format!("{prefix}-{i}"), 1, 1)], None)
            .await
            .unwrap();
    }
}

fn repository(store: &EventStore) -> SqlEventRepository {
    SqlEventRepository::new(store.clone(), Arc::new(JsonEncoder))
}

fn event(id: &str, sequence: usize, by: u64) -> SerializedEvent {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + sequence as i64, 0).unwrap();
    let metadata = CommandMetadata::new("tester", at).to_map();
    SerializedEvent::new(
        id.to_owned(),
        sequence,
        Counter::TYPE.to_owned(),
        "Incremented".to_owned(),
        "1".to_owned(),
        serde_json::json!({"Incremented": {"by": by}}),
        serde_json::to_value(metadata).unwrap(),
    )
}

async fn concurrent_writers_lose_and_double_nothing(kind: &str) {
    let (store, db) = open(kind).await;
    let cqrs = Arc::new(CqrsFramework::new(
        AggregateStore::<Counter>::new(repository(&store), 1),
        vec![],
        (),
    ));
    let writers = (0..100).map(|_| {
        let cqrs = cqrs.clone();
        tokio::spawn(async move {
            let mut conflicts = 0u32;
            loop {
                match cqrs.execute("counter-1", 1).await {
                    Ok(()) => return conflicts,
                    Err(AggregateError::AggregateConflict) => conflicts += 1,
                    Err(err) => panic!("unexpected error: {err}"),
                }
            }
        })
    });
    let conflicts: u32 = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    let events = repository(&store)
        .get_events::<Counter>("counter-1")
        .await
        .unwrap();
    assert_eq!(events.len(), 100, "every writer's event is stored once");
    let sequences: Vec<usize> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=100).collect::<Vec<_>>());
    let snapshot = repository(&store)
        .get_snapshot::<Counter>("counter-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.aggregate, serde_json::json!({"value": 100}));
    assert_eq!(snapshot.current_sequence, 100);
    let log = store.read_log(0, 1000).await.unwrap();
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=100).collect::<Vec<_>>(),
        "the log is gap-free"
    );
    assert_eq!(store.head().await.unwrap(), 100);
    // With 100 writers racing on one aggregate, conflicts must have happened and been retried.
    assert!(
        conflicts > 0,
        "no conflict was provoked, the test proves nothing"
    );
    cleanup(store, db).await;
}

async fn read_back_gives_exactly_what_was_written(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    let written = vec![
        event("a-1", 1, 3),
        event("a-1", 2, 4),
        event("a-1", 3, u64::MAX),
    ];
    repo.persist::<Counter>(&written, None).await.unwrap();
    let read = repo.get_events::<Counter>("a-1").await.unwrap();
    assert_eq!(read, written);
    let last = repo.get_last_events::<Counter>("a-1", 1).await.unwrap();
    assert_eq!(last, written[1..].to_vec());
    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log.len(), 3);
    for (entry, event) in log.iter().zip(&written) {
        assert_eq!(entry.payload, event.payload);
        assert_eq!(entry.metadata, event.metadata);
        assert_eq!(entry.sequence as usize, event.sequence);
        assert_eq!(entry.message.topic, "mom.test.v1");
        assert_eq!(entry.message.key, "a-1");
        assert_eq!(
            entry.message.payload,
            event.payload.to_string().into_bytes()
        );
        assert_eq!(
            entry.message.headers[0],
            ("ce_id".to_owned(), entry.event_id.to_string())
        );
        assert_eq!(entry.event_id.get_version_num(), 7, "event ids are UUID v7");
        assert_eq!(
            entry.event_time,
            chrono::DateTime::from_timestamp(1_700_000_000 + event.sequence as i64, 0).unwrap()
        );
    }
    cleanup(store, db).await;
}

async fn conflicting_append_is_an_optimistic_lock_error(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    let first = [event("c-1", 1, 1)];
    repo.persist::<Counter>(&first, None).await.unwrap();
    let err = repo
        .persist::<Counter>(&[event("c-1", 1, 2), event("c-1", 2, 2)], None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::OptimisticLockError),
        "{err:?}"
    );
    let events = repo.get_events::<Counter>("c-1").await.unwrap();
    assert_eq!(events, first.to_vec(), "the losing append wrote nothing");
    assert_eq!(store.head().await.unwrap(), 1);
    cleanup(store, db).await;
}

async fn failing_transaction_leaves_neither_event_nor_outbox_row(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    repo.persist::<Counter>(&[event("ok-1", 1, 1)], None)
        .await
        .unwrap();
    // Appends in flight together share a transaction; the poisoned one must fail alone.
    let poison = [event("poison-1", 1, 1), event("poison-1", 2, 1)];
    let ok = [event("ok-2", 1, 1)];
    let (poisoned, healthy) = tokio::join!(
        repo.persist::<Counter>(&poison, None),
        repo.persist::<Counter>(&ok, None),
    );
    assert!(poisoned.is_err());
    healthy.unwrap();
    assert!(repo
        .get_events::<Counter>("poison-1")
        .await
        .unwrap()
        .is_empty());
    let log = store.read_log(0, 10).await.unwrap();
    let ids: Vec<&str> = log.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, vec!["ok-1", "ok-2"]);
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        2,
        "no outbox row for the failed append"
    );
    cleanup(store, db).await;
}

async fn snapshot_is_written_with_events_and_used_on_load(kind: &str) {
    let (store, db) = open(kind).await;
    let cqrs = CqrsFramework::new(
        AggregateStore::<Counter>::new(repository(&store), 2),
        vec![],
        (),
    );
    for by in 1..=5 {
        cqrs.execute("s-1", by).await.unwrap();
    }
    let repo = repository(&store);
    let snapshot = repo.get_snapshot::<Counter>("s-1").await.unwrap().unwrap();
    // Every second event: the last snapshot is at sequence 4 (1+2+3+4).
    assert_eq!(snapshot.aggregate, serde_json::json!({"value": 10}));
    assert_eq!(snapshot.current_sequence, 4);
    assert_eq!(snapshot.current_snapshot, 2);
    // Loading takes the snapshot plus event 5, and a new command builds on it.
    cqrs.execute("s-1", 100).await.unwrap();
    let snapshot = repo.get_snapshot::<Counter>("s-1").await.unwrap().unwrap();
    assert_eq!(snapshot.aggregate, serde_json::json!({"value": 115}));
    assert_eq!(snapshot.current_sequence, 6);
    // A replay from the events gives the same state as the snapshot.
    let replayed: u64 = repo
        .get_events::<Counter>("s-1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.payload["Incremented"]["by"].as_u64().unwrap())
        .sum();
    assert_eq!(replayed, 115);
    cleanup(store, db).await;
}

async fn outbox_claim_marks_only_published_rows(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    persist_keys(&repo, "o", 5).await;
    let claim = store.claim_outbox(3).await.unwrap();
    let positions: Vec<u64> = claim.records().iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![1, 2, 3]);
    claim
        .complete(&[1, 2], &[failure(3, "broker said no", false)])
        .await
        .unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 3);
    let claim = store.claim_outbox(10).await.unwrap();
    let positions: Vec<u64> = claim.records().iter().map(|r| r.position).collect();
    assert_eq!(
        positions,
        vec![3, 4, 5],
        "failed rows are claimed again, in order"
    );
    claim.complete(&positions, &[]).await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    cleanup(store, db).await;
}

fn failure(position: u64, error: &str, park: bool) -> OutboxFailure {
    OutboxFailure {
        position,
        error: error.to_owned(),
        park,
    }
}

/// Returns the positions the next claim of up to `limit` rows gets, and marks them published.
async fn publish_next(store: &EventStore, limit: u32) -> Vec<u64> {
    let claim = store.claim_outbox(limit).await.unwrap();
    let positions: Vec<u64> = claim.records().iter().map(|r| r.position).collect();
    claim.complete(&positions, &[]).await.unwrap();
    positions
}

/// Returns the positions of `records`.
fn positions(records: &[OutboxRecord]) -> Vec<u64> {
    records.iter().map(|r| r.position).collect()
}

/// A lease claims the next rows while the ones before are still unmarked (in flight, as in a
/// relay's chain of rounds), and a row it left pending is claimed again by the next lease.
async fn a_lease_claims_past_its_rows_in_flight(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    persist_keys(&repo, "l", 7).await;
    let mut lease = store.lease_outbox().await.unwrap();
    let first = positions(&lease.claim(3).await.unwrap());
    assert_eq!(first, vec![1, 2, 3]);
    let second = positions(&lease.claim(3).await.unwrap());
    assert_eq!(second, vec![4, 5, 6], "past the unmarked rows");
    lease.mark(&first, &[]).await.unwrap();
    // Row 5 is left pending, untouched (as behind a failed row of its key).
    lease.mark(&[4, 6], &[]).await.unwrap();
    let third = positions(&lease.claim(3).await.unwrap());
    assert_eq!(third, vec![7]);
    lease.mark(&third, &[]).await.unwrap();
    assert!(lease.claim(3).await.unwrap().is_empty());
    lease.release().await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
    assert_eq!(publish_next(&store, 10).await, vec![5], "claimed afresh");
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    cleanup(store, db).await;
}

/// Postgres: the outbox has no foreign key to the log (migration 0005); an outbox row whose
/// event was deleted by hand is never claimed (claims join the event), and the rows around it
/// are published in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_row_without_its_event_is_never_claimed() {
    let (store, db) = open("postgres").await;
    let repo = repository(&store);
    persist_keys(&repo, "d", 3).await;
    assert_eq!(
        execute(&store, "DELETE FROM mom_events WHERE position = 2").await,
        1
    );
    assert_eq!(publish_next(&store, 10).await, vec![1, 3]);
    assert!(store.claim_outbox(10).await.unwrap().records().is_empty());
    cleanup(store, db).await;
}

/// Postgres: the appender holds its connection between batches; when the server ends that
/// connection (a restart, an administrator, a network cut), the next append is still written,
/// on a fresh connection, and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_after_its_connection_was_ended_is_written() {
    let (store, db) = open("postgres").await;
    let repo = repository(&store);
    // The first batch goes the long way, the second the short way on the held connection.
    for sequence in 1..=2 {
        repo.persist::<Counter>(&[event("k-1", sequence, 1)], None)
            .await
            .unwrap();
    }
    let admin = admin_pool(&db).await;
    for round in 0..2 {
        // Every other session on the database: the store's pool and the appender's connection.
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
        )
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(
            ended >= 1,
            "round {round}: no session of the store was ended"
        );
        let sequence = 3 + round;
        repo.persist::<Counter>(&[event("k-1", sequence, 1)], None)
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err:?}"));
    }
    let err = repo
        .persist::<Counter>(&[event("k-1", 4, 9)], None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::OptimisticLockError),
        "{err:?}"
    );
    let events = repo.get_events::<Counter>("k-1").await.unwrap();
    let sequences: Vec<usize> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4]);
    assert_eq!(store.head().await.unwrap(), 4);
    admin.close().await;
    cleanup(store, db).await;
}

/// A connection pool of its own on a Postgres test's database, to act behind the store's back.
async fn admin_pool(db: &Db) -> sqlx::PgPool {
    match db {
        Db::Postgres(db) => sqlx::PgPool::connect(&db.url).await.unwrap(),
        Db::Sqlite(_) => unreachable!("a Postgres test"),
    }
}

/// Postgres: a lane a lease takes in the middle of its rounds (another relay released it) is
/// read from its first pending row, below the lease's own last position, so its key stays in
/// order; while one lease holds a lane, another claims nothing from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_taken_mid_lease_is_read_from_its_first_row() {
    let (store, db) = open("postgres").await;
    let repo = repository(&store);
    let x = "lane-x";
    let y = (0..)
        .map(|i| format!("lane-y{i}"))
        .find(|y| lane_of(y) != lane_of(x))
        .unwrap();
    // y#1 (1), x#1 (2), x#2 (3), y#2 (4), x#3 (5)
    for (key, seq) in [(y.as_str(), 1), (x, 1), (x, 2), (y.as_str(), 2), (x, 3)] {
        repo.persist::<Counter>(&[event(key, seq, 1)], None)
            .await
            .unwrap();
    }
    let mut other = store.lease_outbox().await.unwrap();
    assert_eq!(positions(&other.claim(1).await.unwrap()), vec![1]);
    let mut lease = store.lease_outbox().await.unwrap();
    assert_eq!(
        positions(&lease.claim(10).await.unwrap()),
        vec![2, 3, 5],
        "the lane the other lease holds is left to it"
    );
    other.mark(&[1], &[]).await.unwrap();
    other.release().await.unwrap();
    repo.persist::<Counter>(&[event(&y, 3, 1)], None)
        .await
        .unwrap();
    assert_eq!(
        positions(&lease.claim(10).await.unwrap()),
        vec![4, 6],
        "y's lane, taken now, from its first pending row"
    );
    lease.mark(&[2, 3, 4, 5, 6], &[]).await.unwrap();
    lease.release().await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    cleanup(store, db).await;
}

async fn parked_row_holds_its_key_back_until_retried_or_skipped(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    // Positions 1..=6: a-1, b-1, a-2, b-2, a-3, b-3.
    for seq in 1..=3 {
        for key in ["a", "b"] {
            repo.persist::<Counter>(&[event(key, seq, 1)], None)
                .await
                .unwrap();
        }
    }
    let claim = store.claim_outbox(2).await.unwrap();
    assert_eq!(claim.records()[0].attempts, 0);
    claim
        .complete(&[2], &[failure(1, "MessageSizeTooLarge", true)])
        .await
        .unwrap();
    assert_eq!(store.outbox_parked().await.unwrap(), 1);
    assert_eq!(store.outbox_backlog().await.unwrap(), 4);
    // Key b goes on; key a waits behind its parked row.
    assert_eq!(publish_next(&store, 10).await, vec![4, 6]);
    assert!(publish_next(&store, 10).await.is_empty());
    assert_eq!(
        store.release_held().await.unwrap(),
        0,
        "still behind the parked row"
    );

    let parked = store.list_parked(false, 0, 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (
            parked[0].position,
            parked[0].key.as_str(),
            parked[0].attempts
        ),
        (1, "a", 1)
    );
    assert_eq!(parked[0].error, "MessageSizeTooLarge");
    assert!(parked[0].skipped.is_none());

    // Retried, it is claimed again first, and fails for good this time.
    assert_eq!(store.retry_parked(Some(1)).await.unwrap(), 1);
    assert_eq!(
        store.retry_parked(Some(1)).await.unwrap(),
        0,
        "not parked any more"
    );
    let claim = store.claim_outbox(10).await.unwrap();
    let positions: Vec<u64> = claim.records().iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![1, 3, 5]);
    claim
        .complete(&[], &[failure(1, "still too large", true)])
        .await
        .unwrap();
    assert!(publish_next(&store, 10).await.is_empty());

    // Skipped, the key goes on; the event stays in the log and the skip is recorded.
    assert!(store.skip_parked(1, "operator-7").await.unwrap());
    assert!(
        !store.skip_parked(1, "operator-7").await.unwrap(),
        "skipped once"
    );
    assert!(
        !store.skip_parked(3, "operator-7").await.unwrap(),
        "not parked"
    );
    assert_eq!(
        store.retry_parked(None).await.unwrap(),
        0,
        "a skipped row stays"
    );
    assert_eq!(publish_next(&store, 10).await, vec![3, 5]);
    assert!(store.list_parked(false, 0, 10).await.unwrap().is_empty());
    let skipped = store.list_parked(true, 0, 10).await.unwrap();
    assert_eq!(skipped[0].skipped.as_ref().unwrap().by, "operator-7");
    assert_eq!(skipped[0].attempts, 1, "a retry starts the count again");
    assert_eq!(store.outbox_parked().await.unwrap(), 0);
    assert_eq!(store.read_log(0, 10).await.unwrap().len(), 6);
    cleanup(store, db).await;
}

/// A row set aside behind a parked row returns to the queue once nothing holds it back, even
/// when the parked row was un-parked behind the relay's back (the sweep the relay runs).
async fn held_rows_are_released_once_their_key_is_free(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    for seq in 1..=3 {
        repo.persist::<Counter>(&[event("h", seq, 1)], None)
            .await
            .unwrap();
    }
    let claim = store.claim_outbox(1).await.unwrap();
    claim
        .complete(&[], &[failure(1, "too large", true)])
        .await
        .unwrap();
    assert!(
        publish_next(&store, 10).await.is_empty(),
        "2 and 3 are set aside"
    );
    execute(
        &store,
        "UPDATE mom_outbox SET parked_at = NULL WHERE position = 1",
    )
    .await;
    assert_eq!(store.release_held().await.unwrap(), 2);
    assert_eq!(publish_next(&store, 10).await, vec![1, 2, 3]);
    cleanup(store, db).await;
}

/// Runs `sql` on the store's own database, either backend (a hand edit, as an operator or an
/// earlier version would make it).
async fn execute(store: &EventStore, sql: &str) -> u64 {
    match store.backend() {
        mom_eventstore::Backend::Postgres(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        mom_eventstore::Backend::Sqlite(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    }
}

/// Published rows leave the outbox when they are marked; the log keeps every event with its
/// message. Rows an earlier version marked published and kept are pruned after the retention.
async fn published_rows_leave_the_outbox_and_the_log_stays(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    persist_keys(&repo, "p", 9).await;
    // 1..=3 published, 4 parked, 5..=9 pending.
    let claim = store.claim_outbox(4).await.unwrap();
    claim
        .complete(&[1, 2, 3], &[failure(4, "no", true)])
        .await
        .unwrap();
    assert_eq!(
        execute(&store, "DELETE FROM mom_outbox WHERE position <= 3").await,
        0,
        "the published rows are gone"
    );
    assert_eq!(store.outbox_parked().await.unwrap(), 1);
    assert_eq!(store.outbox_backlog().await.unwrap(), 5);
    // Rebuilds read the log, which still has every event with its message.
    let messages = store.read_messages(0, 100).await.unwrap();
    assert_eq!(messages.len(), 9);
    assert_eq!(messages[0].message.key, "p-1");
    assert_eq!(messages[0].message.payload, br#"{"Incremented":{"by":1}}"#);
    assert_eq!(store.read_log(0, 100).await.unwrap().len(), 9);
    // 5..=7 as an earlier version left them: marked published, kept until the retention.
    let now = mom_clock::now();
    let stamp = match kind {
        "postgres" => "now()".to_owned(),
        // As sqlx writes a bound `DateTime<Utc>` on SQLite.
        _ => format!(
            "'{}'",
            now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
        ),
    };
    let sql =
        format!("UPDATE mom_outbox SET published_at = {stamp} WHERE position BETWEEN 5 AND 7");
    assert_eq!(execute(&store, &sql).await, 3);
    assert_eq!(store.outbox_backlog().await.unwrap(), 2);
    assert_eq!(
        store
            .prune_outbox(now - chrono::Duration::hours(1), 100)
            .await
            .unwrap(),
        0,
        "nothing published before the retention"
    );
    let later = now + chrono::Duration::seconds(5);
    assert_eq!(store.prune_outbox(later, 2).await.unwrap(), 2, "in batches");
    assert_eq!(store.prune_outbox(later, 100).await.unwrap(), 1);
    assert_eq!(store.prune_outbox(later, 100).await.unwrap(), 0);
    assert_eq!(store.outbox_parked().await.unwrap(), 1, "parked rows stay");
    assert_eq!(publish_next(&store, 10).await, vec![8, 9]);
    assert_eq!(store.read_messages(0, 100).await.unwrap().len(), 9);
    cleanup(store, db).await;
}

async fn oversized_message_is_refused_and_nothing_is_stored(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    let mut big = event("big-1", 1, 1);
    big.payload = serde_json::json!({"actor": "x".repeat(2 * 1024 * 1024)});
    let err = repo.persist::<Counter>(&[big], None).await.unwrap_err();
    let PersistenceError::UnknownError(err) = err else {
        panic!("expected an unknown error, got {err:?}")
    };
    let err = err.downcast_ref::<StoreError>().unwrap();
    assert!(err.is_invalid_input());
    let text = err.to_string();
    assert!(text.contains("2097") && text.contains("960000"), "{text}");
    assert_eq!(store.head().await.unwrap(), 0);
    assert!(store.read_log(0, 10).await.unwrap().is_empty());
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    // Just under the limit is fine.
    let mut fits = event("big-1", 1, 1);
    fits.payload = serde_json::json!({"actor": "x".repeat(900_000)});
    repo.persist::<Counter>(&[fits], None).await.unwrap();
    assert_eq!(store.head().await.unwrap(), 1);
    cleanup(store, db).await;
}

/// A store written before the outbox became a queue (migration 0001 only): 0002 moves each
/// row's message to the event log, and the pending row is still published with its message.
async fn messages_of_an_old_store_move_to_the_log(kind: &str) {
    let (url, db) = match kind {
        "postgres" => {
            let db = mom_testkit::TestDatabase::create().await.unwrap();
            (db.url.clone(), Db::Postgres(db))
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("events.db").display());
            (url, Db::Sqlite(dir))
        }
    };
    // Rows as migration 0001 stored them: the message in the outbox row.
    let old_rows = |bytes: &str| {
        format!(
            "UPDATE mom_log_head SET position = 2 WHERE id = 1; \
             INSERT INTO mom_events VALUES \
             (1, '0190f0a4-0000-7000-8000-000000000001', 'counter', 'c-1', 1, 'Incremented', '1', \
              '{{}}', '{{}}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), \
             (2, '0190f0a4-0000-7000-8000-000000000002', 'counter', 'c-1', 2, 'Incremented', '1', \
              '{{}}', '{{}}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'); \
             INSERT INTO mom_outbox (position, lane, topic, msg_key, payload, headers, published_at) \
             VALUES (1, 3, 'mom.test.v1', 'c-1', {bytes}, '[[\"ce_id\",\"1\"]]', '2026-01-01T00:00:01Z'), \
             (2, 3, 'mom.test.v1', 'c-1', {bytes}, '[[\"ce_id\",\"1\"]]', NULL);"
        )
    };
    match &db {
        Db::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            migrator.migrations = migrator
                .migrations
                .iter()
                .filter(|m| m.version == 1)
                .cloned()
                .collect();
            migrator.run(&pool).await.unwrap();
            sqlx::raw_sql(&old_rows("'\\x6f6c64'"))
                .execute(&pool)
                .await
                .unwrap();
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
                .filter(|m| m.version == 1)
                .cloned()
                .collect();
            migrator.run(&pool).await.unwrap();
            sqlx::raw_sql(&old_rows("x'6f6c64'"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let messages = store.read_messages(0, 10).await.unwrap();
    assert_eq!(messages.len(), 2);
    for message in &messages {
        assert_eq!(message.message.topic, "mom.test.v1");
        assert_eq!(message.message.key, "c-1");
        assert_eq!(message.message.payload, b"old");
        assert_eq!(
            message.message.headers,
            vec![("ce_id".to_owned(), "1".to_owned())]
        );
    }
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
    let claim = store.claim_outbox(10).await.unwrap();
    assert_eq!(claim.records().len(), 1);
    assert_eq!(claim.records()[0].position, 2);
    assert_eq!(claim.records()[0].payload, b"old");
    claim.complete(&[2], &[]).await.unwrap();
    cleanup(store, db).await;
}

async fn log_pages_in_position_order(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    let mut expected = HashMap::new();
    for i in 0..50 {
        let id = format!("p-{}", i % 7);
        let seq = expected.entry(id.clone()).or_insert(0usize);
        *seq += 1;
        repo.persist::<Counter>(&[event(&id, *seq, 1)], None)
            .await
            .unwrap();
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.read_log(after, 8).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        seen.extend(page.iter().map(|e| e.position));
    }
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    cleanup(store, db).await;
}

/// The bundled SQLite is built without memory statistics (`SQLITE_DEFAULT_MEMSTATUS=0`, set by
/// the workspace's `.cargo/config.toml`): with them every allocation inside SQLite takes one
/// global mutex that the connections' threads contend for (docs/eventstore.md). A build outside
/// the workspace's settings fails here rather than running slower unnoticed.
#[tokio::test]
async fn the_bundled_sqlite_keeps_no_memory_statistics() {
    let store = EventStore::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .unwrap();
    let mom_eventstore::Backend::Sqlite(pool) = store.backend() else {
        unreachable!("a SQLite store")
    };
    let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "SQLite built without LIBSQLITE3_FLAGS=-DSQLITE_DEFAULT_MEMSTATUS=0 (.cargo/config.toml); \
         its compile options: {options:?}"
    );
}

/// A SQLite store opened for bulk reads (`StoreOptions::bulk_reads`, a rebuild's log sources)
/// reads its file through a memory map of `mom_eventstore::SQLITE_MMAP_BYTES`: every pooled
/// connection has the setting, the file is mapped once the log is read, and what is read through
/// the map is what was written. A store opened with the default options (a live service) reads
/// with `pread`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_opened_for_bulk_reads_reads_its_file_through_a_memory_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let url = format!("sqlite:{}", path.display());
    let live = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let repo = repository(&live);
    for seq in 1..=40 {
        repo.persist::<Counter>(&[event("m-1", seq, 1)], None)
            .await
            .unwrap();
    }
    assert_eq!(mmap_sizes(&live).await, vec![0; 3], "a live store");
    // Pages still in the write-ahead log are read from there; the map covers the database file,
    // which holds them once checkpointed.
    let mom_eventstore::Backend::Sqlite(pool) = live.backend() else {
        unreachable!("a SQLite store")
    };
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .unwrap();
    live.close().await;

    let bulk = EventStore::connect(&url, &StoreOptions::bulk_reads())
        .await
        .unwrap();
    let size = i64::try_from(mom_eventstore::SQLITE_MMAP_BYTES).unwrap();
    assert_eq!(
        mmap_sizes(&bulk).await,
        vec![size; 3],
        "a store for bulk reads"
    );
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = bulk.read_log(after, 16).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        seen.extend(page.iter().map(|e| (e.position, e.sequence)));
    }
    assert_eq!(
        seen,
        (1..=40).map(|i| (i, i)).collect::<Vec<_>>(),
        "the log read through the map"
    );
    let file = std::fs::canonicalize(&path).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        maps.lines()
            .any(|line| line.ends_with(&*file.to_string_lossy())),
        "{} is not mapped:\n{maps}",
        file.display()
    );
    bulk.close().await;
}

/// `PRAGMA mmap_size` of three connections of `store`'s pool, held at once (so each is a
/// connection of its own, not the first one three times).
async fn mmap_sizes(store: &EventStore) -> Vec<i64> {
    let mom_eventstore::Backend::Sqlite(pool) = store.backend() else {
        unreachable!("a SQLite store")
    };
    let mut held = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        sizes.push(
            sqlx::query_scalar("PRAGMA mmap_size")
                .fetch_one(&mut *conn)
                .await
                .unwrap(),
        );
        held.push(conn);
    }
    sizes
}

async fn message_pages_of_some_topics_pass_over_the_others(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    let mut positions: HashMap<&str, Vec<u64>> = HashMap::new();
    for i in 0..60_u64 {
        // Runs of one topic and the other, of varying length.
        let (id, topic) = if (i / 3 + i / 7) % 2 == 0 {
            (format!("t-{i}"), "mom.test.v1")
        } else {
            (format!("other-{i}"), "mom.other.v1")
        };
        repo.persist::<Counter>(&[event(&id, 1, 1)], None)
            .await
            .unwrap();
        positions.entry(topic).or_default().push(i + 1);
    }
    let read_all = |topics: Option<Vec<String>>| {
        let store = store.clone();
        async move {
            let (mut after, mut seen) = (0, Vec::new());
            loop {
                let filter = MessageFilter {
                    topics: topics.as_deref(),
                    ..MessageFilter::default()
                };
                let page = store.read_messages_of(after, 8, filter).await.unwrap();
                let Some(last) = page.last() else { break };
                after = last.position;
                for entry in &page {
                    if let Some(topics) = &topics {
                        assert!(topics.contains(&entry.message.topic), "{entry:?}");
                    }
                    seen.push(entry.position);
                }
            }
            seen
        }
    };
    let topics = |names: &[&str]| Some(names.iter().map(|t| (*t).to_owned()).collect());
    assert_eq!(
        read_all(topics(&["mom.test.v1"])).await,
        positions["mom.test.v1"]
    );
    assert_eq!(
        read_all(topics(&["mom.other.v1", "mom.unknown.v1"])).await,
        positions["mom.other.v1"]
    );
    let every: Vec<u64> = (1..=60).collect();
    assert_eq!(
        read_all(topics(&["mom.test.v1", "mom.other.v1"])).await,
        every
    );
    assert_eq!(read_all(None).await, every);
    assert_eq!(read_all(topics(&[])).await, Vec::<u64>::new());
    // The filtered read gives the same entries as the unfiltered one.
    let test_topic = vec!["mom.test.v1".to_owned()];
    let filter = MessageFilter {
        topics: Some(&test_topic),
        ..MessageFilter::default()
    };
    let filtered = store.read_messages_of(0, 100, filter).await.unwrap();
    let unfiltered = store.read_messages(0, 100).await.unwrap();
    let unfiltered: Vec<_> = unfiltered
        .into_iter()
        .filter(|e| e.message.topic == "mom.test.v1")
        .collect();
    assert_eq!(format!("{filtered:?}"), format!("{unfiltered:?}"));
    // Only the named headers, the same as in the unfiltered read.
    let names = ["ce_type", "no-such-header"];
    let only = MessageFilter {
        headers: Some(&names),
        ..MessageFilter::default()
    };
    let with_some = store.read_messages_of(0, 100, only).await.unwrap();
    let entries = store.read_messages(0, 100).await.unwrap();
    assert_eq!(with_some.len(), entries.len());
    for (some, all) in with_some.iter().zip(&entries) {
        let expected: Vec<(String, String)> = all
            .message
            .headers
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .cloned()
            .collect();
        assert!(
            !all.message.headers.is_empty() && expected.len() == 1,
            "{all:?}"
        );
        assert_eq!(some.message.headers, expected);
        assert_eq!(some.message.payload, all.message.payload);
    }
    // No header at all (a rebuild's reads): the same entries without headers.
    let none = MessageFilter {
        headers: Some(&[]),
        ..MessageFilter::default()
    };
    let without = store.read_messages_of(0, 100, none).await.unwrap();
    assert_eq!(without.len(), entries.len());
    for (bare, all) in without.iter().zip(&entries) {
        assert!(bare.message.headers.is_empty(), "{bare:?}");
        assert_eq!(
            (bare.position, bare.event_id, &bare.message.payload),
            (all.position, all.event_id, &all.message.payload)
        );
        assert_eq!(
            (&bare.message.topic, &bare.message.key, bare.recorded_time),
            (&all.message.topic, &all.message.key, all.recorded_time)
        );
    }
    // Events of another aggregate type, on both topics.
    for (i, id) in ["g-1", "other-g-2", "g-3"].into_iter().enumerate() {
        let mut gauge = event(id, 1, 1);
        gauge.aggregate_type = "gauge".to_owned();
        repo.persist::<Counter>(&[gauge], None).await.unwrap();
        assert_eq!(store.head().await.unwrap(), 61 + i as u64);
    }
    let gauges = vec!["gauge".to_owned()];
    let of_type = |topics| MessageFilter {
        topics,
        aggregate_types: Some(&gauges),
        ..MessageFilter::default()
    };
    assert_eq!(positions_of(&store, of_type(None)).await, vec![61, 62, 63]);
    assert_eq!(
        positions_of(&store, of_type(Some(&test_topic))).await,
        vec![61, 63]
    );
    let counters = vec!["counter".to_owned()];
    let counter_filter = MessageFilter {
        topics: None,
        aggregate_types: Some(&counters),
        ..MessageFilter::default()
    };
    assert_eq!(positions_of(&store, counter_filter).await, every);
    // A bounded range: only the entries at or below `up_to`.
    let bounded = MessageFilter {
        topics: Some(&test_topic),
        up_to: Some(30),
        ..MessageFilter::default()
    };
    let expected: Vec<u64> = positions["mom.test.v1"]
        .iter()
        .copied()
        .filter(|p| *p <= 30)
        .collect();
    assert_eq!(positions_of(&store, bounded).await, expected);
    let up_to_62 = MessageFilter {
        up_to: Some(62),
        ..of_type(None)
    };
    assert_eq!(positions_of(&store, up_to_62).await, vec![61, 62]);
    cleanup(store, db).await;
}

/// A store opened for bulk reads (a rebuild's log sources) reads the log's messages on
/// connections of its own (`crate::bulk`): every filter gives what the pool's reads give, pages
/// follow each other, and the reads see the appends of the store's own writer (the whole case
/// of `message_pages_of_some_topics_pass_over_the_others`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pages_read_on_the_stores_own_connections() {
    message_pages_of_some_topics_pass_over_the_others("sqlite-bulk").await;
}

/// A stored value the reads cannot decode is an error that names it, on the pool's reads and
/// the bulk reads alike; nothing panics and the log is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_recorded_time_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let live = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    persist_keys(&repository(&live), "t", 3).await;
    let good = live.read_messages(0, 10).await.unwrap();
    let bulk = EventStore::connect(&url, &StoreOptions::bulk_reads())
        .await
        .unwrap();
    assert_eq!(
        format!("{:?}", bulk.read_messages(0, 10).await.unwrap()),
        format!("{good:?}"),
        "the same messages both ways"
    );
    execute(
        &live,
        "UPDATE mom_events SET recorded_time = 'last tuesday' WHERE position = 2",
    )
    .await;
    for (store, what) in [(&live, "the pool's read"), (&bulk, "a bulk read")] {
        let err = store.read_messages(0, 10).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(_)) && err.to_string().contains("last tuesday"),
            "{what}: {err}"
        );
        // The page before the bad row is still read.
        let page = store.read_messages(0, 1).await.unwrap();
        assert_eq!(page.len(), 1, "{what}");
    }
    bulk.close().await;
    live.close().await;
}

/// A store in memory cannot be opened a second time by another connection: opened for bulk
/// reads, it reads through its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_memory_opened_for_bulk_reads_reads_through_its_pool() {
    let store = EventStore::connect("sqlite::memory:", &StoreOptions::bulk_reads())
        .await
        .unwrap();
    persist_keys(&repository(&store), "m", 5).await;
    let page = store.read_messages(0, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    store.close().await;
}

/// The positions of the first 100 entries that `filter` lets through.
async fn positions_of(store: &EventStore, filter: MessageFilter<'_>) -> Vec<u64> {
    let page = store.read_messages_of(0, 100, filter).await.unwrap();
    page.iter().map(|e| e.position).collect()
}

async fn stale_cache_of_another_process_is_corrected(kind: &str) {
    let (store, db) = open(kind).await;
    // Two executors over one store behave like two processes, each with its own cache.
    let first = Executor::<Counter>::new(AggregateStore::new(repository(&store), 1), ());
    let second = Executor::<Counter>::new(AggregateStore::new(repository(&store), 1), ());
    assert_eq!(first.execute("k-1", 1, HashMap::new()).await.unwrap(), 1);
    assert_eq!(second.execute("k-1", 10, HashMap::new()).await.unwrap(), 2);
    // `first` still caches version 1; its append conflicts and it retries on the stored state.
    assert_eq!(first.execute("k-1", 100, HashMap::new()).await.unwrap(), 3);
    let (counter, version) = first.load("k-1").await.unwrap();
    assert_eq!((counter.value, version), (111, 3));
    let sequences: Vec<usize> = repository(&store)
        .get_events::<Counter>("k-1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(sequences, vec![1, 2, 3]);
    cleanup(store, db).await;
}

async fn upcasters_turn_old_event_versions_into_the_current_shape(kind: &str) {
    let (store, db) = open(kind).await;
    let repo = repository(&store);
    // Version 0.9 of the event stored the increment as `{"Added": n}`.
    let mut old = event("u-1", 1, 0);
    old.event_version = "0.9".to_owned();
    old.payload = serde_json::json!({"Added": 7});
    repo.persist::<Counter>(&[old], None).await.unwrap();
    let upcaster = cqrs_es::persist::SemanticVersionEventUpcaster::new(
        "Incremented",
        "1.0",
        Box::new(|payload| serde_json::json!({"Incremented": {"by": payload["Added"]}})),
    );
    let executor = Executor::<Counter>::new(
        AggregateStore::new(repository(&store), 0).with_upcasters(vec![Box::new(upcaster)]),
        (),
    );
    let (counter, version) = executor.load("u-1").await.unwrap();
    assert_eq!((counter.value, version), (7, 1));
    // The stored event is untouched: upcasting happens on read.
    let stored = repo.get_events::<Counter>("u-1").await.unwrap();
    assert_eq!(stored[0].payload, serde_json::json!({"Added": 7}));
    cleanup(store, db).await;
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
    concurrent_writers_lose_and_double_nothing,
    read_back_gives_exactly_what_was_written,
    conflicting_append_is_an_optimistic_lock_error,
    failing_transaction_leaves_neither_event_nor_outbox_row,
    snapshot_is_written_with_events_and_used_on_load,
    outbox_claim_marks_only_published_rows,
    a_lease_claims_past_its_rows_in_flight,
    parked_row_holds_its_key_back_until_retried_or_skipped,
    held_rows_are_released_once_their_key_is_free,
    published_rows_leave_the_outbox_and_the_log_stays,
    oversized_message_is_refused_and_nothing_is_stored,
    messages_of_an_old_store_move_to_the_log,
    log_pages_in_position_order,
    message_pages_of_some_topics_pass_over_the_others,
    stale_cache_of_another_process_is_corrected,
    upcasters_turn_old_event_versions_into_the_current_shape,
);
