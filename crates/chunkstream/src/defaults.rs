//! The one place that decides, from the enabled features, which pool and encoder
//! [`Streamer::new`](crate::Streamer::new) uses, and where [`metrics`](crate::metrics)
//! report.
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

/// The encoder selected by the enabled features: `SonicRs` with `encoder-sonic-rs` (the
/// default), else `SimdJson` with `encoder-simd-json`, else `SerdeJson`.
pub type DefaultEncoder = Encoder;

/// Where [`metrics`](crate::metrics) reports: `tracing` with the `tracing` feature, else
/// nowhere (no-ops).
#[cfg(feature = "tracing")]
pub(crate) mod trace {
    pub(crate) type Span = tracing::Span;

    pub(crate) fn span() -> Span {
        tracing::debug_span!("chunkstream")
    }

    pub(crate) fn enter(span: &Span) -> tracing::span::Entered<'_> {
        span.enter()
    }

    pub(crate) fn finished(span: &Span, m: &crate::metrics::StreamMetrics) {
        let _entered = span.enter();
        tracing::debug!(
            outcome = ?m.outcome,
            items = m.items,
            chunks = m.chunks,
            bytes = m.bytes,
            time_to_first_chunk_us = m.time_to_first_chunk.map(|d| d.as_micros() as u64),
            elapsed_us = m.elapsed.as_micros() as u64,
            pool_hits = m.pool_hits,
            pool_misses = m.pool_misses,
            "stream ended"
        );
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) mod trace {
    pub(crate) type Span = ();

    pub(crate) fn span() -> Span {}

    /// Stands for `tracing`'s entered-span guard.
    pub(crate) struct Entered;

    pub(crate) fn enter(_span: &Span) -> Entered {
        Entered
    }

    pub(crate) fn finished(_span: &Span, _m: &crate::metrics::StreamMetrics) {}
}
