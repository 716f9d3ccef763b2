//! The one place that decides, from the enabled features, which pool and encoder
//! [`Streamer::new`](crate::Streamer::new) uses.
//!
//! Precedence, first enabled wins (so a crate that adds a feature to the defaults gets
//! the strategy it asked for):
//!
//! - pool: `pool-thread-local`, then `pool-object-pool`, then `pool-freelist`, else
//!   [`NoPool`](crate::pool::NoPool);
//! - encoder: `encoder-sonic-rs`, then `encoder-simd-json`, else
//!   [`SerdeJson`](crate::encode::SerdeJson).

#[cfg(feature = "pool-thread-local")]
type Pool = crate::pool::ThreadLocalPool;
#[cfg(all(feature = "pool-object-pool", not(feature = "pool-thread-local")))]
type Pool = crate::pool::ObjectPool;
#[cfg(all(
    feature = "pool-freelist",
    not(any(feature = "pool-thread-local", feature = "pool-object-pool"))
))]
type Pool = crate::pool::FreelistPool;
#[cfg(not(any(
    feature = "pool-freelist",
    feature = "pool-thread-local",
    feature = "pool-object-pool"
)))]
type Pool = crate::pool::NoPool;

#[cfg(feature = "encoder-sonic-rs")]
type Encoder = crate::encode::SonicRs;
#[cfg(all(feature = "encoder-simd-json", not(feature = "encoder-sonic-rs")))]
type Encoder = crate::encode::SimdJson;
#[cfg(not(any(feature = "encoder-simd-json", feature = "encoder-sonic-rs")))]
type Encoder = crate::encode::SerdeJson;

/// The pool strategy selected by the enabled features: `ThreadLocalPool` with
/// `pool-thread-local`, else `ObjectPool` with `pool-object-pool`, else `FreelistPool`
/// with `pool-freelist` (the default), else `NoPool`.
pub type DefaultPool = Pool;

/// The encoder selected by the enabled features: `SonicRs` with `encoder-sonic-rs`, else
/// `SimdJson` with `encoder-simd-json`, else `SerdeJson` (the default).
pub type DefaultEncoder = Encoder;
