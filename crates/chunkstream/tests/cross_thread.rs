//! Buffers taken on one thread and given back on another, the pattern tokio produces
//! when a task moves between workers or a chunk is dropped by another task.
//!
//! A purely thread-local pool misses on every get here; `ThreadLocalPool` spills the
//! giving thread's stack to its shared depot in batches, and the taking thread refills
//! its stack from there.
#![cfg(feature = "pool-thread-local")]

use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use bytes::Bytes;
use chunkstream::pool::ThreadLocalPool;
use chunkstream::{BufferPool, ChunkConfig};

const ROUNDS: usize = 100_000;

const MAX_POOLED: usize = 64;

fn pool() -> Arc<ThreadLocalPool> {
    let mut config = ChunkConfig::with_sizes(1024, 1024);
    config.pool.max_pooled = MAX_POOLED;
    config.pool.max_retained = 4096;
    Arc::new(ThreadLocalPool::new(config.pool))
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

/// Starts `threads` threads that each take `each` buffers from `pool`, give them back,
/// and then stay alive, idle, until the returned sender is dropped. They run one after
/// the other, so the pool's state when this returns does not depend on scheduling.
fn idle_threads(
    pool: &Arc<ThreadLocalPool>,
    threads: usize,
    each: usize,
) -> (
    std::sync::mpsc::Sender<()>,
    Vec<std::thread::JoinHandle<()>>,
) {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stop_rx = Arc::new(std::sync::Mutex::new(stop_rx));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (done_tx, done_rx) = sync_channel::<()>(0);
        let mine = Arc::clone(pool);
        let stop_rx = Arc::clone(&stop_rx);
        handles.push(std::thread::spawn(move || {
            let bufs: Vec<_> = (0..each).map(|_| mine.get()).collect();
            for buf in bufs {
                mine.put(buf);
            }
            done_tx.send(()).unwrap();
            // Idle until told to stop (the sender is dropped: `recv` fails).
            let _ = stop_rx.lock().unwrap().recv();
        }));
        done_rx.recv().unwrap();
        assert!(
            pool.stats().pooled <= MAX_POOLED as u64,
            "{:?}",
            pool.stats()
        );
    }
    (stop_tx, handles)
}

/// Gets on one thread and puts on another, `rounds` times, one buffer at a time (so the
/// pool is quiescent between rounds), checking after each round that the pool holds at
/// most `max_pooled` buffers. Returns the statistics of those rounds alone.
fn hand_over(pool: &Arc<ThreadLocalPool>, rounds: usize) -> (u64, u64) {
    let before = pool.stats();
    let (to_putter, putter_rx) = sync_channel::<Vec<u8>>(0);
    let (ack_tx, ack_rx) = sync_channel::<()>(0);
    let putter = std::thread::spawn({
        let pool = Arc::clone(pool);
        move || {
            for buf in putter_rx {
                pool.put(buf);
                ack_tx.send(()).unwrap();
            }
        }
    });
    let getter = std::thread::spawn({
        let pool = Arc::clone(pool);
        move || {
            for round in 0..rounds {
                let mut buf = pool.get();
                buf.extend_from_slice(&round.to_le_bytes());
                to_putter.send(buf).unwrap();
                ack_rx.recv().unwrap();
                let stats = pool.stats();
                assert!(
                    stats.pooled <= MAX_POOLED as u64,
                    "round {round}: {stats:?}"
                );
                assert_eq!(stats.outstanding, 0, "round {round}: {stats:?}");
            }
        }
    });
    getter.join().unwrap();
    putter.join().unwrap();
    let after = pool.stats();
    (after.hits - before.hits, after.misses - before.misses)
}

/// The repro of a pool that stopped pooling: 8 threads each did one get and put and
/// stay alive; a reservation per thread for its whole stack used to exhaust
/// `max_pooled = 64`, so every later cross-thread put was dropped and every get missed.
#[test]
fn idle_threads_do_not_exhaust_the_bound() {
    let pool = pool();
    let (stop, idle) = idle_threads(&pool, 8, 1);
    let (hits, misses) = hand_over(&pool, 10_000);
    println!("8 idle threads, then 10,000 cross-thread get/put: {hits} hits, {misses} misses");
    assert!(
        hits as f64 / 10_000.0 >= 0.9,
        "{hits} hits, {misses} misses"
    );
    drop(stop);
    idle.into_iter().for_each(|t| t.join().unwrap());
}

/// 64 threads that used the pool (more buffers each than a thread's stack holds) and
/// stay alive idle: the buffers they keep on their stacks are counted against
/// `max_pooled`, never more than it is held, and the cross-thread traffic that follows
/// still finds buffers.
#[test]
fn many_idle_threads_keep_the_pool_bounded_and_pooling() {
    let pool = pool();
    let (stop, idle) = idle_threads(&pool, 64, 10);
    let stats = pool.stats();
    println!("after 64 idle threads: {stats:?}");
    assert!(stats.pooled <= MAX_POOLED as u64, "{stats:?}");
    let (hits, misses) = hand_over(&pool, 10_000);
    println!("then 10,000 cross-thread get/put: {hits} hits, {misses} misses");
    assert!(
        hits as f64 / 10_000.0 >= 0.9,
        "{hits} hits, {misses} misses"
    );
    drop(stop);
    idle.into_iter().for_each(|t| t.join().unwrap());
    // Their stacks went back to the depot as they exited; still within the bound.
    let stats = pool.stats();
    assert!(stats.pooled <= MAX_POOLED as u64, "{stats:?}");
    assert_eq!(stats.outstanding, 0, "{stats:?}");
}
