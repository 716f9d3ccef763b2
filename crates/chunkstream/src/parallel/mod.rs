//! Parallel, order-preserving encoding on the batch path (what a user sees is at
//! [`Streamer::with_encode_workers`](crate::Streamer::with_encode_workers)): the stream's
//! own task pulls and transforms batches in source order (so an `FnMut` transform keeps
//! working), queues the values for its workers on tokio's blocking pool, which frame and
//! encode them into pooled buffers of their own, and emits the buffers strictly in source
//! order. A worker that ends a batch takes the next one queued at once, so the cores do
//! not wait for the stream's task between batches.
//!
//! # How the pieces fit
//!
//! - Every byte goes through the one [`ChunkWriter`]: a worker writes its batch with a
//!   batch writer (no opening and no separator before the batch's first item), and the
//!   stream's writer writes the opening or the separator before each batch it appends,
//!   and the closing (or the empty body) after the last one; nothing is patched
//!   afterwards, and a [`Format`] of the user's own frames the parallel path too. Each
//!   batch is written by its own clone of the format, handed back with the batch; the
//!   stream's format [`join`](Format::join)s it, in order, before the batch's opening or
//!   separator, so what a format learns from items (a CSV header, an envelope's last
//!   cursor) is the same as on the sequential path. A batch the stream writes itself
//!   goes through the body's writer directly, item by item, as on the sequential path.
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
//! [`EncodePermits`] keeps a busy service on the sequential path. With as many streams
//! as cores, each stream's own task already keeps a core busy: workers on top of them
//! would only time-share the same cores (the lab measured 6% more CPU per request for 64
//! concurrent streams, all of it in the encoder running slower, none in the bookkeeping).

use std::sync::Arc;
use std::time::Duration;

mod ordering;
mod permits;
mod workers;

pub(crate) use self::ordering::Ordered;
pub use self::permits::EncodePermits;
pub(crate) use self::workers::{InOrder, OnWorkers};
use crate::chunk::ChunkWriter;
use crate::encode::Encoder;
use crate::format::Format;
use crate::pool::BufferPool;

/// The parallel options of a [`Streamer`](crate::Streamer).
#[derive(Clone, Debug)]
pub(crate) struct Parallel {
    pub(crate) workers: usize,
    pub(crate) permits: Arc<EncodePermits>,
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
    /// one worker, and no flush interval nor format keep-alive (a slow source gains
    /// nothing from parallel encoding, and the sequential path knows how to flush its
    /// partial buffers and keep an idle body alive).
    pub(crate) fn applies(&self, flush: Option<Duration>, keep_alive: Option<Duration>) -> bool {
        self.workers > 1 && flush.is_none() && keep_alive.is_none()
    }

    /// The parallel stream of `source`'s batches through `transform`, written by
    /// `writer`'s copies.
    pub(crate) fn stream<S, Tr, P: BufferPool, E: Encoder, F: Format>(
        &self,
        source: S,
        transform: Tr,
        writer: ChunkWriter<P, E, F>,
    ) -> Ordered<S, Tr, P, E, F> {
        Ordered::new(source, transform, writer, self.workers, &self.permits)
    }
}
