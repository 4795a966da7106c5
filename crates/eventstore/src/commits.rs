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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The Postgres notification channel every append batch notifies at commit.
pub const CHANNEL: &str = "mom_log";

/// The commit counter of one database, shared by every handle of this process on it: two
/// stores connected to the same database (a service writing and a store-log projection reading,
/// as `mom dev` runs them) wake each other without the database's help.
#[derive(Debug, Clone)]
pub(crate) struct CommitSignal(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    sender: watch::Sender<u64>,
    listener: Mutex<Option<DropGuard>>,
}

/// The signals of this process, by database ([`CommitSignal::of_database`]).
type Registry = Mutex<HashMap<String, Weak<Shared>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl CommitSignal {
    /// Returns the signal of the database `key` names (a canonical SQLite path, a Postgres URL),
    /// shared with every other live handle of this process on it.
    pub fn of_database(key: &str) -> Self {
        let Ok(mut signals) = registry().lock() else {
            return Self(Arc::new(Shared::new()));
        };
        if let Some(shared) = signals.get(key).and_then(Weak::upgrade) {
            return Self(shared);
        }
        signals.retain(|_, signal| signal.strong_count() > 0);
        let shared = Arc::new(Shared::new());
        signals.insert(key.to_owned(), Arc::downgrade(&shared));
        Self(shared)
    }

    /// Records a commit of this process.
    pub fn bump(&self) {
        self.0
            .sender
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Returns a subscription; on Postgres, starts the database's listener (once) so commits of
    /// other processes wake it too. The listener stops when the last handle on the database is
    /// dropped.
    pub fn subscribe(&self, postgres: Option<&PgPool>) -> Commits {
        if let Some(pool) = postgres {
            if let Ok(mut listener) = self.0.listener.lock() {
                if listener.is_none() {
                    let stop = CancellationToken::new();
                    tokio::spawn(listen(pool.clone(), Arc::downgrade(&self.0), stop.clone()));
                    *listener = Some(stop.drop_guard());
                }
            }
        }
        Commits {
            receiver: self.0.sender.subscribe(),
        }
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            sender: watch::Sender::new(0),
            listener: Mutex::new(None),
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

/// Listens on [`CHANNEL`] and bumps the signal per notification until `stop`; reconnects with
/// backoff when the connection fails.
async fn listen(pool: PgPool, signal: Weak<Shared>, stop: CancellationToken) {
    let bump = || {
        if let Some(shared) = signal.upgrade() {
            shared
                .sender
                .send_modify(|count| *count = count.wrapping_add(1));
        }
    };
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
                Err(sqlx::Error::PoolClosed) => {
                    // That store was closed: a later subscriber (another handle on this
                    // database) starts a listener on its own pool.
                    if let Some(shared) = signal.upgrade() {
                        if let Ok(mut listener) = shared.listener.lock() {
                            listener.take();
                        }
                    }
                    return;
                }
                Err(err) => {
                    tracing::debug!(error = %err, "commit listener failed; reconnecting");
                    bump();
                    break;
                }
            }
        }
    }
}
