//! Buffer pools: the [`BufferPool`] trait, its statistics, and the strategies.
//!
//! Every strategy is bounded (`max_pooled` buffers, `max_retained` capacity), clears a
//! buffer when it comes back, drops buffers that grew past `max_retained` (Go's `fmt`
//! does the same for the same reason, golang/go#23199), and counts what happened in
//! [`PoolStats`].
//!
//! | strategy | feature | how |
//! | --- | --- | --- |
//! | [`NoPool`] | always | a fresh `Vec::with_capacity(buffer_size)` each time |
#![cfg_attr(
    feature = "pool-freelist",
    doc = "| [`FreelistPool`] | `pool-freelist` | a bounded lock-free queue |"
)]
#![cfg_attr(
    feature = "pool-object-pool",
    doc = "| [`ObjectPool`] | `pool-object-pool` | the `object-pool` crate's stack, bounded |"
)]
#![cfg_attr(
    feature = "pool-thread-local",
    doc = "| [`ThreadLocalPool`] | `pool-thread-local` | per-thread stacks moving buffers to and from a shared depot in batches |"
)]
//!
//! [`DefaultPool`] names the strategy chosen by the enabled features (see the crate docs);
//! [`global`] is a process-wide one, with the [`get_buffer`] and [`put_buffer`] helpers.
//! [`Calibrated`] wraps any pool and learns its buffer sizes from the chunks it sees.
//!
//! # Statistics and their cost
//!
//! Counting must not cost more than pooling: each strategy counts an event with at most
//! one relaxed atomic add (`ThreadLocalPool`'s fast path, in its thread's own shard,
//! with none), and derives `pooled` and `pooled_bytes` at snapshot time. Snapshots are
//! exact once the threads using the pool are quiescent, and may be off by the
//! operations in flight otherwise.
//!
//! No pool uses `unsafe` (it is forbidden in the whole crate).

/// `Default` (the default bounds) and [`FromPoolConfig`] (zeros filled with the
/// defaults) for a pool built by `new(PoolConfig)`.
macro_rules! from_pool_config {
    ($pool:ident) => {
        impl Default for $pool {
            fn default() -> Self {
                $pool::new($crate::PoolConfig::default())
            }
        }

        impl $crate::FromPoolConfig for $pool {
            fn from_pool_config(config: $crate::PoolConfig) -> Self {
                $pool::new(config.fill_defaults())
            }
        }
    };
}

#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
mod extra;
mod stats;

mod calibrated;
mod global;
mod none;
pub use calibrated::{Calibrated, DEFAULT_CALIBRATION_PERIOD};
pub use global::{get_buffer, global, put_buffer};
pub use none::NoPool;

#[cfg(feature = "pool-freelist")]
mod freelist;
cfg_feature! { "pool-freelist",
    pub use freelist::FreelistPool;
}

#[cfg(feature = "pool-object-pool")]
mod object;
cfg_feature! { "pool-object-pool",
    pub use object::ObjectPool;
}

#[cfg(feature = "pool-thread-local")]
mod thread_local;
cfg_feature! { "pool-thread-local",
    pub use thread_local::{MAX_LOCAL_BUFFERS, ThreadLocalPool};
}

pub use stats::{PoolCounters, PoolStats};

use crate::config::PoolConfig;

// Precedence, first enabled wins (so a crate that adds a feature to the defaults gets
// the strategy it asked for).
#[cfg(feature = "pool-thread-local")]
type Selected = self::ThreadLocalPool;
#[cfg(all(feature = "pool-object-pool", not(feature = "pool-thread-local")))]
type Selected = self::ObjectPool;
#[cfg(all(
    feature = "pool-freelist",
    not(any(feature = "pool-thread-local", feature = "pool-object-pool"))
))]
type Selected = self::FreelistPool;
#[cfg(not(any(
    feature = "pool-freelist",
    feature = "pool-thread-local",
    feature = "pool-object-pool"
)))]
type Selected = self::NoPool;

/// The pool strategy selected by the enabled features: `ThreadLocalPool` with
/// `pool-thread-local`, else `ObjectPool` with `pool-object-pool`, else `FreelistPool`
/// with `pool-freelist` (the default), else `NoPool`.
pub type DefaultPool = Selected;

/// A source of reusable byte buffers.
///
/// `get` hands out an empty buffer with at least [`initial_size`](BufferPool::initial_size)
/// capacity; `put` takes one back (the pool clears it, and may drop it). Implementations
/// are shared between tasks and threads, so every method takes `&self`. [`NoPool`]'s
/// example shows one in use.
pub trait BufferPool: Send + Sync + 'static {
    /// Takes an empty buffer from the pool, or allocates one.
    fn get(&self) -> Vec<u8>;

    /// Gives a buffer back. The pool clears it; it drops it when the pool is full or the
    /// buffer's capacity exceeds the retention bound.
    fn put(&self, buf: Vec<u8>);

    /// Capacity of freshly allocated buffers, in bytes.
    fn initial_size(&self) -> usize;

    /// A snapshot of the pool's counters.
    fn stats(&self) -> PoolStats;
}

/// A pool that can be built from [`PoolConfig`] bounds, as
/// [`Streamer::new`](crate::Streamer::new) does for [`DefaultPool`].
pub trait FromPoolConfig: BufferPool + Sized {
    /// Builds the pool with these bounds, zeros filled with the defaults (the rule of
    /// [`PoolConfig::validate`]); the other bounds are taken as given.
    fn from_pool_config(config: PoolConfig) -> Self;

    /// Builds the pool with these bounds once [`PoolConfig::validate`] accepts them.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`](crate::ConfigError) of [`PoolConfig::validate`].
    fn try_from_pool_config(config: PoolConfig) -> Result<Self, crate::ConfigError> {
        Ok(Self::from_pool_config(config.validate()?))
    }
}

impl<P: BufferPool + ?Sized> BufferPool for std::sync::Arc<P> {
    #[inline]
    fn get(&self) -> Vec<u8> {
        (**self).get()
    }
    #[inline]
    fn put(&self, buf: Vec<u8>) {
        (**self).put(buf)
    }
    fn initial_size(&self) -> usize {
        (**self).initial_size()
    }
    fn stats(&self) -> PoolStats {
        (**self).stats()
    }
}
