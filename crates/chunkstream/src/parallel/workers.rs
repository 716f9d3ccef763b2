//! The workers of the parallel path: where a batch is transformed, how a worker encodes
//! it (through a batch [`ChunkWriter`]), and the queue a stream's workers take batches
//! from.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::permits::Permit;
use crate::chunk::ChunkWriter;
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::item::Item;
use crate::pool::BufferPool;
use crate::sync::lock;
use crate::transform::{Counted, failed};

/// Where a batch is transformed: `prepare` runs on the stream's task in source order,
/// `values` where the batch is encoded (a worker, or the stream's task).
pub(crate) trait Transformer<T> {
    /// The transformed values.
    type Value: Item + Send + 'static;
    /// What goes to the worker.
    type Work: Send + 'static;

    fn prepare(&mut self, batch: Vec<T>) -> Result<Self::Work, StreamError>;

    fn values(work: Self::Work) -> Result<Vec<Self::Value>, StreamError>;
}

/// A panic in a batch transform names the first value's index relative to the batch
/// (0), made absolute when the batch is emitted, as the sequential path names it.
fn caught<U>(
    transform: impl FnOnce() -> Result<Vec<U>, StreamError>,
) -> Result<Vec<U>, StreamError> {
    catch_unwind(AssertUnwindSafe(transform))
        .unwrap_or_else(|payload| Err(StreamError::panicked(Some(0), payload)))
}

/// The transform runs on the stream's task ([`Streamer::stream_batch`](crate::Streamer::stream_batch)).
pub(crate) struct InOrder<F>(pub(crate) Counted<F>);

impl<T, F, U, TE> Transformer<T> for InOrder<F>
where
    F: FnMut(Vec<T>) -> Result<Vec<U>, TE>,
    U: Item + Send + 'static,
    TE: Into<BoxError>,
{
    type Value = U;
    type Work = Vec<U>;

    fn prepare(&mut self, batch: Vec<T>) -> Result<Vec<U>, StreamError> {
        caught(|| self.0.batch(batch))
    }

    fn values(work: Vec<U>) -> Result<Vec<U>, StreamError> {
        Ok(work)
    }
}

/// The transform runs on the workers
/// ([`Streamer::stream_batch_concurrent`](crate::Streamer::stream_batch_concurrent)).
pub(crate) struct OnWorkers<F> {
    pub(crate) transform: Arc<F>,
    pub(crate) counted: Counted<()>,
}

impl<T, F, U, TE> Transformer<T> for OnWorkers<F>
where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Result<Vec<U>, TE> + Send + Sync + 'static,
    U: Item + Send + 'static,
    TE: Into<BoxError> + 'static,
{
    type Value = U;
    type Work = (Arc<F>, Vec<T>, u64);

    fn prepare(&mut self, batch: Vec<T>) -> Result<Self::Work, StreamError> {
        let first = self.counted.reserve(batch.len());
        Ok((Arc::clone(&self.transform), batch, first))
    }

    fn values((transform, batch, first): Self::Work) -> Result<Vec<U>, StreamError> {
        caught(|| transform(batch).map_err(|err| failed(first, err)))
    }
}

/// What a worker needs to encode a batch: a writer to copy (never written to itself), and
/// the stream's stop flag.
pub(crate) struct Job<P: BufferPool, E, F> {
    pub(crate) proto: ChunkWriter<P, E, F>,
    /// Set when the stream is dropped or fails: workers stop at the next item.
    pub(crate) stop: Arc<AtomicBool>,
}

impl<P: BufferPool, E: Encoder, F: Format> Job<P, E, F> {
    pub(crate) fn pool(&self) -> Arc<P> {
        Arc::clone(self.proto.pool())
    }

    pub(crate) fn share(&self) -> Self {
        Job {
            proto: self.proto.blank(),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Writes `values` through a batch writer into pooled buffers cut at the threshold.
    /// Stops at the first failure, keeping the values before it; error indices are
    /// relative to the batch.
    pub(crate) fn encode<U: Item>(&self, values: Result<Vec<U>, StreamError>) -> Encoded<P, F> {
        let mut encoded = Encoded::empty(self.pool());
        let values = match values {
            Ok(values) => values,
            Err(err) => return Encoded::failed(self.pool(), err),
        };
        let mut writer = self.proto.for_batch();
        for value in values {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(err) = writer.write(&value) {
                encoded.failure = Some(err);
                break;
            }
            if writer.is_full() {
                encoded.bufs.extend(writer.take_buf());
            }
        }
        encoded.count = writer.written();
        encoded.bufs.extend(writer.take_buf());
        encoded.format = Some(writer.take_format());
        encoded
    }
}

/// A batch framed and encoded into pooled buffers (given back to the pool if dropped).
pub(crate) struct Encoded<P: BufferPool, F> {
    pub(crate) bufs: Vec<Vec<u8>>,
    /// Values encoded.
    pub(crate) count: u64,
    /// What ended the batch early; an index in it counts from the batch's first value.
    pub(crate) failure: Option<StreamError>,
    /// The format that wrote the batch, with what it learned from the values (see
    /// [`Format::join`]); `None` for a batch that failed before it was written.
    pub(crate) format: Option<F>,
    pool: Arc<P>,
}

impl<P: BufferPool, F> Encoded<P, F> {
    fn empty(pool: Arc<P>) -> Self {
        Encoded {
            bufs: Vec::new(),
            count: 0,
            failure: None,
            format: None,
            pool,
        }
    }

    pub(crate) fn failed(pool: Arc<P>, err: StreamError) -> Self {
        let mut encoded = Encoded::empty(pool);
        encoded.failure = Some(err);
        encoded
    }
}

impl<P: BufferPool, F> Drop for Encoded<P, F> {
    fn drop(&mut self) {
        for buf in self.bufs.drain(..) {
            self.pool.put(buf);
        }
    }
}

/// A batch's encoding, ready to run on a worker.
pub(crate) type Work<P, F> = Box<dyn FnOnce() -> Encoded<P, F> + Send>;

/// A batch's encoding queued for a worker, and where its result goes.
pub(crate) type Queued<P, F> = (Work<P, F>, oneshot::Sender<Encoded<P, F>>);

/// The batches of one stream waiting for a worker, and how many workers it has.
///
/// A worker (a closure on tokio's blocking pool, holding a permit) takes batches from the
/// front until the queue is empty, then ends; the stream starts a worker when it queues a
/// batch and has fewer than `workers` (and a permit is free). So a worker that finishes a
/// batch goes straight to the next one queued, without a round trip through the stream's
/// task and a new blocking task per batch.
pub(crate) struct Queue<P: BufferPool, F> {
    pub(crate) jobs: VecDeque<Queued<P, F>>,
    pub(crate) runners: usize,
    /// The workers' permits, one per worker; a worker that ends gives one back, and the
    /// stream gives back all that are left when its last batch is in (a worker still
    /// starting then finds nothing to do).
    pub(crate) permits: Vec<Permit>,
}

impl<P: BufferPool, F> Queue<P, F> {
    /// A worker ends: one fewer running, and one permit back (none when the stream has
    /// already given them all back).
    fn leave(&mut self) {
        self.runners -= 1;
        self.permits.pop();
    }
}

pub(crate) type SharedQueue<P, F> = Arc<Mutex<Queue<P, F>>>;

/// One worker's claim on its stream's queue. A worker that never ran (its runtime shut
/// down first) gives it up on drop; the last one then drops the queued batches, so their
/// receivers see the loss instead of waiting forever.
pub(crate) struct Runner<P: BufferPool, F> {
    pub(crate) queue: SharedQueue<P, F>,
    /// Still counted in `runners`.
    pub(crate) counted: bool,
}

impl<P: BufferPool, F> Drop for Runner<P, F> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let orphans = {
            let mut queue = lock(&*self.queue);
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

impl<P: BufferPool, F> Runner<P, F> {
    /// Encodes queued batches until none is left. The worker stops being counted (and
    /// gives its permit back) before it sends its last result, so a stream that has
    /// received every batch sees its permits free again.
    pub(crate) fn run(mut self, stop: &AtomicBool, pool: &Arc<P>) {
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
    fn take(&mut self) -> Option<Queued<P, F>> {
        let mut queue = lock(&*self.queue);
        let next = queue.jobs.pop_front();
        if next.is_none() {
            queue.leave();
            self.counted = false;
        }
        next
    }
}
