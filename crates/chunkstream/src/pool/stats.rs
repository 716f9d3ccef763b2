//! Pool counters shared by every strategy.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a pool has done since it was made.
///
/// `taken() == returned + dropped_full + dropped_oversize + outstanding` once every
/// buffer handed out has been given back or is still in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// `get` calls served from the pool.
    pub hits: u64,
    /// `get` calls that allocated a new buffer.
    pub misses: u64,
    /// Buffers given back and kept for reuse.
    pub returned: u64,
    /// Buffers given back and dropped because the pool was full.
    pub dropped_full: u64,
    /// Buffers given back and dropped because their capacity exceeded `max_retained`.
    pub dropped_oversize: u64,
    /// Buffers handed out and not given back yet.
    pub outstanding: u64,
    /// Buffers currently held by the pool for reuse.
    pub pooled: u64,
    /// Bytes of capacity currently held by the pool for reuse.
    pub pooled_bytes: u64,
}

impl PoolStats {
    /// Buffers handed out so far (`hits + misses`).
    pub fn taken(&self) -> u64 {
        self.hits + self.misses
    }

    /// Buffers given back so far, kept or dropped.
    pub fn given_back(&self) -> u64 {
        self.returned + self.dropped_full + self.dropped_oversize
    }

    /// `hits / taken`, or 0 when nothing was taken.
    pub fn hit_rate(&self) -> f64 {
        match self.taken() {
            0 => 0.0,
            taken => self.hits as f64 / taken as f64,
        }
    }
}

/// Atomic counters behind [`PoolStats`], for pool implementations (including your own).
///
/// One relaxed atomic add per event. What a pool holds (`pooled`, `pooled_bytes`) is not
/// counted here: the pool knows it better and more cheaply (the length of its queue, say),
/// and passes it to [`snapshot`](Self::snapshot).
///
/// # Examples
///
/// ```
/// use chunkstream::pool::PoolCounters;
///
/// let counters = PoolCounters::default();
/// counters.miss();
/// counters.returned();
/// counters.hit();
/// let stats = counters.snapshot(0, 0);
/// assert_eq!((stats.hits, stats.misses, stats.returned, stats.outstanding), (1, 1, 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct PoolCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    returned: AtomicU64,
    dropped_full: AtomicU64,
    dropped_oversize: AtomicU64,
}

impl PoolCounters {
    /// A `get` served from the pool.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }

    /// A `get` that allocated.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    /// A buffer kept for reuse.
    pub fn returned(&self) {
        self.returned.fetch_add(1, Relaxed);
    }

    /// A buffer dropped because the pool was full.
    pub fn dropped_full(&self) {
        self.dropped_full.fetch_add(1, Relaxed);
    }

    /// A buffer dropped because it grew past the retention bound.
    pub fn dropped_oversize(&self) {
        self.dropped_oversize.fetch_add(1, Relaxed);
    }

    /// A snapshot, with what the pool holds now (`pooled` buffers of `pooled_bytes`
    /// bytes of capacity in total) as the pool itself reports it.
    ///
    /// Counters are read one by one, so a snapshot taken while other threads use the
    /// pool may be off by the operations in flight; it is exact once they are quiescent.
    pub fn snapshot(&self, pooled: u64, pooled_bytes: u64) -> PoolStats {
        let mut stats = PoolStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            returned: self.returned.load(Relaxed),
            dropped_full: self.dropped_full.load(Relaxed),
            dropped_oversize: self.dropped_oversize.load(Relaxed),
            outstanding: 0,
            pooled,
            pooled_bytes,
        };
        stats.outstanding = stats.taken().saturating_sub(stats.given_back());
        stats
    }
}
