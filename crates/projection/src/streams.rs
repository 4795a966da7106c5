//! The per-process cap on live streams (server-sent events, gRPC watch streams): each open
//! stream holds a permit for as long as the client keeps it, and a stream over the cap is
//! refused at once (HTTP 503, gRPC `RESOURCE_EXHAUSTED`) instead of adding one more reader of the
//! database and one more task to a process that serves a plant.
//!
//! The cap is `MOM_MAX_STREAMS` (default 256), read once per process; every API of the process
//! (the OEE service's HTTP and gRPC watches, the read models' feed) shares it.
//!
//! Invariant: a permit is released when its stream is dropped, whatever ended it.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The variable that sets the cap.
pub const MAX_STREAMS_VAR: &str = "MOM_MAX_STREAMS";
/// The cap when the variable is unset.
pub const DEFAULT_MAX_STREAMS: usize = 256;

/// Refused: the process already serves as many live streams as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many live streams: this process serves at most {max} at once ({MAX_STREAMS_VAR}); \
     close one or retry later"
)]
pub struct TooManyStreams {
    /// The cap.
    pub max: usize,
}

/// A cap on concurrent streams.
#[derive(Debug, Clone)]
pub struct StreamLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl StreamLimit {
    /// Returns a cap of `max` streams.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Returns the process's cap (`MOM_MAX_STREAMS`, read at the first call; a value that is
    /// not a positive whole number is logged and the default taken).
    pub fn process() -> &'static StreamLimit {
        static LIMIT: OnceLock<StreamLimit> = OnceLock::new();
        LIMIT.get_or_init(|| {
            let max = match std::env::var(MAX_STREAMS_VAR) {
                Err(_) => DEFAULT_MAX_STREAMS,
                Ok(text) => match text.trim().parse::<usize>() {
                    Ok(max) if max > 0 => max,
                    _ => {
                        tracing::warn!(
                            value = %text,
                            "{MAX_STREAMS_VAR} is not a positive whole number; using {DEFAULT_MAX_STREAMS}"
                        );
                        DEFAULT_MAX_STREAMS
                    }
                },
            };
            StreamLimit::new(max)
        })
    }

    /// Takes a place for one stream, or refuses when all are taken.
    pub fn try_open(&self) -> Result<StreamPermit, TooManyStreams> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map(StreamPermit)
            .map_err(|_| TooManyStreams { max: self.max })
    }

    /// Returns how many streams are open.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// One stream's place; released when dropped.
#[derive(Debug)]
pub struct StreamPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl StreamPermit {
    /// Returns `stream` holding this place until it is dropped.
    pub fn hold<S>(self, stream: S) -> Permitted<S> {
        Permitted {
            inner: stream,
            _permit: self,
        }
    }
}

/// A stream that holds its [`StreamPermit`].
#[derive(Debug)]
pub struct Permitted<S> {
    inner: S,
    _permit: StreamPermit,
}

impl<S: tokio_stream::Stream + Unpin> tokio_stream::Stream for Permitted<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn streams_over_the_cap_are_refused_and_a_dropped_one_frees_its_place() {
        let limit = StreamLimit::new(2);
        let first = limit.try_open().unwrap().hold(tokio_stream::empty::<u8>());
        let _second = limit.try_open().unwrap();
        let refused = limit.try_open().unwrap_err();
        assert_eq!(refused, TooManyStreams { max: 2 });
        assert_eq!(limit.open(), 2);
        drop(first);
        assert_eq!(limit.open(), 1);
        assert!(limit.try_open().is_ok());
    }
}
