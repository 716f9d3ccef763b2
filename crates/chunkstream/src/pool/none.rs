//! [`NoPool`]: no reuse at all, the baseline every strategy is measured against.

use super::{BufferPool, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Allocates a fresh `Vec::with_capacity(buffer_size)` on every `get` and frees every
/// buffer given back. Always available; the reference the other strategies must match.
///
/// Every `get` counts as a miss. Every `put` frees the buffer and counts it as
/// `dropped_oversize` when its capacity exceeds `max_retained` (as any pool would), and
/// as `dropped_full` otherwise (a pool of capacity zero is always full).
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::NoPool};
///
/// let pool = NoPool::new(PoolConfig::default().with_buffer_size(1024).with_max_pooled(1).with_max_retained(2048));
/// let buf = pool.get();
/// assert!(buf.capacity() >= 1024);
/// pool.put(buf);
/// pool.put(Vec::with_capacity(4096));
/// let stats = pool.stats();
/// assert_eq!((stats.misses, stats.dropped_full, stats.dropped_oversize), (1, 1, 1));
/// ```
#[derive(Debug)]
pub struct NoPool {
    buffer_size: usize,
    max_retained: usize,
    counters: PoolCounters,
}

impl NoPool {
    /// A pool that never pools; `max_pooled` is ignored.
    pub fn new(config: PoolConfig) -> Self {
        NoPool {
            buffer_size: config.buffer_size,
            max_retained: config.max_retained,
            counters: PoolCounters::default(),
        }
    }
}

from_pool_config!(NoPool);

impl BufferPool for NoPool {
    fn get(&self) -> Vec<u8> {
        self.counters.miss();
        Vec::with_capacity(self.buffer_size)
    }

    fn put(&self, buf: Vec<u8>) {
        if buf.capacity() > self.max_retained {
            self.counters.dropped_oversize();
        } else {
            self.counters.dropped_full();
        }
        drop(buf);
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    fn stats(&self) -> PoolStats {
        self.counters.snapshot(0, 0)
    }
}
