//! Parallel, order-preserving encoding on the batch path.
//!
//! With [`Streamer::with_encode_workers`] above 1, [`Streamer::stream_batch`] (and
//! [`Streamer::spawn_batch`]) encode up to that many batches at once and keep twice as
//! many in flight: the stream's own task pulls a batch, runs the transform on it (in
//! source order, so an `FnMut` transform keeps working), and queues the values for the
//! stream's workers on tokio's blocking pool, which frame and encode them into pooled
//! buffers of their own. A worker that ends a batch takes the next one queued at once, so
//! the cores do not wait for the stream's task between batches; with
//! [`Streamer::stream_batch_concurrent`] the (`Fn + Sync`) transform runs on the worker
//! too. The stream emits the batches' buffers strictly in source order, so the body is
//! byte for byte the one the sequential path writes, for every encoder and format.
//!
//! # How the pieces fit
//!
//! - A worker frames every value as if it were not the first (`,` before each item of a
//!   JSON array); when the first batch with a value is emitted, its first prefix becomes
//!   the opening one (`[`). The closing `]` (or `[]`) is written after the last batch, and
//!   never after a failure.
//! - A worker cuts its buffers at the chunk threshold, on item boundaries. The last buffer
//!   of a batch is usually short: it is carried, and the next batch's buffers are appended
//!   to it (one copy of at most one buffer per batch) until it reaches the threshold. So,
//!   as on the sequential path, every chunk but the last is at least the threshold long
//!   and ends on an item boundary; the cuts themselves may fall elsewhere.
//! - A failure (source, transform, encode, panic) in batch `k` is reported after the
//!   chunks of the batches before it, exactly as the sequential path reports it: same
//!   bytes before it, same error, same item index.
//! - Encoding is CPU work without a single await point, so it runs on tokio's blocking
//!   pool ([`tokio::task::spawn_blocking`]) rather than on the runtime's workers, where a
//!   half-millisecond batch would hold up the I/O of every other task on that worker.
//!   Blocking threads are reused, and [`EncodePermits`] caps how many encode at once.
//!
//! # Under load
//!
//! A batch goes to a worker only while fewer parallel streams run than the streamer's
//! [`EncodePermits`] has permits (by default one process-wide set, as many permits as the
//! machine has cores), and a permit is free. Otherwise the stream encodes the batch
//! itself, on its own task, as the sequential path does, and keeps no other batch in
//! flight meanwhile. With as many streams as cores, each stream's own task already keeps
//! a core busy: workers on top of them would only time-share the same cores (the lab
//! measured 6% more CPU per request for 64 concurrent streams, all of it in the encoder
//! running slower, none in the bookkeeping). A busy service therefore degrades to the
//! sequential path instead of piling blocking threads on top of its runtime: parallel
//! encoding only uses cores that are otherwise idle.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::chunk::PooledChunk;
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::pool::BufferPool;
use crate::source::batched;
use crate::stream::ChunkStream;
use crate::streamer::Streamer;

/// A shared budget of batches that may be encoded off the stream's task at once.
///
/// Every parallel stream of a streamer draws from the same permits (clones of a streamer
/// share them). A batch that finds no free permit is encoded by the stream itself, so the
/// number of encoding threads busy at once stays near the number of permits, however many
/// streams run. And while as many parallel streams run as there are permits, no batch
/// goes to a worker at all: each stream's own task already keeps a core busy. With
/// permits sized to the cores, parallel encoding uses idle cores and backs off when the
/// service is already busy.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use chunkstream::{ChunkConfig, EncodePermits, Streamer};
///
/// // Two encoding threads at most, for every stream of this streamer.
/// let permits = Arc::new(EncodePermits::new(2));
/// let streamer = Streamer::new(ChunkConfig::default())?
///     .with_encode_workers(4)
///     .with_encode_permits(Arc::clone(&permits));
/// assert_eq!(permits.available(), 2);
/// assert_eq!(permits.streams(), 0);
/// # Ok::<_, chunkstream::ConfigError>(())
/// ```
pub struct EncodePermits {
    available: AtomicUsize,
    total: usize,
    /// Parallel streams drawing on these permits, running now.
    streams: AtomicUsize,
}

impl EncodePermits {
    /// A budget of `permits` batches encoded off the stream's task at once, for as long
    /// as fewer than `permits` parallel streams run. Zero makes every parallel stream
    /// encode on its own task (the sequential path's cost, with the parallel path's
    /// bookkeeping).
    pub fn new(permits: usize) -> Self {
        EncodePermits {
            available: AtomicUsize::new(permits),
            total: permits,
            streams: AtomicUsize::new(0),
        }
    }

    /// The process-wide budget every streamer uses unless given another: as many permits
    /// as [`std::thread::available_parallelism`] (1 if unknown).
    pub fn global() -> Arc<EncodePermits> {
        static GLOBAL: OnceLock<Arc<EncodePermits>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Arc::new(EncodePermits::new(cores))
        }))
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        self.available.load(Ordering::Relaxed)
    }

    /// Permits in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Streams on the parallel path drawing on these permits that have not ended yet
    /// (neither finished, failed nor dropped). While there are as many as permits, each
    /// encodes on its own task.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }

    /// Whether a stream may hand batches to workers now: fewer streams run than there
    /// are permits, so some core is left over by the streams' own tasks.
    fn cores_left(&self) -> bool {
        self.streams() < self.total
    }

    /// Counts a stream until the returned guard is dropped.
    fn enter(self: &Arc<Self>) -> Running {
        self.streams.fetch_add(1, Ordering::Relaxed);
        Running(Arc::clone(self))
    }

    /// Takes a permit if one is free, without waiting.
    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.available
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }
}

impl fmt::Debug for EncodePermits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodePermits")
            .field("available", &self.available())
            .field("total", &self.total)
            .field("streams", &self.streams())
            .finish()
    }
}

/// A running stream's place in [`EncodePermits::streams`], given up on drop.
struct Running(Arc<EncodePermits>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A permit taken from [`EncodePermits`], given back on drop.
struct Permit(Arc<EncodePermits>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.available.fetch_add(1, Ordering::Release);
    }
}

/// The parallel options of a [`Streamer`].
#[derive(Clone, Debug)]
pub(crate) struct Parallel {
    workers: usize,
    permits: Arc<EncodePermits>,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            workers: 1,
            permits: EncodePermits::global(),
        }
    }
}

impl Parallel {
    /// Whether `stream_batch` takes the parallel path with this configuration: more than
    /// one worker, and no flush interval (a slow source gains nothing from parallel
    /// encoding, and the sequential path knows how to flush its partial buffers).
    pub(crate) fn applies(&self, flush_interval: Option<std::time::Duration>) -> bool {
        self.workers > 1 && flush_interval.is_none()
    }
}

impl<P: BufferPool, E: Encoder> Streamer<P, E> {
    /// The same streamer encoding up to `workers` batches at once on the batch path
    /// ([`stream_batch`](Streamer::stream_batch), [`spawn_batch`](Streamer::spawn_batch)).
    /// 1 (or 0) is the sequential path. This is the default: 1.
    ///
    /// The body is byte for byte what the sequential path writes, errors included; chunks
    /// still end on item boundaries and all but the last are at least the threshold long.
    /// The transform runs on the stream's task in source order; encoding runs on tokio's
    /// blocking pool, a batch at a time per worker, as long as the streamer's
    /// [`EncodePermits`] allow (a permit free, fewer streams running than permits; else
    /// on the stream's task). Up to `workers` more batches wait, transformed, so a worker
    /// that ends a batch goes straight to the next. With
    /// [`flush_interval`](crate::ChunkConfig::flush_interval) set, the batch path stays
    /// sequential. The per-item path ([`stream`](Streamer::stream)) is unaffected.
    ///
    /// # When to turn it on
    ///
    /// For large results (thousands of items and more) served while cores are idle: one
    /// big export, report or dump. Encoding is usually most of a stream's CPU, so two
    /// workers can nearly halve the time to stream a result from memory or a fast
    /// source. It gains nothing for small results (a single batch) or slow sources, and
    /// under load (as many streams as permits) the permits make it fall back to the
    /// sequential path.
    ///
    /// # Memory
    ///
    /// A stream holds at most `2 * workers` batches in flight (encoding, queued, or
    /// encoded and waiting for the batch before them), plus the chunks of one batch
    /// waiting for the reader, plus one carried buffer. In pooled buffers (each of
    /// `buffer_size` capacity, filled to about `chunk_threshold`) that is at most
    /// `(2 * workers + 1) * (ceil(batch_json / chunk_threshold) + 1) + 2`, where
    /// `batch_json` is the JSON size of one batch; add the transformed values of up to
    /// `2 * workers` batches. With the defaults (1000 items a batch, 50 KiB buffers cut at
    /// 32 KiB) and ~470-byte tickets, that bound is 82 buffers (4.1 MB) for 2 workers and
    /// 146 (7.3 MB) for 4, against 2 buffers on the sequential path; the `parallel` test
    /// of the core measures it. `max_pooled` should cover the buffers of the streams you
    /// run at once, or the pool drops the surplus.
    /// Smaller batches lower the bound and the gain alike.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(async {
    /// use futures_util::TryStreamExt;
    /// use chunkstream::{ChunkConfig, Streamer, source, transform};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?.with_encode_workers(2);
    /// let chunks = streamer.stream_batch(source::from_iter(0..10_000), transform::batch_passthrough());
    /// let body: Vec<u8> = chunks.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
    /// let expected = serde_json::to_vec(&(0..10_000).collect::<Vec<_>>())?;
    /// assert_eq!(body, expected);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_encode_workers(mut self, workers: usize) -> Self {
        self.parallel.workers = workers.max(1);
        self
    }

    /// Batches encoded at once on the batch path; see
    /// [`with_encode_workers`](Streamer::with_encode_workers).
    pub fn encode_workers(&self) -> usize {
        self.parallel.workers
    }

    /// The same streamer drawing its encoding threads from `permits` instead of the
    /// process-wide [`EncodePermits::global`].
    pub fn with_encode_permits(mut self, permits: Arc<EncodePermits>) -> Self {
        self.parallel.permits = permits;
        self
    }

    /// The permits the batch path draws its encoding threads from.
    pub fn encode_permits(&self) -> &Arc<EncodePermits> {
        &self.parallel.permits
    }

    /// Like [`stream_batch`](Streamer::stream_batch), but the transform (`Fn + Sync`,
    /// shared by the workers) runs on the workers too, beside the encoding of its batch,
    /// so a costly transform is spread over the cores as well. With one worker (or a
    /// `flush_interval`) this is `stream_batch`.
    ///
    /// The body and the errors are the same as `stream_batch`'s; only the source is
    /// stopped later after a transform error (once the batches before it are out, up to
    /// `workers` batches later), since the error is only known when its worker ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(async {
    /// use futures_util::TryStreamExt;
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?.with_encode_workers(2);
    /// let squares = |batch: Vec<u64>| {
    ///     Ok::<_, std::convert::Infallible>(batch.into_iter().map(|n| n * n).collect::<Vec<_>>())
    /// };
    /// let chunks = streamer.stream_batch_concurrent(source::from_iter(0..3_u64), squares);
    /// let body: Vec<u8> = chunks.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
    /// assert_eq!(body, b"[0,1,4]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stream_batch_concurrent<S, T, SE, F, U, TE>(
        &self,
        source: S,
        transform: F,
    ) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<BoxError> + Send + 'static,
        F: Fn(Vec<T>) -> Result<Vec<U>, TE> + Send + Sync + 'static,
        U: Serialize + Send + 'static,
        TE: Into<BoxError> + 'static,
    {
        if !self.parallel.applies(self.config().flush_interval) {
            return self.stream_batch(source, transform);
        }
        ordered(self, source, OnWorkers(Arc::new(transform)))
    }
}

/// The batch path with `streamer.encode_workers()` batches in flight, the transform on
/// the stream's task.
pub(crate) fn stream_batch<P, E, S, T, SE, F, U, TE>(
    streamer: &Streamer<P, E>,
    source: S,
    transform: F,
) -> ChunkStream
where
    P: BufferPool,
    E: Encoder,
    S: Stream<Item = Result<T, SE>> + Send + 'static,
    T: Send + 'static,
    SE: Into<BoxError> + Send + 'static,
    F: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
    U: Serialize + Send + 'static,
    TE: Into<BoxError>,
{
    ordered(streamer, source, InOrder(transform))
}

fn ordered<P, E, S, T, SE, Tr>(streamer: &Streamer<P, E>, source: S, transform: Tr) -> ChunkStream
where
    P: BufferPool,
    E: Encoder,
    S: Stream<Item = Result<T, SE>> + Send + 'static,
    T: Send + 'static,
    SE: Into<BoxError> + Send + 'static,
    Tr: Transformer<T> + Send + 'static,
{
    let config = streamer.config();
    let ordered = Ordered {
        source: Some(Box::pin(batched(source, config.batch_size))),
        transform,
        pulled: 0,
        window: VecDeque::new(),
        workers: streamer.parallel.workers,
        queue: Arc::new(Mutex::new(Queue {
            jobs: VecDeque::new(),
            runners: 0,
            permits: Vec::new(),
        })),
        permits: Arc::clone(&streamer.parallel.permits),
        running: Some(streamer.parallel.permits.enter()),
        runtime: None,
        job: Job {
            pool: Arc::clone(streamer.pool()),
            encoder: streamer.encoder().clone(),
            format: streamer.format(),
            threshold: config.chunk_threshold,
            stop: Arc::new(AtomicBool::new(false)),
        },
        carry: None,
        out: VecDeque::new(),
        written: 0,
        chunks: 0,
        phase: Phase::Running,
    };
    ChunkStream::from_stream(streamer.format(), ordered)
}

/// Where a batch is transformed: `prepare` runs on the stream's task in source order,
/// `values` where the batch is encoded (a worker, or the stream's task).
trait Transformer<T> {
    /// The transformed values.
    type Value: Serialize + Send + 'static;
    /// What goes to the worker.
    type Work: Send + 'static;

    /// `first` is the index of the batch's first item.
    fn prepare(&mut self, batch: Vec<T>, first: u64) -> Result<Self::Work, StreamError>;

    fn values(work: Self::Work) -> Result<Vec<Self::Value>, StreamError>;
}

/// Runs `transform` on `batch`, with the sequential path's errors: a transform error
/// names the batch's first item; a panic names the first value's index relative to the
/// batch (0), made absolute when the batch is emitted.
fn apply<T, U, TE>(
    transform: impl FnOnce(Vec<T>) -> Result<Vec<U>, TE>,
    batch: Vec<T>,
    first: u64,
) -> Result<Vec<U>, StreamError>
where
    TE: Into<BoxError>,
{
    match catch_unwind(AssertUnwindSafe(|| transform(batch))) {
        Ok(Ok(values)) => Ok(values),
        Ok(Err(err)) => Err(StreamError::Transform {
            index: first,
            source: err.into(),
        }),
        Err(payload) => Err(StreamError::panicked(Some(0), payload)),
    }
}

/// The transform runs on the stream's task ([`Streamer::stream_batch`]).
struct InOrder<F>(F);

impl<T, F, U, TE> Transformer<T> for InOrder<F>
where
    F: FnMut(Vec<T>) -> Result<Vec<U>, TE>,
    U: Serialize + Send + 'static,
    TE: Into<BoxError>,
{
    type Value = U;
    type Work = Vec<U>;

    fn prepare(&mut self, batch: Vec<T>, first: u64) -> Result<Vec<U>, StreamError> {
        apply(&mut self.0, batch, first)
    }

    fn values(work: Vec<U>) -> Result<Vec<U>, StreamError> {
        Ok(work)
    }
}

/// The transform runs on the workers ([`Streamer::stream_batch_concurrent`]).
struct OnWorkers<F>(Arc<F>);

impl<T, F, U, TE> Transformer<T> for OnWorkers<F>
where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Result<Vec<U>, TE> + Send + Sync + 'static,
    U: Serialize + Send + 'static,
    TE: Into<BoxError> + 'static,
{
    type Value = U;
    type Work = (Arc<F>, Vec<T>, u64);

    fn prepare(&mut self, batch: Vec<T>, first: u64) -> Result<Self::Work, StreamError> {
        Ok((Arc::clone(&self.0), batch, first))
    }

    fn values((transform, batch, first): Self::Work) -> Result<Vec<U>, StreamError> {
        apply(&*transform, batch, first)
    }
}

/// What a worker needs to encode a batch; cheap to clone.
struct Job<P, E> {
    pool: Arc<P>,
    encoder: E,
    format: Format,
    threshold: usize,
    /// Set when the stream is dropped or fails: workers stop at the next item.
    stop: Arc<AtomicBool>,
}

impl<P, E: Clone> Clone for Job<P, E> {
    fn clone(&self) -> Self {
        Job {
            pool: Arc::clone(&self.pool),
            encoder: self.encoder.clone(),
            format: self.format,
            threshold: self.threshold,
            stop: Arc::clone(&self.stop),
        }
    }
}

impl<P: BufferPool, E: Encoder> Job<P, E> {
    /// Frames (as if no value were the first) and encodes `values` into pooled buffers cut
    /// at the threshold. Stops at the first failure, keeping the values before it; error
    /// indices are relative to the batch.
    fn encode<U: Serialize>(&self, values: Result<Vec<U>, StreamError>) -> Encoded<P> {
        let values = match values {
            Ok(values) => values,
            Err(err) => return Encoded::failed(Arc::clone(&self.pool), err),
        };
        let mut encoded = Encoded::empty(Arc::clone(&self.pool));
        let mut buf: Option<Vec<u8>> = None;
        for value in values {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let out = buf.get_or_insert_with(|| self.pool.get());
            let start = out.len();
            self.format.write_prefix(1, out);
            match catch_unwind(AssertUnwindSafe(|| self.encoder.encode(&value, out))) {
                Ok(Ok(())) => {
                    self.format.write_suffix(out);
                    encoded.count += 1;
                    if out.len() >= self.threshold {
                        encoded.bufs.extend(buf.take());
                    }
                }
                Ok(Err(source)) => {
                    out.truncate(start);
                    let index = encoded.count;
                    encoded.failure = Some(StreamError::Encode { index, source });
                    break;
                }
                Err(payload) => {
                    out.truncate(start);
                    let index = Some(encoded.count);
                    encoded.failure = Some(StreamError::panicked(index, payload));
                    break;
                }
            }
        }
        match buf {
            Some(buf) if buf.is_empty() => self.pool.put(buf),
            Some(buf) => encoded.bufs.push(buf),
            None => {}
        }
        encoded
    }
}

/// A batch framed and encoded into pooled buffers (given back to the pool if dropped).
struct Encoded<P: BufferPool> {
    bufs: Vec<Vec<u8>>,
    /// Values encoded.
    count: u64,
    /// What ended the batch early; an index in it counts from the batch's first value.
    failure: Option<StreamError>,
    pool: Arc<P>,
}

impl<P: BufferPool> Encoded<P> {
    fn empty(pool: Arc<P>) -> Self {
        Encoded {
            bufs: Vec::new(),
            count: 0,
            failure: None,
            pool,
        }
    }

    fn failed(pool: Arc<P>, err: StreamError) -> Self {
        let mut encoded = Encoded::empty(pool);
        encoded.failure = Some(err);
        encoded
    }
}

impl<P: BufferPool> Drop for Encoded<P> {
    fn drop(&mut self) {
        for buf in self.bufs.drain(..) {
            self.pool.put(buf);
        }
    }
}

/// A batch in the window: queued for or on a worker, or encoded (or failed) and waiting
/// its turn.
enum Entry<P: BufferPool> {
    Running(oneshot::Receiver<Encoded<P>>),
    Done(Encoded<P>),
}

/// A batch's encoding, ready to run on a worker.
type Work<P> = Box<dyn FnOnce() -> Encoded<P> + Send>;

/// The batches of one stream waiting for a worker, and how many workers it has.
///
/// A worker (a closure on tokio's blocking pool, holding a permit) takes batches from the
/// front until the queue is empty, then ends; the stream starts a worker when it queues a
/// batch and has fewer than `workers` (and a permit is free). So a worker that finishes a
/// batch goes straight to the next one queued, without a round trip through the stream's
/// task and a new blocking task per batch.
struct Queue<P: BufferPool> {
    jobs: VecDeque<(Work<P>, oneshot::Sender<Encoded<P>>)>,
    runners: usize,
    /// The workers' permits, one per worker; a worker that ends gives one back, and the
    /// stream gives back all that are left when its last batch is in (a worker still
    /// starting then finds nothing to do).
    permits: Vec<Permit>,
}

impl<P: BufferPool> Queue<P> {
    /// A worker ends: one fewer running, and one permit back (none when the stream has
    /// already given them all back).
    fn leave(&mut self) {
        self.runners -= 1;
        self.permits.pop();
    }
}

type SharedQueue<P> = Arc<Mutex<Queue<P>>>;

fn lock<P: BufferPool>(queue: &SharedQueue<P>) -> MutexGuard<'_, Queue<P>> {
    // Nothing panics while the lock is held; a poisoned lock still holds a valid queue.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One worker's claim on its stream's queue. A worker that never ran (its runtime shut
/// down first) gives it up on drop; the last one then drops the queued batches, so their
/// receivers see the loss instead of waiting forever.
struct Runner<P: BufferPool> {
    queue: SharedQueue<P>,
    /// Still counted in `runners`.
    counted: bool,
}

impl<P: BufferPool> Drop for Runner<P> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let orphans = {
            let mut queue = lock(&self.queue);
            queue.leave();
            if queue.runners == 0 {
                std::mem::take(&mut queue.jobs)
            } else {
                VecDeque::new()
            }
        };
        drop(orphans);
    }
}

impl<P: BufferPool> Runner<P> {
    /// Encodes queued batches until none is left. The worker stops being counted (and
    /// gives its permit back) before it sends its last result, so a stream that has
    /// received every batch sees its permits free again.
    fn run(mut self, stop: &AtomicBool, pool: &Arc<P>) {
        let mut next = self.take();
        while let Some((work, done)) = next {
            if stop.load(Ordering::Relaxed) {
                // The stream is gone or failed: drop the batch unencoded, after taking the
                // next one (so a last worker has given its permit back when the stream
                // sees this batch end).
                next = self.take();
                drop((work, done));
                continue;
            }
            let encoded = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
                Encoded::failed(Arc::clone(pool), StreamError::panicked(None, payload))
            });
            next = self.take();
            // A stream that is gone drops the result, and its buffers go back to the pool.
            let _ = done.send(encoded);
        }
    }

    /// The next queued batch, or `None` (and no longer counted) when there is none.
    #[allow(clippy::type_complexity)]
    fn take(&mut self) -> Option<(Work<P>, oneshot::Sender<Encoded<P>>)> {
        let mut queue = lock(&self.queue);
        let next = queue.jobs.pop_front();
        if next.is_none() {
            queue.leave();
            self.counted = false;
        }
        next
    }
}

enum Phase {
    Running,
    /// Failed with this error: the chunks before it go out, the workers still in flight
    /// are awaited (so their buffers are back in the pool), then the error.
    Failing(Option<StreamError>),
    Finished,
}

/// The stream of the parallel batch path.
struct Ordered<S, F, P: BufferPool, E> {
    /// The batched source; `None` once it ended or failed.
    source: Option<Pin<Box<S>>>,
    transform: F,
    /// Items pulled from the source (the index of a transform error).
    pulled: u64,
    /// Batches in source order, at most `2 * workers`: `workers` encoding, as many queued
    /// (or encoded, waiting for the head) so a worker never waits for the stream's task.
    window: VecDeque<Entry<P>>,
    workers: usize,
    /// The batches waiting for this stream's workers.
    queue: SharedQueue<P>,
    permits: Arc<EncodePermits>,
    /// This stream's place among the permits' running streams, until it ends.
    running: Option<Running>,
    /// The runtime workers are spawned on (looked up at the first batch).
    runtime: Option<Option<Handle>>,
    job: Job<P, E>,
    /// A short buffer waiting for the next batch's bytes to reach the threshold.
    carry: Option<Vec<u8>>,
    /// Chunks ready for the reader.
    out: VecDeque<Bytes>,
    /// Values emitted so far (the index base of the head batch).
    written: u64,
    /// Chunks made so far.
    chunks: u64,
    phase: Phase,
}

// `Ordered` never pins its fields (the source is pinned in its own box), so moving it is
// fine whatever the transform and encoder are.
impl<S, F, P: BufferPool, E> Unpin for Ordered<S, F, P, E> {}

impl<S, F, P: BufferPool, E> Drop for Ordered<S, F, P, E> {
    fn drop(&mut self) {
        // Workers in flight stop at their next item and give their buffers back.
        self.job.stop.store(true, Ordering::Relaxed);
        if let Some(carry) = self.carry.take() {
            self.job.pool.put(carry);
        }
    }
}

impl<S, T, SE, Tr, P, E> Ordered<S, Tr, P, E>
where
    S: Stream<Item = Result<Vec<T>, SE>>,
    SE: Into<BoxError>,
    Tr: Transformer<T>,
    P: BufferPool,
    E: Encoder,
{
    /// Pulls and dispatches batches while the window has room, the source is ready and
    /// there is a worker or a permit for one (or nothing in flight: then the batch is
    /// encoded here).
    fn fill(&mut self, cx: &mut Context<'_>) {
        while self.window.len() < 2 * self.workers {
            if self.source.is_none() || (!self.window.is_empty() && !self.can_offload()) {
                return; // ended, or busy elsewhere: wait for our own batches instead
            }
            let Some(source) = self.source.as_mut() else {
                return;
            };
            let polled = catch_unwind(AssertUnwindSafe(|| source.as_mut().poll_next(cx)));
            let batch = match polled {
                Ok(Poll::Pending) => return,
                Ok(Poll::Ready(Some(Ok(batch)))) => batch,
                Ok(Poll::Ready(None)) => {
                    self.source = None;
                    return;
                }
                Ok(Poll::Ready(Some(Err(err)))) => {
                    return self.fail_at_tail(StreamError::Source(err.into()));
                }
                Err(payload) => return self.fail_at_tail(StreamError::panicked(None, payload)),
            };
            let first = self.pulled;
            self.pulled += batch.len() as u64;
            match self.transform.prepare(batch, first) {
                Ok(work) => self.dispatch(work),
                Err(err) => return self.fail_at_tail(err),
            }
        }
    }

    /// Whether a batch pulled now could go to a worker: cores are left over by the
    /// running streams, and a worker of this stream is running or a permit is free to
    /// start one.
    fn can_offload(&mut self) -> bool {
        self.runtime
            .get_or_insert_with(|| Handle::try_current().ok())
            .is_some()
            && self.permits.cores_left()
            && (lock(&self.queue).runners > 0 || self.permits.available() > 0)
    }

    /// Transforms (if not done yet) and encodes a batch on a worker (queued for this
    /// stream's workers, starting one if it has fewer than `workers` and a permit is
    /// free), else here: also when as many streams run as there are permits.
    fn dispatch(&mut self, work: Tr::Work) {
        let runtime = self
            .runtime
            .get_or_insert_with(|| Handle::try_current().ok());
        let Some(runtime) = runtime.as_ref() else {
            let encoded = self.job.encode(Tr::values(work));
            return self.window.push_back(Entry::Done(encoded));
        };
        let mut queue = lock(&self.queue);
        let cores_left = self.permits.cores_left();
        let permit = if cores_left && queue.runners < self.workers {
            self.permits.try_acquire()
        } else {
            None
        };
        let start = permit.is_some();
        if let Some(permit) = permit {
            queue.runners += 1;
            queue.permits.push(permit);
        } else if queue.runners == 0 || !cores_left {
            drop(queue);
            let encoded = self.job.encode(Tr::values(work));
            return self.window.push_back(Entry::Done(encoded));
        }
        let job = self.job.clone();
        let (done, receiver) = oneshot::channel();
        queue
            .jobs
            .push_back((Box::new(move || job.encode(Tr::values(work))), done));
        drop(queue);
        self.window.push_back(Entry::Running(receiver));
        if start {
            let runner = Runner {
                queue: Arc::clone(&self.queue),
                counted: true,
            };
            let (stop, pool) = (Arc::clone(&self.job.stop), Arc::clone(&self.job.pool));
            // If the runtime is shutting down, the closure is dropped unrun: `Runner`'s
            // drop then releases the queued batches, and the stream reports the loss.
            drop(runtime.spawn_blocking(move || runner.run(&stop, &pool)));
        }
    }

    /// Queues a failure after the batches in flight, and stops pulling the source.
    fn fail_at_tail(&mut self, err: StreamError) {
        self.source = None;
        let failed = Encoded::failed(Arc::clone(&self.job.pool), err);
        self.window.push_back(Entry::Done(failed));
    }
}

impl<S, F, P: BufferPool, E> Ordered<S, F, P, E> {
    /// Emits the head batch's buffers (in order, through the carry), and its failure.
    fn emit(&mut self, mut encoded: Encoded<P>) {
        let mut bufs = std::mem::take(&mut encoded.bufs).into_iter();
        if let Some(mut first) = bufs.next() {
            if self.written == 0 {
                open(self.job.format, &mut first);
            }
            self.push(first);
        }
        for buf in bufs {
            self.push(buf);
        }
        let base = self.written;
        self.written += encoded.count;
        if let Some(err) = encoded.failure.take() {
            self.fail(rebase(err, base));
        }
    }

    /// Appends a buffer to the body: a chunk of its own when it reaches the threshold and
    /// nothing is carried, else through the carry.
    fn push(&mut self, buf: Vec<u8>) {
        let pool = &self.job.pool;
        match &mut self.carry {
            None if buf.len() >= self.job.threshold => self.out_chunk(buf),
            None => self.carry = Some(buf),
            Some(carry) => {
                carry.extend_from_slice(&buf);
                pool.put(buf);
                if carry.len() >= self.job.threshold {
                    let carry = self.carry.take().unwrap_or_default();
                    self.out_chunk(carry);
                }
            }
        }
    }

    fn out_chunk(&mut self, buf: Vec<u8>) {
        self.chunks += 1;
        self.out.push_back(Bytes::from_owner(PooledChunk {
            buf,
            pool: Arc::clone(&self.job.pool),
        }));
    }

    /// Closes the body after the last batch (`]`, or `[]` when empty).
    fn finish(&mut self) {
        self.release_permits();
        let format = self.job.format;
        if format.has_end() {
            let pool = &self.job.pool;
            let carry = self.carry.get_or_insert_with(|| pool.get());
            format.write_end(self.written, carry);
        }
        if let Some(carry) = self.carry.take() {
            if carry.is_empty() {
                self.job.pool.put(carry);
            } else {
                self.out_chunk(carry);
            }
        }
        self.phase = Phase::Finished;
    }

    /// Gives back the permits of workers not yet ended, once every batch is in: a worker
    /// still starting would find nothing to encode.
    fn release_permits(&mut self) {
        drop(std::mem::take(&mut lock(&self.queue).permits));
        self.running = None;
    }

    /// Ends the body with `err`, as the sequential path does: what was encoded before it
    /// goes out if a chunk already did, else nothing does and the error comes alone.
    fn fail(&mut self, err: StreamError) {
        self.source = None;
        self.job.stop.store(true, Ordering::Relaxed);
        if let Some(carry) = self.carry.take() {
            if self.chunks > 0 && !carry.is_empty() {
                self.out_chunk(carry);
            } else {
                self.job.pool.put(carry);
            }
        }
        self.phase = Phase::Failing(Some(err));
    }
}

/// Turns the prefix of a body's first value from "not the first" into "the first"
/// (`,` into `[` for a JSON array).
fn open(format: Format, buf: &mut Vec<u8>) {
    let (mut first, mut other) = (Vec::new(), Vec::new());
    format.write_prefix(0, &mut first);
    format.write_prefix(1, &mut other);
    if first != other && buf.starts_with(&other) {
        drop(buf.splice(..other.len(), first));
    }
}

/// Makes a batch-relative item index absolute.
fn rebase(err: StreamError, base: u64) -> StreamError {
    match err {
        StreamError::Encode { index, source } => StreamError::Encode {
            index: index + base,
            source,
        },
        StreamError::Panicked {
            index: Some(index),
            message,
        } => StreamError::Panicked {
            index: Some(index + base),
            message,
        },
        other => other,
    }
}

/// A batch whose worker never sent it back: its runtime shut down under it (a panic on a
/// worker comes back as a failed batch).
fn lost<P: BufferPool>(pool: Arc<P>, _: oneshot::error::RecvError) -> Encoded<P> {
    Encoded::failed(pool, StreamError::NoRuntime)
}

impl<S, T, SE, Tr, P, E> Stream for Ordered<S, Tr, P, E>
where
    S: Stream<Item = Result<Vec<T>, SE>>,
    SE: Into<BoxError>,
    Tr: Transformer<T>,
    P: BufferPool,
    E: Encoder,
{
    type Item = Result<Bytes, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `Ordered` holds its source pinned in a box, so it is itself `Unpin`.
        let this = Pin::into_inner(self);
        loop {
            if matches!(this.phase, Phase::Running) {
                this.fill(cx);
            }
            if let Some(chunk) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            match &mut this.phase {
                Phase::Finished => return Poll::Ready(None),
                Phase::Failing(err) => {
                    // Drain the workers in flight (they stop at once); their buffers go
                    // back to the pool with their results.
                    while let Some(entry) = this.window.front_mut() {
                        if let Entry::Running(handle) = entry {
                            let _ = ready!(Pin::new(handle).poll(cx));
                        }
                        this.window.pop_front();
                    }
                    let err = err.take();
                    this.release_permits();
                    this.phase = Phase::Finished;
                    return Poll::Ready(err.map(Err));
                }
                Phase::Running => {}
            }
            let joined = match this.window.front_mut() {
                None if this.source.is_none() => {
                    this.finish();
                    continue;
                }
                None => return Poll::Pending,
                Some(Entry::Running(handle)) => Some(ready!(Pin::new(handle).poll(cx))),
                Some(Entry::Done(_)) => None,
            };
            let head = match (joined, this.window.pop_front()) {
                (Some(joined), _) => {
                    joined.unwrap_or_else(|err| lost(Arc::clone(&this.job.pool), err))
                }
                (None, Some(Entry::Done(encoded))) => encoded,
                (None, _) => continue, // not reached: the head was just seen done
            };
            this.emit(head);
        }
    }
}

impl<S, F, P: BufferPool, E> fmt::Debug for Ordered<S, F, P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ordered")
            .field("in_flight", &self.window.len())
            .field("workers", &self.workers)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}
