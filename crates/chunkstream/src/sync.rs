//! Small helpers the timed and shared parts of the flow have in common.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The longest wait taken literally: 30 years, tokio's own "far future". A longer one (up
/// to `Duration::MAX`) means the same in practice, and cannot overflow an `Instant`.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// Locks `mutex`, recovering the guard of a poisoned one: nothing the crate does while
/// holding a lock panics, so the value inside is still valid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
