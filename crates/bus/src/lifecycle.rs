//! The start and the stop of a broker client (the relay, the OEE publisher) while the broker
//! does not answer: neither may hold up the service's shutdown for longer than a supervisor
//! waits after SIGTERM (Kubernetes: 30 s).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// First wait between two attempts of [`start_when_reachable`]; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// Longest wait between two attempts of [`start_when_reachable`].
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Runs `start` until it succeeds, retrying with backoff (0.5 s doubling to 10 s) and logging
/// each failure as `what` that cannot start; returns `None` as soon as `shutdown` is cancelled,
/// also in the middle of an attempt (an admin request to a broker that does not answer takes
/// a minute to time out, longer than a supervisor waits after SIGTERM). An attempt must
/// therefore leave nothing half done when it is dropped: creating topics and a producer does
/// not.
pub async fn start_when_reachable<T, E, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut start: F,
) -> Option<T>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = FIRST_RETRY;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            started = start() => match started {
                Ok(started) => return Some(started),
                Err(err) => tracing::warn!(error = %err, retry_in = ?backoff, "{what} cannot start (broker not reachable?), retrying"),
            },
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_RETRY);
    }
}

/// How long a publishing round in flight may go on after the shutdown began
/// ([`finish_within_grace`]).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs `work` (a publishing round) to its end, unless `shutdown` was cancelled more than
/// [`SHUTDOWN_GRACE`] ago: then it is dropped and `None` returned. A round waits for the
/// broker's acknowledgements for up to the producer's message timeout (two minutes) when the
/// broker is gone; dropped, its messages are published again after the restart (at least once,
/// as after a crash), which a normal stop avoids by letting the round finish.
pub async fn finish_within_grace<F: Future>(
    shutdown: &CancellationToken,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        output = work => Some(output),
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_until_started() {
        let attempts = AtomicU32::new(0);
        let shutdown = CancellationToken::new();
        let started = start_when_reachable("test", &shutdown, || async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err("not yet"),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(started, Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_an_attempt_that_hangs() {
        let shutdown = CancellationToken::new();
        let cancel = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            cancel.cancel();
        });
        let started = tokio::time::Instant::now();
        let result: Option<()> = start_when_reachable("test", &shutdown, || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err::<(), _>("timed out")
        })
        .await;
        assert_eq!(result, None);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_finishes_within_the_grace_or_is_dropped() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let quick = finish_within_grace(&shutdown, async {
            tokio::time::sleep(SHUTDOWN_GRACE / 2).await;
            1
        });
        assert_eq!(quick.await, Some(1));
        let started = tokio::time::Instant::now();
        let hung = finish_within_grace(&shutdown, async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            2
        });
        assert_eq!(hung.await, None);
        assert_eq!(started.elapsed(), SHUTDOWN_GRACE);
        // Without a shutdown, a long round runs to its end.
        let running = CancellationToken::new();
        let long = finish_within_grace(&running, async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            3
        });
        assert_eq!(long.await, Some(3));
    }
}
