//! What the queue-backed pools share: the capacity they hold beyond `buffer_size` per
//! buffer, and where a `get` or `put` counts.

use std::sync::atomic::Ordering::Relaxed;

use super::PoolCounters;

/// Bytes of capacity held beyond `count * buffer_size`, for pools whose buffers nearly
/// all have the configured capacity: only a buffer of another capacity (one that grew,
/// say) touches the atomic, so `pooled_bytes` costs nothing on the common path.
#[derive(Debug, Default)]
pub(crate) struct ExtraBytes(std::sync::atomic::AtomicI64);

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

    /// `pooled_bytes` for `count` pooled buffers.
    pub(crate) fn total(&self, count: u64, buffer_size: usize) -> u64 {
        (count as i64)
            .saturating_mul(buffer_size as i64)
            .saturating_add(self.0.load(Relaxed))
            .max(0) as u64
    }
}

/// Where a `get` or `put` counts its hit, miss or return: [`PoolCounters`], or a thread's
/// own shard in `ThreadLocalPool`.
pub(crate) trait Counts {
    fn hit(&self);
    fn miss(&self);
    #[cfg_attr(not(feature = "pool-thread-local"), allow(dead_code))] // its one user
    fn returned(&self);
}

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

/// Takes one of the `limit` slots counted in `kept`; `false` when all are taken.
#[cfg(feature = "pool-object-pool")]
#[inline]
pub(crate) fn reserve(kept: &std::sync::atomic::AtomicUsize, limit: usize) -> bool {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    kept.fetch_update(AcqRel, Acquire, |n| (n < limit).then_some(n + 1))
        .is_ok()
}
