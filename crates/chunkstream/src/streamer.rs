//! [`Streamer`]: turns a source and a transform into a [`ChunkStream`].

use std::fmt;
use std::sync::Arc;

use futures_core::{FusedStream, Stream};
use futures_util::StreamExt;

use crate::chunk::ChunkWriter;
use crate::config::{ChunkConfig, ConfigError};
use crate::encode::{DefaultEncoder, Encoder};
use crate::error::BoxError;
use crate::format::{Format, JsonArray};
use crate::item::Item;
use crate::parallel::{EncodePermits, InOrder, OnWorkers, Parallel};
use crate::pipeline::Pipeline;
use crate::pool::{BufferPool, DefaultPool, FromPoolConfig};
use crate::source::{Items, batched};
use crate::stream::ChunkStream;
use crate::transform::Counted;

/// Streams sources as chunked JSON, with buffers from a pool `P`, values encoded by `E`
/// and framed by the format `F`. Cheap to clone (the pool is shared); build one per
/// service and use it for every request.
///
/// Every axis is chosen once, and every combination works:
///
/// | axis | chosen by |
/// | --- | --- |
/// | item kind | the transform's output type: `Serialize`, [`RawJson`](crate::RawJson) (trusted) or [`Validated`](crate::raw::Validated) |
/// | item or batch | [`stream`](Streamer::stream) / [`json`](Streamer::json), or [`stream_batch`](Streamer::stream_batch) / [`stream_batch_concurrent`](Streamer::stream_batch_concurrent) |
/// | caller's task or spawned | [`ChunkStream::spawn`] on the result |
/// | encoding workers | [`with_encode_workers`](Streamer::with_encode_workers) |
/// | format | [`with_format`](Streamer::with_format): [`JsonArray`], [`Ndjson`](crate::format::Ndjson), [`Csv`](crate::format::Csv), [`Sse`](crate::format::Sse), [`Envelope`](crate::format::Envelope), [`TextLines`](crate::format::TextLines) or one's own [`Format`] |
/// | error markers | [`with_error_markers`](Streamer::with_error_markers): off (the default) or on, for any format |
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::TryStreamExt;
/// use chunkstream::{ChunkConfig, Streamer, format::Ndjson, source};
///
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(Ndjson);
/// let chunks = streamer.stream(source::from_iter(["a", "b"]), |s: &str| {
///     Ok::<_, std::convert::Infallible>(s.to_uppercase())
/// });
/// let body: Vec<u8> = chunks.map_ok(|c| c.to_vec()).try_concat().await?;
/// assert_eq!(body, b"\"A\"\n\"B\"\n");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Streamer<P = DefaultPool, E = DefaultEncoder, F = JsonArray> {
    config: ChunkConfig,
    pool: Arc<P>,
    encoder: E,
    format: F,
    parallel: Parallel,
    /// Whether a body failing after its first chunk ends with the format's error marker.
    error_markers: bool,
}

impl Streamer<DefaultPool, DefaultEncoder, JsonArray> {
    /// A streamer with the feature-selected [`DefaultPool`] and [`DefaultEncoder`], a new
    /// pool built from `config`, and the [`JsonArray`] format.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChunkConfig::validate`].
    pub fn new(config: ChunkConfig) -> Result<Self, ConfigError> {
        let config = config.validate()?;
        let pool = Arc::new(DefaultPool::try_from_pool_config(config.pool)?);
        let encoder = DefaultEncoder::default();
        Ok(Streamer::from_valid(config, pool, encoder))
    }
}

impl<P: BufferPool, E: Encoder> Streamer<P, E, JsonArray> {
    /// A streamer with a given pool and encoder (the pool may be shared with other
    /// streamers), and the [`JsonArray`] format.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChunkConfig::validate`].
    pub fn with_parts(config: ChunkConfig, pool: Arc<P>, encoder: E) -> Result<Self, ConfigError> {
        Ok(Streamer::from_valid(config.validate()?, pool, encoder))
    }

    fn from_valid(config: ChunkConfig, pool: Arc<P>, encoder: E) -> Self {
        Streamer {
            config,
            pool,
            encoder,
            format: JsonArray,
            parallel: Parallel::default(),
            error_markers: false,
        }
    }
}

impl<P: BufferPool, E: Encoder, F: Format> Streamer<P, E, F> {
    /// The same streamer with another framing: [`JsonArray`] (the default),
    /// [`Ndjson`](crate::format::Ndjson), or a [`Format`] of one's own.
    pub fn with_format<G: Format>(self, format: G) -> Streamer<P, E, G> {
        Streamer {
            config: self.config,
            pool: self.pool,
            encoder: self.encoder,
            format,
            parallel: self.parallel,
            error_markers: self.error_markers,
        }
    }

    /// The same streamer with error markers on or off (off by default): a body that fails
    /// after its first chunk then ends with its format's marker
    /// ([`Format::fail`]) before the error ends the stream. For
    /// [`Ndjson`](crate::format::Ndjson) that is one last line
    /// `{"error":{"kind":"source","message":"the source of the stream failed","id":"…"}}`
    /// after every complete item; a [`JsonArray`] has no marker and still never gets its
    /// `]`.
    ///
    /// The marker carries the error's kind, a generic message per kind
    /// ([`ErrorKind::message`](crate::ErrorKind::message)) and an id the log repeats with
    /// the detail. Over HTTP the transfer is still aborted after it, so no cache, proxy
    /// or client that ignores markers takes the body for a complete one. A failure before
    /// the first chunk writes no marker (see [`StreamResponse`](crate::StreamResponse)).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, format::Ndjson};
    ///
    /// let streamer = Streamer::new(ChunkConfig::with_sizes(64, 16))?
    ///     .with_format(Ndjson)
    ///     .with_error_markers(true);
    /// let items = (0..20).map(|i| if i < 10 { Ok(i) } else { Err(std::io::Error::other("disk gone")) });
    /// let mut body = Vec::new();
    /// let mut chunks = streamer.json(futures_util::stream::iter(items));
    /// while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut chunks).await {
    ///     body.extend_from_slice(&chunk);
    /// }
    /// let last = body.split(|&b| b == b'\n').rev().nth(1).unwrap();
    /// let marker: serde_json::Value = serde_json::from_slice(last)?;
    /// assert_eq!(marker["error"]["kind"], "source");
    /// assert!(!String::from_utf8_lossy(&body).contains("disk gone"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_error_markers(mut self, on: bool) -> Self {
        self.error_markers = on;
        self
    }

    /// Whether a body failing after its first chunk ends with its format's error marker;
    /// see [`with_error_markers`](Streamer::with_error_markers).
    pub fn error_markers(&self) -> bool {
        self.error_markers
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
    pub fn format(&self) -> &F {
        &self.format
    }

    fn writer(&self) -> ChunkWriter<P, E, F> {
        ChunkWriter::new(
            Arc::clone(&self.pool),
            self.encoder.clone(),
            self.format.clone(),
            self.config.chunk_threshold,
        )
        .with_markers(self.error_markers)
    }

    /// Whether the batch path runs on the encoding workers.
    fn on_workers(&self) -> bool {
        let keep_alive = self.format.keep_alive();
        self.parallel
            .applies(self.config.flush_interval, keep_alive)
    }

    /// The stream of `chunks`, which knows when it is done (after its last chunk, not
    /// only after its `None`), with what [`ChunkStream::spawn`] needs.
    fn chunks<S>(&self, stream: S) -> ChunkStream
    where
        S: FusedStream<Item = Result<bytes::Bytes, crate::StreamError>> + Send + 'static,
    {
        let mut chunks = ChunkStream::from_fused(self.format.content_type(), stream);
        chunks.spawn_with = self.config.clone();
        chunks
    }

    /// Streams `source` item by item through `transform`.
    ///
    /// Nothing happens until the returned stream is polled (or
    /// [`spawn`](ChunkStream::spawn)ed). What the transform returns says what an item is:
    /// a `Serialize` value is encoded, a [`RawJson`](crate::RawJson) is copied as it is, a
    /// [`Validated`](crate::raw::Validated) one is checked first. The transform's error
    /// for the item at index `i` becomes [`StreamError::Transform`](crate::StreamError)
    /// with `index: i`; a panic becomes [`StreamError::Panicked`](crate::StreamError).
    pub fn stream<S, T, SE, Tf, U, TE>(&self, source: S, transform: Tf) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        Tf: FnMut(T) -> Result<U, TE> + Send + 'static,
        U: Item + Send + 'static,
        TE: Into<BoxError>,
    {
        let mut counted = Counted::new(transform);
        let step = move |item: T| counted.item(item).map(std::iter::once);
        let source = Items::new(source);
        let pipeline = Pipeline::new(source, step, self.writer(), self.config.flush_interval);
        self.chunks(pipeline)
    }

    /// Streams the items of `source` unchanged (no transform): `Serialize` values,
    /// [`RawJson`](crate::RawJson) (see [`raw::trusted`](crate::raw::trusted)) or
    /// [`Validated`](crate::raw::Validated) items. For a response, finish with
    /// [`respond`](ChunkStream::respond)`().await`, which answers an error before the
    /// first chunk with an error status.
    ///
    /// # Errors
    ///
    /// The stream's last item is the [`StreamError`](crate::StreamError) that ended it
    /// early: the source's error (`Source`), an item that could not be encoded
    /// (`Encode`), or a panic (`Panicked`).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, format::Ndjson, source};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Ticket { id: u32 }
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let tickets = || source::from_iter((1..=2).map(|id| Ticket { id }));
    /// let body = streamer.json(tickets()).collect_bytes().await?;
    /// assert_eq!(&body[..], br#"[{"id":1},{"id":2}]"#);
    /// let lines = streamer.clone().with_format(Ndjson).json(tickets()).collect_bytes().await?;
    /// assert_eq!(&lines[..], b"{\"id\":1}\n{\"id\":2}\n");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn json<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        T: Item + Send + 'static,
    {
        self.stream(source, Ok::<T, std::convert::Infallible>)
    }

    /// Streams `source` in batches of `batch_size` items through the batch `transform`.
    ///
    /// Batches are full except perhaps the last (see [`source::batched`](crate::source::batched)),
    /// and except when the flush deadline ([`ChunkConfig::flush_interval`]) passes while
    /// items wait in a partial batch: that batch is then transformed and sent at once,
    /// so a slow source reaches the client as promptly as on the per-item path. A batch's
    /// values are still cut into chunks at the threshold. A transform error is
    /// [`StreamError::Transform`](crate::StreamError) with the index of the batch's first
    /// item. See [`with_encode_workers`](Streamer::with_encode_workers) for parallel
    /// encoding.
    pub fn stream_batch<S, T, SE, Tf, U, TE>(&self, source: S, transform: Tf) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<BoxError> + Send + 'static,
        Tf: FnMut(Vec<T>) -> Result<Vec<U>, TE> + Send + 'static,
        U: Item + Send + 'static,
        TE: Into<BoxError>,
    {
        let source = batched(source, self.config.batch_size);
        let mut counted = Counted::new(transform);
        if self.on_workers() {
            let ordered = self
                .parallel
                .stream(source, InOrder(counted), self.writer());
            return self.chunks(ordered.fuse());
        }
        let step = move |batch: Vec<T>| counted.batch(batch).map(Vec::into_iter);
        let pipeline = Pipeline::new(source, step, self.writer(), self.config.flush_interval);
        self.chunks(pipeline)
    }

    /// Like [`stream_batch`](Streamer::stream_batch), but the transform (`Fn + Sync`,
    /// shared by the workers) runs on the workers too, beside the encoding of its batch,
    /// so a costly transform is spread over the cores as well; the first batch's runs on
    /// the stream's task, which writes that batch itself. With one worker (or a
    /// `flush_interval`) this is `stream_batch`.
    ///
    /// The body and the errors are the same as `stream_batch`'s; only the source is
    /// stopped later after a transform error (once the batches before it are out, up to
    /// `workers` batches later), since the error is only known when its worker ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(async {
    /// use futures_util::TryStreamExt;
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?.with_encode_workers(2);
    /// let squares = |batch: Vec<u64>| {
    ///     Ok::<_, std::convert::Infallible>(batch.into_iter().map(|n| n * n).collect::<Vec<_>>())
    /// };
    /// let chunks = streamer.stream_batch_concurrent(source::from_iter(0..3_u64), squares);
    /// let body: Vec<u8> = chunks.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
    /// assert_eq!(body, b"[0,1,4]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stream_batch_concurrent<S, T, SE, Tf, U, TE>(
        &self,
        source: S,
        transform: Tf,
    ) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Send + 'static,
        SE: Into<BoxError> + Send + 'static,
        Tf: Fn(Vec<T>) -> Result<Vec<U>, TE> + Send + Sync + 'static,
        U: Item + Send + 'static,
        TE: Into<BoxError> + 'static,
    {
        if !self.on_workers() {
            return self.stream_batch(source, transform);
        }
        let on_workers = OnWorkers {
            transform: Arc::new(transform),
            counted: Counted::new(()),
        };
        let source = batched(source, self.config.batch_size);
        self.chunks(
            self.parallel
                .stream(source, on_workers, self.writer())
                .fuse(),
        )
    }

    /// The same streamer encoding up to `workers` batches at once on the batch path
    /// ([`stream_batch`](Streamer::stream_batch) and
    /// [`stream_batch_concurrent`](Streamer::stream_batch_concurrent), spawned or not).
    /// 1 (or 0) is the sequential path. This is the default: 1.
    ///
    /// The body is byte for byte the sequential one, errors included, in chunks cut on
    /// item boundaries. The transform runs on the stream's task in source order; encoding
    /// runs on tokio's blocking pool as long as the streamer's [`EncodePermits`] allow
    /// (else on the stream's task), with up to `workers` more batches waiting,
    /// transformed. With [`flush_interval`](crate::ChunkConfig::flush_interval) set the
    /// batch path stays sequential; the per-item path is unaffected.
    ///
    /// Turn it on for large results (thousands of items and more) served while cores
    /// are idle; it gains nothing for a single batch or a slow source, and under load the
    /// permits make it fall back to the sequential path. The stream writes the first batch
    /// itself, item by item, while the workers take the batches after it: its chunks go
    /// out as they are cut, as on the sequential path, so the first byte comes as early
    /// and a response of one batch (fewer items than
    /// [`batch_size`](crate::ChunkConfig::batch_size)) still overlaps encoding with
    /// sending. A batch a worker encodes goes out once it is whole.
    ///
    /// # Memory
    ///
    /// A stream holds at most `2 * workers` batches in flight (encoding, queued, or
    /// encoded and waiting for the batch before them) besides the one it writes itself,
    /// plus the chunks of one batch waiting for the reader, plus one carried buffer: in
    /// pooled buffers at most
    /// `(2 * workers + 1) * (ceil(batch_json / chunk_threshold) + 1) + 2`, where
    /// `batch_json` is the JSON size of one batch, plus the transformed values of up to
    /// `2 * workers` batches (the `parallel` test of the core measures it). `max_pooled`
    /// should cover the buffers of the streams you run at once, or the pool drops the
    /// surplus. Smaller batches lower the bound and the gain alike. The crate docs show
    /// it in use.
    pub fn with_encode_workers(mut self, workers: usize) -> Self {
        self.parallel.workers = workers.max(1);
        self
    }

    /// Batches encoded at once on the batch path; see
    /// [`with_encode_workers`](Streamer::with_encode_workers).
    pub fn encode_workers(&self) -> usize {
        self.parallel.workers
    }

    /// The same streamer drawing its encoding threads from `permits` instead of the
    /// process-wide [`EncodePermits::global`].
    pub fn with_encode_permits(mut self, permits: Arc<EncodePermits>) -> Self {
        self.parallel.permits = permits;
        self
    }

    /// The permits the batch path draws its encoding threads from.
    pub fn encode_permits(&self) -> &Arc<EncodePermits> {
        &self.parallel.permits
    }
}

impl<P, E: Clone, F: Clone> Clone for Streamer<P, E, F> {
    fn clone(&self) -> Self {
        Streamer {
            config: self.config.clone(),
            pool: Arc::clone(&self.pool),
            encoder: self.encoder.clone(),
            format: self.format.clone(),
            parallel: self.parallel.clone(),
            error_markers: self.error_markers,
        }
    }
}

impl<P, E, F: fmt::Debug> fmt::Debug for Streamer<P, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streamer")
            .field("config", &self.config)
            .field("pool", &std::any::type_name::<P>())
            .field("encoder", &std::any::type_name::<E>())
            .field("format", &self.format)
            .field("parallel", &self.parallel)
            .field("error_markers", &self.error_markers)
            .finish()
    }
}
