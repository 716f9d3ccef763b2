//! Parallel encoding on the batch path (`Streamer::with_encode_workers`): failures,
//! drops, cancellation, panics, permits under load, flush, and the memory bound.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;
use chunkstream::encode::SerdeJson;
use chunkstream::pool::{DefaultPool, FromPoolConfig, NoPool};
use chunkstream::{
    BufferPool, CancellationToken, ChunkConfig, ChunkStream, EncodePermits, PoolConfig,
    StreamError, Streamer, source, transform,
};
use chunkstream_fixtures::CountingPool;
use futures_util::{StreamExt, stream};

use crate::common::{Counted, body, concat, drain, parse_body, tickets};

fn streamer(workers: usize, permits: usize) -> Streamer<DefaultPool, SerdeJson> {
    let mut config = ChunkConfig::with_sizes(2048, 1024);
    config.batch_size = 100;
    let config = config.validate().unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    Streamer::with_parts(config, pool, SerdeJson)
        .unwrap()
        .with_encode_workers(workers)
        .with_encode_permits(Arc::new(EncodePermits::new(permits)))
}

/// Waits (bounded) until `cond` holds, yielding to the runtime in between.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Item `i` as a float, NaN (which no encoder accepts) at `fail_at`.
fn floats_failing_at(fail_at: u64) -> impl FnMut(Vec<u64>) -> Result<Vec<f64>, io::Error> {
    move |batch| {
        Ok(batch
            .into_iter()
            .map(|i| if i == fail_at { f64::NAN } else { i as f64 })
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_comes_after_the_batches_before_it() {
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = streamer(4, 4).with_format(format);
        let chunks = streamer.stream_batch(source::from_iter(0..2000_u64), floats_failing_at(1234));
        let (chunks, err) = drain(chunks).await;
        assert!(
            matches!(err, Some(StreamError::Encode { index: 1234, .. })),
            "{err:?}"
        );
        let body = concat(&chunks);
        match format {
            chunkstream::format::Json::Array => {
                assert!(!body.ends_with(b"]"));
                assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
            }
            _ => {
                // Every item before the failure is in the body, in order.
                let values = parse_body(format, &body).unwrap();
                let expected: Vec<serde_json::Value> =
                    (0..1234).map(|i| (i as f64).into()).collect();
                assert_eq!(values, expected);
            }
        }
        drop(chunks);
        assert_eq!(streamer.pool().stats().outstanding, 0);
        assert_eq!(streamer.encode_permits().available(), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_error_names_the_first_item_of_its_batch() {
    let streamer = streamer(3, 3);
    let mut seen = 0;
    let chunks = streamer.stream_batch(source::from_iter(0..1000_u32), move |batch: Vec<u32>| {
        seen += batch.len();
        if seen > 700 {
            Err(io::Error::other("bad batch"))
        } else {
            Ok(batch)
        }
    });
    let (chunks, err) = drain(chunks).await;
    match err {
        Some(StreamError::Transform { index: 700, source }) => {
            assert_eq!(source.to_string(), "bad batch")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!chunks.is_empty());
}

/// An endless source of tickets (cycled), counting pulls and its own drop.
fn endless() -> (
    Counted<impl futures_util::Stream<Item = Result<crate::common::Ticket, io::Error>> + Unpin>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
) {
    Counted::new(stream::iter(tickets(64).into_iter().cycle().map(Ok)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_the_source_and_returns_every_buffer() {
    let streamer = streamer(4, 2);
    let (source, pulled, dropped) = endless();
    let mut chunks = streamer.stream_batch(source, transform::batch_passthrough());
    let first = chunks.next().await.unwrap().unwrap();
    drop(chunks);
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the source is dropped with the stream"
    );
    let pulled_at_drop = pulled.load(SeqCst);
    // At most the window of 2 * 4 batches (and the one being pulled) was read ahead.
    assert!(pulled_at_drop <= 10 * 100, "pulled {pulled_at_drop}");
    drop(first);
    let pool = Arc::clone(streamer.pool());
    eventually("workers give their buffers back", || {
        pool.stats().outstanding == 0
    })
    .await;
    let permits = Arc::clone(streamer.encode_permits());
    eventually("workers give their permits back", || {
        permits.available() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_a_timeout_stop_the_stream() {
    for by_token in [true, false] {
        let streamer = streamer(4, 2);
        let (source, pulled, dropped) = endless();
        // A source that stalls after 250 items, like a stuck query.
        let stalling = source.take(250).chain(stream::pending());
        let token = CancellationToken::new();
        let chunks = streamer.stream_batch(stalling, transform::batch_passthrough());
        let mut chunks = if by_token {
            chunks.cancel_on(token.clone())
        } else {
            chunks.timeout(Duration::from_millis(50))
        };
        let mut received = vec![chunks.next().await.unwrap().unwrap()];
        token.cancel();
        let err = loop {
            match chunks.next().await.expect("the stream ends with an error") {
                Ok(chunk) => received.push(chunk),
                Err(err) => break err,
            }
        };
        let expected = if by_token { "cancelled" } else { "timed_out" };
        assert_eq!(err.kind().as_str(), expected, "{err:?}");
        assert!(chunks.next().await.is_none());
        assert_eq!(dropped.load(SeqCst), 1);
        assert_eq!(pulled.load(SeqCst), 250);
        drop((received, chunks));
        let pool = Arc::clone(streamer.pool());
        eventually("buffers returned", || pool.stats().outstanding == 0).await;
    }
}

/// Serializes as its number, recording the thread it was serialized on; panics at
/// `bomb`.
#[derive(Clone)]
struct Traced {
    n: u64,
    bomb: u64,
    threads: Arc<Mutex<HashSet<ThreadId>>>,
}

impl serde::Serialize for Traced {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert!(self.n != self.bomb, "serialize exploded at {}", self.n);
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        serializer.serialize_u64(self.n)
    }
}

fn traced(n: u64, bomb: u64) -> (Vec<Traced>, Arc<Mutex<HashSet<ThreadId>>>) {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let items = (0..n)
        .map(|n| Traced {
            n,
            bomb,
            threads: Arc::clone(&threads),
        })
        .collect();
    (items, threads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_a_worker_is_an_error_with_its_index() {
    let streamer = streamer(2, 2);
    let (items, _) = traced(2000, 1500);
    let chunks = streamer.stream_batch(source::from_iter(items), transform::batch_passthrough());
    let (chunks, err) = tokio::spawn(drain(chunks))
        .await
        .expect("the task must not crash");
    match err {
        Some(StreamError::Panicked {
            index: Some(1500),
            message,
        }) => assert!(message.contains("serialize exploded at 1500"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!chunks.is_empty(), "the batches before the panic were sent");
    drop(chunks);
    assert_eq!(streamer.pool().stats().outstanding, 0);
    // The runtime still serves.
    let body =
        body(streamer.stream_batch(source::from_iter(0..10_u8), transform::batch_passthrough()))
            .await
            .unwrap();
    assert_eq!(body, b"[0,1,2,3,4,5,6,7,8,9]");
}

#[tokio::test]
async fn batches_go_to_other_threads_only_while_permits_are_free() {
    let here = std::thread::current().id();
    for permits in [0, 2] {
        let streamer = streamer(2, permits);
        let (items, threads) = traced(1000, u64::MAX);
        let chunks =
            streamer.stream_batch(source::from_iter(items), transform::batch_passthrough());
        let got = body(chunks).await.unwrap();
        assert_eq!(
            got,
            serde_json::to_vec(&(0..1000).collect::<Vec<u64>>()).unwrap()
        );
        let threads = threads.lock().unwrap().clone();
        if permits == 0 {
            // No permit: every batch is encoded by the stream itself, as sequentially.
            assert_eq!(threads, HashSet::from([here]));
        } else {
            assert!(threads.iter().any(|id| *id != here), "{threads:?}");
        }
        assert_eq!(streamer.encode_permits().available(), permits);
    }
}

#[tokio::test]
async fn with_as_many_streams_as_permits_each_encodes_on_its_own_task() {
    let here = std::thread::current().id();
    let streamer = streamer(2, 2);
    let permits = Arc::clone(streamer.encode_permits());
    // Two streams running (not yet polled, not ended) take the two cores.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            streamer.stream_batch(source::from_iter(0..10_u32), transform::batch_passthrough())
        })
        .collect();
    assert_eq!(permits.streams(), 2);
    let (items, threads) = traced(1000, u64::MAX);
    let chunks = streamer.stream_batch(source::from_iter(items), transform::batch_passthrough());
    let got = body(chunks).await.unwrap();
    assert_eq!(
        got,
        serde_json::to_vec(&(0..1000).collect::<Vec<u64>>()).unwrap()
    );
    assert_eq!(*threads.lock().unwrap(), HashSet::from([here]));
    assert_eq!(permits.available(), 2);

    // A stream that ends (here: dropped) gives its place back; a finished one too.
    let mut busy = busy.into_iter();
    drop(busy.next());
    body(busy.next().unwrap()).await.unwrap();
    assert_eq!(permits.streams(), 0);
    let (items, threads) = traced(1000, u64::MAX);
    let chunks = streamer.stream_batch(source::from_iter(items), transform::batch_passthrough());
    body(chunks).await.unwrap();
    assert!(threads.lock().unwrap().iter().any(|id| *id != here));
    assert_eq!(permits.streams(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_share_the_permits() {
    // 16 streams of 4 workers on 24 permits: fewer streams than permits, so they hand
    // batches to workers, as many at once as permits are free; bodies intact, every
    // permit and buffer back at the end.
    let streamer = streamer(4, 24);
    let rows = tickets(500);
    let expected = serde_json::to_vec(&rows).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let chunks = streamer.stream_batch(
                source::from_iter(rows.clone()),
                transform::batch_passthrough(),
            );
            tokio::spawn(body(chunks))
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), expected);
    }
    assert_eq!(streamer.encode_permits().available(), 24);
    assert_eq!(streamer.encode_permits().streams(), 0);
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test(start_paused = true)]
async fn with_a_flush_interval_the_batch_path_stays_sequential_and_flushes() {
    let mut config = ChunkConfig::with_sizes(51_200, 32_768);
    config.flush_interval = Some(Duration::from_millis(20));
    config.batch_size = 1;
    let streamer = Streamer::new(config).unwrap().with_encode_workers(4);
    // One item every 100 ms.
    let slow = stream::unfold(0_u64, |i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (i < 3).then_some((Ok::<_, io::Error>(i), i + 1))
    });
    let start = tokio::time::Instant::now();
    let mut chunks = streamer.stream_batch(slow, transform::batch_passthrough());
    let first = chunks.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"[0");
    assert_eq!(start.elapsed(), Duration::from_millis(120));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_the_documented_bound() {
    let rows = tickets(20_000);
    let config = ChunkConfig::default().validate().unwrap();
    let batch_bytes = serde_json::to_vec(&rows[..config.batch_size])
        .unwrap()
        .len();
    let buffers_per_batch = batch_bytes.div_ceil(config.chunk_threshold) + 1;
    for workers in [1, 2, 4] {
        let pool = Arc::new(CountingPool::new(NoPool::new(PoolConfig::default())));
        let streamer = Streamer::with_parts(config.clone(), Arc::clone(&pool), SerdeJson)
            .unwrap()
            .with_encode_workers(workers)
            .with_encode_permits(Arc::new(EncodePermits::new(workers)));
        let mut chunks = streamer.stream_batch(
            source::from_iter(rows.clone()),
            transform::batch_passthrough(),
        );
        while let Some(chunk) = chunks.next().await {
            drop(chunk.unwrap()); // a reader that keeps up
        }
        let peak = pool.peak();
        // The docs: `2 * workers` batches in flight, one batch's chunks, and the carry.
        let bound = if workers == 1 {
            2
        } else {
            (2 * workers + 1) * buffers_per_batch + 2
        };
        println!("{workers} workers: peak {peak} buffers (bound {bound})");
        assert!(
            peak <= bound,
            "{workers} workers: peak {peak} > bound {bound}"
        );
        assert_eq!(pool.out(), 0);
    }
}

#[tokio::test]
async fn a_concurrent_transform_runs_on_the_workers_with_the_same_body_and_errors() {
    let here = std::thread::current().id();
    let streamer = streamer(2, 2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&threads);
    let doubled = move |batch: Vec<u64>| {
        seen.lock().unwrap().insert(std::thread::current().id());
        if batch.contains(&777) {
            return Err(io::Error::other("bad batch"));
        }
        Ok(batch.into_iter().map(|n| n * 2).collect::<Vec<_>>())
    };
    let got =
        body(streamer.stream_batch_concurrent(source::from_iter(0..700_u64), doubled.clone()))
            .await
            .unwrap();
    assert_eq!(
        got,
        serde_json::to_vec(&(0..700).map(|n| n * 2).collect::<Vec<u64>>()).unwrap()
    );
    assert!(
        threads.lock().unwrap().iter().any(|id| *id != here),
        "the transform ran on a worker"
    );
    // A transform error names the batch's first item, after the batches before it.
    let sequential = drain(
        streamer
            .clone()
            .with_encode_workers(1)
            .stream_batch(source::from_iter(0..2000_u64), doubled.clone()),
    )
    .await;
    let concurrent =
        drain(streamer.stream_batch_concurrent(source::from_iter(0..2000_u64), doubled)).await;
    assert_eq!(concat(&concurrent.0), concat(&sequential.0));
    for (_, err) in [sequential, concurrent] {
        assert!(
            matches!(err, Some(StreamError::Transform { index: 700, .. })),
            "{err:?}"
        );
    }
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

/// An item that counts its serializations.
struct Counting(u64, Arc<AtomicUsize>);

impl serde::Serialize for Counting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.1.fetch_add(1, SeqCst);
        serializer.serialize_u64(self.0)
    }
}

/// `n` items of 17 bytes each, counting their serializations, streamed by `streamer` on
/// the batch path: the numbers, the count of serializations, the stream and its first
/// chunk.
async fn first_chunk(
    streamer: &Streamer<DefaultPool, SerdeJson>,
    n: u64,
) -> (Vec<u64>, Arc<AtomicUsize>, ChunkStream, Bytes) {
    let encoded = Arc::new(AtomicUsize::new(0));
    let numbers: Vec<u64> = (0..n).map(|n| 1_000_000_000_000_000 + n).collect();
    let items: Vec<Counting> = numbers
        .iter()
        .map(|&n| Counting(n, Arc::clone(&encoded)))
        .collect();
    let mut chunks =
        streamer.stream_batch(source::from_iter(items), transform::batch_passthrough());
    let first = chunks.next().await.unwrap().unwrap();
    (numbers, encoded, chunks, first)
}

/// The whole body: `first`, then the rest of `chunks`.
async fn whole(first: Bytes, chunks: ChunkStream) -> Vec<u8> {
    let mut all = first.to_vec();
    all.extend_from_slice(&body(chunks).await.unwrap());
    all
}

/// The items in a chunk of a JSON array of numbers (chunks end between items).
fn items_in(chunk: &[u8]) -> usize {
    chunk
        .split(|&b| b == b',')
        .filter(|n| !n.is_empty())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_batch_goes_out_as_it_is_encoded() {
    // One batch of 100 items, 1,700 bytes: the stream writes the first batch itself, so
    // the first chunk (threshold 1024) goes out once it is cut, before the rest of the
    // batch is encoded, as on the sequential path.
    let streamer = streamer(2, 2);
    let (numbers, encoded, chunks, first) = first_chunk(&streamer, 100).await;
    assert!(first.len() >= 1024, "{} bytes", first.len());
    assert_eq!(encoded.load(SeqCst), items_in(&first));
    assert!(items_in(&first) < 100);
    assert_eq!(
        whole(first, chunks).await,
        serde_json::to_vec(&numbers).unwrap()
    );
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_keep_encoding_while_the_reader_is_away() {
    // 2 workers: the window holds 2 * 2 batches besides the head the stream writes, so a
    // worker that ends a batch finds the next one queued instead of waiting for the
    // reader.
    let streamer = streamer(2, 2);
    // 17 bytes an item: each batch of 100 fills a chunk of its own (threshold 1024).
    let (numbers, encoded, chunks, first) = first_chunk(&streamer, 10_000).await;
    assert!(first.starts_with(format!("[{},", numbers[0]).as_bytes()));
    // The reader is away: no poll. The first batch is written up to its first chunk;
    // the 4 after it encode on the workers.
    let expected = items_in(&first) + 4 * 100;
    eventually("four batches encoded without the reader", || {
        encoded.load(SeqCst) == expected
    })
    .await;
    // The workers end once nothing is queued for them, giving their permits back: by
    // then they would have taken a sixth batch if the window let them.
    eventually("the workers are idle", || {
        streamer.encode_permits().available() == 2
    })
    .await;
    assert_eq!(encoded.load(SeqCst), expected, "no more than the window");
    assert_eq!(
        whole(first, chunks).await,
        serde_json::to_vec(&numbers).unwrap()
    );
    assert_eq!(streamer.encode_permits().available(), 2);
}
