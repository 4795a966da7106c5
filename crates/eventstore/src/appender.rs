//! Group commit: one task per store writes the appends of concurrent commands in one
//! transaction, so throughput grows with concurrency instead of being capped by fsyncs.
//!
//! A batch is written optimistically; when one of its appends conflicts (another writer already
//! holds that sequence), the transaction is rolled back, that append alone is answered with a
//! conflict and the rest is written again. When a batch fails for another reason, each append is
//! retried alone so that one bad append cannot fail its neighbours.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::commits::CommitSignal;
use crate::record::{NewEvent, NewSnapshot};
use crate::store::Backend;
use crate::{postgres, sqlite, StoreError};

pub(crate) struct AppendRequest {
    pub events: Vec<NewEvent>,
    pub snapshot: Option<NewSnapshot>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Outcome of writing one batch.
pub(crate) enum BatchOutcome {
    /// Everything was committed.
    Committed,
    /// Nothing was committed; these requests (indices into the batch) conflict.
    Conflicts(Vec<usize>),
}

/// Sends appends to the appender task. The task ends when the last clone is dropped, after
/// writing everything queued before.
#[derive(Debug, Clone)]
pub(crate) struct Appender {
    sender: mpsc::Sender<AppendRequest>,
    batches: Arc<BatchCounters>,
}

/// How the appender's batches were written so far (see [`AppendBatches`]).
#[derive(Debug, Default)]
pub(crate) struct BatchCounters {
    pub one_statement: AtomicU64,
    pub locked: AtomicU64,
}

/// How a store's append batches were written since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendBatches {
    /// Postgres: batches written in one statement, the head being where this store left it.
    pub one_statement: u64,
    /// Batches written the long way: the head's row lock first, then the rows in a transaction
    /// (the first batch, a batch after another process appended, and every batch on SQLite).
    pub locked: u64,
}

impl Appender {
    pub fn start(
        backend: Backend,
        max_batch_events: usize,
        commits: CommitSignal,
    ) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(4096);
        let batches = Arc::new(BatchCounters::default());
        let head = postgres::HeadCache::new(batches.clone());
        let task = tokio::spawn(run(
            backend,
            receiver,
            max_batch_events.max(1),
            commits,
            head,
        ));
        (Self { sender, batches }, task)
    }

    /// How the batches were written so far.
    pub fn batches(&self) -> AppendBatches {
        AppendBatches {
            one_statement: self.batches.one_statement.load(Ordering::Relaxed),
            locked: self.batches.locked.load(Ordering::Relaxed),
        }
    }

    /// Appends and waits for the commit. Cancel safety: if the caller is dropped after the request
    /// was queued, the append may still be committed.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        snapshot: Option<NewSnapshot>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(AppendRequest {
                events,
                snapshot,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(
    backend: Backend,
    mut receiver: mpsc::Receiver<AppendRequest>,
    max_events: usize,
    commits: CommitSignal,
    mut head: postgres::HeadCache,
) {
    while let Some(first) = receiver.recv().await {
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < max_events {
            match receiver.try_recv() {
                Ok(request) => {
                    events += request.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        write(&backend, batch, &mut head).await;
        // Readers of the log wake up (a batch that committed nothing wakes them for nothing,
        // which costs one empty read).
        commits.bump();
    }
}

async fn write(backend: &Backend, batch: Vec<AppendRequest>, head: &mut postgres::HeadCache) {
    let mut pending = reject_duplicates_within(batch);
    while !pending.is_empty() {
        match write_once(backend, &pending, head).await {
            Ok(BatchOutcome::Committed) => {
                for request in pending {
                    let _ = request.reply.send(Ok(()));
                }
                return;
            }
            Ok(BatchOutcome::Conflicts(conflicting)) => {
                let conflicting: HashSet<usize> = conflicting.into_iter().collect();
                let mut rest = Vec::with_capacity(pending.len());
                for (index, request) in pending.into_iter().enumerate() {
                    if conflicting.contains(&index) {
                        let _ = request.reply.send(Err(StoreError::Conflict));
                    } else {
                        rest.push(request);
                    }
                }
                pending = rest;
            }
            Err(err) if pending.len() == 1 => {
                tracing::warn!(error = %err, "append failed");
                if let Some(request) = pending.into_iter().next() {
                    let _ = request.reply.send(Err(err));
                }
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, appends = pending.len(), "batch append failed, retrying appends one by one");
                for request in pending {
                    let single = vec![request];
                    let result = match write_once(backend, &single, head).await {
                        Ok(BatchOutcome::Committed) => Ok(()),
                        Ok(BatchOutcome::Conflicts(_)) => Err(StoreError::Conflict),
                        Err(err) => Err(err),
                    };
                    if let Some(request) = single.into_iter().next() {
                        let _ = request.reply.send(result);
                    }
                }
                return;
            }
        }
    }
}

/// Answers appends that reuse a sequence another append of the same batch already claims.
fn reject_duplicates_within(batch: Vec<AppendRequest>) -> Vec<AppendRequest> {
    let mut claimed: HashSet<(String, String, i64)> = HashSet::new();
    let mut accepted = Vec::with_capacity(batch.len());
    for request in batch {
        let clash = request.events.iter().any(|e| {
            claimed.contains(&(e.aggregate_type.clone(), e.aggregate_id.clone(), e.sequence))
        });
        if clash {
            let _ = request.reply.send(Err(StoreError::Conflict));
            continue;
        }
        for e in &request.events {
            claimed.insert((e.aggregate_type.clone(), e.aggregate_id.clone(), e.sequence));
        }
        accepted.push(request);
    }
    accepted
}

/// `head` is what this appender knows of the log's head between batches (Postgres only).
async fn write_once(
    backend: &Backend,
    batch: &[AppendRequest],
    head: &mut postgres::HeadCache,
) -> Result<BatchOutcome, StoreError> {
    match backend {
        Backend::Postgres(pool) => postgres::write_batch(pool, batch, head).await,
        Backend::Sqlite(pool) => {
            head.batches.locked.fetch_add(1, Ordering::Relaxed);
            sqlite::write_batch(pool, batch).await
        }
    }
}
