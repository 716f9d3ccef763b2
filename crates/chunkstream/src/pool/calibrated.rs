//! [`Calibrated`]: a wrapper that learns buffer sizes from the buffers it sees come back.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::{BufferPool, FromPoolConfig, PoolStats};
use crate::config::PoolConfig;

/// Returns between two calibrations of a [`Calibrated`] pool. This is the default.
pub const DEFAULT_CALIBRATION_PERIOD: u64 = 1000;

/// Share of the returns, in percent, whose size bucket the learned retention bound
/// covers.
const RETAINED_PERCENTILE: u64 = 95;

/// A buffer is kept while its capacity is at most this many times the learned bound:
/// bounds are learned from lengths, and encoders reserve capacity ahead of what they
/// write (sonic-rs does), so capacity runs ahead of length.
const CAPACITY_SLACK: usize = 2;

/// The smallest size bucket is `1 << MIN_BITS` bytes (64 B).
const MIN_BITS: u32 = 6;
/// Size buckets: 64 B, 128 B, ... 32 MiB (larger lengths count in the last one).
const BUCKETS: usize = 20;

/// The bucket of a buffer length: the smallest `64 << i` that holds it.
fn bucket(len: usize) -> usize {
    let units = len.saturating_sub(1) >> MIN_BITS;
    let index = (usize::BITS - units.leading_zeros()) as usize;
    index.min(BUCKETS - 1)
}

/// The size of a bucket, in bytes.
fn bucket_size(index: usize) -> usize {
    (1 << MIN_BITS) << index
}

/// Wraps any pool and learns, from the lengths of the buffers given back, the size to
/// allocate and the capacity worth keeping, as valyala/bytebufferpool does, never below
/// what a chunk needs.
///
/// Each non-empty returned buffer counts in a power-of-two size bucket (64 B to 32 MiB).
/// Every `period` returns ([`DEFAULT_CALIBRATION_PERIOD`] by default) the counts are
/// read and reset:
///
/// - the most frequent bucket becomes the allocation size: `get` grows a buffer from the
///   inner pool with less capacity to it, and shrinks one above the retention bound to
///   it (so an inner pool built with a larger `buffer_size` still keeps its buffers);
/// - the largest bucket among the most frequent ones that together cover 95% of the
///   returns becomes the retention bound: `put` drops a buffer with more than twice that
///   capacity (counted as `dropped_oversize`) before it reaches the inner pool. The
///   factor two is slack for encoders that reserve capacity ahead of what they write.
///
/// Until the first calibration the inner pool's own sizes apply; the inner pool's bounds
/// always apply as well. Empty buffers given back are not counted.
///
/// # The floor: what a chunk needs
///
/// A chunk is cut once its buffer reaches the chunk threshold, so a buffer must hold the
/// threshold plus the item that crosses it. Learning less would defeat the pool: after a
/// run of tiny responses (one small buffer each) every later chunk would start from a
/// tiny buffer, grow by doubling (copying its data each time) and be dropped as
/// oversize. So neither learned value ever goes below a **floor**:
///
/// - by default, the inner pool's [`initial_size`](BufferPool::initial_size) (a pool
///   built from a [`ChunkConfig`](crate::ChunkConfig)'s bounds has `buffer_size`, which
///   [`validate`](crate::ChunkConfig::validate) keeps at or above the threshold): the
///   wrapper learns larger sizes (big items), never smaller ones;
/// - with [`with_chunk_threshold`](Self::with_chunk_threshold), the threshold plus one
///   item's headroom, learned too: the size of the 95th percentile of the overshoots
///   (how far past the threshold the chunks went, which is less than one item), 64
///   bytes until a chunk has reached the threshold. The wrapper may then learn sizes
///   below the inner pool's `buffer_size`, down to what the chunks really take.
///
/// Nothing here is on unless you choose it: wrap a pool and hand it to
/// [`Streamer::with_parts`](crate::Streamer::with_parts).
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::{Calibrated, NoPool}};
///
/// let inner = NoPool::new(PoolConfig::default().with_buffer_size(1024).with_max_pooled(16).with_max_retained(1 << 22));
/// let pool = Calibrated::with_period(inner, 100);
/// for _ in 0..100 {
///     let mut buf = pool.get();
///     buf.resize(3000, b' '); // chunks of about 3 KB
///     pool.put(buf);
/// }
/// assert_eq!(pool.calibrated_size(), Some(4096));
/// assert_eq!(pool.initial_size(), 4096);
/// assert!(pool.get().capacity() >= 4096);
/// ```
pub struct Calibrated<P> {
    inner: P,
    period: u64,
    calls: [AtomicU64; BUCKETS],
    returns: AtomicU64,
    calibrating: AtomicBool,
    /// Learned allocation size; 0 until the first calibration.
    size: AtomicUsize,
    /// Learned retention bound; 0 until the first calibration.
    max_retained: AtomicUsize,
    dropped_oversize: AtomicU64,
    /// The chunk threshold, once given: 0 means "unknown" (the floor is then the inner
    /// pool's initial size).
    threshold: usize,
    /// Returns that reached `threshold`, by bucket of how far past it they went.
    overshoots: [AtomicU64; BUCKETS],
    /// Learned headroom past the threshold, in bytes; the smallest bucket until learned.
    headroom: AtomicUsize,
}

impl<P: BufferPool> Calibrated<P> {
    /// Wraps `inner`, calibrating every [`DEFAULT_CALIBRATION_PERIOD`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{BufferPool, PoolConfig, pool::{Calibrated, NoPool}};
    ///
    /// let pool = Calibrated::new(NoPool::new(PoolConfig::default()));
    /// assert_eq!(pool.calibrated_size(), None);
    /// assert_eq!(pool.initial_size(), 51_200); // the inner pool's, until calibrated
    /// ```
    pub fn new(inner: P) -> Self {
        Calibrated::with_period(inner, DEFAULT_CALIBRATION_PERIOD)
    }

    /// Wraps `inner`, calibrating every `period` returns (a `period` of zero is taken
    /// as one).
    pub fn with_period(inner: P, period: u64) -> Self {
        Calibrated {
            inner,
            period: period.max(1),
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            returns: AtomicU64::new(0),
            calibrating: AtomicBool::new(false),
            size: AtomicUsize::new(0),
            max_retained: AtomicUsize::new(0),
            dropped_oversize: AtomicU64::new(0),
            threshold: 0,
            overshoots: std::array::from_fn(|_| AtomicU64::new(0)),
            headroom: AtomicUsize::new(bucket_size(0)),
        }
    }

    /// Tells the wrapper the streamer's chunk threshold, so its floor becomes the
    /// threshold plus one item's learned headroom instead of the inner pool's initial
    /// size (see [the floor](Self#the-floor-what-a-chunk-needs)). A threshold of zero
    /// keeps the default floor.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{BufferPool, ChunkConfig, pool::{Calibrated, NoPool}};
    ///
    /// let config = ChunkConfig::default(); // 32 KiB threshold, 50 KiB buffers
    /// let pool = Calibrated::with_period(NoPool::new(config.pool), 100)
    ///     .with_chunk_threshold(config.chunk_threshold);
    /// // 100 tiny responses: one 20-byte buffer each.
    /// for _ in 0..100 {
    ///     let mut buf = pool.get();
    ///     buf.extend_from_slice(br#"[{"id":1,"ok":true}]"#);
    ///     pool.put(buf);
    /// }
    /// // Learned from them: not 64 bytes, but what a 32 KiB chunk needs.
    /// assert!(pool.calibrated_size().unwrap() > 32 << 10);
    /// assert!(pool.floor() > 32 << 10);
    /// ```
    pub fn with_chunk_threshold(mut self, threshold: usize) -> Self {
        self.threshold = threshold;
        self
    }

    /// The size neither learned value goes below, in bytes: the chunk threshold plus
    /// the learned headroom of one item if [`with_chunk_threshold`](Self::with_chunk_threshold)
    /// gave one, else the inner pool's initial size.
    pub fn floor(&self) -> usize {
        match self.threshold {
            0 => self.inner.initial_size(),
            threshold => threshold.saturating_add(self.headroom.load(Ordering::Relaxed)),
        }
    }

    /// The wrapped pool.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Returns between two calibrations.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The learned allocation size, in bytes, once calibrated.
    pub fn calibrated_size(&self) -> Option<usize> {
        non_zero(self.size.load(Ordering::Relaxed))
    }

    /// The learned retention bound, in bytes of capacity, once calibrated.
    pub fn calibrated_max_retained(&self) -> Option<usize> {
        non_zero(self.max_retained.load(Ordering::Relaxed))
    }

    /// Counts a returned length; calibrates when a period is complete.
    fn record(&self, len: usize) {
        if len == 0 {
            return; // an unused buffer says nothing about chunk sizes
        }
        self.calls[bucket(len)].fetch_add(1, Ordering::Relaxed);
        if self.threshold != 0 && len >= self.threshold {
            self.overshoots[bucket(len - self.threshold)].fetch_add(1, Ordering::Relaxed);
        }
        if self.returns.fetch_add(1, Ordering::AcqRel) + 1 >= self.period {
            self.calibrate();
        }
    }

    fn calibrate(&self) {
        if self
            .calibrating
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return; // another thread is at it
        }
        self.returns.store(0, Ordering::Release);
        if let Some((_, headroom)) = learn(&self.overshoots) {
            self.headroom.store(headroom, Ordering::Relaxed);
        }
        if let Some((size, max_retained)) = learn(&self.calls) {
            let floor = self.floor();
            self.size.store(size.max(floor), Ordering::Relaxed);
            self.max_retained
                .store(max_retained.max(floor), Ordering::Relaxed);
        }
        self.calibrating.store(false, Ordering::Release);
    }
}

/// Reads and resets the counts of a histogram of sizes: the most frequent bucket's size
/// and the largest size among the most frequent buckets that together cover
/// [`RETAINED_PERCENTILE`] of the counts; `None` when nothing was counted.
fn learn(histogram: &[AtomicU64; BUCKETS]) -> Option<(usize, usize)> {
    let mut counts: [(u64, usize); BUCKETS] = [(0, 0); BUCKETS];
    let mut total = 0_u64;
    for (index, (count, size)) in counts.iter_mut().enumerate() {
        *count = histogram[index].swap(0, Ordering::Relaxed);
        *size = bucket_size(index);
        total += *count;
    }
    if total == 0 {
        return None;
    }
    // Most frequent first; on a tie, the smaller size first.
    counts.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let most_frequent = counts[0].1;
    let covered = total.saturating_mul(RETAINED_PERCENTILE) / 100;
    let (mut sum, mut percentile) = (0_u64, most_frequent);
    for &(count, bucket_size) in &counts {
        if sum >= covered || count == 0 {
            break;
        }
        sum += count;
        percentile = percentile.max(bucket_size);
    }
    Some((most_frequent, percentile))
}

fn non_zero(value: usize) -> Option<usize> {
    (value != 0).then_some(value)
}

impl<P: BufferPool + Default> Default for Calibrated<P> {
    fn default() -> Self {
        Calibrated::new(P::default())
    }
}

impl<P: FromPoolConfig> FromPoolConfig for Calibrated<P> {
    /// The inner pool built from `config`, calibrating every
    /// [`DEFAULT_CALIBRATION_PERIOD`] returns.
    fn from_pool_config(config: PoolConfig) -> Self {
        Calibrated::new(P::from_pool_config(config))
    }
}

impl<P: fmt::Debug> fmt::Debug for Calibrated<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calibrated")
            .field("inner", &self.inner)
            .field("period", &self.period)
            .field("size", &self.size.load(Ordering::Relaxed))
            .field("max_retained", &self.max_retained.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<P: BufferPool> BufferPool for Calibrated<P> {
    fn get(&self) -> Vec<u8> {
        let mut buf = self.inner.get();
        // A no-op (pools hand out empty buffers) that spares reading the length back.
        buf.clear();
        let size = self.size.load(Ordering::Relaxed);
        let max_retained = self.max_retained.load(Ordering::Relaxed);
        if buf.capacity() < size {
            buf.reserve_exact(size - buf.len());
        } else if max_retained != 0 && buf.capacity() > max_retained.saturating_mul(CAPACITY_SLACK)
        {
            // A buffer sized before calibration (or by the inner pool's own
            // `buffer_size`) would be dropped on return: bring it to the learned size
            // instead, so the inner pool can keep it.
            buf.shrink_to(size);
        }
        buf
    }

    fn put(&self, buf: Vec<u8>) {
        self.record(buf.len());
        match self.max_retained.load(Ordering::Relaxed) {
            0 => self.inner.put(buf),
            max if buf.capacity() > max.saturating_mul(CAPACITY_SLACK) => {
                self.dropped_oversize.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.inner.put(buf),
        }
    }

    fn initial_size(&self) -> usize {
        self.calibrated_size()
            .unwrap_or_else(|| self.inner.initial_size())
    }

    /// The inner pool's statistics, plus the buffers this wrapper dropped as oversize.
    fn stats(&self) -> PoolStats {
        let mut stats = self.inner.stats();
        stats.dropped_oversize += self.dropped_oversize.load(Ordering::Relaxed);
        stats.outstanding = stats.taken().saturating_sub(stats.given_back());
        stats
    }
}
