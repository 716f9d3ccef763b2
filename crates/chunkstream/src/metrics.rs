//! Per-stream metrics: items, chunks, bytes, time to first chunk and pool hits/misses,
//! reported once when a stream ends, and a `tracing` span around its work.
//!
//! [`ChunkStream::observe`] wraps a stream and calls a hook with its [`StreamMetrics`]
//! when it completes, fails or is dropped (a client that went away). Chunks and bytes are
//! always measured; items need an [`ItemCounter`] on the source, and pool figures the
//! pool, both given through a [`Probe`]. Nothing in the core pipeline changes: this is a
//! wrapper, and a stream that is not observed pays nothing.
//!
//! With the `tracing` feature (which `axum` enables), each observed stream also runs in
//! a `chunkstream` span and ends with a `DEBUG` event carrying the metrics.
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::{Arc, Mutex};
//! use futures_util::TryStreamExt;
//! use chunkstream::{ChunkConfig, Streamer, source, transform};
//! use chunkstream::metrics::{ItemCounter, Outcome, Probe};
//!
//! let streamer = Streamer::new(ChunkConfig::default()).unwrap();
//! let counter = ItemCounter::new();
//! let rows = counter.count(source::from_iter(0..1000));
//! let seen = Arc::new(Mutex::new(None));
//! let sink = Arc::clone(&seen);
//! let chunks = streamer
//!     .stream(rows, transform::passthrough())
//!     .observe_with(Probe::new().items(&counter).pool(streamer.pool()), move |m| {
//!         *sink.lock().unwrap() = Some(m);
//!     });
//! let body: Vec<u8> = chunks.map_ok(|c| c.to_vec()).try_concat().await.unwrap();
//!
//! let metrics = seen.lock().unwrap().take().unwrap();
//! assert_eq!(metrics.outcome, Outcome::Completed);
//! assert_eq!(metrics.items, Some(1000));
//! assert_eq!(metrics.bytes, body.len() as u64);
//! assert_eq!(metrics.chunks, 1);
//! assert_eq!(metrics.pool_misses, Some(1));
//! # });
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;

use crate::error::{ErrorKind, StreamError};
use crate::pool::{BufferPool, PoolStats};
use crate::stream::ChunkStream;
use crate::trace;

/// What one stream did, reported once when it ends.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StreamMetrics {
    /// Items pulled from the source, when an [`ItemCounter`] was given.
    pub items: Option<u64>,
    /// Chunks handed out.
    pub chunks: u64,
    /// Bytes handed out (the body's length so far).
    pub bytes: u64,
    /// From [`observe`](ChunkStream::observe) to the first chunk; `None` if there was none.
    pub time_to_first_chunk: Option<Duration>,
    /// From [`observe`](ChunkStream::observe) to the end.
    pub elapsed: Duration,
    /// Pool `get`s served from the pool during the stream, when the pool was given. The
    /// pool's counters are shared: streams running at the same time count here too.
    pub pool_hits: Option<u64>,
    /// Pool `get`s that allocated during the stream, when the pool was given (shared
    /// counters, as for `pool_hits`).
    pub pool_misses: Option<u64>,
    /// How the stream ended.
    pub outcome: Outcome,
}

/// How an observed stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every chunk was sent.
    Completed,
    /// The stream ended with an error of this [`kind`](StreamError::kind).
    Failed(ErrorKind),
    /// The stream was dropped before its end (the client went away).
    Dropped,
}

/// Counts the items a source yields; give it to a [`Probe`] to get
/// [`StreamMetrics::items`]. Clones share the count.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
///
/// let counter = chunkstream::metrics::ItemCounter::new();
/// let n = counter.count(chunkstream::source::from_iter(0..5)).count().await;
/// assert_eq!((n, counter.get()), (5, 5));
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct ItemCounter(Arc<AtomicU64>);

impl ItemCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        ItemCounter::default()
    }

    /// Items counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// `source`, counting each item (a success or an error) it yields.
    pub fn count<S: Stream>(&self, source: S) -> Counted<S> {
        Counted {
            source,
            counter: self.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A source counted by an [`ItemCounter`].
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Counted<S> {
        #[pin]
        source: S,
        counter: ItemCounter,
    }
}

impl<S: Stream> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let item = this.source.poll_next(cx);
        if let Poll::Ready(Some(_)) = item {
            this.counter.0.fetch_add(1, Relaxed);
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.source.size_hint()
    }
}

type StatsFn = Arc<dyn Fn() -> PoolStats + Send + Sync>;

/// What an observed stream measures beyond chunks and bytes: its items (through an
/// [`ItemCounter`]) and its pool's hits and misses.
///
/// # Examples
///
/// See the [module docs](self).
#[derive(Clone, Default)]
pub struct Probe {
    items: Option<ItemCounter>,
    pool: Option<StatsFn>,
}

impl Probe {
    /// A probe measuring neither items nor the pool.
    pub fn new() -> Self {
        Probe::default()
    }

    /// Reports the count of `counter` as the stream's items.
    pub fn items(mut self, counter: &ItemCounter) -> Self {
        self.items = Some(counter.clone());
        self
    }

    /// Reports how far `pool`'s hit and miss counters moved during the stream.
    pub fn pool<P: BufferPool>(mut self, pool: &Arc<P>) -> Self {
        let pool = Arc::clone(pool);
        self.pool = Some(Arc::new(move || pool.stats()));
        self
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("items", &self.items)
            .field("pool", &self.pool.is_some())
            .finish()
    }
}

type Hook = Box<dyn FnOnce(StreamMetrics) + Send>;

impl ChunkStream {
    /// Measures this stream's chunks, bytes and time to first chunk, and calls `on_end`
    /// once with them when it completes, fails or is dropped.
    pub fn observe<F>(self, on_end: F) -> ChunkStream
    where
        F: FnOnce(StreamMetrics) + Send + 'static,
    {
        self.observe_with(Probe::new(), on_end)
    }

    /// Like [`observe`](ChunkStream::observe), also measuring what `probe` names.
    pub fn observe_with<F>(self, probe: Probe, on_end: F) -> ChunkStream
    where
        F: FnOnce(StreamMetrics) + Send + 'static,
    {
        let (content_type, spawn_with) = (self.content_type(), self.spawn_with.clone());
        let pool_before = probe.pool.as_ref().map(|stats| stats());
        let observed = Observed {
            inner: self,
            probe,
            pool_before,
            created: Instant::now(),
            first: None,
            chunks: 0,
            bytes: 0,
            outcome: None,
            on_end: Some(Box::new(on_end)),
            span: trace::span(),
        };
        let mut chunks = ChunkStream::from_stream(content_type, observed);
        chunks.spawn_with = spawn_with;
        chunks
    }
}

/// The stream made by [`ChunkStream::observe_with`].
struct Observed {
    inner: ChunkStream,
    probe: Probe,
    pool_before: Option<PoolStats>,
    created: Instant,
    first: Option<Duration>,
    chunks: u64,
    bytes: u64,
    outcome: Option<Outcome>,
    on_end: Option<Hook>,
    span: trace::Span,
}

impl Observed {
    fn report(&mut self) {
        let Some(on_end) = self.on_end.take() else {
            return;
        };
        let after = self.probe.pool.as_ref().map(|stats| stats());
        let delta = |f: fn(&PoolStats) -> u64| match (&self.pool_before, &after) {
            (Some(before), Some(after)) => Some(f(after).saturating_sub(f(before))),
            _ => None,
        };
        let metrics = StreamMetrics {
            items: self.probe.items.as_ref().map(ItemCounter::get),
            chunks: self.chunks,
            bytes: self.bytes,
            time_to_first_chunk: self.first,
            elapsed: self.created.elapsed(),
            pool_hits: delta(|s| s.hits),
            pool_misses: delta(|s| s.misses),
            outcome: self.outcome.unwrap_or(Outcome::Dropped),
        };
        finished(&self.span, &metrics);
        on_end(metrics);
    }
}

impl Stream for Observed {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = {
            let _entered = trace::enter(&this.span);
            Pin::new(&mut this.inner).poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                this.chunks += 1;
                this.bytes += chunk.len() as u64;
                this.first.get_or_insert_with(|| this.created.elapsed());
            }
            Poll::Ready(Some(Err(err))) => {
                this.outcome = Some(Outcome::Failed(err.kind()));
                this.report();
            }
            Poll::Ready(None) => {
                this.outcome.get_or_insert(Outcome::Completed);
                this.report();
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.report();
    }
}

/// Reports a stream's end: a `DEBUG` event in its span with the `tracing` feature.
#[cfg(feature = "tracing")]
fn finished(span: &trace::Span, m: &StreamMetrics) {
    let _entered = span.enter();
    tracing::debug!(
        outcome = ?m.outcome,
        items = m.items,
        chunks = m.chunks,
        bytes = m.bytes,
        time_to_first_chunk_us = m.time_to_first_chunk.map(|d| d.as_micros() as u64),
        elapsed_us = m.elapsed.as_micros() as u64,
        pool_hits = m.pool_hits,
        pool_misses = m.pool_misses,
        "stream ended"
    );
}

#[cfg(not(feature = "tracing"))]
fn finished(_span: &trace::Span, _m: &StreamMetrics) {}
