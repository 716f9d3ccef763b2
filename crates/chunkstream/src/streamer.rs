//! [`Streamer`]: turns a source and a transform into a [`ChunkStream`].

use std::fmt;
use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;

use crate::chunk::ChunkWriter;
use crate::config::{ChunkConfig, ConfigError};
use crate::defaults::{DefaultEncoder, DefaultPool};
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::parallel::Parallel;
use crate::pipeline::Pipeline;
use crate::pool::{BufferPool, FromPoolConfig};
use crate::source::batched;
pub(crate) use crate::spawned::spawn_chunks;
use crate::stream::ChunkStream;

/// Streams sources as chunked JSON, with buffers from a pool `P` and values encoded by
/// `E`. Cheap to clone (the pool is shared); build one per service and use it for every
/// request.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::TryStreamExt;
/// use chunkstream::{ChunkConfig, Format, Streamer, source};
///
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(Format::Ndjson);
/// let chunks = streamer.stream(source::from_iter(["a", "b"]), |s: &str| {
///     Ok::<_, std::convert::Infallible>(s.to_uppercase())
/// });
/// let body: Vec<u8> = chunks.map_ok(|c| c.to_vec()).try_concat().await?;
/// assert_eq!(body, b"\"A\"\n\"B\"\n");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Streamer<P = DefaultPool, E = DefaultEncoder> {
    config: ChunkConfig,
    pool: Arc<P>,
    encoder: E,
    format: Format,
    pub(crate) parallel: Parallel,
}

impl Streamer<DefaultPool, DefaultEncoder> {
    /// A streamer with the feature-selected [`DefaultPool`] and [`DefaultEncoder`], a new
    /// pool built from `config`, and the [`Format::JsonArray`] format.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChunkConfig::validate`].
    pub fn new(config: ChunkConfig) -> Result<Self, ConfigError> {
        let config = config.validate()?;
        let pool = Arc::new(DefaultPool::try_from_pool_config(config.pool_config())?);
        Streamer::with_parts(config, pool, DefaultEncoder::default())
    }
}

impl<P: BufferPool, E: Encoder> Streamer<P, E> {
    /// A streamer with a given pool and encoder (the pool may be shared with other
    /// streamers), and the [`Format::JsonArray`] format.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChunkConfig::validate`].
    pub fn with_parts(config: ChunkConfig, pool: Arc<P>, encoder: E) -> Result<Self, ConfigError> {
        Ok(Streamer {
            config: config.validate()?,
            pool,
            encoder,
            format: Format::default(),
            parallel: Parallel::default(),
        })
    }

    /// The same streamer with another framing.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The validated configuration.
    pub fn config(&self) -> &ChunkConfig {
        &self.config
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &Arc<P> {
        &self.pool
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The framing.
    pub fn format(&self) -> Format {
        self.format
    }

    pub(crate) fn writer(&self) -> ChunkWriter<P, E> {
        ChunkWriter::new(
            Arc::clone(&self.pool),
            self.encoder.clone(),
            self.format,
            self.config.chunk_threshold,
        )
    }

    /// Streams `source` item by item through `transform`.
    ///
    /// Nothing happens until the returned stream is polled. The transform's error for the
    /// item at index `i` becomes [`StreamError::Transform`] with `index: i`; a panic
    /// becomes [`StreamError::Panicked`].
    pub fn stream<S, T, SE, F, U, TE>(&self, source: S, mut transform: F) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        F: FnMut(T) -> Result<U, TE> + Send + 'static,
        U: Serialize + Send + 'static,
        TE: Into<BoxError>,
    {
        let writer = self.writer();
        let mut index = 0_u64;
        let step = move |item: T| {
            let result =
                transform(item)
                    .map(std::iter::once)
                    .map_err(|err| StreamError::Transform {
                        index,
                        source: err.into(),
                    });
            index += 1;
            result
        };
        let pipeline = Pipeline::new(source, step, writer, self.config.flush_interval);
        ChunkStream::from_fused(self.format, pipeline)
    }

    /// Streams `source` in batches of `batch_size` items through the batch `transform`.
    ///
    /// Batches are full except perhaps the last (see [`source::batched`](crate::source::batched)),
    /// and except when the flush deadline ([`ChunkConfig::flush_interval`]) passes while
    /// items wait in a partial batch: that batch is then transformed and sent at once,
    /// so a slow source reaches the client as promptly as on the per-item path. A batch's
    /// values are still cut into chunks at the threshold. A transform error is
    /// [`StreamError::Transform`] with the index of the batch's first item.
    pub fn stream_batch<S, T, SE, F, U, TE>(&self, source: S, mut transform: F) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<BoxError> + Send + 'static,
        F: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
        U: Serialize + Send + 'static,
        TE: Into<BoxError>,
    {
        if self.parallel.applies(self.config.flush_interval) {
            return crate::parallel::stream_batch(self, source, transform);
        }
        let writer = self.writer();
        let mut index = 0_u64;
        let step = move |batch: Vec<T>| {
            let first = index;
            index += batch.len() as u64;
            transform(batch)
                .map(Vec::into_iter)
                .map_err(|err| StreamError::Transform {
                    index: first,
                    source: err.into(),
                })
        };
        let source = batched(source, self.config.batch_size);
        let pipeline = Pipeline::over_units(source, step, writer, self.config.flush_interval);
        ChunkStream::from_fused(self.format, pipeline)
    }

    /// Like [`stream`](Streamer::stream), but the work runs on a tokio task that feeds
    /// a bounded channel of `channel_capacity` chunks (the Go package's `ChunkChan`): the
    /// encoder works ahead of a slow client by at most that many chunks.
    ///
    /// Dropping the returned stream ends the task at once (the source is dropped with
    /// it). With [`ChunkConfig::stall_timeout`] set, a reader that takes no chunk for that
    /// long while the channel is full stops the task: the source and every queued buffer
    /// are released without the reader being polled, and its next item is
    /// [`StreamError::Stalled`]. A panic that escapes the task is reported as
    /// [`StreamError::Panicked`], never as a normal end. Outside a tokio runtime the
    /// stream's only item is [`StreamError::NoRuntime`].
    ///
    /// Serve it with `TCP_NODELAY` set on the connection (see the crate docs, "Serving
    /// over HTTP"): chunks reach hyper one at a time as the task makes them, and with
    /// Nagle's algorithm on, the partly filled segment of each write waits for the
    /// client's delayed ACK.
    pub fn spawn<S, T, SE, F, U, TE>(&self, source: S, transform: F) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        F: FnMut(T) -> Result<U, TE> + Send + 'static,
        U: Serialize + Send + 'static,
        TE: Into<BoxError>,
    {
        spawn_chunks(
            self.stream(source, transform),
            self.config.channel_capacity,
            self.config.stall_timeout,
        )
    }

    /// Like [`stream_batch`](Streamer::stream_batch), on a task; see [`spawn`](Streamer::spawn).
    pub fn spawn_batch<S, T, SE, F, U, TE>(&self, source: S, transform: F) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<BoxError> + Send + 'static,
        F: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
        U: Serialize + Send + 'static,
        TE: Into<BoxError>,
    {
        spawn_chunks(
            self.stream_batch(source, transform),
            self.config.channel_capacity,
            self.config.stall_timeout,
        )
    }
}

impl<P, E: Clone> Clone for Streamer<P, E> {
    fn clone(&self) -> Self {
        Streamer {
            config: self.config.clone(),
            pool: Arc::clone(&self.pool),
            encoder: self.encoder.clone(),
            format: self.format,
            parallel: self.parallel.clone(),
        }
    }
}

impl<P, E> fmt::Debug for Streamer<P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streamer")
            .field("config", &self.config)
            .field("pool", &std::any::type_name::<P>())
            .field("encoder", &std::any::type_name::<E>())
            .field("format", &self.format)
            .field("parallel", &self.parallel)
            .finish()
    }
}
