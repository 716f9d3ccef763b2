//! Once its last chunk is out, a stream is done: `None` from then on (never a late
//! timeout), `FusedStream::is_terminated` and `Body::is_end_stream` say so, and an HTTP
//! response with such a body is complete.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{PATHS, Path};
use chunkstream::encode::SerdeJson;
use chunkstream::pool::NoPool;
use chunkstream::{ChunkConfig, ChunkStream, Streamer, format::Json, source, transform};
use futures_util::StreamExt;
use futures_util::stream::FusedStream;
use http_body::Body;

fn run(streamer: &Streamer<NoPool, SerdeJson, Json>, path: Path, n: u32) -> ChunkStream {
    let items = source::from_iter(0..n);
    match path {
        Path::Stream => streamer.stream(items, transform::passthrough()),
        Path::StreamBatch => streamer.stream_batch(items, transform::batch_passthrough()),
        Path::Spawn => streamer.stream(items, transform::passthrough()).spawn(),
        Path::SpawnBatch => streamer
            .stream_batch(items, transform::batch_passthrough())
            .spawn(),
    }
}

fn streamer(config: ChunkConfig, format: Json) -> Streamer<NoPool, SerdeJson, Json> {
    let config = config.validate().unwrap();
    let pool = Arc::new(NoPool::new(config.pool));
    Streamer::with_parts(config, pool, SerdeJson)
        .unwrap()
        .with_format(format)
}

#[tokio::test(start_paused = true)]
async fn a_stream_read_to_its_end_stays_ended_after_its_timeout() {
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        for path in PATHS {
            let streamer = streamer(ChunkConfig::default(), format);
            let mut chunks = run(&streamer, path, 3).timeout(Duration::from_millis(10));
            assert!(!chunks.is_terminated());
            assert!(!chunks.is_end_stream());
            let last = chunks.next().await.unwrap().unwrap();
            let expected: &[u8] = match format {
                chunkstream::format::Json::Array => b"[0,1,2]",
                _ => b"0\n1\n2\n",
            };
            assert_eq!(&last[..], expected, "{format:?} {path:?}");
            // The last chunk is out: the stream knows it is done, before any late poll.
            assert!(chunks.is_terminated(), "{format:?} {path:?}");
            assert!(chunks.is_end_stream(), "{format:?} {path:?}");
            assert_eq!(chunks.size_hint().exact(), Some(0), "{format:?} {path:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let late = chunks.next().await;
            assert!(late.is_none(), "{format:?} {path:?}: {late:?}");
            assert!(chunks.next().await.is_none());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_ndjson_stream_ends_without_a_late_error() {
    for path in PATHS {
        let streamer = streamer(ChunkConfig::default(), chunkstream::format::Json::Ndjson);
        let mut chunks = run(&streamer, path, 0).timeout(Duration::from_millis(10));
        assert!(chunks.next().await.is_none(), "{path:?}");
        assert!(chunks.is_terminated() && chunks.is_end_stream(), "{path:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(chunks.next().await.is_none(), "{path:?}");
    }
}

/// Over real HTTP: a body whose only chunk is the whole array, sent by hyper while the
/// client waits before reading, so that hyper's next poll of the body comes after the
/// stream was stopped (as a timeout would, here at a moment the test chooses: once the
/// response has started, that is once its last chunk is made). The response must be
/// complete, not aborted.
// `StreamResponse` is an axum response only with the `axum` feature.
#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_response_is_not_aborted_by_a_late_stop() {
    let runs = PATHS.map(|path| tokio::spawn(complete_over_http(path)));
    for run in runs {
        run.await.unwrap();
    }
}

#[cfg(feature = "axum")]
async fn complete_over_http(path: Path) {
    // 16 MiB in one chunk: more than the socket buffers hold before the client reads, so
    // hyper has to wait for the client before it polls the body again.
    const ITEM: usize = 1 << 20;
    const ITEMS: usize = 16;
    let streamer = streamer(
        ChunkConfig::with_sizes(64 << 20, 64 << 20),
        chunkstream::format::Json::Array,
    );
    let (fire, fired) = tokio::sync::oneshot::channel::<()>();
    let fired = Arc::new(std::sync::Mutex::new(Some(fired)));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let streamer = streamer.clone();
            let fired = fired.lock().unwrap().take().expect("one request");
            async move {
                let items =
                    source::from_iter((0..ITEMS).map(|i| (i % 10).to_string().repeat(ITEM)));
                let chunks = match path {
                    Path::Stream => streamer.stream(items, transform::passthrough()),
                    Path::StreamBatch => {
                        streamer.stream_batch(items, transform::batch_passthrough())
                    }
                    Path::Spawn => streamer.stream(items, transform::passthrough()).spawn(),
                    Path::SpawnBatch => streamer
                        .stream_batch(items, transform::batch_passthrough())
                        .spawn(),
                };
                let stop = async move {
                    let _ = fired.await;
                    chunkstream::StreamError::TimedOut(Duration::ZERO)
                };
                chunkstream::StreamResponse::new(chunks.stop_on(stop))
                    .start()
                    .await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.status(), 200, "{path:?}");
    // The response has started, so its only chunk is made: now the stop comes, while the
    // client has read nothing and hyper is still writing. (A stream that knows it is done
    // has already dropped its stop, so nobody may be listening.)
    let _ = fire.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = response.bytes().await;
    let body = body.unwrap_or_else(|err| panic!("{path:?}: the response was aborted: {err}"));
    let values: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(values.len(), ITEMS, "{path:?}");
    server.abort();
}
