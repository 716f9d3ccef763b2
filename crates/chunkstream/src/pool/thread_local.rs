//! [`ThreadLocalPool`]: a small per-thread stack that spills to and refills from a
//! shared bounded queue.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_queue::ArrayQueue;

use super::{BufferPool, FromPoolConfig, PoolCounters, PoolStats};
use crate::config::PoolConfig;

/// Buffers a thread keeps for itself at most, per pool. A quarter of `max_pooled` when
/// that is smaller, so most of the pool stays shared.
pub const MAX_LOCAL_BUFFERS: usize = 8;

/// Buffers cached by a thread, for the pool that used this thread last.
///
/// A `thread_local!` is per type, not per pool, so the cache belongs to one pool at a
/// time (`owner`): when another pool uses the thread, the old owner's buffers go back to
/// its shared queue (or are freed, if that pool is gone) and the cache changes hands.
struct Local {
    owner: Weak<Shared>,
    bufs: Vec<Vec<u8>>,
}

impl Local {
    fn is_owned_by(&self, shared: &Arc<Shared>) -> bool {
        std::ptr::eq(self.owner.as_ptr(), Arc::as_ptr(shared))
    }

    /// Gives the cached buffers back to their pool's shared queue (they stay counted as
    /// pooled there), or frees them if that pool is gone.
    fn spill(&mut self) {
        let bufs = std::mem::take(&mut self.bufs);
        if let Some(owner) = self.owner.upgrade() {
            for buf in bufs {
                owner.push_shared(buf);
            }
        }
    }

    /// Makes `shared` the owner of this thread's cache.
    fn claim(&mut self, shared: &Arc<Shared>) {
        if !self.is_owned_by(shared) {
            self.spill();
            self.owner = Arc::downgrade(shared);
        }
    }
}

impl Drop for Local {
    /// Thread teardown: the cached buffers go back to the shared queue, so the pool's
    /// count of kept buffers stays true when threads come and go.
    fn drop(&mut self) {
        self.spill();
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { owner: Weak::new(), bufs: Vec::new() })
    };
}

/// State shared by every thread using one [`ThreadLocalPool`].
struct Shared {
    queue: ArrayQueue<Vec<u8>>,
    /// Buffers kept by the pool, in the queue and in threads' caches together (or about
    /// to be: a `put` reserves a slot before placing the buffer, a hit releases it after
    /// taking one). Never above `max_pooled`, and never below the queue's length, so a
    /// push to the queue by a slot holder always finds room.
    kept: AtomicUsize,
    buffer_size: usize,
    max_pooled: usize,
    max_retained: usize,
    local_capacity: usize,
    counters: PoolCounters,
}

impl Shared {
    fn reserve(&self) -> bool {
        self.kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |kept| {
                (kept < self.max_pooled).then_some(kept + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.kept.fetch_sub(1, Ordering::AcqRel);
    }

    /// Pushes a buffer that holds a slot to the shared queue. The queue has room for
    /// `max_pooled` buffers and at most `kept - 1` are in it, so this always succeeds;
    /// should it not, the buffer is freed and its slot released.
    fn push_shared(&self, buf: Vec<u8>) -> bool {
        match self.queue.push(buf) {
            Ok(()) => true,
            Err(_buf) => {
                self.release();
                false
            }
        }
    }
}

/// A small per-thread stack of buffers (at most [`MAX_LOCAL_BUFFERS`]) in front of a
/// shared bounded lock-free queue.
///
/// A `get` pops from the calling thread's stack, then from the shared queue, then
/// allocates. A `put` clears the buffer and pushes it on the thread's stack, spilling to
/// the shared queue when the stack is full. The spill matters: tokio moves tasks
/// between workers, so a buffer is often taken on one thread and given back on another;
/// a purely thread-local pool misses on every get in that pattern.
///
/// Bounded per thread (the stack) and in total: at most `max_pooled` buffers are kept,
/// stacks and queue together. Buffers above `max_retained` are dropped.
///
/// A thread's stack serves one pool at a time, the last one that used the thread;
/// when another pool uses it, the stack's buffers go back to their own pool's shared
/// queue. Thread teardown never panics (`LocalKey::try_with`), and a dying thread's
/// buffers go back to the shared queue.
///
/// The price of the per-thread stacks: a thread that gave buffers back and then stops
/// using the pool holds on to them (at most [`local_capacity`](Self::local_capacity))
/// until it exits or uses another `ThreadLocalPool`; they count against `max_pooled`
/// meanwhile.
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::ThreadLocalPool};
///
/// let pool = ThreadLocalPool::new(PoolConfig { buffer_size: 1024, max_pooled: 64, max_retained: 4096 });
/// let buf = pool.get(); // a miss: the pool starts empty
/// std::thread::scope(|s| {
///     // Given back on another thread, which then exits.
///     s.spawn(|| pool.put(buf)).join().unwrap();
/// });
/// let buf = pool.get(); // still a hit: the other thread's stack went back to the queue
/// assert_eq!((pool.stats().hits, pool.stats().misses), (1, 1));
/// # pool.put(buf);
/// ```
pub struct ThreadLocalPool {
    shared: Arc<Shared>,
}

impl ThreadLocalPool {
    /// An empty pool with these bounds (`max_pooled` of zero is taken as one).
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{BufferPool, PoolConfig, pool::ThreadLocalPool};
    ///
    /// let pool = ThreadLocalPool::new(PoolConfig::default());
    /// assert_eq!(pool.initial_size(), 51_200);
    /// ```
    pub fn new(config: PoolConfig) -> Self {
        let max_pooled = config.max_pooled.max(1);
        ThreadLocalPool {
            shared: Arc::new(Shared {
                queue: ArrayQueue::new(max_pooled),
                kept: AtomicUsize::new(0),
                buffer_size: config.buffer_size,
                max_pooled,
                max_retained: config.max_retained,
                local_capacity: MAX_LOCAL_BUFFERS.min(max_pooled / 4),
                counters: PoolCounters::default(),
            }),
        }
    }

    /// Buffers one thread keeps for this pool at most: [`MAX_LOCAL_BUFFERS`], or a
    /// quarter of `max_pooled` if that is smaller.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{PoolConfig, pool::ThreadLocalPool};
    ///
    /// assert_eq!(ThreadLocalPool::new(PoolConfig::default()).local_capacity(), 8);
    /// let small = PoolConfig { max_pooled: 8, ..PoolConfig::default() };
    /// assert_eq!(ThreadLocalPool::new(small).local_capacity(), 2);
    /// ```
    pub fn local_capacity(&self) -> usize {
        self.shared.local_capacity
    }

    /// Pops from this thread's stack if it belongs to this pool.
    fn pop_local(&self) -> Option<Vec<u8>> {
        LOCAL
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_owned_by(&self.shared) {
                    local.bufs.pop()
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }

    /// Pushes on this thread's stack (claiming it for this pool); hands the buffer back
    /// when the stack is full or unavailable (thread teardown).
    fn push_local(&self, buf: Vec<u8>) -> Result<(), Vec<u8>> {
        if self.shared.local_capacity == 0 {
            return Err(buf);
        }
        let mut buf = Some(buf);
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            local.claim(&self.shared);
            if local.bufs.len() < self.shared.local_capacity {
                local.bufs.extend(buf.take());
            }
        });
        match buf {
            None => Ok(()),
            Some(buf) => Err(buf),
        }
    }
}

impl Default for ThreadLocalPool {
    fn default() -> Self {
        ThreadLocalPool::new(PoolConfig::default())
    }
}

impl FromPoolConfig for ThreadLocalPool {
    fn from_pool_config(config: PoolConfig) -> Self {
        ThreadLocalPool::new(config)
    }
}

impl fmt::Debug for ThreadLocalPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("ThreadLocalPool")
            .field("kept", &shared.kept.load(Ordering::Relaxed))
            .field("shared", &shared.queue.len())
            .field("buffer_size", &shared.buffer_size)
            .field("max_pooled", &shared.max_pooled)
            .field("max_retained", &shared.max_retained)
            .field("local_capacity", &shared.local_capacity)
            .field("counters", &shared.counters)
            .finish()
    }
}

impl Drop for ThreadLocalPool {
    /// Frees this thread's cached buffers now if they belong to this pool (other threads
    /// free theirs when they next use a pool, or exit).
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut()
                && local.is_owned_by(&self.shared)
            {
                local.bufs.clear();
                local.owner = Weak::new();
            }
        });
    }
}

impl BufferPool for ThreadLocalPool {
    fn get(&self) -> Vec<u8> {
        let shared = &*self.shared;
        match self.pop_local().or_else(|| shared.queue.pop()) {
            Some(buf) => {
                shared.release();
                shared.counters.hit(buf.capacity());
                buf
            }
            None => {
                shared.counters.miss();
                Vec::with_capacity(shared.buffer_size)
            }
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        let shared = &*self.shared;
        if buf.capacity() > shared.max_retained {
            shared.counters.dropped_oversize();
            return;
        }
        if !shared.reserve() {
            shared.counters.dropped_full();
            return;
        }
        buf.clear();
        let capacity = buf.capacity();
        let kept = match self.push_local(buf) {
            Ok(()) => true,
            Err(buf) => shared.push_shared(buf),
        };
        if kept {
            shared.counters.returned(capacity);
        } else {
            shared.counters.dropped_full();
        }
    }

    fn initial_size(&self) -> usize {
        self.shared.buffer_size
    }

    fn stats(&self) -> PoolStats {
        self.shared.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_pooled: usize) -> ThreadLocalPool {
        ThreadLocalPool::new(PoolConfig {
            buffer_size: 64,
            max_pooled,
            max_retained: 128,
        })
    }

    #[test]
    fn reuses_and_clears_on_one_thread() {
        let pool = pool(32);
        let mut buf = pool.get();
        buf.extend_from_slice(b"hello");
        let ptr = buf.as_ptr();
        pool.put(buf);
        assert_eq!(pool.shared.queue.len(), 0, "kept on the thread's stack");
        let again = pool.get();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        let stats = pool.stats();
        assert_eq!((stats.hits, stats.misses, stats.returned), (1, 1, 1));
        assert_eq!(stats.outstanding, 1);
    }

    #[test]
    fn spills_to_the_shared_queue_when_the_stack_is_full() {
        let pool = pool(32);
        let bufs: Vec<_> = (0..10).map(|_| pool.get()).collect();
        for buf in bufs {
            pool.put(buf);
        }
        assert_eq!(pool.shared.queue.len(), 10 - MAX_LOCAL_BUFFERS);
        assert_eq!(pool.stats().pooled, 10);
    }

    #[test]
    fn bounded_in_total_and_drops_oversize() {
        let pool = pool(4);
        assert_eq!(pool.local_capacity(), 1);
        let bufs: Vec<_> = (0..6).map(|_| pool.get()).collect();
        for buf in bufs {
            pool.put(buf);
        }
        pool.put(Vec::with_capacity(1024));
        let stats = pool.stats();
        assert_eq!(stats.returned, 4);
        assert_eq!(stats.dropped_full, 2);
        assert_eq!(stats.dropped_oversize, 1);
        assert_eq!(stats.pooled, 4);
        assert_eq!(stats.pooled_bytes, 4 * 64);
    }

    #[test]
    fn two_pools_share_a_thread_without_mixing_buffers() {
        let (a, b) = (pool(32), pool(32));
        let buf_a = a.get();
        let ptr_a = buf_a.as_ptr();
        a.put(buf_a);
        // `b` takes over the thread's stack; `a`'s buffer goes to `a`'s shared queue.
        let buf_b = b.get();
        b.put(buf_b);
        assert_eq!(a.shared.queue.len(), 1);
        let again = a.get();
        assert_eq!(again.as_ptr(), ptr_a);
        assert_eq!(a.stats().hits, 1);
        assert_eq!(b.stats().hits, 0);
        let buf_b = b.get();
        assert_eq!(b.stats().hits, 1, "b's buffer is on the thread's stack");
        b.put(buf_b);
        a.put(again);
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
                assert_eq!(pool.shared.queue.len(), 0);
            })
            // An explicit join waits for the thread's TLS destructors.
            .join()
            .unwrap();
        });
        assert_eq!(pool.shared.queue.len(), 3);
        assert_eq!(pool.shared.kept.load(Ordering::Relaxed), 3);
        for _ in 0..3 {
            drop(pool.get());
        }
        assert_eq!(pool.stats().hits, 3);
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
