//! [`FreelistPool`]: a bounded lock-free queue of buffers.

use crossbeam_queue::ArrayQueue;

use super::{BufferPool, FromPoolConfig, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Buffers kept in a bounded lock-free queue (`crossbeam_queue::ArrayQueue`).
///
/// A `get` pops a buffer or allocates one; a `put` clears the buffer and pushes it back,
/// or drops it when the queue is full or its capacity exceeds `max_retained`.
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::FreelistPool};
///
/// let pool = FreelistPool::new(PoolConfig { buffer_size: 1024, max_pooled: 2, max_retained: 4096 });
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
}

impl FreelistPool {
    /// An empty pool with these bounds (`max_pooled` of zero is taken as one).
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{BufferPool, PoolConfig, pool::FreelistPool};
    ///
    /// let pool = FreelistPool::new(PoolConfig::default());
    /// assert_eq!(pool.initial_size(), 51_200);
    /// ```
    pub fn new(config: PoolConfig) -> Self {
        FreelistPool {
            queue: ArrayQueue::new(config.max_pooled.max(1)),
            buffer_size: config.buffer_size,
            max_retained: config.max_retained,
            counters: PoolCounters::default(),
        }
    }
}

impl Default for FreelistPool {
    fn default() -> Self {
        FreelistPool::new(PoolConfig::default())
    }
}

impl FromPoolConfig for FreelistPool {
    fn from_pool_config(config: PoolConfig) -> Self {
        FreelistPool::new(config)
    }
}

impl BufferPool for FreelistPool {
    fn get(&self) -> Vec<u8> {
        match self.queue.pop() {
            Some(buf) => {
                self.counters.hit(buf.capacity());
                buf
            }
            None => {
                self.counters.miss();
                Vec::with_capacity(self.buffer_size)
            }
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() > self.max_retained {
            self.counters.dropped_oversize();
            return;
        }
        buf.clear();
        let capacity = buf.capacity();
        match self.queue.push(buf) {
            Ok(()) => self.counters.returned(capacity),
            Err(_full) => self.counters.dropped_full(),
        }
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    fn stats(&self) -> PoolStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_pooled: usize) -> FreelistPool {
        FreelistPool::new(PoolConfig {
            buffer_size: 64,
            max_pooled,
            max_retained: 128,
        })
    }

    #[test]
    fn reuses_and_clears() {
        let pool = pool(4);
        let mut buf = pool.get();
        buf.extend_from_slice(b"hello");
        let ptr = buf.as_ptr();
        pool.put(buf);
        let again = pool.get();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        let stats = pool.stats();
        assert_eq!((stats.hits, stats.misses, stats.returned), (1, 1, 1));
        assert_eq!(stats.outstanding, 1);
    }

    #[test]
    fn drops_when_full_or_oversize() {
        let pool = pool(1);
        let (a, b) = (pool.get(), pool.get());
        pool.put(a);
        pool.put(b);
        pool.put(Vec::with_capacity(1024));
        let stats = pool.stats();
        assert_eq!(stats.returned, 1);
        assert_eq!(stats.dropped_full, 1);
        assert_eq!(stats.dropped_oversize, 1);
        assert_eq!(stats.pooled, 1);
        assert_eq!(stats.pooled_bytes, 64);
    }
}
