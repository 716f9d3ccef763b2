use std::io;
use std::sync::Arc;

use chunkstream::encode::{EncodeError, SerdeJson};
use chunkstream::pool::{DefaultPool, FromPoolConfig, NoPool};
use chunkstream::{
    BufferPool, ChunkConfig, StreamError, Streamer, format::Json, source, transform,
};
use futures_util::stream;

use crate::common::{PATHS, Path, concat, drain, parse_body, tickets};

fn small_streamer() -> Streamer<DefaultPool, SerdeJson> {
    let config = ChunkConfig::with_sizes(2048, 1024).validate().unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    Streamer::with_parts(config, pool, SerdeJson).unwrap()
}

/// Items 0..n, then an I/O error.
fn failing_source(
    n: u64,
) -> impl futures_util::Stream<Item = Result<u64, io::Error>> + Send + 'static {
    stream::iter(
        (0..n)
            .map(Ok)
            .chain(std::iter::once(Err(io::Error::other("disk on fire")))),
    )
}

#[tokio::test]
async fn source_error_before_first_chunk_is_the_first_item() {
    let streamer = small_streamer();
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = streamer.clone().with_format(format);
        let (chunks, err) =
            drain(streamer.stream(failing_source(3), transform::passthrough())).await;
        assert!(chunks.is_empty(), "nothing may be sent before the error");
        let err = err.expect("the stream must fail");
        assert!(matches!(err, StreamError::Source(_)), "{err}");
        assert!(err.to_string().contains("disk on fire"));
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "disk on fire"
        );
    }
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test]
async fn source_error_after_first_chunk_ends_without_closing_bracket() {
    let streamer = small_streamer();
    let (chunks, err) = drain(streamer.stream(failing_source(500), transform::passthrough())).await;
    assert!(chunks.len() > 1);
    assert!(matches!(err, Some(StreamError::Source(_))));
    let body = concat(&chunks);
    assert!(!body.ends_with(b"]"));
    assert!(
        serde_json::from_slice::<serde_json::Value>(&body).is_err(),
        "a failed body must not parse"
    );
    drop(chunks);
    // Every item encoded before the failure is in the body (an NDJSON client keeps them).
    let ndjson = streamer
        .clone()
        .with_format(chunkstream::format::Json::Ndjson);
    let (chunks, err) = drain(ndjson.stream(failing_source(500), transform::passthrough())).await;
    assert!(err.is_some());
    let values = parse_body(chunkstream::format::Json::Ndjson, &concat(&chunks)).unwrap();
    assert_eq!(values.len(), 500);
    drop(chunks);
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test]
async fn a_failed_array_is_never_valid_json() {
    let streamer = small_streamer();
    for fail_at in 0..300_u64 {
        // Source failures, transform failures and encode failures at every position.
        let by_source = streamer.stream(failing_source(fail_at), transform::passthrough());
        let by_transform = streamer.stream(source::from_iter(0..300_u64), move |i| {
            if i == fail_at {
                Err(io::Error::other("bad row"))
            } else {
                Ok(i)
            }
        });
        let by_encode =
            streamer.stream_batch(source::from_iter(0..300_u64), move |batch: Vec<u64>| {
                let values = batch
                    .into_iter()
                    .map(|i| if i == fail_at { f64::NAN } else { i as f64 });
                Ok::<_, io::Error>(values.collect())
            });
        for chunks in [by_source, by_transform, by_encode] {
            let (chunks, err) = drain(chunks).await;
            assert!(err.is_some(), "fail_at {fail_at}");
            let body = concat(&chunks);
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body).is_err(),
                "fail_at {fail_at}: body parsed"
            );
        }
    }
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test]
async fn transform_error_names_the_item() {
    let streamer = small_streamer();
    let chunks = streamer.stream(source::from_iter(0..10_u32), |i| {
        if i == 4 {
            Err(io::Error::other("row 4 is bad"))
        } else {
            Ok(i)
        }
    });
    let (_, err) = drain(chunks).await;
    match err {
        Some(StreamError::Transform { index: 4, source }) => {
            assert_eq!(source.to_string(), "row 4 is bad")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn nan_is_an_encode_error_with_its_index() {
    let streamer = small_streamer();
    let values = vec![1.0, 2.5, f64::NAN, 4.0];
    let (chunks, err) =
        drain(streamer.stream(source::from_iter(values), transform::passthrough())).await;
    assert!(chunks.is_empty());
    match err {
        Some(StreamError::Encode {
            index: 2,
            source: EncodeError::NonFiniteFloat,
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    // Nested too, and infinities.
    #[derive(serde::Serialize)]
    struct Row {
        score: Option<Vec<f32>>,
    }
    let rows = vec![
        Row {
            score: Some(vec![1.0]),
        },
        Row {
            score: Some(vec![0.5, f32::INFINITY]),
        },
    ];
    let (_, err) = drain(streamer.stream(source::from_iter(rows), transform::passthrough())).await;
    assert!(
        matches!(err, Some(StreamError::Encode { index: 1, .. })),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_panic_is_an_error_and_the_runtime_keeps_serving() {
    let streamer = small_streamer();
    let panicking = streamer.stream(source::from_iter(0..100_u32), |i| {
        if i == 42 {
            panic!("transform exploded at {i}");
        }
        Ok::<_, io::Error>(i)
    });
    // On a task, as a server would run it.
    let (chunks, err) = tokio::spawn(drain(panicking))
        .await
        .expect("the task must not crash");
    assert!(
        chunks.is_empty(),
        "42 items fit in one chunk, so nothing was sent"
    );
    match err {
        Some(StreamError::Panicked {
            index: Some(42),
            message,
        }) => {
            assert!(message.contains("transform exploded at 42"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // The same through `spawn`, after the first chunk.
    let spawned = streamer
        .stream(source::from_iter(0..2000_u32), |i| {
            assert!(i != 1500, "boom");
            Ok::<_, io::Error>(i)
        })
        .spawn();
    let (chunks, err) = drain(spawned).await;
    assert!(!chunks.is_empty());
    assert!(
        matches!(
            err,
            Some(StreamError::Panicked {
                index: Some(1500),
                ..
            })
        ),
        "{err:?}"
    );
    drop(chunks);
    // The runtime still serves other streams.
    let rows = tickets(50);
    let (chunks, err) = tokio::spawn(drain(
        streamer
            .stream(source::from_iter(rows.clone()), transform::passthrough())
            .spawn(),
    ))
    .await
    .unwrap();
    assert!(err.is_none());
    assert_eq!(
        parse_body(chunkstream::format::Json::Array, &concat(&chunks))
            .unwrap()
            .len(),
        50
    );
}

#[tokio::test]
async fn panicking_serialize_and_source_are_errors() {
    struct Bomb;
    impl serde::Serialize for Bomb {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("serialize exploded")
        }
    }
    let streamer = small_streamer();
    let (_, err) =
        drain(streamer.stream(source::from_iter([Bomb]), transform::passthrough())).await;
    assert!(
        matches!(err, Some(StreamError::Panicked { index: Some(0), .. })),
        "{err:?}"
    );

    let exploding = stream::poll_fn(|_| -> std::task::Poll<Option<Result<u8, io::Error>>> {
        panic!("poll exploded")
    });
    let (_, err) = drain(streamer.stream(exploding, transform::passthrough())).await;
    assert!(
        matches!(err, Some(StreamError::Panicked { index: None, .. })),
        "{err:?}"
    );
    assert_eq!(streamer.pool().stats().outstanding, 0);
}

#[tokio::test]
async fn no_pool_behaves_the_same() {
    let config = ChunkConfig::with_sizes(2048, 1024).validate().unwrap();
    let streamer =
        Streamer::with_parts(config, Arc::new(NoPool::new(Default::default())), SerdeJson).unwrap();
    let (chunks, err) = drain(streamer.stream(failing_source(500), transform::passthrough())).await;
    assert!(!chunks.is_empty());
    assert!(matches!(err, Some(StreamError::Source(_))));
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    let streamer = small_streamer();
    let chunks = streamer
        .stream(source::from_iter(0..3_u8), transform::passthrough())
        .spawn();
    let (chunks, err) = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(drain(chunks));
    assert!(chunks.is_empty());
    assert!(matches!(err, Some(StreamError::NoRuntime)), "{err:?}");
}

fn run<P: BufferPool, F: chunkstream::Format, S>(
    streamer: &Streamer<P, SerdeJson, F>,
    path: Path,
    source: S,
) -> chunkstream::ChunkStream
where
    S: futures_util::Stream<Item = Result<u64, io::Error>> + Send + 'static,
{
    match path {
        Path::Stream => streamer.stream(source, transform::passthrough()),
        Path::StreamBatch => streamer.stream_batch(source, transform::batch_passthrough()),
        Path::Spawn => streamer.stream(source, transform::passthrough()).spawn(),
        Path::SpawnBatch => streamer
            .stream_batch(source, transform::batch_passthrough())
            .spawn(),
    }
}

/// A source of `0..n` whose `Drop` panics (unless the thread is already panicking).
struct PanicOnDrop(std::ops::Range<u64>);

impl futures_util::Stream for PanicOnDrop {
    type Item = Result<u64, io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.next().map(Ok))
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("source drop exploded");
        }
    }
}

/// Asserts the stream ended with `Panicked` and its body does not look complete.
fn assert_panicked(format: Json, what: &str, chunks: &[bytes::Bytes], err: Option<StreamError>) {
    assert!(
        matches!(err, Some(StreamError::Panicked { .. })),
        "{what}: ended with {err:?} after {} bytes",
        concat(chunks).len()
    );
    if format == chunkstream::format::Json::Array {
        assert!(
            !concat(chunks).ends_with(b"]"),
            "{what}: a failed array got its closing bracket"
        );
    }
}

#[tokio::test]
async fn a_source_whose_drop_panics_ends_with_panicked_on_every_path() {
    for format in [
        chunkstream::format::Json::Ndjson,
        chunkstream::format::Json::Array,
    ] {
        for path in PATHS {
            for n in [0, 3] {
                let streamer = small_streamer().with_format(format);
                let chunks = run(&streamer, path, PanicOnDrop(0..n));
                // On a task of its own, so that a panic escaping `poll_next` fails here.
                let (chunks, err) = tokio::spawn(drain(chunks))
                    .await
                    .expect("the panic escaped the stream");
                assert_panicked(
                    format,
                    &format!("{format:?} {path:?} {n} items"),
                    &chunks,
                    err,
                );
                let stats = streamer.pool().stats();
                assert_eq!(stats.outstanding, 0, "{stats:?}");
            }
        }
    }
}

/// A pool that panics on its `n`th `get` (1-based).
struct PanicsOnGet {
    inner: NoPool,
    gets: std::sync::atomic::AtomicUsize,
    panic_at: usize,
}

impl BufferPool for PanicsOnGet {
    fn get(&self) -> Vec<u8> {
        let n = 1 + self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(n != self.panic_at, "pool get exploded");
        self.inner.get()
    }
    fn put(&self, buf: Vec<u8>) {
        self.inner.put(buf)
    }
    fn initial_size(&self) -> usize {
        self.inner.initial_size()
    }
    fn stats(&self) -> chunkstream::PoolStats {
        self.inner.stats()
    }
}

#[tokio::test]
async fn a_pool_that_panics_in_get_ends_with_panicked_on_every_path() {
    // One item per chunk: three gets for the items, the JSON array's `]` needs a fourth
    // (in `finish`); NDJSON has no end, so its pool fails on the third item instead.
    for (format, panic_at) in [
        (chunkstream::format::Json::Array, 4),
        (chunkstream::format::Json::Ndjson, 3),
    ] {
        for path in PATHS {
            let config = ChunkConfig::with_sizes(64, 1).with_batch_size(2);
            let pool = Arc::new(PanicsOnGet {
                inner: NoPool::new(config.clone().validate().unwrap().pool),
                gets: Default::default(),
                panic_at,
            });
            let streamer = Streamer::with_parts(config, pool, SerdeJson)
                .unwrap()
                .with_format(format);
            let chunks = run(&streamer, path, stream::iter((0..3).map(Ok)));
            let (chunks, err) = tokio::spawn(drain(chunks))
                .await
                .expect("the panic escaped the stream");
            assert_panicked(format, &format!("{format:?} {path:?}"), &chunks, err);
        }
    }
}

#[tokio::test]
async fn a_spawned_task_that_panics_is_never_a_200() {
    for format in [
        chunkstream::format::Json::Ndjson,
        chunkstream::format::Json::Array,
    ] {
        for path in [Path::Spawn, Path::SpawnBatch] {
            let streamer = small_streamer().with_format(format);
            let chunks = run(&streamer, path, PanicOnDrop(0..0));
            let response = chunkstream::StreamResponse::new(chunks).start().await;
            assert_eq!(
                response.error().map(StreamError::kind),
                Some(chunkstream::ErrorKind::Panicked),
                "{format:?} {path:?}"
            );
            assert_eq!(
                response.status(),
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "{format:?} {path:?}"
            );
        }
    }
}
