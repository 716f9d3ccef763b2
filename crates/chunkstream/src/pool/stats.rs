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

/// Bytes of capacity held beyond `count * buffer_size`, for pools whose buffers nearly
/// all have the configured capacity: only a buffer of another capacity (one that grew,
/// say) touches the atomic, so `pooled_bytes` costs nothing on the common path.
#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
#[derive(Debug, Default)]
pub(crate) struct ExtraBytes(std::sync::atomic::AtomicI64);

#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
impl ExtraBytes {
    /// A buffer of `capacity` entered the pool.
    #[inline]
    pub(crate) fn add(&self, capacity: usize, buffer_size: usize) {
        if capacity != buffer_size {
            self.0
                .fetch_add(capacity as i64 - buffer_size as i64, Relaxed);
        }
    }

    /// A buffer of `capacity` left the pool.
    #[inline]
    pub(crate) fn sub(&self, capacity: usize, buffer_size: usize) {
        if capacity != buffer_size {
            self.0
                .fetch_sub(capacity as i64 - buffer_size as i64, Relaxed);
        }
    }

    /// `pooled_bytes` for `count` pooled buffers.
    /// A `get`'s buffer: the one `popped` from the pool (a hit, its capacity taken off
    /// the total), or a new one (a miss).
    #[inline]
    pub(crate) fn take(
        &self,
        popped: Option<Vec<u8>>,
        buffer_size: usize,
        counts: &impl Counts,
    ) -> Vec<u8> {
        match popped {
            Some(buf) => {
                self.sub(buf.capacity(), buffer_size);
                counts.hit();
                buf
            }
            None => {
                counts.miss();
                Vec::with_capacity(buffer_size)
            }
        }
    }

    pub(crate) fn total(&self, count: u64, buffer_size: usize) -> u64 {
        (count as i64)
            .saturating_mul(buffer_size as i64)
            .saturating_add(self.0.load(Relaxed))
            .max(0) as u64
    }
}

/// Where a `get` or `put` counts its hit, miss or return: [`PoolCounters`], or a thread's
/// own shard in `ThreadLocalPool`.
#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
pub(crate) trait Counts {
    fn hit(&self);
    fn miss(&self);
    #[cfg_attr(not(feature = "pool-thread-local"), allow(dead_code))] // its one user
    fn returned(&self);
}

#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
impl Counts for PoolCounters {
    #[inline]
    fn hit(&self) {
        PoolCounters::hit(self)
    }
    #[inline]
    fn miss(&self) {
        PoolCounters::miss(self)
    }
    #[inline]
    fn returned(&self) {
        PoolCounters::returned(self)
    }
}
