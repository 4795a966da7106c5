//! The cqrs-es repository: serializes nothing itself, adds per-event metadata and the outbox
//! message, and hands the append to the store's appender.

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use serde_json::Value;
use uuid::Uuid;

use crate::outbox::{message_size, OutboxEncoder, PendingEvent};
use crate::record::{NewEvent, NewSnapshot};
use crate::{metadata, EventStore, StoreError};

/// A cqrs-es [`PersistedEventRepository`] over the [`EventStore`], writing each event's outbox
/// message in the same transaction.
///
/// Services use it through [`crate::AggregateStore`]; with cqrs-es's own `PersistedEventStore`
/// use `new_event_store` only (its snapshot modes double-apply events in cqrs-es 0.5). A snapshot
/// handed to `persist` is recorded at the last appended sequence.
#[derive(Clone)]
pub struct SqlEventRepository {
    store: EventStore,
    encoder: Arc<dyn OutboxEncoder>,
}

impl std::fmt::Debug for SqlEventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEventRepository").finish_non_exhaustive()
    }
}

impl SqlEventRepository {
    /// Returns a repository that encodes outbox messages with `encoder`.
    pub fn new(store: EventStore, encoder: Arc<dyn OutboxEncoder>) -> Self {
        Self { store, encoder }
    }

    /// Returns the store behind the repository.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    fn prepare(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(Vec<NewEvent>, Option<NewSnapshot>), StoreError> {
        let recorded_time = mom_clock::now();
        let mut prepared = Vec::with_capacity(events.len());
        for event in events {
            let event_id = Uuid::now_v7();
            let event_time = metadata::event_time(&event.metadata).unwrap_or(recorded_time);
            let sequence = u64::try_from(event.sequence)
                .map_err(|_| StoreError::Corrupt(format!("sequence {}", event.sequence)))?;
            let outbox = self.encoder.encode(&PendingEvent {
                event_id,
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence,
                event_type: &event.event_type,
                event_version: &event.event_version,
                payload: &event.payload,
                metadata: &event.metadata,
                event_time,
                recorded_time,
            })?;
            let size = message_size(&outbox);
            let limit = self.store.max_message_bytes();
            if size > limit {
                return Err(StoreError::MessageTooLarge {
                    event_type: event.event_type.clone(),
                    aggregate_id: event.aggregate_id.clone(),
                    size,
                    limit,
                });
            }
            prepared.push(NewEvent {
                event_id,
                aggregate_type: event.aggregate_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                sequence: crate::store::to_i64(sequence)?,
                event_type: event.event_type.clone(),
                event_version: event.event_version.clone(),
                payload: event.payload.clone(),
                metadata: event.metadata.clone(),
                event_time,
                recorded_time,
                outbox,
            });
        }
        let snapshot = match (snapshot_update, prepared.last()) {
            (Some((aggregate_id, payload, version)), Some(last)) => Some(NewSnapshot {
                aggregate_type: last.aggregate_type.clone(),
                aggregate_id,
                last_sequence: last.sequence,
                snapshot_version: crate::store::to_i64(version as u64)?,
                payload,
            }),
            _ => None,
        };
        Ok((prepared, snapshot))
    }
}

impl PersistedEventRepository for SqlEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.store.load_events(A::TYPE, aggregate_id, 0).await?)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self
            .store
            .load_events(A::TYPE, aggregate_id, last_sequence as u64)
            .await?)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(self.store.load_snapshot(A::TYPE, aggregate_id).await?)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let (events, snapshot) = self.prepare(events, snapshot_update)?;
        Ok(self.store.append(events, snapshot).await?)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.store.load_events(A::TYPE, aggregate_id, 0).await?;
        Ok(replay(events).await)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        // Rebuilds of read models read the global log instead (`EventStore::read_log`); this is
        // cqrs-es's per-type replay, kept for its `QueryReplay`.
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.read_log(after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            events.extend(
                page.into_iter()
                    .filter(|e| e.aggregate_type == A::TYPE)
                    .map(|e| SerializedEvent {
                        aggregate_id: e.aggregate_id,
                        sequence: e.sequence as usize,
                        aggregate_type: e.aggregate_type,
                        event_type: e.event_type,
                        event_version: e.event_version,
                        payload: e.payload,
                        metadata: e.metadata,
                    }),
            );
        }
        Ok(replay(events).await)
    }
}

async fn replay(events: Vec<SerializedEvent>) -> ReplayStream {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        // The channel holds every event, so pushing never waits and never fails while `stream`
        // is alive.
        if feed.push(Ok(event)).await.is_err() {
            break;
        }
    }
    stream
}
