//! The live feed: each read model bumps a revision after a committed transaction that changed
//! it; the SSE endpoint and watchers wait on these revisions instead of polling the tables.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Change notifications of one read model.
#[derive(Debug)]
pub struct Changes {
    name: &'static str,
    changed: AtomicBool,
    revision: watch::Sender<u64>,
}

impl Changes {
    /// Returns the notifier of the read model `name`.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            changed: AtomicBool::new(false),
            revision: watch::Sender::new(0),
        }
    }

    /// The read model's name (the SSE event name).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Marks the running transaction as changing the read model.
    pub fn mark(&self) {
        self.changed.store(true, Ordering::Relaxed);
    }

    /// Publishes a new revision when the committed transaction changed the read model.
    pub fn committed(&self) {
        if self.changed.swap(false, Ordering::Relaxed) {
            self.revision.send_modify(|revision| *revision += 1);
        }
    }

    /// Forgets the changes of a rolled-back transaction.
    pub fn rolled_back(&self) {
        self.changed.store(false, Ordering::Relaxed);
    }

    /// Returns a receiver that sees every new revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }
}

/// A read model's name and its revisions, for the SSE endpoint.
pub type Feed = (&'static str, watch::Receiver<u64>);
