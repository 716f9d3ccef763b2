//! Admission of downloads: bounded slots, and a short bounded first-come-first-served
//! queue in front of them before a `503`.
//!
//! A request that finds every slot taken waits in line (tokio's semaphore hands
//! permits out in the order they were asked for) for at most the queue wait
//! ([`crate::Settings::queue_wait`]); at most the queue length
//! ([`crate::Settings::queue_len`]) wait at once. It is refused when the line is full or its wait
//! runs out, never at once while there is room in the line. Small requests do not come
//! here at all (see [`crate::Settings::small_rows`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The download slots and their queue, with counters for `/healthz` and `/readyz`.
#[derive(Clone, Debug)]
pub struct Admission {
    free: Arc<Semaphore>,
    max: usize,
    queue_max: usize,
    wait: Duration,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    waiting: AtomicUsize,
    /// Slots given at once.
    at_once: AtomicU64,
    /// Slots given after a wait in the queue.
    after_wait: AtomicU64,
    /// Refused: the wait ran out.
    timed_out: AtomicU64,
    /// Refused: the queue was full.
    queue_full: AtomicU64,
    /// The longest wait that ended with a slot, in microseconds.
    longest_wait_us: AtomicU64,
}

/// Why a download got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `queue_max` requests were already waiting.
    QueueFull,
    /// It waited this long (the queue wait) without a slot freeing.
    TimedOut(Duration),
}

impl Refused {
    /// How long the request waited before it was refused.
    pub fn waited(self) -> Duration {
        match self {
            Refused::QueueFull => Duration::ZERO,
            Refused::TimedOut(waited) => waited,
        }
    }

    /// A short name for the reason (`"queue_full"`, `"queue_wait_expired"`).
    pub fn reason(self) -> &'static str {
        match self {
            Refused::QueueFull => "queue_full",
            Refused::TimedOut(_) => "queue_wait_expired",
        }
    }
}

/// The state of the slots and the queue, and what happened so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AdmissionStats {
    /// Slots taken.
    pub active: usize,
    /// Slots in all.
    pub max: usize,
    /// Requests waiting for a slot now.
    pub waiting: usize,
    /// Requests that may wait at once.
    pub queue_max: usize,
    /// The longest a request waits, in milliseconds.
    pub wait_limit_ms: u64,
    /// Slots given without a wait.
    pub admitted_at_once: u64,
    /// Slots given after a wait.
    pub admitted_after_wait: u64,
    /// Requests refused because their wait ran out.
    pub refused_timed_out: u64,
    /// Requests refused because the queue was full.
    pub refused_queue_full: u64,
    /// The longest wait that ended with a slot, in milliseconds.
    pub longest_wait_ms: u64,
}

impl Admission {
    /// `max` slots (at least 1), a queue of `queue_max` waiting at most `wait` each.
    pub fn new(max: usize, queue_max: usize, wait: Duration) -> Admission {
        let max = max.max(1);
        Admission {
            free: Arc::new(Semaphore::new(max)),
            max,
            queue_max,
            wait,
            counts: Arc::default(),
        }
    }

    /// A slot, at once or after a wait in the queue; or why not. The slot is free again
    /// when the permit is dropped.
    ///
    /// # Errors
    ///
    /// [`Refused::QueueFull`] at once when `queue_max` requests are already waiting;
    /// [`Refused::TimedOut`] when no slot freed within the queue wait.
    pub async fn take(&self) -> Result<OwnedSemaphorePermit, Refused> {
        let counts = &self.counts;
        if let Ok(permit) = Arc::clone(&self.free).try_acquire_owned() {
            counts.at_once.fetch_add(1, Relaxed);
            return Ok(permit);
        }
        let joined = counts
            .waiting
            .fetch_update(Relaxed, Relaxed, |n| (n < self.queue_max).then_some(n + 1));
        if joined.is_err() {
            counts.queue_full.fetch_add(1, Relaxed);
            return Err(Refused::QueueFull);
        }
        // Leaves the line however the wait ends (a client gone drops this future).
        let _in_line = InLine(&counts.waiting);
        let started = Instant::now();
        let acquired = tokio::time::timeout(self.wait, Arc::clone(&self.free).acquire_owned());
        match acquired.await {
            Ok(Ok(permit)) => {
                let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counts.after_wait.fetch_add(1, Relaxed);
                counts.longest_wait_us.fetch_max(waited, Relaxed);
                Ok(permit)
            }
            // The semaphore is never closed; count a close as a wait run out all the same.
            Ok(Err(_)) | Err(_) => {
                counts.timed_out.fetch_add(1, Relaxed);
                Err(Refused::TimedOut(started.elapsed()))
            }
        }
    }

    /// Slots in all.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The slots, the queue and the counts now.
    pub fn stats(&self) -> AdmissionStats {
        let counts = &self.counts;
        AdmissionStats {
            active: self.max.saturating_sub(self.free.available_permits()),
            max: self.max,
            waiting: counts.waiting.load(Relaxed),
            queue_max: self.queue_max,
            wait_limit_ms: u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
            admitted_at_once: counts.at_once.load(Relaxed),
            admitted_after_wait: counts.after_wait.load(Relaxed),
            refused_timed_out: counts.timed_out.load(Relaxed),
            refused_queue_full: counts.queue_full.load(Relaxed),
            longest_wait_ms: counts.longest_wait_us.load(Relaxed) / 1000,
        }
    }
}

/// One place in the queue, given up on drop.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
