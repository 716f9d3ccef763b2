//! What every pool promises through `BufferPool`: reuse of a cleared buffer, the bounds
//! (`max_pooled`, `max_retained`) and the counts; then `ThreadLocalPool`'s per-thread
//! stacks and `Calibrated`'s learning, each through the public API.

use chunkstream::pool::{Calibrated, NoPool};
use chunkstream::{BufferPool, PoolConfig};

#[allow(dead_code)] // not every feature set has a queue-backed pool
fn small(max_pooled: usize) -> PoolConfig {
    PoolConfig::default()
        .with_buffer_size(64)
        .with_max_pooled(max_pooled)
        .with_max_retained(128)
}

/// A buffer given back comes out again, cleared, and is counted once each way.
#[allow(dead_code)] // not every feature set has a queue-backed pool
fn reuses_and_clears<P: BufferPool>(pool: P) {
    let mut buf = pool.get();
    buf.extend_from_slice(b"hello");
    let ptr = buf.as_ptr();
    pool.put(buf);
    let again = pool.get();
    assert_eq!(again.as_ptr(), ptr);
    assert!(again.is_empty());
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.misses, stats.returned), (1, 1, 1));
    assert_eq!((stats.outstanding, stats.pooled), (1, 0));
}

/// A pool of one keeps one buffer: the second is dropped as full, an oversize one as
/// oversize.
#[allow(dead_code)]
fn drops_when_full_or_oversize<P: BufferPool>(pool: P) {
    let (a, b) = (pool.get(), pool.get());
    pool.put(a);
    pool.put(b);
    pool.put(Vec::with_capacity(1024));
    assert_eq!(kept(&pool), (1, 1, 1, 1, 64));
}

/// What became of the buffers given back: (returned, dropped_full, dropped_oversize,
/// pooled, pooled_bytes).
#[allow(dead_code)] // as its callers
fn kept<P: BufferPool>(pool: &P) -> (u64, u64, u64, u64, u64) {
    let s = pool.stats();
    let dropped = (s.dropped_full, s.dropped_oversize);
    (s.returned, dropped.0, dropped.1, s.pooled, s.pooled_bytes)
}

#[cfg(feature = "pool-freelist")]
#[test]
fn freelist_keeps_the_contract() {
    use chunkstream::pool::FreelistPool;
    reuses_and_clears(FreelistPool::new(small(4)));
    drops_when_full_or_oversize(FreelistPool::new(small(1)));
}

#[cfg(feature = "pool-object-pool")]
#[test]
fn object_pool_keeps_the_contract() {
    use chunkstream::pool::ObjectPool;
    reuses_and_clears(ObjectPool::new(small(4)));
    drops_when_full_or_oversize(ObjectPool::new(small(1)));
}

#[cfg(feature = "pool-thread-local")]
mod thread_local {
    use chunkstream::BufferPool;
    use chunkstream::pool::{MAX_LOCAL_BUFFERS, ThreadLocalPool};
    use std::sync::Arc;

    fn pool(max_pooled: usize) -> ThreadLocalPool {
        ThreadLocalPool::new(super::small(max_pooled))
    }

    /// Takes `n` buffers on another thread; returns how many were hits.
    fn hits_elsewhere(pool: &ThreadLocalPool, n: usize) -> u64 {
        let before = pool.stats().hits;
        std::thread::scope(|s| {
            s.spawn(|| (0..n).map(|_| pool.get()).collect::<Vec<_>>())
                .join()
                .unwrap()
        });
        pool.stats().hits - before
    }

    #[test]
    fn reuses_and_clears_on_one_thread() {
        let pool = pool(32);
        let mut buf = pool.get();
        buf.extend_from_slice(b"hello");
        let ptr = buf.as_ptr();
        pool.put(buf);
        // Kept on this thread's stack: another thread does not find it.
        assert_eq!(hits_elsewhere(&pool, 1), 0);
        let again = pool.get();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        let stats = pool.stats();
        assert_eq!((stats.hits, stats.misses, stats.returned), (1, 2, 1));
        // `again`, and the other thread's buffer, dropped without a `put`.
        assert_eq!(stats.outstanding, 2);
    }

    #[test]
    fn spills_half_the_stack_to_the_depot_when_the_stack_is_full() {
        let pool = pool(32);
        assert_eq!(pool.local_capacity(), 8, "a quarter of max_pooled");
        let bufs: Vec<_> = (0..10).map(|_| pool.get()).collect();
        for buf in bufs {
            pool.put(buf);
        }
        assert_eq!(pool.stats().pooled, 10);
        // The ninth put found the stack full: its oldest half went to the depot, for any
        // thread; the ninth and tenth buffers joined the rest on the stack.
        let spilled = pool.local_capacity() / 2;
        assert_eq!(hits_elsewhere(&pool, spilled + 1), spilled as u64);
        let stats = pool.stats();
        assert_eq!((stats.pooled, stats.returned), (10 - spilled as u64, 10));
    }

    /// Fills the depot with `n` buffers: put on a thread that then exits.
    fn fill_depot(pool: &ThreadLocalPool, n: usize) {
        let bufs: Vec<_> = (0..n).map(|_| pool.get()).collect();
        std::thread::scope(|s| {
            s.spawn(|| bufs.into_iter().for_each(|buf| pool.put(buf)))
                .join()
                .unwrap();
        });
        assert_eq!(pool.stats().pooled, n as u64);
    }

    #[test]
    fn a_thread_that_only_takes_refills_its_stack_from_the_depot_in_batches() {
        let pool = pool(32);
        fill_depot(&pool, 16);
        let half = pool.local_capacity() / 2;
        let (taken, others) = std::thread::scope(|s| {
            let (ready, wait) = std::sync::mpsc::sync_channel(0);
            let (stop, idle) = std::sync::mpsc::sync_channel::<()>(0);
            let pool = &pool;
            let taker = s.spawn(move || {
                // One get: one buffer handed out and half a stack's worth onto the stack.
                let buf = pool.get();
                ready.send(()).unwrap();
                idle.recv().unwrap();
                // The next gets are served by the stack.
                let before = pool.stats();
                let more: Vec<_> = (0..half).map(|_| pool.get()).collect();
                let after = pool.stats();
                assert_eq!(after.hits - before.hits, more.len() as u64);
                (buf, more)
            });
            wait.recv().unwrap();
            // Meanwhile, what is left in the depot: all but the one taken and the half
            // stack behind it.
            let others = hits_elsewhere(pool, 16);
            stop.send(()).unwrap();
            (taker.join().unwrap(), others)
        });
        assert_eq!(others, (16 - 1 - half) as u64);
        let stats = pool.stats();
        assert_eq!((stats.hits, stats.pooled), (16, 0), "{stats:?}");
        pool.put(taken.0);
        taken.1.into_iter().for_each(|buf| pool.put(buf));
    }

    /// Threads that only take buffers, refill their stacks and go idle: together their
    /// stacks hold at most half of `max_pooled`, the rest stays in the depot for others.
    #[test]
    fn idle_takers_strand_at_most_half_the_pool() {
        let max_pooled = 64;
        let pool = pool(max_pooled);
        fill_depot(&pool, max_pooled);
        let (stop, idle) = std::sync::mpsc::sync_channel::<()>(0);
        let idle = std::sync::Mutex::new(idle);
        let taken = std::thread::scope(|s| {
            let takers: Vec<_> = (0..16)
                .map(|_| {
                    let (ready, wait) = std::sync::mpsc::sync_channel(0);
                    let (pool, idle) = (&pool, &idle);
                    let taker = s.spawn(move || {
                        let buf = pool.get();
                        ready.send(()).unwrap();
                        let _ = idle.lock().unwrap().recv();
                        buf
                    });
                    // One after another, so the state below does not depend on scheduling.
                    wait.recv().unwrap();
                    taker
                })
                .collect();
            // 16 handed out and 32 (half the pool) on the stacks: the other 16 are left
            // for anyone.
            let left = hits_elsewhere(&pool, max_pooled);
            assert_eq!(left, (max_pooled - 16 - max_pooled / 2) as u64);
            drop(stop);
            takers
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        });
        // The idle threads exited: their stacks went back to the depot.
        let stats = pool.stats();
        assert_eq!(stats.pooled, (max_pooled / 2) as u64, "{stats:?}");
        taken.into_iter().for_each(|buf| pool.put(buf));
        assert!(pool.stats().pooled <= max_pooled as u64);
    }

    #[test]
    fn bounded_in_total_and_drops_oversize() {
        let defaults = chunkstream::PoolConfig::default();
        assert_eq!(
            ThreadLocalPool::new(defaults).local_capacity(),
            MAX_LOCAL_BUFFERS
        );
        assert_eq!(pool(8).local_capacity(), 2, "a quarter of max_pooled");
        let pool = pool(4);
        assert_eq!(pool.local_capacity(), 1);
        let bufs: Vec<_> = (0..6).map(|_| pool.get()).collect();
        for buf in bufs {
            pool.put(buf);
        }
        pool.put(Vec::with_capacity(1024));
        assert_eq!(super::kept(&pool), (4, 2, 1, 4, 4 * 64));
    }

    #[test]
    fn two_pools_share_a_thread_without_mixing_buffers() {
        let (a, b) = (pool(32), pool(32));
        let buf_a = a.get();
        let ptr_a = buf_a.as_ptr();
        a.put(buf_a);
        // `b` takes over the thread's stack; `a`'s buffer goes to `a`'s depot.
        let buf_b = b.get();
        b.put(buf_b);
        let again = a.get();
        assert_eq!(again.as_ptr(), ptr_a);
        assert_eq!(a.stats().hits, 1);
        assert_eq!(b.stats().hits, 0);
        let buf_b = b.get();
        assert_eq!(b.stats().hits, 1, "b's buffer is on the thread's stack");
        b.put(buf_b);
        a.put(again);
    }

    /// The smallest bound: a stack of no buffers (a quarter of one), so every put and
    /// every get go through the depot, and the contract is the other pools'.
    #[test]
    fn keeps_the_contract_at_the_smallest_bound() {
        assert_eq!(pool(1).local_capacity(), 0);
        super::reuses_and_clears(pool(1));
        super::drops_when_full_or_oversize(pool(1));
    }

    #[test]
    fn a_dying_thread_gives_its_stack_back() {
        let pool = pool(32);
        let bufs: Vec<_> = (0..3).map(|_| pool.get()).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for buf in bufs {
                    pool.put(buf);
                }
            })
            // An explicit join waits for the thread's TLS destructors.
            .join()
            .unwrap();
        });
        assert_eq!(pool.stats().pooled, 3);
        for _ in 0..3 {
            drop(pool.get());
        }
        assert_eq!(pool.stats().hits, 3);
    }

    /// Puts its buffer into its pool when the thread's thread-locals are destroyed.
    struct PutAtExit(std::cell::RefCell<Option<(Arc<ThreadLocalPool>, Vec<u8>)>>);

    impl Drop for PutAtExit {
        fn drop(&mut self) {
            if let Some((pool, buf)) = self.0.borrow_mut().take() {
                pool.put(buf);
            }
        }
    }

    thread_local! {
        static PUT_AT_EXIT: PutAtExit = const { PutAtExit(std::cell::RefCell::new(None)) };
    }

    #[test]
    fn a_put_during_the_threads_teardown_goes_to_the_depot() {
        let pool = Arc::new(pool(32));
        let (early, late) = (pool.get(), pool.get());
        let thread_pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            // Registered first, destroyed last: after the pool's own teardown of the
            // thread's stack, when the thread can no longer keep a buffer.
            PUT_AT_EXIT.with(|slot| *slot.0.borrow_mut() = Some((Arc::clone(&thread_pool), late)));
            thread_pool.put(early);
        })
        .join()
        .unwrap();
        let stats = pool.stats();
        assert_eq!((stats.pooled, stats.returned, stats.outstanding), (2, 2, 0));
        for _ in 0..2 {
            drop(pool.get());
        }
        assert_eq!(pool.stats().hits, 2);
    }

    #[test]
    fn a_dropped_pool_leaves_no_claim() {
        let first = pool(32);
        first.put(first.get());
        drop(first);
        let second = pool(32);
        second.put(second.get());
        let buf = second.get();
        assert_eq!(second.stats().hits, 1);
        second.put(buf);
    }
}

/// A pool whose floor (its initial size) is the smallest bucket.
fn small_inner() -> NoPool {
    NoPool::new(
        PoolConfig::default()
            .with_buffer_size(64)
            .with_max_pooled(16)
            .with_max_retained(64 << 20),
    )
}

#[test]
fn calibrated_buckets_are_powers_of_two_from_64_bytes_up_to_32_mib() {
    for (len, bucket) in [
        (1, 64),
        (64, 64),
        (65, 128),
        (7000, 8192),
        (8192, 8192),
        (8193, 16384),
        (40 << 20, 32 << 20),
    ] {
        let pool = Calibrated::with_period(small_inner(), 1);
        pool.put(vec![b'x'; len]);
        assert_eq!(pool.calibrated_size(), Some(bucket), "{len}");
    }
}

#[test]
fn calibrated_learns_the_most_frequent_size_and_the_95th_percentile() {
    let pool = Calibrated::with_period(small_inner(), 100);
    for i in 0..100 {
        // 90% about 1 KiB, 6% about 4 KiB, 4% about 64 KiB.
        let len = match i % 50 {
            0 | 1 => 60_000,
            2..=4 => 4000,
            _ => 1000,
        };
        pool.put(vec![b'x'; len]);
    }
    assert_eq!(pool.calibrated_size(), Some(1024));
    assert_eq!(pool.calibrated_max_retained(), Some(4096));
}

#[test]
fn calibrated_does_not_count_empty_buffers() {
    let pool = Calibrated::with_period(NoPool::new(PoolConfig::default()), 2);
    pool.put(Vec::new());
    pool.put(Vec::new());
    assert_eq!(pool.calibrated_size(), None);
}

#[test]
fn calibrated_keeps_capacity_reserved_ahead_of_length() {
    let pool = Calibrated::with_period(small_inner(), 10);
    for _ in 0..10 {
        pool.put(vec![b'x'; 4000]);
    }
    assert_eq!(pool.calibrated_max_retained(), Some(4096));
    let dropped_before = pool.stats().dropped_oversize;
    // An encoder reserved spare room: 4000 bytes written in 6000 of capacity.
    let mut reserved = Vec::with_capacity(6000);
    reserved.extend_from_slice(&[b'x'; 4000]);
    pool.put(reserved);
    assert_eq!(pool.stats().dropped_oversize, dropped_before);
    // Past twice the bound, the buffer is dropped.
    let mut grown = Vec::with_capacity(9000);
    grown.extend_from_slice(&[b'x'; 4000]);
    pool.put(grown);
    assert_eq!(pool.stats().dropped_oversize, dropped_before + 1);
}

#[test]
fn calibrated_never_learns_below_the_inner_pools_initial_size_by_default() {
    let pool = Calibrated::with_period(NoPool::new(PoolConfig::default()), 10);
    for _ in 0..10 {
        pool.put(vec![b'x'; 20]);
    }
    assert_eq!(pool.floor(), 51_200);
    assert_eq!(pool.calibrated_size(), Some(51_200));
    assert_eq!(pool.calibrated_max_retained(), Some(51_200));
}

#[test]
fn calibrated_with_a_threshold_floors_at_the_threshold_plus_a_learned_item() {
    let pool =
        Calibrated::with_period(NoPool::new(PoolConfig::default()), 10).with_chunk_threshold(1000);
    // Tiny responses only: the threshold plus the smallest headroom.
    for _ in 0..10 {
        pool.put(vec![b'x'; 20]);
    }
    assert_eq!(pool.floor(), 1064);
    assert_eq!(pool.calibrated_size(), Some(1064));
    // Chunks that went up to 400 bytes past the threshold: a 512-byte headroom.
    for i in 0..10 {
        pool.put(vec![b'x'; 1000 + 40 * i]);
    }
    assert_eq!(pool.floor(), 1512);
    assert_eq!(pool.calibrated_size(), Some(2048));
    // Tiny responses again: the learned headroom stays.
    for _ in 0..10 {
        pool.put(vec![b'x'; 20]);
    }
    assert_eq!(pool.calibrated_size(), Some(1512));
}
