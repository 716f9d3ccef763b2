//! A scenario is one way of answering one request: it produces a body (a stream of
//! chunks) that is drained and timed, or collected and checked against the reference.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chunkstream::format::Json;
use chunkstream::{
    BoxError, BufferPool, ChunkConfig, EncodePermits, Encoder, Format, PoolStats, Streamer,
};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::contestants::{EncoderKind, PoolKind, WithParts, with_parts};

/// A response body: chunks or the error that ended it.
pub type Chunks = BoxStream<'static, Result<Bytes, BoxError>>;

/// Makes a fresh body for each request; shared by concurrent requests.
pub type ChunksFactory = Arc<dyn Fn() -> Chunks + Send + Sync>;

/// What one drained request measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Body bytes.
    pub bytes: u64,
    /// Chunks (data frames) in the body.
    pub chunks: u64,
    /// From the request's start to its first chunk.
    pub first_chunk: Duration,
}

/// One way of answering a request.
pub trait Scenario: Send {
    /// Answers one request and drains the body, counting bytes and chunks.
    fn run(&mut self) -> BoxFuture<'static, Result<Sample, BoxError>>;
    /// Answers one request and returns the whole body, for checking.
    fn body(&mut self) -> BoxFuture<'static, Result<Vec<u8>, BoxError>>;
    /// Readies the next `requests` requests before they are timed (an HTTP client opens
    /// their connections), so that the timing holds the requests alone; by default
    /// there is nothing to ready.
    fn ready(&mut self, requests: u64) -> BoxFuture<'static, Result<(), BoxError>> {
        let _ = requests;
        futures_util::future::ok(()).boxed()
    }
}

/// Drains `chunks`, counting bytes, chunks and the time to the first chunk.
pub async fn drain(mut chunks: Chunks) -> Result<Sample, BoxError> {
    let start = Instant::now();
    let mut sample = Sample::default();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if sample.chunks == 0 {
            sample.first_chunk = start.elapsed();
        }
        sample.chunks += 1;
        sample.bytes += chunk.len() as u64;
    }
    Ok(sample)
}

/// The concatenated body of `chunks`.
pub async fn collect(chunks: Chunks) -> Result<Vec<u8>, BoxError> {
    chunks
        .try_fold(Vec::new(), |mut body, chunk| async move {
            body.extend_from_slice(&chunk);
            Ok(body)
        })
        .await
}

/// A scenario that streams a fresh body per request.
pub struct Streaming(pub ChunksFactory);

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streaming")
    }
}

impl Scenario for Streaming {
    fn run(&mut self) -> BoxFuture<'static, Result<Sample, BoxError>> {
        drain((self.0)()).boxed()
    }
    fn body(&mut self) -> BoxFuture<'static, Result<Vec<u8>, BoxError>> {
        collect((self.0)()).boxed()
    }
}

/// Writes one whole body into a buffer.
type WriteFn = dyn Fn(&mut Vec<u8>) -> Result<(), BoxError> + Send + Sync;

/// The limit: the whole body written by a plain library call into a buffer allocated
/// once, outside the timed requests. For JSON, one `to_writer` of the whole slice by an
/// encoder's own library (serde_json by default); for the other formats, see
/// [`formats`](crate::formats).
pub struct Limit {
    write: Arc<WriteFn>,
    buf: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limit").finish_non_exhaustive()
    }
}

impl Limit {
    /// The serde_json limit for `items`.
    pub fn new<T: Serialize + Sync + 'static>(items: &'static [T]) -> Self {
        Limit::with_encoder(items, EncoderKind::SerdeJson)
    }

    /// The limit of `encoder` for `items`: its library's `to_writer` of the slice.
    pub fn with_encoder<T: Serialize + Sync + 'static>(
        items: &'static [T],
        encoder: EncoderKind,
    ) -> Self {
        let size = serde_json::to_vec(items).map_or(0, |v| v.len());
        Limit::writing(size, move |buf| encode_whole(encoder, items, buf))
    }

    /// The limit that writes its body with `write`, into a buffer with room for `size`
    /// bytes and a quarter more.
    pub fn writing(
        size: usize,
        write: impl Fn(&mut Vec<u8>) -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> Self {
        Limit {
            write: Arc::new(write),
            buf: Arc::new(Mutex::new(Vec::with_capacity(size + size / 4 + 64))),
        }
    }
}

/// `encoder`'s library writing `items` into `buf` (no chunkstream code involved).
pub fn encode_whole<T: Serialize + ?Sized>(
    encoder: EncoderKind,
    items: &T,
    buf: &mut Vec<u8>,
) -> Result<(), BoxError> {
    match encoder {
        EncoderKind::SerdeJson => serde_json::to_writer(&mut *buf, items)?,
        EncoderKind::SimdJson => simd_json::to_writer(&mut *buf, items)?,
        EncoderKind::SonicRs => sonic_rs::to_writer(&mut *buf, items)?,
    }
    Ok(())
}

impl Scenario for Limit {
    fn run(&mut self) -> BoxFuture<'static, Result<Sample, BoxError>> {
        let (write, buf) = (Arc::clone(&self.write), Arc::clone(&self.buf));
        async move {
            let start = Instant::now();
            let mut buf = buf.lock().map_err(|_| "limit buffer poisoned")?;
            buf.clear();
            write(&mut buf)?;
            Ok(Sample {
                bytes: buf.len() as u64,
                chunks: 1,
                first_chunk: start.elapsed(),
            })
        }
        .boxed()
    }
    fn body(&mut self) -> BoxFuture<'static, Result<Vec<u8>, BoxError>> {
        let write = Arc::clone(&self.write);
        async move {
            let mut buf = Vec::new();
            write(&mut buf)?;
            Ok(buf)
        }
        .boxed()
    }
}

/// Which streamer method a chunkstream scenario calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Path {
    /// `Streamer::stream` with `transform::passthrough`.
    #[default]
    Item,
    /// `Streamer::stream_batch` with `transform::batch_passthrough` (`batch_size` items).
    Batch,
    /// `ChunkStream::spawn`: the work on its own task, chunks through a bounded channel.
    Spawn,
    /// `Streamer::stream_batch` with two encoding workers (`with_encode_workers(2)`) and
    /// permits of its own, so other streams in the process do not change its share.
    Parallel,
}

/// Encoding workers of [`Path::Parallel`].
pub const PARALLEL_WORKERS: usize = 2;

/// A chunkstream body factory and its pool (for hit rates).
pub struct Built {
    /// Makes one body per call.
    pub chunks: ChunksFactory,
    /// Makes one `ChunkStream` per call (to serve as an HTTP body as is).
    pub streams: Arc<dyn Fn() -> chunkstream::ChunkStream + Send + Sync>,
    /// Counters of the pool every body draws from.
    pub stats: Arc<dyn Fn() -> PoolStats + Send + Sync>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("stats", &(self.stats)())
            .finish_non_exhaustive()
    }
}

/// Builds a chunkstream body factory: `pool` x `encoder` with `config` and `format` (a
/// [`Json`], or any other [`Format`]), streaming the items of `source()` along `path`.
///
/// # Panics
///
/// When `config` does not validate (the lab only builds valid ones).
pub fn chunkstream<F, S, U, SE, Fm: Format>(
    pool: PoolKind,
    encoder: EncoderKind,
    config: &ChunkConfig,
    format: Fm,
    path: Path,
    source: F,
) -> Built
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Stream<Item = Result<U, SE>> + Send + 'static,
    U: Serialize + Send + 'static,
    SE: Into<BoxError> + Send + 'static,
{
    struct Build<F, Fm> {
        config: ChunkConfig,
        format: Fm,
        path: Path,
        source: F,
    }
    impl<F, S, U, SE, Fm: Format> WithParts for Build<F, Fm>
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<U, SE>> + Send + 'static,
        U: Serialize + Send + 'static,
        SE: Into<BoxError> + Send + 'static,
    {
        type Output = Built;
        fn run<P: BufferPool, E: Encoder>(self, pool: Arc<P>, encoder: E) -> Built {
            let streamer = Streamer::with_parts(self.config, Arc::clone(&pool), encoder)
                .expect("the lab builds valid configurations")
                .with_format(self.format);
            let parallel = streamer
                .clone()
                .with_encode_workers(PARALLEL_WORKERS)
                .with_encode_permits(Arc::new(EncodePermits::new(PARALLEL_WORKERS)));
            let (path, source) = (self.path, self.source);
            let streams: Arc<dyn Fn() -> chunkstream::ChunkStream + Send + Sync> =
                Arc::new(move || match path {
                    Path::Item => streamer.stream(source(), chunkstream::transform::passthrough()),
                    Path::Batch => {
                        streamer.stream_batch(source(), chunkstream::transform::batch_passthrough())
                    }
                    Path::Spawn => streamer
                        .stream(source(), chunkstream::transform::passthrough())
                        .spawn(),
                    Path::Parallel => {
                        parallel.stream_batch(source(), chunkstream::transform::batch_passthrough())
                    }
                });
            let make = Arc::clone(&streams);
            let chunks: ChunksFactory = Arc::new(move || make().map_err(BoxError::from).boxed());
            Built {
                chunks,
                streams,
                stats: Arc::new(move || pool.stats()),
            }
        }
    }
    let code = Build {
        config: config.clone(),
        format,
        path,
        source,
    };
    with_parts(pool, encoder, config.pool, code)
}

/// The reference value of a body of `items` in `format`, as parsed JSON values (a body
/// is checked by value, not bytes: encoders may print numbers differently).
pub fn reference<T: Serialize>(items: &[T]) -> Result<serde_json::Value, BoxError> {
    Ok(serde_json::to_value(items)?)
}

/// A body's framing: the report's `format` column, and how a body is read back for its
/// check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Framing {
    /// A JSON array.
    #[default]
    Array,
    /// One JSON value per line.
    Ndjson,
    /// CSV records (RFC 4180).
    Csv,
    /// A JSON object around the array.
    Envelope,
    /// Server-Sent Events.
    Sse,
}

impl From<Json> for Framing {
    fn from(format: Json) -> Self {
        match format {
            Json::Ndjson => Framing::Ndjson,
            _ => Framing::Array,
        }
    }
}

impl Framing {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Array => "json_array",
            Framing::Ndjson => "ndjson",
            Framing::Csv => "csv",
            Framing::Envelope => "envelope",
            Framing::Sse => "sse",
        }
    }
}

/// Parses a body in `framing` back to one JSON value: JSON as it is (an array, or an
/// envelope's object), NDJSON's lines as an array, CSV as an array of records (each an
/// array of its fields' text, the header row first), SSE as an array of events (each an
/// object with its `event` and `id` when present, and its `data` parsed as JSON).
///
/// # Errors
///
/// When the body is not valid in its framing, or the JSON in it is not valid.
pub fn parse_body(framing: impl Into<Framing>, body: &[u8]) -> Result<serde_json::Value, BoxError> {
    use serde_json::Value;
    let lines = |body| -> Result<_, BoxError> {
        let text = std::str::from_utf8(body)?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("body does not end with a newline".into());
        }
        Ok(text)
    };
    match framing.into() {
        Framing::Array | Framing::Envelope => Ok(serde_json::from_slice(body)?),
        Framing::Ndjson => Ok(Value::Array(
            lines(body)?
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?,
        )),
        Framing::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(body);
            let mut records = Vec::new();
            for record in reader.records() {
                let fields = record?.iter().map(Value::from).collect();
                records.push(Value::Array(fields));
            }
            Ok(Value::Array(records))
        }
        Framing::Sse => {
            let mut events = Vec::new();
            for event in lines(body)?.split_terminator("\n\n") {
                let mut fields = serde_json::Map::new();
                let mut data = Vec::new();
                for line in event.lines().filter(|l| !l.starts_with(':')) {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "data" => data.push(value),
                        _ => {
                            fields.insert(name.to_owned(), value.into());
                        }
                    }
                }
                if !data.is_empty() {
                    fields.insert("data".into(), serde_json::from_str(&data.join("\n"))?);
                }
                events.push(Value::Object(fields));
            }
            Ok(Value::Array(events))
        }
    }
}

/// Checks that `scenario`'s body, parsed, equals `expected`.
///
/// # Errors
///
/// When the scenario fails, the body does not parse, or it parses to other values.
pub async fn check(
    scenario: &mut dyn Scenario,
    framing: impl Into<Framing>,
    expected: &serde_json::Value,
) -> Result<(), BoxError> {
    let body = scenario.body().await?;
    let got = parse_body(framing, &body)?;
    if &got == expected {
        Ok(())
    } else {
        let n = got.as_array().map_or(0, Vec::len);
        Err(format!(
            "body differs from the reference ({n} values, {} bytes)",
            body.len()
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{peers, workload};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn every_contestant_matches_the_reference() {
        let items = workload::leak(workload::tickets(300));
        let expected = reference(items).unwrap();
        let config = ChunkConfig::with_sizes(4096, 2048);
        block_on(async {
            for format in [
                chunkstream::format::Json::Array,
                chunkstream::format::Json::Ndjson,
            ] {
                for path in [Path::Item, Path::Batch] {
                    for &pool in crate::contestants::POOLS {
                        for &encoder in crate::contestants::ENCODERS {
                            let built =
                                chunkstream(pool, encoder, &config, format, path, move || {
                                    peers::memory(items)
                                });
                            check(&mut Streaming(built.chunks), format, &expected)
                                .await
                                .unwrap();
                        }
                    }
                }
            }
            for mut peer in peers::all(items) {
                check(
                    &mut *peer.scenario,
                    chunkstream::format::Json::Array,
                    &expected,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
            }
        });
    }

    #[test]
    fn a_wrong_body_fails_the_check() {
        let items = workload::leak(workload::small(3));
        let expected = reference(&items[..2]).unwrap();
        let err = block_on(check(
            &mut Limit::new(items),
            chunkstream::format::Json::Array,
            &expected,
        ));
        assert!(err.is_err());
    }
}
