//! [`EncodePermits`]: the shared budget of encoding threads, and the guards that hold a
//! permit or a running stream's place.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

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
#[derive(Debug)]
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
    pub(crate) fn cores_left(&self) -> bool {
        self.streams() < self.total
    }

    /// Counts a stream until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Running {
        self.streams.fetch_add(1, Ordering::Relaxed);
        Running(Arc::clone(self))
    }

    /// Takes a permit if one is free, without waiting.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.available
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }
}

/// A running stream's place in [`EncodePermits::streams`], given up on drop.
pub(crate) struct Running(Arc<EncodePermits>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A permit taken from [`EncodePermits`], given back on drop.
pub(crate) struct Permit(Arc<EncodePermits>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.available.fetch_add(1, Ordering::Release);
    }
}
