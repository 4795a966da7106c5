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
    pub beside: AtomicU64,
    pub again: AtomicU64,
}

/// How a store's append batches were written since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendBatches {
    /// Postgres: batches written in one statement, the head being where this store left it.
    pub one_statement: u64,
    /// Batches written the long way: the head's row lock first, then the rows in a transaction
    /// (the first batch, a batch after another process appended, and every batch on SQLite).
    pub locked: u64,
    /// Postgres: batches sent while the batch before was still in flight (written beside it).
    pub beside: u64,
    /// Postgres: batches whose statement, sent beside the batch before, took the head's lock
    /// first and wrote nothing, and was written again once that batch committed.
    pub again: u64,
}

impl Appender {
    pub fn start(
        backend: Backend,
        max_batch_events: usize,
        pipeline_depth: usize,
        commits: CommitSignal,
    ) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(4096);
        let batches = Arc::new(BatchCounters::default());
        let head = postgres::HeadCache::new(batches.clone());
        let task = tokio::spawn(run(
            backend,
            receiver,
            max_batch_events.max(1),
            pipeline_depth.max(1),
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
            beside: self.batches.beside.load(Ordering::Relaxed),
            again: self.batches.again.load(Ordering::Relaxed),
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
    receiver: mpsc::Receiver<AppendRequest>,
    max_events: usize,
    depth: usize,
    commits: CommitSignal,
    head: postgres::HeadCache,
) {
    match &backend {
        Backend::Postgres(pool) => {
            run_pipelined(pool, receiver, max_events, depth, commits, head).await;
        }
        Backend::Sqlite(_) => run_serial(&backend, receiver, max_events, commits, head).await,
    }
}

/// Takes the next batch: the first request (waiting for it), then whatever is queued, up to
/// `max_events` events. `None` once every sender is gone and the queue is empty.
async fn next_batch(
    receiver: &mut mpsc::Receiver<AppendRequest>,
    max_events: usize,
) -> Option<Vec<AppendRequest>> {
    let first = receiver.recv().await?;
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
    Some(batch)
}

/// One batch at a time (SQLite: one writer per file anyway).
async fn run_serial(
    backend: &Backend,
    mut receiver: mpsc::Receiver<AppendRequest>,
    max_events: usize,
    commits: CommitSignal,
    mut head: postgres::HeadCache,
) {
    while let Some(batch) = next_batch(&mut receiver, max_events).await {
        write(backend, batch, &mut head).await;
        // Readers of the log wake up (a batch that committed nothing wakes them for nothing,
        // which costs one empty read).
        commits.bump();
    }
}

/// Postgres: the next batch is sent while the one before commits, on a second connection. Its
/// statement waits in the database for the head's row lock the batch before holds and runs the
/// moment that one commits, instead of the database waiting for this process to answer the
/// commands of that commit and gather the next batch.
///
/// Only a batch going the short way is written beside another: it needs the head the batch
/// before leaves, which is known as soon as that batch's rows are built (`announce`); a batch
/// going the long way is written alone. When the batch before does not commit as announced (a
/// conflict, a failure, another process appending), the statement of the next finds the head
/// elsewhere and writes nothing, and that batch goes the long way: the guarantees are those of
/// two processes appending to one store. When the next batch's statement took the head's lock
/// first, it is written again once the batch before committed (`after`).
async fn run_pipelined(
    pool: &sqlx::PgPool,
    mut receiver: mpsc::Receiver<AppendRequest>,
    max_events: usize,
    depth: usize,
    commits: CommitSignal,
    mut state: postgres::HeadCache,
) {
    let backend = Backend::Postgres(pool.clone());
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut pipeline = Pipeline {
        depth,
        ..Pipeline::default()
    };
    let mut open = true;
    let mut queued: std::collections::VecDeque<AppendRequest> = std::collections::VecDeque::new();
    let mut queued_events = 0usize;
    loop {
        // A batch starts when none is in flight, or beside the one in flight once as many
        // events are queued as that one carries (a batch cut at the first queued command would
        // cost a commit of its own for one or two commands).
        while !queued.is_empty()
            && pipeline.takes_more(in_flight.len())
            && (in_flight.is_empty() || queued_events >= pipeline.last_events)
        {
            let mut batch = Vec::new();
            let mut events = 0;
            while let Some(request) = queued.front() {
                if !batch.is_empty() && events + request.events.len() > max_events {
                    break;
                }
                events += request.events.len();
                batch.extend(queued.pop_front());
            }
            queued_events -= events;
            pipeline.started += 1;
            pipeline.last_events = events;
            let generation = pipeline.started;
            let (announce, announced) = oneshot::channel();
            let (done, after) = oneshot::channel();
            let mut cache = postgres::HeadCache::for_batch(
                state.next_start(),
                pipeline.connections.pop(),
                announce,
                pipeline.after.replace(after),
                state.batches.clone(),
            );
            let backend = backend.clone();
            let mut write = Box::pin(async move {
                write(&backend, batch, &mut cache).await;
                let _ = done.send(cache.known().cloned());
                (generation, cache)
            });
            // The batch's rows are built (and the head it leaves is known) before the next
            // batch is taken.
            let head = tokio::select! {
                biased;
                done = &mut write => {
                    pipeline.finished(&mut state, &commits, done);
                    continue;
                }
                head = announced => head.ok(),
            };
            if head.is_none() {
                pipeline.long_way = Some(generation);
            }
            state.set_known(head);
            if !in_flight.is_empty() {
                state.batches.beside.fetch_add(1, Ordering::Relaxed);
            }
            in_flight.push(write);
        }
        if !open && queued.is_empty() && in_flight.is_empty() {
            return;
        }
        tokio::select! {
            biased;
            Some(done) = futures::StreamExt::next(&mut in_flight), if !in_flight.is_empty() => {
                pipeline.finished(&mut state, &commits, done);
            }
            // The queue holds two batches at most; the channel's bound holds back the rest.
            request = receiver.recv(), if open && queued_events < 2 * max_events => {
                let Some(request) = request else {
                    open = false;
                    continue;
                };
                queued_events += request.events.len();
                queued.push_back(request);
                while queued_events < 2 * max_events {
                    let Ok(request) = receiver.try_recv() else { break };
                    queued_events += request.events.len();
                    queued.push_back(request);
                }
            }
        }
    }
}

/// The appender's batches in flight on Postgres ([`run_pipelined`]).
#[derive(Default)]
struct Pipeline {
    /// Batches written at once, each on a connection of its own.
    depth: usize,
    /// Batches started so far.
    started: u64,
    /// Events of the batch started last.
    last_events: usize,
    /// The batch in flight that goes the long way: nothing is written beside it.
    long_way: Option<u64>,
    /// Where the latest batch left the head, for the batch after it.
    after: Option<oneshot::Receiver<Option<postgres::KnownHead>>>,
    /// Connections of the batches that finished, for the next ones.
    connections: Vec<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl Pipeline {
    /// Whether another batch may start beside the `in_flight` ones.
    fn takes_more(&self, in_flight: usize) -> bool {
        in_flight < self.depth && self.long_way.is_none()
    }

    /// Takes in the outcome of one batch.
    fn finished(
        &mut self,
        state: &mut postgres::HeadCache,
        commits: &CommitSignal,
        (generation, mut cache): (u64, postgres::HeadCache),
    ) {
        if cache.missed() {
            state.start_cool_down();
        }
        if self.long_way == Some(generation) {
            self.long_way = None;
        }
        // A later batch started from the head this one announced; the latest one's outcome says
        // where the head is.
        if generation == self.started {
            state.set_known(cache.known().cloned());
            self.after = None;
        }
        if let Some(conn) = cache.take_connection() {
            self.connections.push(conn);
        }
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
