//! The buffer pool and encoder the service uses, named explicitly (`--pool`,
//! `--encoder`) rather than taken from the feature-selected `DefaultPool` /
//! `DefaultEncoder`: features unify across a workspace, so a build that enables more of
//! them must not change what the service does.

use std::fmt;
use std::sync::Arc;

use chunkstream::encode::{SerdeJson, SimdJson, SonicRs};
use chunkstream::{
    BufferPool, ChunkConfig, ChunkStream, ConfigError, Format, Streamer, format::Json,
};
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

/// A [`Streamer`] over a [`SharedPool`] with the encoder chosen at run time, framing its
/// items in `F` (a JSON array or NDJSON by default; CSV, SSE or an envelope for the
/// routes that serve them).
#[derive(Clone)]
pub enum AnyStreamer<F = Json> {
    /// With serde_json.
    SerdeJson(Streamer<SharedPool, SerdeJson, F>),
    /// With simd-json.
    SimdJson(Streamer<SharedPool, SimdJson, F>),
    /// With sonic-rs.
    SonicRs(Streamer<SharedPool, SonicRs, F>),
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

impl AnyStreamer<Json> {
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
}

impl<F: Format> AnyStreamer<F> {
    /// The same streamer with another framing.
    pub fn with_format<G: Format>(self, format: G) -> AnyStreamer<G> {
        match self {
            AnyStreamer::SerdeJson(s) => AnyStreamer::SerdeJson(s.with_format(format)),
            AnyStreamer::SimdJson(s) => AnyStreamer::SimdJson(s.with_format(format)),
            AnyStreamer::SonicRs(s) => AnyStreamer::SonicRs(s.with_format(format)),
        }
    }

    /// The same streamer with the format's error markers on or off (see
    /// [`Streamer::with_error_markers`]).
    pub fn with_error_markers(self, on: bool) -> AnyStreamer<F> {
        match self {
            AnyStreamer::SerdeJson(s) => AnyStreamer::SerdeJson(s.with_error_markers(on)),
            AnyStreamer::SimdJson(s) => AnyStreamer::SimdJson(s.with_error_markers(on)),
            AnyStreamer::SonicRs(s) => AnyStreamer::SonicRs(s.with_error_markers(on)),
        }
    }

    /// The `Content-Type` of its bodies.
    pub fn content_type(&self) -> &'static str {
        dispatch!(self, s => s.format().content_type())
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
    pub fn stream<S, T, SE, Tf, U, TE>(&self, source: S, transform: Tf) -> ChunkStream
    where
        S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<chunkstream::BoxError>,
        Tf: FnMut(T) -> Result<U, TE> + Send + 'static,
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
    pub fn stream_batch<S, T, SE, Tf, U, TE>(&self, source: S, transform: Tf) -> ChunkStream
    where
        S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<chunkstream::BoxError> + Send + 'static,
        Tf: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
        U: chunkstream::Item + Send + 'static,
        TE: Into<chunkstream::BoxError>,
    {
        dispatch!(self, s => s.stream_batch(source, transform))
    }
}

impl<F: fmt::Debug> fmt::Debug for AnyStreamer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, s => s.fmt(f))
    }
}
