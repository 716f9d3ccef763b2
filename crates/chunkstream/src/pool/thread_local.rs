//! [`ThreadLocalPool`]: a small per-thread stack that spills to and refills from a
//! shared depot, several buffers at a time.

use std::cell::RefCell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::extra::{Counts, ExtraBytes};
use super::{BufferPool, PoolCounters, PoolStats};
use crate::config::PoolConfig;
use crate::sync::lock;

/// Buffers a thread keeps for itself at most, per pool. A quarter of `max_pooled` when
/// that is smaller, so most of the pool stays shared.
///
/// Half of a stack moves to or from the shared depot at once, so this sets how many
/// cache lines cross between threads per buffer when buffers are taken on one thread
/// and given back on another: with 16 rather than 8, such a get + put took about a fifth
/// less time (26-30 ns against 32-41 ns in a probe on a 2-vCPU AMD EPYC, the two builds
/// alternating). What idle threads can hold does not grow with it: all stacks together
/// stay within half of `max_pooled`.
pub const MAX_LOCAL_BUFFERS: usize = 16;

/// Threads' stacks together hold at most `max_pooled / LOCAL_SHARE_DIVISOR` buffers, so
/// threads that cached buffers and went idle leave at least the rest of the pool to the
/// depot.
const LOCAL_SHARE_DIVISOR: usize = 2;

/// One thread's counters for one pool.
///
/// Only the thread whose slot holds the shard writes it, so a counter is bumped with a
/// plain load and store (no locked read-modify-write) and stays exact; `stats` reads
/// every shard. A shard outlives its thread's claim: it stays registered (and counted)
/// and is handed, with its counts, to the next thread that claims the pool.
///
/// Aligned to 128 bytes (two cache lines, which some CPUs fetch in pairs): shards made
/// one after another sit next to each other on the heap, and two threads bumping
/// counters in one line would each wait for the other's core to give it up.
#[derive(Debug, Default)]
#[repr(align(128))]
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

    /// Gives the slot up: the stack's buffers go to the owner's depot (each takes one
    /// slot of the lease with it), the rest of the lease goes back, and the shard is
    /// freed for another thread. If the owner is gone, the buffers are freed.
    fn release(&mut self) {
        let mut bufs = std::mem::take(&mut self.bufs);
        let shard = self.shard.take();
        let lease = std::mem::take(&mut self.lease);
        self.owner_id = 0;
        if let Some(owner) = std::mem::take(&mut self.owner).upgrade() {
            let mut depot = owner.depot();
            depot.release(lease - bufs.len());
            depot.bufs.append(&mut bufs);
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

    /// A `get` by the owning thread when its stack is empty: a buffer from the depot,
    /// and up to [`batch`](Shared::batch) more onto the stack under the same lock (see
    /// [`Shared::refill`]); else a new buffer.
    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, shared: &Shared) -> Vec<u8> {
        let Some(shard) = &self.shard else {
            return shared.get();
        };
        let popped = shared.refill(&mut self.bufs, &mut self.lease);
        shared.extra.take(popped, shared.buffer_size, &**shard)
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
    /// to another pool (or none), or the stack is at its lease: the depot if the slot is
    /// borrowed; else the slot is claimed for `shared` if need be, then the stack, if
    /// the lease can grow by one (the stack is below its capacity and the stacks below
    /// their share of the bound); else the stack, once it has spilled its oldest
    /// buffers to the depot to make room ([`Shared::spill`]); else, the bound leaving no
    /// slot, it is dropped.
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
        if local.lease < shared.local_capacity && shared.grow_lease() {
            local.lease += 1;
        } else if local.bufs.is_empty() {
            // No lease (a stack of no capacity, or the stacks' share taken): one at a
            // time.
            return shared.put_counted(buf, &**shard);
        } else if !shared.spill(&mut local.bufs) {
            return shared.counters.dropped_full();
        }
        shared.extra.add(buf.capacity(), shared.buffer_size);
        local.bufs.push(buf);
        bump(&shard.returned);
    }
}

/// A thread's slot, without a destructor of its own (see `LOCAL`).
type Slot = RefCell<ManuallyDrop<Local>>;

/// Thread teardown: the slot's cached buffers go back to the depot with their slots, so
/// the pool's bound and counts stay true when threads come and go.
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

/// The buffers in no thread's stack and the count of the bound, under one lock.
///
/// A stack moves up to `batch` buffers in or out at once, so a buffer taken on one
/// thread and given back on another crosses between threads in batches; the count sits
/// beside the buffers (one cache line for the lock, the count and the list) and needs
/// no atomic of its own.
struct Depot {
    /// With room for `max_pooled` reserved up front.
    bufs: Vec<Vec<u8>>,
    /// Slots of `max_pooled` taken: one per buffer in `bufs`, and the threads' stacks'
    /// leases. Never above `max_pooled`.
    kept: usize,
}

impl Depot {
    /// Slots the stacks' leases hold.
    fn leased(&self) -> usize {
        self.kept.saturating_sub(self.bufs.len())
    }

    /// Takes up to `n` of the `max_pooled` slots: how many it took.
    fn reserve(&mut self, n: usize, max_pooled: usize) -> usize {
        let taken = n.min(max_pooled.saturating_sub(self.kept));
        self.kept += taken;
        taken
    }

    /// Gives `n` slots back.
    fn release(&mut self, n: usize) {
        self.kept = self.kept.saturating_sub(n);
    }
}

/// The depot in cache lines of its own: on a line with the settings that every get and
/// put reads, each batch one thread moved would cost the other thread a cache miss on
/// its next get or put.
#[repr(align(128))]
struct DepotLock(Mutex<Depot>);

/// State shared by every thread using one [`ThreadLocalPool`].
struct Shared {
    depot: DepotLock,
    buffer_size: usize,
    max_pooled: usize,
    /// A stack's lease grows only while the leases together (what idle threads' stacks
    /// can strand) stay within this many slots.
    local_limit: usize,
    max_retained: usize,
    local_capacity: usize,
    /// Buffers a stack moves to or from the depot at once: half its capacity.
    batch: usize,
    /// Events of threads without a slot for this pool, and the rare drops.
    counters: PoolCounters,
    /// Capacity of the pooled buffers (depot and stacks) beyond `pooled * buffer_size`.
    extra: ExtraBytes,
    /// Every shard ever handed to a thread.
    shards: Mutex<Vec<Arc<Shard>>>,
}

impl Shared {
    fn depot(&self) -> std::sync::MutexGuard<'_, Depot> {
        lock(&self.depot.0)
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

    /// Grows a stack's lease by one slot, if the bound and the stacks' share allow.
    fn grow_lease(&self) -> bool {
        let mut depot = self.depot();
        depot.leased() < self.local_limit && depot.reserve(1, self.max_pooled) == 1
    }

    /// A `put` by a stack's owner whose stack (`bufs`) is at its lease, which cannot
    /// grow: the oldest of its buffers, up to `batch`, go to the depot under one lock
    /// with slots of their own, so the stack keeps the buffers most recently touched and
    /// has room for the one being put. `false` when the bound leaves no slot.
    fn spill(&self, bufs: &mut Vec<Vec<u8>>) -> bool {
        let mut depot = self.depot();
        let spilled = depot.reserve(self.batch.min(bufs.len()), self.max_pooled);
        depot.bufs.extend(bufs.drain(..spilled));
        spilled > 0
    }

    /// A `get` by a stack's owner whose stack (`bufs`) is empty: one buffer from the
    /// depot to hand out, and up to `batch` more onto the stack under the same lock, so
    /// the next gets need neither. `None` when the depot is empty.
    ///
    /// The handed-out buffer's slot is released. A buffer put on the stack within its
    /// `lease` gives its depot slot back (the lease holds one for it already); one
    /// beyond it takes its slot along and the lease grows by one, as far as the stacks'
    /// share of the bound allows (as when a lease grows on a put).
    fn refill(&self, bufs: &mut Vec<Vec<u8>>, lease: &mut usize) -> Option<Vec<u8>> {
        debug_assert!(bufs.is_empty());
        let mut depot = self.depot();
        let leased = depot.leased();
        let buf = depot.bufs.pop()?;
        let queued = depot.bufs.len();
        let wanted = self.batch.min(queued);
        let within = wanted.min(*lease);
        let beyond = (wanted - within).min(self.local_capacity - *lease);
        let grown = beyond.min(self.local_limit.saturating_sub(leased));
        depot.release(1 + within);
        bufs.extend(depot.bufs.drain(queued - within - grown..));
        *lease += grown;
        Some(buf)
    }

    /// A `get` by a thread without a slot for this pool: the depot only.
    #[cold]
    #[inline(never)]
    fn get(&self) -> Vec<u8> {
        let mut depot = self.depot();
        let popped = depot.bufs.pop();
        depot.release(usize::from(popped.is_some()));
        drop(depot);
        self.extra.take(popped, self.buffer_size, &self.counters)
    }

    /// A `put` by a thread without a slot for this pool: the depot only.
    #[cold]
    #[inline(never)]
    fn put(&self, buf: Vec<u8>) {
        self.put_counted(buf, &self.counters);
    }

    /// A `put` to the depot, if the bound allows, counted in `counts`.
    fn put_counted(&self, buf: Vec<u8>, counts: &impl Counts) {
        let capacity = buf.capacity();
        let mut depot = self.depot();
        if depot.reserve(1, self.max_pooled) == 0 {
            drop(depot);
            return self.counters.dropped_full();
        }
        depot.bufs.push(buf);
        drop(depot);
        self.extra.add(capacity, self.buffer_size);
        counts.returned();
    }
}

/// A small per-thread stack of buffers (at most [`MAX_LOCAL_BUFFERS`]) in front of a
/// shared depot, which stacks spill to and refill from several buffers at a time.
///
/// A `get` pops from the calling thread's stack; when the stack is empty, it takes a
/// buffer from the depot and refills the stack with up to half its capacity under the
/// same lock; when the depot is empty, it allocates. A `put` clears the buffer and
/// pushes it on the thread's stack; when the stack is full, its oldest half goes to the
/// depot under one lock. The spill matters: tokio moves tasks between workers, so a
/// buffer is often taken on one thread and given back on another; a purely thread-local
/// pool misses on every get in that pattern. Moving buffers in batches makes that
/// pattern cost one lock per several buffers rather than a shared queue's atomics per
/// buffer.
///
/// A thread's stack serves one pool at a time, the last one that put a buffer on the
/// thread (or the first that took one, on a thread that served none); when another
/// pool puts one, the stack's buffers go back to their own pool's depot. Thread
/// teardown never panics (`LocalKey::try_with`), and a dying thread's buffers go back to
/// the depot.
///
/// # Cost
///
/// A `get` or `put` served by the thread's own stack takes no lock, touches no shared
/// state and does no atomic read-modify-write:
///
/// - **Counters**: the thread's slot holds its own counter shard for the pool, written
///   only by that thread; [`stats`](BufferPool::stats) sums the shards and the shared
///   counters of the slow paths.
/// - **Bound**: a buffer in the depot holds one slot of `max_pooled`; a thread's stack
///   holds a lease of slots, grown as buffers come back to it or are refilled from the
///   depot (at most [`local_capacity`](Self::local_capacity)), so its pushes and pops
///   within the lease need no atomic. At most `max_pooled` buffers are kept, stacks and
///   depot together, however many threads have used the pool.
/// - **Stacks' share**: a lease grows only while the leases together stay within half
///   of `max_pooled`. A thread that cached buffers and went idle (a parked worker, a
///   blocking-pool thread) strands at most its lease until it exits or another
///   `ThreadLocalPool` claims it, and all idle threads together at most half the pool.
/// - **Depot**: one lock (uncontended but when two stacks move buffers at the same
///   moment) per batch of up to half a stack; the bound's count is kept under it.
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
/// let buf = pool.get(); // still a hit: the other thread's stack went back to the depot
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
        let local_capacity = MAX_LOCAL_BUFFERS.min(max_pooled / 4);
        ThreadLocalPool {
            shared: Arc::new(Shared {
                depot: DepotLock(Mutex::new(Depot {
                    bufs: Vec::with_capacity(max_pooled),
                    kept: 0,
                })),
                buffer_size: config.buffer_size,
                max_pooled,
                local_limit: max_pooled / LOCAL_SHARE_DIVISOR,
                max_retained: config.max_retained,
                local_capacity,
                batch: (local_capacity / 2).max(1),
                counters: PoolCounters::default(),
                extra: ExtraBytes::default(),
                shards: Mutex::new(Vec::new()),
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
    /// A `get` the thread's stack could not serve. A thread whose slot serves no pool
    /// claims it for this one, so a thread that only takes buffers (a producer whose
    /// buffers are given back elsewhere) refills a stack in batches too; a slot that
    /// serves another pool is left to it.
    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Vec<u8> {
        let shared = &self.shared;
        LOCAL
            .try_with(|local| {
                let Ok(mut local) = local.try_borrow_mut() else {
                    return shared.get();
                };
                let serves_none = local.owner_id == 0;
                if local.is_owned_by(shared) || (serves_none && local.claim(shared)) {
                    local.get_slow(shared)
                } else {
                    shared.get()
                }
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
            .field("kept", &shared.depot().kept)
            .field("depot", &shared.depot().bufs.len())
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
        // a put (the stack borrowed) goes to the depot from in there. A closure
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
        // Every buffer kept was counted as returned, and leaves by a hit; the pool frees
        // none while it lives.
        stats.pooled = stats.returned.saturating_sub(stats.hits);
        stats.pooled_bytes = shared.extra.total(stats.pooled, shared.buffer_size);
        stats
    }
}
