//! Runs commands against aggregates: load, decide, append. The same steps as cqrs-es's
//! `CqrsFramework::execute`, but it returns the aggregate's version after the command (gRPC
//! replies carry it for optimistic concurrency) and offers loads for queries.

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, EventStore};

use crate::AggregateStore;

/// Command executor for one aggregate type.
pub struct Executor<A: Aggregate> {
    store: AggregateStore<A>,
    services: A::Services,
}

impl<A: Aggregate> std::fmt::Debug for Executor<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Executor<A> {
    /// Returns an executor over `store` with the aggregate's `services`.
    pub fn new(store: AggregateStore<A>, services: A::Services) -> Self {
        Self { store, services }
    }

    /// Executes `command` on aggregate `id` and returns its version (event count) afterwards.
    /// A concurrent append to the same aggregate surfaces as `AggregateError::AggregateConflict`.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<u64, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(id).await?;
        let sink = EventSink::default();
        context
            .aggregate
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        let version = (context.current_sequence + events.len()) as u64;
        if !events.is_empty() {
            self.store.commit(events, context, metadata).await?;
        }
        Ok(version)
    }

    /// Returns the aggregate's current state and version (0 when it has no events).
    pub async fn load(&self, id: &str) -> Result<(A, u64), AggregateError<A::Error>> {
        let context = self.store.load_aggregate(id).await?;
        Ok((context.aggregate, context.current_sequence as u64))
    }
}
