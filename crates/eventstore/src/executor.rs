//! Runs commands against aggregates: load, decide, append. The same steps as cqrs-es's
//! `CqrsFramework::execute`, but it returns the aggregate's version after the command (gRPC
//! replies carry it for optimistic concurrency), keeps recently used aggregates in memory, and
//! offers loads for queries.
//!
//! The cache never decides alone: the append is optimistic, so a cached state that another
//! process made stale fails the append (or the command's own version check) and the command is run
//! once more on the state freshly loaded from the store.

use std::collections::HashMap;
use std::sync::Mutex;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError, EventStore};

use crate::AggregateStore;

/// Aggregates kept in memory per executor unless configured otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

struct Cached<A> {
    aggregate: A,
    sequence: usize,
    snapshot: Option<usize>,
}

/// Command executor for one aggregate type.
pub struct Executor<A: Aggregate> {
    store: AggregateStore<A>,
    services: A::Services,
    cache: Mutex<HashMap<String, Cached<A>>>,
    capacity: usize,
}

impl<A: Aggregate> std::fmt::Debug for Executor<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("store", &self.store)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<A> Executor<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    /// Returns an executor over `store` with the aggregate's `services` and the default cache.
    pub fn new(store: AggregateStore<A>, services: A::Services) -> Self {
        Self::with_cache(store, services, DEFAULT_CACHE_CAPACITY)
    }

    /// Returns an executor that keeps up to `capacity` aggregates in memory (0 = none).
    pub fn with_cache(store: AggregateStore<A>, services: A::Services, capacity: usize) -> Self {
        Self {
            store,
            services,
            cache: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Returns the event store the executor's aggregates live in.
    pub fn event_store(&self) -> &crate::EventStore {
        self.store.event_store()
    }

    /// Executes `command` on aggregate `id` and returns its version (event count) afterwards.
    /// A concurrent append to the same aggregate surfaces as `AggregateError::AggregateConflict`.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<u64, AggregateError<A::Error>> {
        if let Some(cached) = self.cached(id) {
            match self.run(cached, command.clone(), metadata.clone()).await {
                Ok(version) => return Ok(version),
                // A rejection or a conflict may come from a state another process has moved
                // past; decide again on the stored state.
                Err(_) => self.forget(id),
            }
        }
        let context = self.store.load_aggregate(id).await?;
        self.run(context, command, metadata).await
    }

    async fn run(
        &self,
        mut context: EventStoreAggregateContext<A>,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<u64, AggregateError<A::Error>> {
        let sink = EventSink::default();
        context
            .aggregate
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        let sequence = context.current_sequence + events.len();
        if events.is_empty() {
            return Ok(sequence as u64);
        }
        // `EventSink::write` applied the events, so the context holds the state after them.
        let cached = Cached {
            aggregate: context.aggregate.clone(),
            sequence,
            snapshot: context.current_snapshot,
        };
        let id = context.aggregate_id.clone();
        match self.store.commit(events, context, metadata).await {
            Ok(_) => {
                self.remember(id, cached);
                Ok(sequence as u64)
            }
            Err(err) => {
                self.forget(&id);
                Err(err)
            }
        }
    }

    fn cached(&self, id: &str) -> Option<EventStoreAggregateContext<A>> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(id)?;
        Some(EventStoreAggregateContext {
            aggregate_id: id.to_owned(),
            aggregate: cached.aggregate.clone(),
            current_sequence: cached.sequence,
            current_snapshot: cached.snapshot,
        })
    }

    fn remember(&self, id: String, cached: Cached<A>) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= self.capacity && !cache.contains_key(&id) {
                // Any entry will do: a miss only costs one load from the store.
                if let Some(victim) = cache.keys().next().cloned() {
                    cache.remove(&victim);
                }
            }
            match cache.get(&id) {
                Some(existing) if existing.sequence > cached.sequence => {}
                _ => {
                    cache.insert(id, cached);
                }
            }
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }

    /// Returns the aggregate and its version as this executor last stored or loaded it, when
    /// it is in the cache (nothing is read): another process may have appended since, so the
    /// state is the one at that version, not necessarily the current one.
    pub fn cached_state(&self, id: &str) -> Option<(A, u64)> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(id)?;
        Some((cached.aggregate.clone(), cached.sequence as u64))
    }

    /// Returns the aggregate's current state and version (0 when it has no events), as stored.
    pub async fn load(&self, id: &str) -> Result<(A, u64), AggregateError<A::Error>> {
        let context = self.store.load_aggregate(id).await?;
        Ok((context.aggregate, context.current_sequence as u64))
    }
}
