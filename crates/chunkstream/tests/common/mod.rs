//! Shared by the integration tests: a tickets workload, the reference encoding, and
//! helpers to drain a `ChunkStream`.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use chunkstream::{ChunkStream, Format, StreamError};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A row like the original service's tickets: about 400-500 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: u8,
    pub assignee: String,
    pub reporter: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub estimate_hours: f64,
    pub comments: u32,
}

/// A small deterministic generator (splitmix64), so workloads are the same every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "login",
    "fails",
    "after",
    "upgrade",
    "report",
    "export",
    "slow",
    "timeout",
    "customer",
    "invoice",
    "missing",
    "dashboard",
    "crash",
    "mobile",
    "sync",
    "error",
    "payment",
    "retry",
    "queue",
    "latency",
];
const STATUSES: &[&str] = &["open", "in_progress", "blocked", "resolved", "closed"];
const PEOPLE: &[&str] = &[
    "alice.martin",
    "bob.nguyen",
    "carla.rossi",
    "dmitri.ivanov",
    "eve.okafor",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` tickets, the same for the same seed.
pub fn tickets(n: usize, seed: u64) -> Vec<Ticket> {
    let mut rng = Rng::new(seed);
    (0..n as u64)
        .map(|id| Ticket {
            id: id + 1,
            title: sentence(&mut rng, 6),
            description: sentence(&mut rng, 28),
            status: rng.pick(STATUSES).to_owned(),
            priority: (rng.next_u64() % 5) as u8 + 1,
            assignee: rng.pick(PEOPLE).to_owned(),
            reporter: rng.pick(PEOPLE).to_owned(),
            tags: (0..3).map(|_| rng.pick(WORDS).to_owned()).collect(),
            created_at: format!(
                "2026-0{}-1{}T08:30:00Z",
                1 + rng.next_u64() % 9,
                rng.next_u64() % 10
            ),
            updated_at: format!(
                "2026-1{}-2{}T17:45:00Z",
                rng.next_u64() % 3,
                rng.next_u64() % 10
            ),
            estimate_hours: (rng.next_u64() % 400) as f64 / 4.0,
            comments: (rng.next_u64() % 40) as u32,
        })
        .collect()
}

/// The reference: the items as `serde_json::to_writer` of the whole `Vec` gives them,
/// parsed back to values.
pub fn reference<T: Serialize>(items: &[T]) -> Vec<Value> {
    let mut out = Vec::new();
    serde_json::to_writer(&mut out, items).unwrap();
    match serde_json::from_slice(&out).unwrap() {
        Value::Array(values) => values,
        other => panic!("reference is not an array: {other}"),
    }
}

/// Parses a whole body of the given format back to values.
pub fn parse_body(format: Format, body: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    match format {
        Format::JsonArray => serde_json::from_slice(body),
        _ => serde_json::Deserializer::from_slice(body)
            .into_iter::<Value>()
            .collect(),
    }
}

/// All chunks of a stream, and the error it ended with, if any.
pub async fn drain(mut chunks: ChunkStream) -> (Vec<Bytes>, Option<StreamError>) {
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

/// Drains a stream whose source is always ready, without a runtime (no allocation of its
/// own), returning the body length.
pub fn drain_ready(mut chunks: ChunkStream) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut len = 0;
    loop {
        match chunks.as_mut_pin().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(chunk))) => len += chunk.len(),
            Poll::Ready(Some(Err(err))) => panic!("stream failed: {err}"),
            Poll::Ready(None) => return len,
            Poll::Pending => panic!("source was not ready"),
        }
    }
}

/// Helper trait: `Pin<&mut ChunkStream>` from `&mut ChunkStream` (it is `Unpin`).
pub trait AsMutPin {
    fn as_mut_pin(&mut self) -> std::pin::Pin<&mut Self>;
}

impl<T: Unpin> AsMutPin for T {
    fn as_mut_pin(&mut self) -> std::pin::Pin<&mut Self> {
        std::pin::Pin::new(self)
    }
}

pub fn concat(chunks: &[Bytes]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect()
}

/// A source that counts the items pulled from it and flags when it is dropped.
pub struct Counted<S> {
    pub inner: S,
    pub pulled: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicUsize>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
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
