//! [`ThreadLocalPool`]: a small per-thread stack that spills to and refills from a
//! shared bounded queue.

use std::cell::RefCell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crossbeam_queue::ArrayQueue;

use super::extra::{Counts, ExtraBytes, reserve};
use super::{BufferPool, PoolCounters, PoolStats};
use crate::config::PoolConfig;
use crate::sync::lock;

/// Buffers a thread keeps for itself at most, per pool. A quarter of `max_pooled` when
/// that is smaller, so most of the pool stays shared.
pub const MAX_LOCAL_BUFFERS: usize = 8;

/// Threads' stacks together hold at most `max_pooled / LOCAL_SHARE_DIVISOR` buffers, so
/// threads that cached buffers and went idle leave at least the rest of the pool to the
/// shared queue.
const LOCAL_SHARE_DIVISOR: usize = 2;

/// One thread's counters for one pool.
///
/// Only the thread whose slot holds the shard writes it, so a counter is bumped with a
/// plain load and store (no locked read-modify-write) and stays exact; `stats` reads
/// every shard. A shard outlives its thread's claim: it stays registered (and counted)
/// and is handed, with its counts, to the next thread that claims the pool.
#[derive(Debug, Default)]
struct Shard {
    /// Held by a thread's slot; a free shard may be taken over by another thread.
    in_use: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    returned: AtomicU64,
}

/// Adds one to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Counts for Shard {
    #[inline]
    fn hit(&self) {
        bump(&self.hits);
    }
    #[inline]
    fn miss(&self) {
        bump(&self.misses);
    }
    #[inline]
    fn returned(&self) {
        bump(&self.returned);
    }
}

/// The calling thread's slot: a stack of buffers and its counters, for the pool that
/// claimed the thread last.
///
/// A `thread_local!` is per type, not per pool, so the slot belongs to one pool at a
/// time (`owner`): when another pool puts a buffer on the thread, the old owner gets its
/// buffers and slots back (or they are freed, if that pool is gone) and the slot changes
/// hands.
struct Local {
    owner: Weak<Shared>,
    /// `owner`'s address, compared on every operation (cheaper than `Weak::as_ptr`).
    owner_id: usize,
    bufs: Vec<Vec<u8>>,
    /// Slots of `owner`'s `max_pooled` this stack holds (its lease): `bufs.len()` never
    /// exceeds it, so a push or pop within it touches no shared atomic. It grows by one
    /// on a put that finds the stack at its lease (while the stacks' share allows) and
    /// is given back whole on release.
    lease: usize,
    /// This thread's counters for `owner`; `Some` while owned.
    shard: Option<Arc<Shard>>,
}

impl Local {
    #[inline(always)]
    fn is_owned_by(&self, shared: &Shared) -> bool {
        self.owner_id == std::ptr::from_ref(shared).addr()
    }

    /// Gives the slot up: the stack's buffers go to the owner's shared queue (each
    /// takes one slot of the lease with it), the rest of the lease goes back, and the
    /// shard is freed for another thread. If the owner is gone, the buffers are freed.
    fn release(&mut self) {
        let bufs = std::mem::take(&mut self.bufs);
        let shard = self.shard.take();
        let lease = std::mem::take(&mut self.lease);
        self.owner_id = 0;
        if let Some(owner) = std::mem::take(&mut self.owner).upgrade() {
            owner.release(lease - bufs.len());
            for buf in bufs {
                if !owner.push_queue(buf) {
                    // Counted as returned, freed without a hit.
                    owner.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(shard) = shard {
            shard.in_use.store(false, Ordering::Release);
        }
    }

    /// Makes `shared` the owner of this thread's slot. Nothing is reserved yet: the
    /// lease grows as buffers come back to the stack. `false` (the slot left unowned)
    /// once the thread's teardown has released it: nothing would release it again.
    #[cold]
    #[inline(never)]
    fn claim(&mut self, shared: &Arc<Shared>) -> bool {
        self.release();
        if RELEASE_AT_EXIT.try_with(|_| ()).is_err() {
            return false;
        }
        self.owner = Arc::downgrade(shared);
        self.owner_id = Arc::as_ptr(shared).addr();
        self.shard = Some(shared.free_shard());
        self.bufs.reserve(shared.local_capacity);
        true
    }

    /// A `get` by the owning thread from its stack: no lock, no shared atomic (the
    /// buffer's slot stays in the stack's lease).
    #[inline(always)]
    fn pop(&mut self, shared: &Shared) -> Option<Vec<u8>> {
        let shard = self.shard.as_ref()?;
        let mut buf = self.bufs.pop()?;
        // Already empty; saying so lets the compiler skip reading the length back, which
        // would stall on the store that `put` just made (a wide load spanning narrower
        // stores is not forwarded), a few ns in a tight get/put loop.
        buf.clear();
        shared.extra.sub(buf.capacity(), shared.buffer_size);
        bump(&shard.hits);
        Some(buf)
    }

    /// A `get` by the owning thread when its stack is empty: the shared queue, then a
    /// new buffer.
    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, shared: &Shared) -> Vec<u8> {
        let Some(shard) = &self.shard else {
            return shared.get();
        };
        shared
            .extra
            .take(shared.pop_queue(), shared.buffer_size, &**shard)
    }

    /// A `put` of a cleared buffer that fits `max_retained`: the thread's stack if it
    /// belongs to `shared` and its lease has room (no shared atomic), else
    /// [`put_slow`](Self::put_slow).
    ///
    /// The fast path is kept small (one cold call, no growth of the stack): in a program
    /// with many callers `LocalKey::try_with` around it stays out of line, and there it
    /// is now a leaf of about 40 instructions that saves no registers.
    #[inline(always)]
    fn put(slot: &Slot, shared: &Arc<Shared>, buf: Vec<u8>) {
        if let Ok(mut local) = slot.try_borrow_mut() {
            let local = &mut **local;
            // Within the lease is within the capacity (`claim` reserves room for the
            // largest lease); saying so leaves the push's growth out.
            if let Some(shard) = &local.shard
                && local.is_owned_by(shared)
                && local.bufs.len() < local.lease
                && local.bufs.len() < local.bufs.capacity()
            {
                shared.extra.add(buf.capacity(), shared.buffer_size);
                bump(&shard.returned);
                local.bufs.push(buf);
                return;
            }
        }
        Local::put_slow(slot, shared, buf);
    }

    /// [`put`](Self::put) when the slot is borrowed (a put from inside a put), belongs
    /// to another pool (or none), or the stack is at its lease: the shared queue if the
    /// slot is borrowed; else the slot is claimed for `shared` if need be, then the
    /// stack, if the lease can grow by one (the stack is below its capacity and the
    /// stacks below their share of the bound); else the shared queue if the bound
    /// allows; else dropped.
    #[cold]
    #[inline(never)]
    fn put_slow(slot: &Slot, shared: &Arc<Shared>, buf: Vec<u8>) {
        let Ok(mut local) = slot.try_borrow_mut() else {
            return shared.put(buf);
        };
        let local = &mut **local;
        if !local.is_owned_by(shared) && !local.claim(shared) {
            return shared.put(buf);
        }
        let Some(shard) = &local.shard else {
            return shared.put(buf);
        };
        if local.lease < shared.local_capacity && reserve(&shared.kept, shared.local_limit) {
            local.lease += 1;
            shared.extra.add(buf.capacity(), shared.buffer_size);
            local.bufs.push(buf);
            bump(&shard.returned);
            return;
        }
        shared.put_counted(buf, &**shard);
    }
}

/// A thread's slot, without a destructor of its own (see `LOCAL`).
type Slot = RefCell<ManuallyDrop<Local>>;

/// Thread teardown: the slot's cached buffers go back to the shared queue with their
/// slots, so the pool's bound and counts stay true when threads come and go.
struct ReleaseAtExit;

impl Drop for ReleaseAtExit {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut() {
                local.release();
            }
        });
    }
}

thread_local! {
    // Without a destructor of its own (`ManuallyDrop`), a constant-initialized slot is a
    // plain thread-local address: `try_with` has no state to check and no destructor to
    // register on each get and put. The teardown is `RELEASE_AT_EXIT`'s, registered by
    // `claim`; `release` leaves nothing allocated in the slot.
    static LOCAL: Slot = const {
        RefCell::new(ManuallyDrop::new(Local {
            owner: Weak::new(),
            owner_id: 0,
            bufs: Vec::new(),
            lease: 0,
            shard: None,
        }))
    };
    static RELEASE_AT_EXIT: ReleaseAtExit = const { ReleaseAtExit };
}

/// State shared by every thread using one [`ThreadLocalPool`].
struct Shared {
    queue: ArrayQueue<Vec<u8>>,
    /// Slots of `max_pooled` taken: one per buffer in the queue (or about to be: a push
    /// reserves first, a pop releases after) and the threads' stacks' leases. Never
    /// above `max_pooled`, and never below the queue's length, so a push to the queue by
    /// a slot holder always finds room.
    kept: AtomicUsize,
    buffer_size: usize,
    max_pooled: usize,
    /// A stack's lease grows only while fewer than this many slots are taken in all, so
    /// the leases together (what idle threads' stacks can strand) stay within it.
    local_limit: usize,
    max_retained: usize,
    local_capacity: usize,
    /// Events of threads without a slot for this pool, and the rare drops.
    counters: PoolCounters,
    /// Capacity of the pooled buffers (queue and stacks) beyond `pooled * buffer_size`.
    extra: ExtraBytes,
    /// Every shard ever handed to a thread.
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Pooled buffers freed without being taken (a failed push to the queue, which the
    /// bound rules out): `pooled = returned - hits - lost`.
    lost: AtomicU64,
}

impl Shared {
    #[inline]
    fn release(&self, slots: usize) {
        if slots > 0 {
            self.kept.fetch_sub(slots, Ordering::AcqRel);
        }
    }

    /// A free shard (another thread gave it up), or a new registered one.
    fn free_shard(&self) -> Arc<Shard> {
        let mut shards = lock(&self.shards);
        let free = shards.iter().find(|shard| {
            shard
                .in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(shard) = free {
            return Arc::clone(shard);
        }
        let shard = Arc::new(Shard {
            in_use: AtomicBool::new(true),
            ..Shard::default()
        });
        shards.push(Arc::clone(&shard));
        shard
    }

    /// Pops from the shared queue, releasing the buffer's slot.
    fn pop_queue(&self) -> Option<Vec<u8>> {
        let buf = self.queue.pop()?;
        self.release(1);
        Some(buf)
    }

    /// Pushes a buffer that holds a slot to the shared queue. The queue has room for
    /// `max_pooled` buffers and at most `kept - 1` are in it, so this always succeeds;
    /// should it not, the buffer is freed and its slot released. The buffer must already
    /// be counted in `extra`.
    fn push_queue(&self, buf: Vec<u8>) -> bool {
        let capacity = buf.capacity();
        match self.queue.push(buf) {
            Ok(()) => true,
            Err(_buf) => {
                self.extra.sub(capacity, self.buffer_size);
                self.release(1);
                false
            }
        }
    }

    /// A `get` by a thread without a slot for this pool: the shared queue only.
    #[cold]
    #[inline(never)]
    fn get(&self) -> Vec<u8> {
        self.extra
            .take(self.pop_queue(), self.buffer_size, &self.counters)
    }

    /// A `put` by a thread without a slot for this pool: the shared queue only.
    #[cold]
    #[inline(never)]
    fn put(&self, buf: Vec<u8>) {
        self.put_counted(buf, &self.counters);
    }

    /// A `put` to the shared queue, if the bound allows, counted in `counts`.
    fn put_counted(&self, buf: Vec<u8>, counts: &impl Counts) {
        if !reserve(&self.kept, self.max_pooled) {
            self.counters.dropped_full();
            return;
        }
        self.extra.add(buf.capacity(), self.buffer_size);
        if self.push_queue(buf) {
            counts.returned();
        } else {
            self.counters.dropped_full();
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
/// A thread's stack serves one pool at a time, the last one that put a buffer on the
/// thread; when another pool does, the stack's buffers go back to their own pool's
/// shared queue. Thread teardown never panics (`LocalKey::try_with`), and a dying
/// thread's buffers go back to the shared queue.
///
/// # Cost
///
/// A `get` or `put` served by the thread's own stack takes no lock, touches no shared
/// queue and does no atomic read-modify-write:
///
/// - **Counters**: the thread's slot holds its own counter shard for the pool, written
///   only by that thread; [`stats`](BufferPool::stats) sums the shards and the shared
///   counters of the slow paths.
/// - **Bound**: a buffer in the shared queue holds one slot of `max_pooled`; a thread's
///   stack holds a lease of slots, grown one at a time as buffers come back to it (at
///   most [`local_capacity`](Self::local_capacity)), so its pushes and pops within the
///   lease need no atomic. At most `max_pooled` buffers are kept, stacks and queue
///   together, however many threads have used the pool.
/// - **Stacks' share**: a lease grows only while fewer than half of `max_pooled` slots
///   are taken. A thread that cached buffers and went idle (a parked worker, a
///   blocking-pool thread) strands at most its lease until it exits or another
///   `ThreadLocalPool` claims it, and all idle threads together at most half the pool.
///
/// `pooled` is `returned - hits` (every kept buffer was returned and leaves by a hit).
/// Buffers above `max_retained` are dropped.
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, PoolConfig, pool::ThreadLocalPool};
///
/// let pool = ThreadLocalPool::new(PoolConfig::default().with_buffer_size(1024).with_max_pooled(64).with_max_retained(4096));
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
    pub fn new(config: PoolConfig) -> Self {
        let max_pooled = config.max_pooled.max(1);
        ThreadLocalPool {
            shared: Arc::new(Shared {
                queue: ArrayQueue::new(max_pooled),
                kept: AtomicUsize::new(0),
                buffer_size: config.buffer_size,
                max_pooled,
                local_limit: max_pooled / LOCAL_SHARE_DIVISOR,
                max_retained: config.max_retained,
                local_capacity: MAX_LOCAL_BUFFERS.min(max_pooled / 4),
                counters: PoolCounters::default(),
                extra: ExtraBytes::default(),
                shards: Mutex::new(Vec::new()),
                lost: AtomicU64::new(0),
            }),
        }
    }

    /// Buffers one thread keeps for this pool at most: [`MAX_LOCAL_BUFFERS`], or a
    /// quarter of `max_pooled` if that is smaller.
    pub fn local_capacity(&self) -> usize {
        self.shared.local_capacity
    }
}

impl ThreadLocalPool {
    /// A `get` the thread's stack could not serve.
    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Vec<u8> {
        let shared = &self.shared;
        LOCAL
            .try_with(|local| match local.try_borrow_mut() {
                Ok(mut local) if local.is_owned_by(shared) => local.get_slow(shared),
                _ => shared.get(),
            })
            .unwrap_or_else(|_| shared.get())
    }

    /// A buffer above `max_retained`, dropped.
    #[cold]
    #[inline(never)]
    fn drop_oversize(&self, buf: Vec<u8>) {
        self.shared.counters.dropped_oversize();
        drop(buf);
    }
}

from_pool_config!(ThreadLocalPool);

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
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for ThreadLocalPool {
    /// Frees this thread's cached buffers now if they belong to this pool (other threads
    /// free theirs when another pool claims them, or they exit).
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut()
                && local.is_owned_by(&self.shared)
            {
                local.bufs.clear();
                local.release();
            }
        });
    }
}

// `get` and `put` are forced inline: their fast path is a few loads and stores, but
// with many callers (a program that streams several ways, the lab) the optimizer kept
// them out of line, and a `Vec` returned through memory and passed back through memory
// cost more than the pool's own work (in the lab, 10.5-10.9 ns per get + put out of
// line, 4.6-4.8 ns inlined, on one machine). The slow paths stay out of line.
impl BufferPool for ThreadLocalPool {
    #[inline(always)]
    fn get(&self) -> Vec<u8> {
        let shared = &self.shared;
        let popped = LOCAL.try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            if local.is_owned_by(shared) {
                local.pop(shared)
            } else {
                None
            }
        });
        match popped {
            Ok(Some(buf)) => buf,
            _ => self.get_slow(),
        }
    }

    #[inline(always)]
    fn put(&self, mut buf: Vec<u8>) {
        let shared = &self.shared;
        if buf.capacity() > shared.max_retained {
            return self.drop_oversize(buf);
        }
        buf.clear();
        // The buffer moves into the closure and never comes back out: a put from inside
        // a put (the stack borrowed) goes to the shared queue from in there. A closure
        // that handed the buffer back made `try_with` return it through memory, and with
        // `try_with` left out of line (as it is in a program with many callers) that
        // cost a store-forwarding stall per put.
        let placed = LOCAL.try_with(move |slot| Local::put(slot, shared, buf));
        if placed.is_err() {
            // Never, as the slot has no destructor; were it gone, the closure and its
            // buffer would be, counted as dropped so that `outstanding` stays exact.
            shared.counters.dropped_full();
        }
    }

    fn initial_size(&self) -> usize {
        self.shared.buffer_size
    }

    /// The shared counters plus every thread's shard; exact once the threads using the
    /// pool are quiescent.
    fn stats(&self) -> PoolStats {
        let shared = &*self.shared;
        let mut stats = shared.counters.snapshot(0, 0);
        for shard in lock(&shared.shards).iter() {
            stats.hits += shard.hits.load(Ordering::Relaxed);
            stats.misses += shard.misses.load(Ordering::Relaxed);
            stats.returned += shard.returned.load(Ordering::Relaxed);
        }
        stats.outstanding = stats.taken().saturating_sub(stats.given_back());
        // Every buffer kept was counted as returned, and leaves by a hit (or, never in
        // practice, as lost); the pool frees none while it lives.
        stats.pooled = stats
            .returned
            .saturating_sub(stats.hits)
            .saturating_sub(shared.lost.load(Ordering::Relaxed));
        stats.pooled_bytes = shared.extra.total(stats.pooled, shared.buffer_size);
        stats
    }
}
