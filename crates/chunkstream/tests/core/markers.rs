//! Errors a client can see: with error markers on, an NDJSON body failing after its
//! first chunk ends with one line `{"error":{...}}` (kind, generic message, id), on
//! every path and over real HTTP, where the transfer is still aborted; before the first
//! chunk the failure is a status with the generic JSON body; a JSON array never gets a
//! marker and never looks complete.

use chunkstream::format::{Json, Ndjson};
use chunkstream::{ChunkConfig, ErrorKind, Streamer, source, transform};
use serde_json::Value;

use crate::common::{PATHS, Path, drain};

/// Items 0..100, the source failing at item 50 with a message no client may see.
fn failing_at_50() -> impl futures_util::Stream<Item = Result<u32, std::io::Error>> + Send {
    futures_util::stream::iter((0..100).map(|i| {
        if i == 50 {
            Err(std::io::Error::other("secret: no such table: tickets"))
        } else {
            Ok(i)
        }
    }))
}

/// Checks a marker line: the kind, the generic message, a 16-digit id, and nothing more.
fn check_marker(line: &[u8], kind: ErrorKind) {
    let marker: Value = serde_json::from_slice(line).unwrap();
    let error = &marker["error"];
    assert_eq!(error["kind"], kind.as_str());
    assert_eq!(error["message"], kind.message());
    assert_eq!(error["id"].as_str().map(str::len), Some(16), "{marker}");
    assert_eq!(marker.as_object().unwrap().len(), 1);
    assert_eq!(error.as_object().unwrap().len(), 3);
}

/// The stream on `path`, with the items 0..100 failing at 50 (a transform error on the
/// batch paths, at the batch's first item).
fn on_path(
    streamer: &Streamer<
        chunkstream::pool::DefaultPool,
        chunkstream::encode::DefaultEncoder,
        Ndjson,
    >,
    path: Path,
) -> chunkstream::ChunkStream {
    match path {
        Path::Stream => streamer.stream(failing_at_50(), transform::passthrough()),
        Path::Spawn => streamer
            .stream(failing_at_50(), transform::passthrough())
            .spawn(),
        Path::StreamBatch | Path::SpawnBatch => {
            let chunks = streamer.stream_batch(source::from_iter(0..100u32), |batch: Vec<u32>| {
                if batch.contains(&50) {
                    Err(std::io::Error::other("secret"))
                } else {
                    Ok(batch)
                }
            });
            match path {
                Path::SpawnBatch => chunks.spawn(),
                _ => chunks,
            }
        }
    }
}

#[tokio::test]
async fn ndjson_ends_with_a_marker_line_on_every_path() {
    let config = ChunkConfig::with_sizes(64, 16).with_batch_size(10);
    let streamer = Streamer::new(config)
        .unwrap()
        .with_format(Ndjson)
        .with_error_markers(true);
    for path in PATHS {
        let (chunks, err) = drain(on_path(&streamer, path)).await;
        let err =
            err.unwrap_or_else(|| panic!("{path:?}: the stream must still end with its error"));
        let body = chunkstream_body(&chunks);
        assert!(
            !String::from_utf8_lossy(&body).contains("secret"),
            "{path:?}"
        );
        let lines: Vec<&[u8]> = body
            .strip_suffix(b"\n")
            .unwrap()
            .split(|&b| b == b'\n')
            .collect();
        let (marker, items) = lines.split_last().unwrap();
        check_marker(marker, err.kind());
        // Every complete item before the failure, in order.
        for (i, line) in items.iter().enumerate() {
            assert_eq!(
                serde_json::from_slice::<u32>(line).unwrap(),
                i as u32,
                "{path:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parallel_batch_path_ends_with_the_marker_too() {
    let config = ChunkConfig::with_sizes(64, 16).with_batch_size(10);
    let streamer = Streamer::new(config)
        .unwrap()
        .with_format(Ndjson)
        .with_error_markers(true)
        .with_encode_workers(2);
    let chunks = streamer.stream_batch(source::from_iter(0..100u32), |batch: Vec<u32>| {
        if batch.contains(&50) {
            Err(std::io::Error::other("secret"))
        } else {
            Ok(batch)
        }
    });
    let (chunks, err) = drain(chunks).await;
    let body = chunkstream_body(&chunks);
    let lines: Vec<&[u8]> = body
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .collect();
    let (marker, items) = lines.split_last().unwrap();
    check_marker(marker, err.unwrap().kind());
    assert_eq!(items.len(), 50);
}

#[tokio::test]
async fn markers_are_off_by_default_and_the_array_has_none() {
    let config = ChunkConfig::with_sizes(64, 16);
    let plain = Streamer::new(config.clone()).unwrap().with_format(Ndjson);
    assert!(!plain.error_markers());
    let (chunks, err) = drain(plain.json(failing_at_50())).await;
    assert!(err.is_some());
    assert!(
        !chunkstream_body(&chunks)
            .windows(8)
            .any(|w| w == b"{\"error\"")
    );

    let array = Streamer::new(config).unwrap().with_error_markers(true);
    let (chunks, err) = drain(array.json(failing_at_50())).await;
    assert!(err.is_some());
    let body = chunkstream_body(&chunks);
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "a failed array must not parse"
    );
    assert!(!body.windows(7).any(|w| w == b"\"error\""));
}

#[tokio::test]
async fn json_at_run_time_writes_the_marker_as_ndjson() {
    let streamer = Streamer::new(ChunkConfig::with_sizes(64, 16))
        .unwrap()
        .with_format(Json::Ndjson)
        .with_error_markers(true);
    let (chunks, err) = drain(streamer.json(failing_at_50())).await;
    let body = chunkstream_body(&chunks);
    let last = body
        .strip_suffix(b"\n")
        .unwrap()
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap();
    check_marker(last, err.unwrap().kind());
}

fn chunkstream_body(chunks: &[bytes::Bytes]) -> Vec<u8> {
    crate::common::concat(chunks)
}

/// Over real HTTP (axum on 127.0.0.1, reqwest).
#[cfg(feature = "axum")]
mod http {
    use super::*;
    use std::time::Duration;

    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use chunkstream::StreamResponse;
    use chunkstream::format::JsonArray;

    use crate::common::serve;
    use futures_util::StreamExt;

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }

    /// Items 0..1000; the source fails at `fail_at`, after a pause (as a database would)
    /// so that the chunks before it are on the wire.
    fn items(fail_at: u32) -> impl futures_util::Stream<Item = Result<u32, std::io::Error>> + Send {
        futures_util::stream::iter(0..1000).then(move |i| async move {
            if i == fail_at {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::other("secret: no such table: tickets"))
            } else {
                Ok(i)
            }
        })
    }

    #[derive(Clone)]
    struct App {
        ndjson:
            Streamer<chunkstream::pool::DefaultPool, chunkstream::encode::DefaultEncoder, Ndjson>,
        array: Streamer<
            chunkstream::pool::DefaultPool,
            chunkstream::encode::DefaultEncoder,
            JsonArray,
        >,
    }

    async fn app() -> std::net::SocketAddr {
        async fn late_ndjson(State(app): State<App>) -> StreamResponse {
            app.ndjson.json(items(500)).respond().await
        }
        async fn early_ndjson(State(app): State<App>) -> StreamResponse {
            app.ndjson.json(items(0)).respond().await
        }
        async fn late_array(State(app): State<App>) -> StreamResponse {
            app.array.json(items(500)).respond().await
        }
        let config = ChunkConfig::with_sizes(256, 64);
        let app = App {
            ndjson: Streamer::new(config.clone())
                .unwrap()
                .with_format(Ndjson)
                .with_error_markers(true),
            array: Streamer::new(config).unwrap().with_error_markers(true),
        };
        serve(
            Router::new()
                .route("/late.ndjson", get(late_ndjson))
                .route("/early.ndjson", get(early_ndjson))
                .route("/late.json", get(late_array))
                .with_state(app),
        )
        .await
    }

    /// `GET path` on a fresh [`app`], read as a streaming client does (every chunk,
    /// until the transfer ends): the status, the bytes, and whether the transfer aborted.
    async fn read_to_end(path: &str) -> (u16, Vec<u8>, bool) {
        let addr = app().await;
        let mut response = client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        let mut body = Vec::new();
        let aborted = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        (response.status().as_u16(), body, aborted)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ndjson_after_the_first_chunk_ends_with_the_marker_then_aborts() {
        let (status, body, aborted) = read_to_end("/late.ndjson").await;
        assert_eq!(status, 200);
        assert!(aborted, "the transfer is still aborted after the marker");
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
        let lines: Vec<&[u8]> = body
            .strip_suffix(b"\n")
            .expect("the marker is a whole line")
            .split(|&b| b == b'\n')
            .collect();
        let (marker, rows) = lines.split_last().unwrap();
        check_marker(marker, ErrorKind::Source);
        assert_eq!(rows.len(), 500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ndjson_before_the_first_chunk_is_a_status_with_the_generic_body() {
        let addr = app().await;
        let response = client()
            .get(format!("http://{addr}/early.ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], "application/json");
        let text = response.text().await.unwrap();
        assert!(!text.contains("secret"), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], "source");
        assert_eq!(body["message"], ErrorKind::Source.message());
        assert_eq!(body["id"].as_str().map(str::len), Some(16));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_json_array_failing_after_the_first_chunk_never_looks_complete() {
        let (status, body, aborted) = read_to_end("/late.json").await;
        assert_eq!(status, 200);
        assert!(aborted, "a failed array's transfer is aborted");
        assert!(body.starts_with(b"[0,1,"));
        assert!(
            serde_json::from_slice::<Value>(&body).is_err(),
            "must not parse"
        );
        assert!(!String::from_utf8_lossy(&body).contains("error"));
    }
}
