//! The pool strategies and encoders under test: the one list the benches and the lab
//! share. Code generic over `P: BufferPool` and `E: Encoder` is handed a pool and an
//! encoder through [`WithPool`] / [`WithParts`]; this module is the only place that
//! names the concrete types.

use std::sync::Arc;

use chunkstream::encode::{SerdeJson, SimdJson, SonicRs};
use chunkstream::pool::{Calibrated, FreelistPool, NoPool, ObjectPool, ThreadLocalPool};
use chunkstream::{BufferPool, Encoder, PoolConfig};

/// The chunkstream features the benches and the lab are built with (reports show it).
pub const FEATURES: &str = "full (every pool and encoder)";

/// A pool strategy under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// `pool::NoPool`: a fresh buffer every time (the baseline).
    None,
    /// `pool::FreelistPool`: a bounded lock-free queue.
    Freelist,
    /// `pool::ObjectPool`: the `object-pool` crate, bounded.
    ObjectPool,
    /// `pool::ThreadLocalPool`: per-thread stacks spilling to a shared queue.
    ThreadLocal,
    /// `pool::Calibrated<FreelistPool>`: a freelist that learns its sizes.
    Calibrated,
}

/// An encoder under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncoderKind {
    /// `encode::SerdeJson`: the reference.
    SerdeJson,
    /// `encode::SimdJson`.
    SimdJson,
    /// `encode::SonicRs`.
    SonicRs,
}

/// Every pool strategy the enabled features provide, baseline first.
pub const POOLS: &[PoolKind] = &[
    PoolKind::None,
    PoolKind::Freelist,
    PoolKind::ObjectPool,
    PoolKind::ThreadLocal,
    PoolKind::Calibrated,
];

/// Every encoder the enabled features provide, reference first.
pub const ENCODERS: &[EncoderKind] = &[
    EncoderKind::SerdeJson,
    EncoderKind::SimdJson,
    EncoderKind::SonicRs,
];

/// The pool the library uses by default (the one the single-strategy scenarios use).
pub const DEFAULT_POOL: PoolKind = PoolKind::Freelist;

/// The reference encoder.
pub const DEFAULT_ENCODER: EncoderKind = EncoderKind::SerdeJson;

/// The encoder the library's default features select (`encode::DefaultEncoder` of a
/// default build): the one a service that adds `chunkstream` with its defaults streams
/// with.
pub const DEFAULT_FEATURES_ENCODER: EncoderKind = EncoderKind::SonicRs;

/// Code generic over the pool strategy.
pub trait WithPool {
    /// What the code returns.
    type Output;
    /// Runs with a fresh pool of the chosen strategy.
    fn run<P: BufferPool>(self, pool: Arc<P>) -> Self::Output;
}

/// Code generic over the encoder.
pub trait WithEncoder {
    /// What the code returns.
    type Output;
    /// Runs with the chosen encoder.
    fn run<E: Encoder>(self, encoder: E) -> Self::Output;
}

/// Code generic over both.
pub trait WithParts {
    /// What the code returns.
    type Output;
    /// Runs with a fresh pool and an encoder.
    fn run<P: BufferPool, E: Encoder>(self, pool: Arc<P>, encoder: E) -> Self::Output;
}

impl PoolKind {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::None => "none",
            PoolKind::Freelist => "freelist",
            PoolKind::ObjectPool => "object-pool",
            PoolKind::ThreadLocal => "thread-local",
            PoolKind::Calibrated => "calibrated",
        }
    }

    /// Parses [`name`](PoolKind::name).
    pub fn from_name(name: &str) -> Option<Self> {
        POOLS.iter().copied().find(|p| p.name() == name)
    }

    /// Whether the strategy reuses buffers at all.
    pub fn pools(self) -> bool {
        self != PoolKind::None
    }

    /// Runs `code` with a fresh pool of this strategy built from `config`.
    pub fn with<V: WithPool>(self, config: PoolConfig, code: V) -> V::Output {
        match self {
            PoolKind::None => code.run(Arc::new(NoPool::new(config))),
            PoolKind::Freelist => code.run(Arc::new(FreelistPool::new(config))),
            PoolKind::ObjectPool => code.run(Arc::new(ObjectPool::new(config))),
            PoolKind::ThreadLocal => code.run(Arc::new(ThreadLocalPool::new(config))),
            PoolKind::Calibrated => code.run(Arc::new(Calibrated::new(FreelistPool::new(config)))),
        }
    }
}

impl EncoderKind {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::SerdeJson => "serde_json",
            EncoderKind::SimdJson => "simd-json",
            EncoderKind::SonicRs => "sonic-rs",
        }
    }

    /// The kind of encoder `E`, if it is one of [`ENCODERS`] (chunkstream's `Encoder`
    /// trait carries no name: naming is report plumbing, kept here).
    pub fn of<E: Encoder>(_encoder: &E) -> Option<Self> {
        let id = std::any::TypeId::of::<E>();
        ENCODERS.iter().copied().find(|kind| {
            id == match kind {
                EncoderKind::SerdeJson => std::any::TypeId::of::<SerdeJson>(),
                EncoderKind::SimdJson => std::any::TypeId::of::<SimdJson>(),
                EncoderKind::SonicRs => std::any::TypeId::of::<SonicRs>(),
            }
        })
    }

    /// Parses [`name`](EncoderKind::name).
    pub fn from_name(name: &str) -> Option<Self> {
        ENCODERS.iter().copied().find(|e| e.name() == name)
    }

    /// Runs `code` with this encoder.
    pub fn with<V: WithEncoder>(self, code: V) -> V::Output {
        match self {
            EncoderKind::SerdeJson => code.run(SerdeJson),
            EncoderKind::SimdJson => code.run(SimdJson),
            EncoderKind::SonicRs => code.run(SonicRs),
        }
    }
}

/// Runs `code` with a fresh pool of strategy `pool` (built from `config`) and `encoder`.
pub fn with_parts<V: WithParts>(
    pool: PoolKind,
    encoder: EncoderKind,
    config: PoolConfig,
    code: V,
) -> V::Output {
    struct ThenEncoder<V> {
        encoder: EncoderKind,
        code: V,
    }
    struct Both<P, V> {
        pool: Arc<P>,
        code: V,
    }
    impl<V: WithParts> WithPool for ThenEncoder<V> {
        type Output = V::Output;
        fn run<P: BufferPool>(self, pool: Arc<P>) -> V::Output {
            self.encoder.with(Both {
                pool,
                code: self.code,
            })
        }
    }
    impl<P: BufferPool, V: WithParts> WithEncoder for Both<P, V> {
        type Output = V::Output;
        fn run<E: Encoder>(self, encoder: E) -> V::Output {
            self.code.run(self.pool, encoder)
        }
    }
    pool.with(config, ThenEncoder { encoder, code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &pool in POOLS {
            assert_eq!(PoolKind::from_name(pool.name()), Some(pool));
        }
        for &encoder in ENCODERS {
            assert_eq!(EncoderKind::from_name(encoder.name()), Some(encoder));
        }
    }

    #[test]
    fn dispatch_builds_the_named_parts() {
        struct Names;
        impl WithParts for Names {
            type Output = (&'static str, String);
            fn run<P: BufferPool, E: Encoder>(self, _pool: Arc<P>, encoder: E) -> Self::Output {
                (
                    EncoderKind::of(&encoder).map_or("?", EncoderKind::name),
                    std::any::type_name::<P>().to_owned(),
                )
            }
        }
        let (encoder, pool) = with_parts(
            PoolKind::Freelist,
            EncoderKind::SerdeJson,
            PoolConfig::default(),
            Names,
        );
        assert_eq!(encoder, "serde_json");
        assert!(pool.ends_with("FreelistPool"), "{pool}");
    }
}
