//! The in-memory state a read model keeps for its open transaction (pending rows, the sequence
//! guard, what to recompute once), written by its `flush` and dropped when the transaction ends.

use std::sync::atomic::{AtomicBool, Ordering};

/// The open transaction's state `T` of one read model. Only the runner's one transaction at a
/// time takes it, so the lock is never contended; it is a tokio lock because it is held across
/// the handler's queries.
#[derive(Debug, Default)]
pub struct TxState<T> {
    state: tokio::sync::Mutex<T>,
    /// Set when a transaction ended (committed or rolled back): whatever `flush` did not take
    /// (a Kafka message refused as poison) is dropped before the next one.
    ended: AtomicBool,
}

impl<T: Default> TxState<T> {
    /// Returns the open transaction's state, emptied first when the last transaction ended.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, T> {
        let mut state = self.state.lock().await;
        if self.ended.swap(false, Ordering::SeqCst) {
            *state = T::default();
        }
        state
    }

    /// Takes the open transaction's state (for `flush`), leaving it empty.
    pub async fn take(&self) -> T {
        std::mem::take(&mut *self.lock().await)
    }

    /// Notes that the transaction ended (`committed` or `rolled_back`).
    pub fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }
}
