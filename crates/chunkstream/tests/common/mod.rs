//! Helpers shared by the integration tests: a tickets-like workload, the reference
//! encoding, body collection, a counting source, and dhat measurement.
#![allow(dead_code)] // each test binary uses a part of this module

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use chunkstream::{ChunkStream, StreamError, format::Json};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A row of the original service's tickets table: about 400-500 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ticket {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) priority: u8,
    pub(crate) assignee: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) estimate_hours: f64,
    pub(crate) description: String,
}

const STATUSES: [&str; 4] = ["open", "in_progress", "blocked", "closed"];
const PEOPLE: [&str; 5] = ["alice", "bob", "chloé", "dmitri", "eun-ji"];
const TAGS: [&str; 6] = ["backend", "frontend", "db", "urgent", "customer", "infra"];

/// A deterministic ticket; ids and every field vary with `i`.
pub(crate) fn ticket(i: u64) -> Ticket {
    let n = i as usize;
    Ticket {
        id: 10_000 + i,
        title: format!(
            "Ticket #{i}: export \"large\" reports times out after {} s",
            30 + i % 90
        ),
        status: STATUSES[n % STATUSES.len()].to_owned(),
        priority: (i % 5) as u8,
        assignee: (!i.is_multiple_of(7)).then(|| PEOPLE[n % PEOPLE.len()].to_owned()),
        tags: (0..1 + n % 3)
            .map(|k| TAGS[(n + k) % TAGS.len()].to_owned())
            .collect(),
        created_at: format!(
            "2024-{:02}-{:02}T{:02}:14:07Z",
            1 + i % 12,
            1 + i % 28,
            i % 24
        ),
        updated_at: format!(
            "2024-{:02}-{:02}T{:02}:51:33Z",
            1 + i % 12,
            1 + i % 28,
            i % 24
        ),
        estimate_hours: 0.25 * (1 + i % 40) as f64,
        description: format!(
            "Customer {i} reports that the monthly export stalls.\n\
             Steps: Reports → Export → \"CSV\". Expected a file, got a 504 from the \
             gateway after the\ttimeout; see ticket {} and C:\\ops\\export.md.",
            i.wrapping_mul(7919) % 100_000
        ),
    }
}

/// `n` tickets.
pub(crate) fn tickets(n: usize) -> Vec<Ticket> {
    (0..n as u64).map(ticket).collect()
}

/// Reads a chunk stream to its end, keeping the chunks.
pub(crate) async fn chunks(mut stream: ChunkStream) -> Result<Vec<Bytes>, StreamError> {
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk?);
    }
    Ok(chunks)
}

/// Reads a chunk stream to its end and concatenates the body.
pub(crate) async fn body(stream: ChunkStream) -> Result<Vec<u8>, StreamError> {
    Ok(chunks(stream).await?.concat())
}

/// Bytes and blocks allocated per request, measured by dhat, and the JSON size of one
/// request's body.
#[derive(Debug)]
pub(crate) struct AllocPerRequest {
    pub(crate) bytes: u64,
    pub(crate) blocks: u64,
    pub(crate) json_size: usize,
}

/// Steady-state allocations of one request of 100 tickets with `pool` and serde_json:
/// `warmup` requests first, then the average over `requests`. The rows live for the
/// whole process, so only the streaming itself allocates. Requires a dhat profiler.
pub(crate) fn alloc_per_request<P: chunkstream::BufferPool>(
    pool: P,
    warmup: u64,
    requests: u64,
) -> AllocPerRequest {
    use chunkstream::{ChunkConfig, Streamer, encode::SerdeJson, source, transform};

    let rows: &'static [Ticket] = Box::leak(tickets(100).into_boxed_slice());
    let json_size = serde_json::to_vec(rows).unwrap().len();
    let config = ChunkConfig::default();
    let streamer = Streamer::with_parts(config, std::sync::Arc::new(pool), SerdeJson).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = || async {
        let mut chunks = streamer.stream(source::from_iter(rows.iter()), transform::passthrough());
        let mut len = 0;
        while let Some(chunk) = chunks.next().await {
            len += chunk.unwrap().len(); // dropped here: the buffer goes back to the pool
        }
        assert_eq!(len, json_size);
    };
    runtime.block_on(async {
        for _ in 0..warmup {
            request().await;
        }
    });
    let before = dhat::HeapStats::get();
    runtime.block_on(async {
        for _ in 0..requests {
            request().await;
        }
    });
    let after = dhat::HeapStats::get();
    AllocPerRequest {
        bytes: (after.total_bytes - before.total_bytes) / requests,
        blocks: (after.total_blocks - before.total_blocks) / requests,
        json_size,
    }
}

/// The reference: the items as `serde_json::to_writer` of the whole `Vec` gives them,
/// parsed back to values.
pub(crate) fn reference<T: Serialize>(items: &[T]) -> Vec<Value> {
    let mut out = Vec::new();
    serde_json::to_writer(&mut out, items).unwrap();
    match serde_json::from_slice(&out).unwrap() {
        Value::Array(values) => values,
        other => panic!("reference is not an array: {other}"),
    }
}

/// Parses a whole body of the given format back to values. NDJSON is parsed strictly:
/// every line ends with `\n` and holds exactly one value.
pub(crate) fn parse_body(format: Json, body: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    use serde::de::Error;
    match format {
        Json::Array => serde_json::from_slice(body),
        _ if body.is_empty() => Ok(Vec::new()),
        _ => body
            .strip_suffix(b"\n")
            .ok_or_else(|| serde_json::Error::custom("the last line has no \\n"))?
            .split(|&b| b == b'\n')
            .map(serde_json::from_slice)
            .collect(),
    }
}

/// All chunks of a stream, and the error it ended with, if any.
pub(crate) async fn drain(mut chunks: ChunkStream) -> (Vec<Bytes>, Option<StreamError>) {
    let mut got = Vec::new();
    while let Some(item) = chunks.next().await {
        match item {
            Ok(chunk) => got.push(chunk),
            Err(err) => {
                assert!(
                    chunks.next().await.is_none(),
                    "an error must be the last item"
                );
                return (got, Some(err));
            }
        }
    }
    (got, None)
}

pub(crate) fn concat(chunks: &[Bytes]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect()
}

/// A source that counts the items pulled from it and flags when it is dropped.
pub(crate) struct Counted<S> {
    pub(crate) inner: S,
    pub(crate) pulled: Arc<AtomicUsize>,
    pub(crate) dropped: Arc<AtomicUsize>,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S) -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let pulled = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let counted = Counted {
            inner,
            pulled: Arc::clone(&pulled),
            dropped: Arc::clone(&dropped),
        };
        (counted, pulled, dropped)
    }
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<S::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(_)) = polled {
            self.pulled.fetch_add(1, Ordering::SeqCst);
        }
        polled
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// The four public paths a stream can take, for tests that run on each.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path {
    Stream,
    StreamBatch,
    Spawn,
    SpawnBatch,
}

/// Every [`Path`].
pub(crate) const PATHS: [Path; 4] = [
    Path::Stream,
    Path::StreamBatch,
    Path::Spawn,
    Path::SpawnBatch,
];

/// Waits (bounded) until `cond` holds, yielding to the runtime in between.
pub(crate) async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Tasks alive on the current tokio runtime.
pub(crate) fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// What a test compares of an error: its kind and the item index it names, if any.
pub(crate) fn describe(err: &Option<StreamError>) -> Option<(chunkstream::ErrorKind, Option<u64>)> {
    err.as_ref().map(|err| {
        let index = match err {
            StreamError::Transform { index, .. } | StreamError::Encode { index, .. } => {
                Some(*index)
            }
            StreamError::Panicked { index, .. } => *index,
            _ => None,
        };
        (err.kind(), index)
    })
}

/// One multi-thread runtime (two workers) shared by a binary's property tests.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Serves `app` on a free port of 127.0.0.1 in a task of its own; its address.
#[cfg(feature = "axum")]
pub(crate) async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
