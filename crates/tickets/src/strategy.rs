//! The buffer pool and encoder the service uses, named explicitly (`--pool`,
//! `--encoder`) rather than taken from the feature-selected `DefaultPool` /
//! `DefaultEncoder`: features unify across a workspace, so a build that enables more of
//! them must not change what the service does.

use std::fmt;
use std::sync::Arc;

use chunkstream::encode::{SerdeJson, SimdJson, SonicRs};
use chunkstream::{BufferPool, ChunkConfig, ChunkStream, ConfigError, Streamer, format::Json};
// The strategy kinds, shared with the lab and the benches: `--pool` takes `freelist`
// (the default), `object-pool`, `thread-local` or `none`; `--encoder` takes
// `serde-json`, `simd-json` or `sonic-rs` (the default).
pub use chunkstream_fixtures::strategy::{EncoderKind, PoolKind};

/// A buffer pool shared by the service's streamers, whatever its strategy.
pub type SharedPool = Arc<dyn BufferPool>;

/// A new pool of strategy `kind`, sized by `config` (its zero bounds filled with the
/// defaults, as [`FromPoolConfig`](chunkstream::pool::FromPoolConfig) fills them).
pub fn build_pool(kind: PoolKind, config: &ChunkConfig) -> SharedPool {
    kind.shared(config.pool.fill_defaults())
}

/// The value `--pool` or `--encoder` takes for `kind`: what `/healthz` and the start-up
/// log name the strategy by (`serde-json`, where reports say `serde_json`).
pub fn flag<K: clap::ValueEnum>(kind: K) -> String {
    kind.to_possible_value()
        .map_or_else(String::new, |value| value.get_name().to_owned())
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
