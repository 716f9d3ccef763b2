//! Buffers taken on one thread and given back on another, the pattern tokio produces
//! when a task moves between workers or a chunk is dropped by another task.
//!
//! A purely thread-local pool misses on every get here; `ThreadLocalPool` spills the
//! giving thread's stack to its shared queue, so the taking thread finds buffers there.
#![cfg(feature = "pool-thread-local")]

use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use bytes::Bytes;
use chunkstream::pool::ThreadLocalPool;
use chunkstream::{BufferPool, PoolConfig};

const ROUNDS: usize = 100_000;

fn pool() -> Arc<ThreadLocalPool> {
    Arc::new(ThreadLocalPool::new(
        PoolConfig::default()
            .with_buffer_size(1024)
            .with_max_pooled(64)
            .with_max_retained(4096),
    ))
}

/// Get on this thread, put on another one.
#[test]
fn get_here_put_there() {
    let pool = pool();
    let (tx, rx) = sync_channel::<Vec<u8>>(16);
    let putter = std::thread::spawn({
        let pool = Arc::clone(&pool);
        move || {
            for buf in rx {
                pool.put(buf);
            }
        }
    });
    for round in 0..ROUNDS {
        let mut buf = pool.get();
        buf.extend_from_slice(&round.to_le_bytes());
        tx.send(buf).unwrap();
    }
    drop(tx);
    putter.join().unwrap();

    let stats = pool.stats();
    println!(
        "ThreadLocalPool, get on one thread, put on another: hit rate {:.2}% ({} hits, {} misses)",
        100.0 * stats.hit_rate(),
        stats.hits,
        stats.misses
    );
    assert_eq!(stats.taken(), ROUNDS as u64);
    assert_eq!(stats.outstanding, 0);
    assert!(stats.hit_rate() >= 0.90, "{stats:?}");
}

/// The same through zero-copy chunks: a `Bytes` owning the buffer is dropped on
/// another thread, which gives the buffer back from there.
#[test]
fn chunk_dropped_on_another_thread() {
    struct Owned(Vec<u8>, Arc<ThreadLocalPool>);
    impl AsRef<[u8]> for Owned {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Owned {
        fn drop(&mut self) {
            self.1.put(std::mem::take(&mut self.0));
        }
    }

    let pool = pool();
    let (tx, rx) = sync_channel::<Bytes>(16);
    let dropper = std::thread::spawn(move || rx.into_iter().for_each(drop));
    for round in 0..ROUNDS {
        let mut buf = pool.get();
        buf.extend_from_slice(&round.to_le_bytes());
        tx.send(Bytes::from_owner(Owned(buf, Arc::clone(&pool))))
            .unwrap();
    }
    drop(tx);
    dropper.join().unwrap();

    let stats = pool.stats();
    println!(
        "ThreadLocalPool, chunk dropped on another thread: hit rate {:.2}%",
        100.0 * stats.hit_rate()
    );
    assert_eq!(stats.outstanding, 0);
    assert!(stats.hit_rate() >= 0.90, "{stats:?}");
}
