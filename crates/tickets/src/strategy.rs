//! The buffer pool and encoder the service uses, named explicitly (`--pool`,
//! `--encoder`) rather than taken from the feature-selected `DefaultPool` /
//! `DefaultEncoder`: features unify across a workspace, so a build that enables more of
//! them must not change what the service does.

use std::fmt;
use std::sync::Arc;

use chunkstream::encode::{SerdeJson, SimdJson, SonicRs};
use chunkstream::pool::{FreelistPool, FromPoolConfig, NoPool, ObjectPool, ThreadLocalPool};
use chunkstream::{BufferPool, ChunkConfig, ChunkStream, ConfigError, Streamer, format::Json};

/// A buffer pool shared by the service's streamers, whatever its strategy.
pub type SharedPool = Arc<dyn BufferPool>;

/// The buffer pool strategy (`--pool`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolKind {
    /// `FreelistPool`: a bounded lock-free queue (the default).
    #[default]
    Freelist,
    /// `ObjectPool`: the `object-pool` crate's stack, bounded.
    ObjectPool,
    /// `ThreadLocalPool`: per-thread stacks spilling to a shared queue.
    ThreadLocal,
    /// `NoPool`: a fresh buffer for every chunk.
    None,
}

impl PoolKind {
    /// Its name, as `--pool` takes it.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Freelist => "freelist",
            PoolKind::ObjectPool => "object-pool",
            PoolKind::ThreadLocal => "thread-local",
            PoolKind::None => "none",
        }
    }

    /// A new pool of this kind, sized by `config`.
    pub fn build(self, config: &ChunkConfig) -> SharedPool {
        let bounds = config.pool;
        match self {
            PoolKind::Freelist => Arc::new(FreelistPool::from_pool_config(bounds)),
            PoolKind::ObjectPool => Arc::new(ObjectPool::from_pool_config(bounds)),
            PoolKind::ThreadLocal => Arc::new(ThreadLocalPool::from_pool_config(bounds)),
            PoolKind::None => Arc::new(NoPool::from_pool_config(bounds)),
        }
    }
}

/// The JSON encoder (`--encoder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderKind {
    /// serde_json, the reference.
    SerdeJson,
    /// simd-json (same values as serde_json, not always the same bytes).
    SimdJson,
    /// sonic-rs (the same bytes as serde_json, faster): the default, as in the library.
    #[default]
    SonicRs,
}

impl EncoderKind {
    /// Its name, as `--encoder` takes it.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::SerdeJson => "serde-json",
            EncoderKind::SimdJson => "simd-json",
            EncoderKind::SonicRs => "sonic-rs",
        }
    }
}

/// A [`Streamer`] over a [`SharedPool`] with the encoder chosen at run time.
#[derive(Clone)]
pub enum AnyStreamer {
    /// With serde_json.
    SerdeJson(Streamer<SharedPool, SerdeJson, Json>),
    /// With simd-json.
    SimdJson(Streamer<SharedPool, SimdJson, Json>),
    /// With sonic-rs.
    SonicRs(Streamer<SharedPool, SonicRs, Json>),
}

/// Runs `$body` with `$s` bound to the streamer inside any variant.
macro_rules! dispatch {
    ($streamer:expr, $s:ident => $body:expr) => {
        match $streamer {
            AnyStreamer::SerdeJson($s) => $body,
            AnyStreamer::SimdJson($s) => $body,
            AnyStreamer::SonicRs($s) => $body,
        }
    };
}

impl AnyStreamer {
    /// A JSON-array streamer with `encoder`, taking its buffers from `pool`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChunkConfig::validate`].
    pub fn new(
        config: ChunkConfig,
        pool: SharedPool,
        encoder: EncoderKind,
    ) -> Result<AnyStreamer, ConfigError> {
        let pool = Arc::new(pool);
        Ok(match encoder {
            EncoderKind::SerdeJson => AnyStreamer::SerdeJson(
                Streamer::with_parts(config, pool, SerdeJson)?.with_format(Json::Array),
            ),
            EncoderKind::SimdJson => AnyStreamer::SimdJson(
                Streamer::with_parts(config, pool, SimdJson)?.with_format(Json::Array),
            ),
            EncoderKind::SonicRs => AnyStreamer::SonicRs(
                Streamer::with_parts(config, pool, SonicRs)?.with_format(Json::Array),
            ),
        })
    }

    /// The same streamer with another framing.
    pub fn with_format(self, format: Json) -> AnyStreamer {
        match self {
            AnyStreamer::SerdeJson(s) => AnyStreamer::SerdeJson(s.with_format(format)),
            AnyStreamer::SimdJson(s) => AnyStreamer::SimdJson(s.with_format(format)),
            AnyStreamer::SonicRs(s) => AnyStreamer::SonicRs(s.with_format(format)),
        }
    }

    /// The pool its buffers come from.
    pub fn pool(&self) -> &Arc<SharedPool> {
        dispatch!(self, s => s.pool())
    }

    /// The validated configuration.
    pub fn config(&self) -> &ChunkConfig {
        dispatch!(self, s => s.config())
    }

    /// [`Streamer::stream`] with this streamer's encoder.
    pub fn stream<S, T, SE, F, U, TE>(&self, source: S, transform: F) -> ChunkStream
    where
        S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<chunkstream::BoxError>,
        F: FnMut(T) -> Result<U, TE> + Send + 'static,
        U: chunkstream::Item + Send + 'static,
        TE: Into<chunkstream::BoxError>,
    {
        dispatch!(self, s => s.stream(source, transform))
    }

    /// [`Streamer::json`] with this streamer's encoder.
    pub fn json<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<chunkstream::BoxError>,
        T: chunkstream::Item + Send + 'static,
    {
        dispatch!(self, s => s.json(source))
    }

    /// [`Streamer::stream_batch`] with this streamer's encoder.
    pub fn stream_batch<S, T, SE, F, U, TE>(&self, source: S, transform: F) -> ChunkStream
    where
        S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<chunkstream::BoxError> + Send + 'static,
        F: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
        U: chunkstream::Item + Send + 'static,
        TE: Into<chunkstream::BoxError>,
    {
        dispatch!(self, s => s.stream_batch(source, transform))
    }
}

impl fmt::Debug for AnyStreamer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, s => s.fmt(f))
    }
}
