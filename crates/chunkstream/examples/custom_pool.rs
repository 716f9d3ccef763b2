//! A custom buffer pool: implement `BufferPool` (`get`, `put`, `initial_size`,
//! `stats`) and build a `Streamer` on it with `Streamer::with_parts`.
//!
//! ```sh
//! cargo run -p chunkstream --example custom_pool
//! ```
//!
//! The pool here is the simplest correct one: a mutex-guarded stack, bounded in count
//! and in the capacity it retains, clearing buffers on return, counting with the
//! crate's `PoolCounters`. It also records the largest buffer it saw come back.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chunkstream::encode::SerdeJson;
use chunkstream::pool::PoolCounters;
use chunkstream::{BufferPool, ChunkConfig, PoolStats, Streamer, source};

#[derive(Debug)]
struct StackPool {
    stack: Mutex<Vec<Vec<u8>>>,
    buffer_size: usize,
    max_pooled: usize,
    max_retained: usize,
    largest_returned: AtomicUsize,
    counters: PoolCounters,
}

impl StackPool {
    fn new(buffer_size: usize, max_pooled: usize) -> Self {
        StackPool {
            stack: Mutex::new(Vec::with_capacity(max_pooled)),
            buffer_size,
            max_pooled,
            max_retained: 2 * buffer_size,
            largest_returned: AtomicUsize::new(0),
            counters: PoolCounters::default(),
        }
    }
}

impl BufferPool for StackPool {
    fn get(&self) -> Vec<u8> {
        // A poisoned lock only means another thread panicked mid-push: the stack of
        // empty buffers is still valid.
        let popped = self.stack.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match popped {
            Some(buf) => {
                self.counters.hit();
                buf
            }
            None => {
                self.counters.miss();
                Vec::with_capacity(self.buffer_size)
            }
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        self.largest_returned
            .fetch_max(buf.capacity(), Ordering::Relaxed);
        if buf.capacity() > self.max_retained {
            self.counters.dropped_oversize();
            return;
        }
        buf.clear(); // the next user must get an empty buffer
        let mut stack = self.stack.lock().unwrap_or_else(|e| e.into_inner());
        if stack.len() < self.max_pooled {
            stack.push(buf);
            self.counters.returned();
        } else {
            self.counters.dropped_full();
        }
    }

    fn initial_size(&self) -> usize {
        self.buffer_size
    }

    fn stats(&self) -> PoolStats {
        let stack = self.stack.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: usize = stack.iter().map(Vec::capacity).sum();
        self.counters.snapshot(stack.len() as u64, bytes as u64)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 4 * 1024;
    config.chunk_threshold = 2 * 1024;
    let pool = Arc::new(StackPool::new(config.pool.buffer_size, 8));
    let streamer = Streamer::with_parts(config, Arc::clone(&pool), SerdeJson)?;

    for _ in 0..5 {
        let body = streamer
            .json(source::from_iter((0..500_u64).map(|i| [i, i * i])))
            .collect_bytes()
            .await?;
        let items: Vec<[u64; 2]> = serde_json::from_slice(&body)?;
        assert_eq!(items.len(), 500);
    }
    let stats = pool.stats();
    println!(
        "custom pool: hits {}, misses {}, returned {}, dropped {}, pooled {}",
        stats.hits,
        stats.misses,
        stats.returned,
        stats.dropped_full + stats.dropped_oversize,
        stats.pooled
    );
    println!("hit rate: {:.1}%", stats.hit_rate() * 100.0);
    println!("outstanding: {}", stats.outstanding);
    println!(
        "largest buffer returned: {} bytes (buffer_size {})",
        pool.largest_returned.load(Ordering::Relaxed),
        pool.initial_size()
    );
    Ok(())
}
