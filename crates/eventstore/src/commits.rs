//! Commit wake-ups: the readers of a store's log (the outbox relay, store-log projections) wait
//! for the next commit instead of polling an idle log.
//!
//! Two sources bump one counter: the store's own appender after each committed batch (appends of
//! this process), and, on Postgres, a `LISTEN` connection on [`CHANNEL`] that every batch's
//! transaction notifies (appends of other processes on the same database: a second replica, a
//! CLI). A lost listener connection counts as a wake-up too (notifications may have been missed
//! while it was down), and readers keep a fallback poll, so a missed wake-up costs at most that
//! poll's delay, never an event.
//!
//! Invariant: a wake-up is a hint, never data; readers always read the log itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The Postgres notification channel every append batch notifies at commit.
pub const CHANNEL: &str = "mom_log";

/// The commit counter of one store, shared by its handles.
#[derive(Debug, Clone)]
pub(crate) struct CommitSignal {
    sender: Arc<watch::Sender<u64>>,
    listener: Arc<Mutex<Option<DropGuard>>>,
}

impl CommitSignal {
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::Sender::new(0)),
            listener: Arc::new(Mutex::new(None)),
        }
    }

    /// Records a commit of this process.
    pub fn bump(&self) {
        self.sender
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Returns a subscription; on Postgres, starts the store's listener (once) so commits of
    /// other processes wake it too. The listener stops when the last handle of the store is
    /// dropped.
    pub fn subscribe(&self, postgres: Option<&PgPool>) -> Commits {
        if let Some(pool) = postgres {
            if let Ok(mut listener) = self.listener.lock() {
                if listener.is_none() {
                    let stop = CancellationToken::new();
                    tokio::spawn(listen(pool.clone(), self.sender.clone(), stop.clone()));
                    *listener = Some(stop.drop_guard());
                }
            }
        }
        Commits {
            receiver: self.sender.subscribe(),
        }
    }
}

/// A subscription to a store's commits ([`crate::EventStore::commits`]).
#[derive(Debug)]
pub struct Commits {
    receiver: watch::Receiver<u64>,
}

impl Commits {
    /// Forgets the commits so far: call it before reading the log, so that a commit during the
    /// read wakes the next [`Commits::wait`] instead of being lost.
    pub fn mark_seen(&mut self) {
        self.receiver.borrow_and_update();
    }

    /// Waits until a commit not yet seen, or `fallback` at most; returns whether a commit woke it.
    pub async fn wait(&mut self, fallback: Duration) -> bool {
        tokio::select! {
            changed = self.receiver.changed() => {
                if changed.is_err() {
                    // The store is gone: nothing will wake us; wait out the fallback.
                    tokio::time::sleep(fallback).await;
                    return false;
                }
                true
            }
            () = tokio::time::sleep(fallback) => false,
        }
    }
}

/// Listens on [`CHANNEL`] and bumps `sender` per notification until `stop`; reconnects with
/// backoff when the connection fails.
async fn listen(pool: PgPool, sender: Arc<watch::Sender<u64>>, stop: CancellationToken) {
    let bump = || sender.send_modify(|count| *count = count.wrapping_add(1));
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = stop.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(err) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::debug!(error = %err, "commit listener not connected; readers poll meanwhile");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(100);
        // Commits may have happened while no listener was connected.
        bump();
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                // A notification, or a lost connection that was re-established (notifications
                // may have been missed in between): wake the readers either way.
                Ok(_) => bump(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(err) => {
                    tracing::debug!(error = %err, "commit listener failed; reconnecting");
                    bump();
                    break;
                }
            }
        }
    }
}
