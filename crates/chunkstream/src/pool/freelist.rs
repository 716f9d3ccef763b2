//! [`FreelistPool`]: a bounded lock-free queue of buffers.

use crossbeam_queue::ArrayQueue;

use super::extra::ExtraBytes;
use super::{BufferPool, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Buffers kept in a bounded lock-free queue (`crossbeam_queue::ArrayQueue`).
///
/// A `get` pops a buffer or allocates one; a `put` clears the buffer and pushes it back,
/// or drops it when the queue is full or its capacity exceeds `max_retained`.
///
/// Each operation costs the queue's own atomics plus one counter (`hits` or
/// `returned`); `pooled` is the queue's length and `pooled_bytes` is computed from it,
/// corrected only for buffers whose capacity is not `buffer_size`.
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::FreelistPool};
///
/// let pool = FreelistPool::new(PoolConfig::default().with_buffer_size(1024).with_max_pooled(2).with_max_retained(4096));
/// let buf = pool.get(); // a miss: the pool starts empty
/// pool.put(buf);
/// let buf = pool.get(); // a hit
/// assert_eq!((pool.stats().hits, pool.stats().misses), (1, 1));
/// # pool.put(buf);
/// ```
#[derive(Debug)]
pub struct FreelistPool {
    queue: ArrayQueue<Vec<u8>>,
    buffer_size: usize,
    max_retained: usize,
    counters: PoolCounters,
    /// Capacity of the queued buffers beyond `queue.len() * buffer_size`.
    extra: ExtraBytes,
}

impl FreelistPool {
    /// An empty pool with these bounds (`max_pooled` of zero is taken as one).
    pub fn new(config: PoolConfig) -> Self {
        FreelistPool {
            queue: ArrayQueue::new(config.max_pooled.max(1)),
            buffer_size: config.buffer_size,
            max_retained: config.max_retained,
            counters: PoolCounters::default(),
            extra: ExtraBytes::default(),
        }
    }
}

from_pool_config!(FreelistPool);

impl BufferPool for FreelistPool {
    fn get(&self) -> Vec<u8> {
        self.extra
            .take(self.queue.pop(), self.buffer_size, &self.counters)
    }

    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() > self.max_retained {
            self.counters.dropped_oversize();
            return;
        }
        buf.clear();
        let capacity = buf.capacity();
        // Counted before the push, so a concurrent `get` never takes it out first.
        self.extra.add(capacity, self.buffer_size);
        match self.queue.push(buf) {
            Ok(()) => self.counters.returned(),
            Err(_full) => {
                self.extra.sub(capacity, self.buffer_size);
                self.counters.dropped_full();
            }
        }
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    /// Exact once the threads using the pool are quiescent.
    fn stats(&self) -> PoolStats {
        let pooled = self.queue.len() as u64;
        self.counters
            .snapshot(pooled, self.extra.total(pooled, self.buffer_size))
    }
}
