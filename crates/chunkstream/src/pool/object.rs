//! [`ObjectPool`]: the `object-pool` crate, with the bounds it lacks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use object_pool::{Pool, ReusableOwned};

use super::extra::{ExtraBytes, reserve};
use super::{BufferPool, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Buffers kept in an [`object_pool::Pool`] (a mutex-guarded stack), pulled as owned
/// `ReusableOwned` values.
///
/// The `object-pool` crate keeps every object it ever made and never clears one; this
/// wrapper adds the contract every chunkstream pool keeps. A `get` pulls an owned
/// buffer and detaches it from its `ReusableOwned` guard, so the buffer can travel
/// inside a `Bytes` chunk; a `put` clears it and attaches it back, unless its capacity
/// exceeds `max_retained` or `max_pooled` buffers are already kept (then it is
/// dropped and counted).
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::ObjectPool};
///
/// let pool = ObjectPool::new(PoolConfig::default().with_buffer_size(1024).with_max_pooled(2).with_max_retained(4096));
/// let mut buf = pool.get(); // a miss: the pool starts empty
/// buf.extend_from_slice(b"[]");
/// pool.put(buf);
/// let buf = pool.get(); // a hit, cleared
/// assert!(buf.is_empty());
/// assert_eq!((pool.stats().hits, pool.stats().misses), (1, 1));
/// pool.put(Vec::with_capacity(1 << 20)); // larger than max_retained: dropped
/// assert_eq!(pool.stats().dropped_oversize, 1);
/// # pool.put(buf);
/// ```
pub struct ObjectPool {
    pool: Arc<Pool<Vec<u8>>>,
    /// Buffers attached to `pool`, or about to be: a `put` reserves a slot here before
    /// attaching, a hit releases it after pulling, so this never undercounts and the
    /// pool never holds more than `max_pooled` buffers.
    kept: AtomicUsize,
    buffer_size: usize,
    max_pooled: usize,
    max_retained: usize,
    counters: PoolCounters,
    /// Capacity of the kept buffers beyond `kept * buffer_size`.
    extra: ExtraBytes,
}

impl ObjectPool {
    /// An empty pool with these bounds (`max_pooled` of zero is taken as one).
    pub fn new(config: PoolConfig) -> Self {
        ObjectPool {
            pool: Arc::new(Pool::from_vec(Vec::new())),
            kept: AtomicUsize::new(0),
            buffer_size: config.buffer_size,
            max_pooled: config.max_pooled.max(1),
            max_retained: config.max_retained,
            counters: PoolCounters::default(),
            extra: ExtraBytes::default(),
        }
    }
}

from_pool_config!(ObjectPool);

impl fmt::Debug for ObjectPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectPool")
            .field("kept", &self.kept.load(Ordering::Relaxed))
            .field("buffer_size", &self.buffer_size)
            .field("max_pooled", &self.max_pooled)
            .field("max_retained", &self.max_retained)
            .field("counters", &self.counters)
            .finish()
    }
}

impl BufferPool for ObjectPool {
    fn get(&self) -> Vec<u8> {
        let popped = self.pool.try_pull_owned().map(|reusable| {
            self.kept.fetch_sub(1, Ordering::AcqRel);
            ReusableOwned::detach(reusable).1
        });
        self.extra.take(popped, self.buffer_size, &self.counters)
    }

    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() > self.max_retained {
            self.counters.dropped_oversize();
            return;
        }
        if !reserve(&self.kept, self.max_pooled) {
            self.counters.dropped_full();
            return;
        }
        buf.clear();
        self.extra.add(buf.capacity(), self.buffer_size);
        self.counters.returned();
        self.pool.attach(buf);
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    /// Exact once the threads using the pool are quiescent (`pooled` counts the slots
    /// reserved by `put`s in flight too).
    fn stats(&self) -> PoolStats {
        let pooled = self.kept.load(Ordering::Relaxed) as u64;
        self.counters
            .snapshot(pooled, self.extra.total(pooled, self.buffer_size))
    }
}
