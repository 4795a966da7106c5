//! A cqrs-es [`EventStore`] over [`SqlEventRepository`] with snapshots every N events.
//!
//! cqrs-es 0.5's own `PersistedEventStore` builds its snapshot by applying the new events to an
//! aggregate that `EventSink::write` has already applied them to, which double-counts them; this
//! store snapshots the aggregate as the command left it instead.

use std::collections::HashMap;
use std::marker::PhantomData;

use cqrs_es::persist::{
    EventStoreAggregateContext, EventUpcaster, PersistedEventRepository, PersistenceError,
    SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};

use crate::SqlEventRepository;

/// Event-sourced aggregate store: loads the latest snapshot plus the events after it, and writes a
/// snapshot in the append's transaction every `snapshot_every` events.
pub struct AggregateStore<A: Aggregate> {
    repo: SqlEventRepository,
    snapshot_every: usize,
    upcasters: Vec<Box<dyn EventUpcaster>>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A: Aggregate> std::fmt::Debug for AggregateStore<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateStore")
            .field("aggregate_type", &A::TYPE)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> AggregateStore<A> {
    /// Returns a store that snapshots every `snapshot_every` events (1 = after every command, so
    /// a load reads one row; 0 = never, so a load replays every event).
    pub fn new(repo: SqlEventRepository, snapshot_every: usize) -> Self {
        Self {
            repo,
            snapshot_every,
            upcasters: Vec::new(),
            _aggregate: PhantomData,
        }
    }

    /// Returns the event store behind it (for reads beside the aggregate's own loads).
    pub fn event_store(&self) -> &crate::EventStore {
        self.repo.store()
    }

    /// Adds upcasters applied to stored events before they are deserialized.
    pub fn with_upcasters(mut self, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        self.upcasters = upcasters;
        self
    }

    fn deserialize(
        &self,
        events: Vec<SerializedEvent>,
    ) -> Result<Vec<EventEnvelope<A>>, PersistenceError> {
        events
            .into_iter()
            .map(|event| {
                let event = self.upcasters.iter().fold(event, |event, upcaster| {
                    if upcaster.can_upcast(&event.event_type, &event.event_version) {
                        upcaster.upcast(event)
                    } else {
                        event
                    }
                });
                EventEnvelope::<A>::try_from(event)
            })
            .collect()
    }
}

impl<A: Aggregate> EventStore<A> for AggregateStore<A> {
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let events = self.repo.get_events::<A>(aggregate_id).await?;
        Ok(self.deserialize(events)?)
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        let mut context = EventStoreAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: A::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        if self.snapshot_every > 0 {
            if let Some(snapshot) = self.repo.get_snapshot::<A>(aggregate_id).await? {
                // A snapshot that no longer deserializes (the aggregate's shape changed) is
                // ignored and the aggregate is rebuilt from its events.
                if let Ok(aggregate) = serde_json::from_value::<A>(snapshot.aggregate) {
                    context.aggregate = aggregate;
                    context.current_sequence = snapshot.current_sequence;
                    context.current_snapshot = Some(snapshot.current_snapshot);
                }
            }
        }
        let events = self
            .repo
            .get_last_events::<A>(aggregate_id, context.current_sequence)
            .await?;
        for envelope in self.deserialize(events)? {
            context.current_sequence = envelope.sequence;
            context.aggregate.apply(envelope.payload);
        }
        Ok(context)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let first = context.current_sequence + 1;
        let last = context.current_sequence + events.len();
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(first..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // `EventSink::write` already applied the events, so the context holds the state after
        // `last`; snapshot it when the append crosses a multiple of `snapshot_every`.
        let snapshot = if self.snapshot_every > 0
            && !envelopes.is_empty()
            && (first - 1) / self.snapshot_every != last / self.snapshot_every
        {
            let version = context.current_snapshot.map_or(1, |v| v + 1);
            Some((
                context.aggregate_id.clone(),
                serde_json::to_value(&context.aggregate)?,
                version,
            ))
        } else {
            None
        };
        self.repo.persist::<A>(&serialized, snapshot).await?;
        Ok(envelopes)
    }
}
