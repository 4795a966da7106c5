//! Commit wake-ups (`EventStore::commits`): a reader waiting for the next commit is woken by an
//! append of its own process at once and, on Postgres, by an append of another process through
//! the database's notification. The waits below have a fallback of a minute, so "woken" is
//! decided by what woke the wait, never by how long it took.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use mom_eventstore::{
    CommandMetadata, EncodeError, EventStore, OutboxEncoder, OutboxMessage, PendingEvent,
    SqlEventRepository, StoreOptions,
};

/// Long enough that a wait ending by its fallback fails the test instead of passing slowly.
const FALLBACK: Duration = Duration::from_secs(60);

struct Encoder;

impl OutboxEncoder for Encoder {
    fn encode(&self, event: &PendingEvent<'_>) -> Result<OutboxMessage, EncodeError> {
        Ok(OutboxMessage {
            topic: "mom.test.v1".to_owned(),
            key: event.aggregate_id.to_owned(),
            payload: event.payload.to_string().into_bytes(),
            headers: Vec::new(),
        })
    }
}

async fn append(store: &EventStore, id: &str, sequence: usize) {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let event = SerializedEvent::new(
        id.to_owned(),
        sequence,
        "counter".to_owned(),
        "Incremented".to_owned(),
        "1".to_owned(),
        serde_json::json!({"Incremented": {"by": 1}}),
        serde_json::to_value(CommandMetadata::new("tester", at).to_map()).unwrap(),
    );
    SqlEventRepository::new(store.clone(), Arc::new(Encoder))
        .persist::<counter::Counter>(&[event], None)
        .await
        .unwrap();
}

/// A minimal aggregate for `persist`'s type parameter.
mod counter {
    use cqrs_es::{Aggregate, DomainEvent};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Counter;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Incremented;

    impl DomainEvent for Incremented {
        fn event_type(&self) -> String {
            "Incremented".to_owned()
        }
        fn event_version(&self) -> String {
            "1".to_owned()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    pub struct Never;

    impl Aggregate for Counter {
        const TYPE: &'static str = "counter";
        type Command = ();
        type Event = Incremented;
        type Error = Never;
        type Services = ();

        async fn handle(
            &mut self,
            (): (),
            _: &(),
            _: &cqrs_es::event_sink::EventSink<Self>,
        ) -> Result<(), Never> {
            Ok(())
        }

        fn apply(&mut self, _: Incremented) {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_this_process_wakes_a_waiting_reader_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let mut commits = store.commits();
    commits.mark_seen();
    let waiter = tokio::spawn(async move { commits.wait(FALLBACK).await });
    append(&store, "c-1", 1).await;
    assert!(
        waiter.await.unwrap(),
        "the reader was not woken by the commit"
    );
    // A second handle on the same file (as `mom dev` connects a store-log projection to a
    // service's store) shares the wake-ups, also under another spelling of the path.
    let other_url = format!("sqlite://{}/./events.db", dir.path().display());
    let reader = EventStore::connect(&other_url, &StoreOptions::default())
        .await
        .unwrap();
    let mut commits = reader.commits();
    commits.mark_seen();
    let waiter = tokio::spawn(async move { commits.wait(FALLBACK).await });
    append(&store, "c-1", 2).await;
    assert!(
        waiter.await.unwrap(),
        "a reader on another handle of the same file was not woken"
    );
    reader.close().await;
    // Nothing new: a wait ends by its fallback and says so.
    let mut idle = store.commits();
    idle.mark_seen();
    assert!(!idle.wait(Duration::from_millis(50)).await);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_of_this_and_of_another_process_wake_a_waiting_reader_on_postgres() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let reader = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    // Another process: its own pool and appender on the same database. Handles of one process
    // on one URL share their wake-ups, so this one names the database by another URL: only the
    // database's notification can wake the reader.
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let other_url = format!("{}{separator}application_name=other", db.url);
    let other = EventStore::connect(&other_url, &StoreOptions::default())
        .await
        .unwrap();
    let mut commits = reader.commits();
    // The listener connects in the background and counts its connection as a wake-up (commits
    // may have been missed before it listened): take that one first.
    assert!(commits.wait(FALLBACK).await, "the listener did not connect");
    commits.mark_seen();

    // First another process's commit: only the database's notification reaches this reader.
    let waiter = tokio::spawn(async move {
        let woken = commits.wait(FALLBACK).await;
        (commits, woken)
    });
    append(&other, "c-2", 1).await;
    let (_commits, woken) = waiter.await.unwrap();
    assert!(woken, "another process's commit did not wake the reader");

    // Then one of this process: its appender wakes the reader at once.
    let mut own = reader.commits();
    own.mark_seen();
    append(&reader, "c-1", 1).await;
    assert!(
        own.wait(FALLBACK).await,
        "own commit did not wake the reader"
    );
    other.close().await;
    reader.close().await;
    db.drop_database().await.unwrap();
}
