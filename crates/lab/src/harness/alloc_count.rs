//! A counting global allocator: allocations and bytes, with relaxed atomics. Counting
//! is off unless a pass asks for it ([`counting`]): timed loops never run while it
//! counts, they only pay one relaxed load of the switch per allocation. A `realloc`
//! counts as one allocation of the new size, as dhat counts it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// The system allocator, counting (not installed under `dhat-heap`).
#[derive(Debug)]
#[cfg_attr(feature = "dhat-heap", allow(dead_code))]
pub(crate) struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static ON: AtomicBool = AtomicBool::new(false);

#[inline]
fn count(bytes: usize) {
    if ON.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(bytes as u64, Relaxed);
    }
}

/// Turns counting on or off for the whole process.
pub(crate) fn set_counting(on: bool) {
    ON.store(on, Relaxed);
}

/// Runs `f` with counting on (an untimed pass) and returns what it allocated, on every
/// thread, while it ran.
pub(crate) fn counting<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    set_counting(true);
    let before = Counts::now();
    let out = f();
    let counts = Counts::now().since(before);
    set_counting(false);
    (out, counts)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; the counters have no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (reallocations included) and bytes requested so far, by every thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) allocs: u64,
    pub(crate) bytes: u64,
}

impl Counts {
    /// The counters now. All zero when another global allocator is in use (`dhat-heap`).
    pub(crate) fn now() -> Self {
        Counts {
            allocs: ALLOCS.load(Relaxed),
            bytes: BYTES.load(Relaxed),
        }
    }

    /// What was counted between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs.saturating_sub(earlier.allocs),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}
