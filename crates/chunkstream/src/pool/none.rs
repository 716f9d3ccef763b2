//! [`NoPool`]: no reuse at all, the baseline every strategy is measured against.

use super::{BufferPool, FromPoolConfig, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Allocates a fresh `Vec::with_capacity(buffer_size)` on every `get` and frees every
/// buffer given back. Always available; the reference the other strategies must match.
///
/// Every `get` counts as a miss and every `put` as `dropped_full` (nothing is kept).
#[derive(Debug, Default)]
pub struct NoPool {
    buffer_size: usize,
    counters: PoolCounters,
}

impl NoPool {
    /// A pool that never pools; only `config.buffer_size` is used.
    pub fn new(config: PoolConfig) -> Self {
        NoPool {
            buffer_size: config.buffer_size,
            counters: PoolCounters::default(),
        }
    }
}

impl FromPoolConfig for NoPool {
    fn from_pool_config(config: PoolConfig) -> Self {
        NoPool::new(config)
    }
}

impl BufferPool for NoPool {
    fn get(&self) -> Vec<u8> {
        self.counters.miss();
        Vec::with_capacity(self.buffer_size)
    }

    fn put(&self, buf: Vec<u8>) {
        self.counters.dropped_full();
        drop(buf);
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    fn stats(&self) -> PoolStats {
        self.counters.snapshot()
    }
}
