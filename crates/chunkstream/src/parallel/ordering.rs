//! The stream of the parallel path: it pulls and transforms batches in source order,
//! hands them to workers (or encodes them itself), and emits them strictly in order.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::permits::{EncodePermits, Running};
use super::workers::{Encoded, Job, Queue, Runner, SharedQueue, Transformer};
use crate::chunk::ChunkWriter;
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::item::Item;
use crate::pool::BufferPool;
use crate::sync::lock;

enum Phase {
    Running,
    /// Failed with this error: the chunks before it go out, the workers still in flight
    /// are awaited (so their buffers are back in the pool), then the error.
    Failing(Option<StreamError>),
    Finished,
}

/// A batch in the window: queued for or on a worker, encoded (or failed) and waiting its
/// turn, or left for the stream to write itself once it is the head.
enum Entry<P: BufferPool, E, F> {
    Running(oneshot::Receiver<Encoded<P, F>>),
    Done(Encoded<P, F>),
    Here(Here<P, E, F>),
}

/// A batch the stream writes itself, item by item, through the body's writer, as the
/// sequential path does: it writes until the buffer is full (`Ok(true)`: more remain) or
/// the batch ends (`Ok(false)`).
type Here<P, E, F> = Box<dyn FnMut(&mut ChunkWriter<P, E, F>) -> Result<bool, StreamError> + Send>;

/// The stream of the parallel batch path.
pub(crate) struct Ordered<S, Tr, P: BufferPool, E, F> {
    /// The batched source; `None` once it ended or failed.
    source: Option<Pin<Box<S>>>,
    transform: Tr,
    /// Batches in source order, at most `2 * workers` besides a head the stream writes
    /// itself: `workers` encoding, as many queued (or encoded, waiting for the head) so a
    /// worker never waits for the stream's task.
    window: VecDeque<Entry<P, E, F>>,
    workers: usize,
    /// The batches waiting for this stream's workers.
    queue: SharedQueue<P, F>,
    permits: Arc<EncodePermits>,
    /// This stream's place among the permits' running streams, until it ends.
    running: Option<Running>,
    /// The runtime workers are spawned on (looked up at the first batch).
    runtime: Option<Option<Handle>>,
    /// A batch was dispatched: the next one is not the first.
    dispatched: bool,
    job: Job<P, E, F>,
    /// The body's writer: it joins the batches in order, writing the opening or a
    /// separator before each, and keeps a short buffer until the next batch's bytes
    /// bring it to the threshold.
    writer: ChunkWriter<P, E, F>,
    /// Chunks ready for the reader.
    out: VecDeque<Bytes>,
    phase: Phase,
}

// `Ordered` never pins its fields (the source is pinned in its own box), so moving it is
// fine whatever the transform and encoder are.
impl<S, Tr, P: BufferPool, E, F> Unpin for Ordered<S, Tr, P, E, F> {}

impl<S, Tr, P: BufferPool, E, F> Drop for Ordered<S, Tr, P, E, F> {
    fn drop(&mut self) {
        // Workers in flight stop at their next item and give their buffers back.
        self.job.stop.store(true, Ordering::Relaxed);
    }
}

/// The pull side of the stream: the bounds on the source and the transform, written
/// once (the `Stream` impl asks for this trait).
trait Fill {
    /// Pulls and dispatches batches while the window has room, the source is ready and
    /// there is a worker or a permit for one (or nothing in flight: then the batch is
    /// encoded here).
    fn fill(&mut self, cx: &mut Context<'_>);
}

impl<S, T, SE, Tr, P, E, F> Fill for Ordered<S, Tr, P, E, F>
where
    S: Stream<Item = Result<Vec<T>, SE>>,
    SE: Into<BoxError>,
    Tr: Transformer<T>,
    P: BufferPool,
    E: Encoder,
    F: Format,
{
    fn fill(&mut self, cx: &mut Context<'_>) {
        while self.window.len() < 2 * self.workers + usize::from(self.head_is_here()) {
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
            match self.transform.prepare(batch) {
                Ok(work) => self.dispatch(move || Tr::values(work)),
                Err(err) => return self.fail_at_tail(err),
            }
        }
    }
}

impl<S, Tr, P: BufferPool, E: Encoder, F: Format> Ordered<S, Tr, P, E, F> {
    /// The parallel stream over batches from `source`, with up to `workers` encoding.
    pub(crate) fn new(
        source: S,
        transform: Tr,
        writer: ChunkWriter<P, E, F>,
        workers: usize,
        permits: &Arc<EncodePermits>,
    ) -> Self {
        Ordered {
            source: Some(Box::pin(source)),
            transform,
            window: VecDeque::new(),
            workers,
            queue: Arc::new(Mutex::new(Queue {
                jobs: VecDeque::new(),
                runners: 0,
                permits: Vec::new(),
            })),
            permits: Arc::clone(permits),
            running: Some(permits.enter()),
            runtime: None,
            dispatched: false,
            job: Job {
                proto: writer.blank(),
                stop: Arc::new(AtomicBool::new(false)),
            },
            writer,
            out: VecDeque::new(),
            phase: Phase::Running,
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
            && (lock(&*self.queue).runners > 0 || self.permits.available() > 0)
    }

    /// Transforms (if not done yet) and encodes a batch on a worker (queued for this
    /// stream's workers, starting one if it has fewer than `workers` and a permit is
    /// free), else here: the first batch (so the first chunk goes out as soon as it is
    /// cut, as on the sequential path, while workers take the batches after it), and any
    /// batch when as many streams run as there are permits.
    fn dispatch<U>(&mut self, values: impl FnOnce() -> Result<Vec<U>, StreamError> + Send + 'static)
    where
        U: Item + Send + 'static,
    {
        if !std::mem::replace(&mut self.dispatched, true) {
            return self.write_here(values()); // the first batch
        }
        let runtime = self
            .runtime
            .get_or_insert_with(|| Handle::try_current().ok());
        let Some(runtime) = runtime.as_ref() else {
            return self.write_here(values());
        };
        let mut queue = lock(&*self.queue);
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
            return self.write_here(values());
        }
        let job = self.job.share();
        let (done, receiver) = oneshot::channel();
        queue
            .jobs
            .push_back((Box::new(move || job.encode(values())), done));
        drop(queue);
        self.window.push_back(Entry::Running(receiver));
        if start {
            let runner = Runner {
                queue: Arc::clone(&self.queue),
                counted: true,
            };
            let (stop, pool) = (Arc::clone(&self.job.stop), self.job.pool());
            // If the runtime is shutting down, the closure is dropped unrun: `Runner`'s
            // drop then releases the queued batches, and the stream reports the loss.
            drop(runtime.spawn_blocking(move || runner.run(&stop, &pool)));
        }
    }

    /// Leaves a batch for the stream to write itself when it is the head (a batch whose
    /// transform failed on the way is a failed batch, as from a worker).
    fn write_here<U>(&mut self, values: Result<Vec<U>, StreamError>)
    where
        U: Item + Send + 'static,
    {
        let entry = match values {
            Ok(values) => {
                let mut values = values.into_iter();
                Entry::Here(Box::new(move |writer| writer.write_until_full(&mut values)))
            }
            Err(err) => Entry::Done(Encoded::failed(self.job.pool(), err)),
        };
        self.window.push_back(entry);
    }

    fn head_is_here(&self) -> bool {
        matches!(self.window.front(), Some(Entry::Here(_)))
    }

    /// Writes the head batch, which the stream encodes itself, until a chunk is cut or the
    /// batch ends; a failure (a panic included) ends the body as on the sequential path.
    fn write_head(&mut self) {
        let Some(Entry::Here(write)) = self.window.front_mut() else {
            return;
        };
        let writer = &mut self.writer;
        let written = catch_unwind(AssertUnwindSafe(|| write(writer)));
        let written = written
            .unwrap_or_else(|payload| Err(StreamError::panicked(Some(writer.written()), payload)));
        match written {
            Ok(true) => {}
            Ok(false) => drop(self.window.pop_front()),
            Err(err) => {
                self.window.pop_front();
                return self.fail(err);
            }
        }
        if self.writer.is_full() {
            self.out.extend(self.writer.take_chunk());
        }
    }

    /// Queues a failure after the batches in flight, and stops pulling the source.
    fn fail_at_tail(&mut self, err: StreamError) {
        self.source = None;
        let failed = Encoded::failed(self.job.pool(), err);
        self.window.push_back(Entry::Done(failed));
    }

    /// Emits the head batch's buffers (in order, through the body's writer), and its
    /// failure.
    fn emit(&mut self, mut encoded: Encoded<P, F>) {
        let base = self.writer.written();
        let out = &mut self.out;
        let bufs = std::mem::take(&mut encoded.bufs);
        let format = encoded.format.take();
        self.writer
            .append_batch(bufs, encoded.count, format, |chunk| out.push_back(chunk));
        if let Some(err) = encoded.failure.take() {
            self.fail(rebase(err, base));
        }
    }

    /// Closes the body after the last batch.
    fn finish(&mut self) {
        self.release_permits();
        match self.writer.finish() {
            Ok(last) => {
                self.out.extend(last);
                self.phase = Phase::Finished;
            }
            Err(err) => self.fail(err),
        }
    }

    /// Gives back the permits of workers not yet ended, once every batch is in: a worker
    /// still starting would find nothing to encode.
    fn release_permits(&mut self) {
        drop(std::mem::take(&mut lock(&*self.queue).permits));
        self.running = None;
    }

    /// Ends the body with `err`, as the sequential path does: what was encoded before it
    /// goes out if a chunk already did, else nothing does and the error comes alone.
    fn fail(&mut self, err: StreamError) {
        self.source = None;
        self.job.stop.store(true, Ordering::Relaxed);
        self.out.extend(self.writer.fail(&err));
        self.phase = Phase::Failing(Some(err));
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
fn lost<P: BufferPool, F>(pool: Arc<P>, _: oneshot::error::RecvError) -> Encoded<P, F> {
    Encoded::failed(pool, StreamError::NoRuntime)
}

impl<S, Tr, P, E, F> Stream for Ordered<S, Tr, P, E, F>
where
    Self: Fill,
    P: BufferPool,
    E: Encoder,
    F: Format,
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
                Some(Entry::Here(_)) => {
                    this.write_head();
                    continue;
                }
            };
            let head = match (joined, this.window.pop_front()) {
                (Some(joined), _) => joined.unwrap_or_else(|err| lost(this.job.pool(), err)),
                (None, Some(Entry::Done(encoded))) => encoded,
                (None, _) => continue, // not reached: the head was just seen done
            };
            this.emit(head);
        }
    }
}

impl<S, Tr, P: BufferPool, E: Encoder, F: Format> fmt::Debug for Ordered<S, Tr, P, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ordered")
            .field("in_flight", &self.window.len())
            .field("workers", &self.workers)
            .field("written", &self.writer.written())
            .finish_non_exhaustive()
    }
}
