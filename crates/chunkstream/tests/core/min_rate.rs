//! `ChunkConfig::min_data_rate`: a reader that keeps taking chunks, but slower than the
//! minimum, is cut on every spawned path (the source and every buffer released, its next
//! item `TooSlow` with the rate it read at); one at or above it gets everything; the
//! direct paths are not affected; over HTTP, a real client reading slowly loses its
//! stream while it is still connected.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{DefaultPool, FromPoolConfig};
use chunkstream::{
    BufferPool, ChunkConfig, ChunkStream, MinDataRate, RawJson, StreamError, Streamer, transform,
};
use futures_util::{StreamExt, stream};

#[cfg(feature = "axum")]
use crate::common::eventually;
use crate::common::{Counted, alive_tasks, tickets};

/// Chunks of about 2 KiB, two queued ahead of the reader, at least `rate` bytes/s after
/// `grace`; no stall limit.
fn rate_limited(rate: u64, grace: Duration) -> Streamer<DefaultPool, SerdeJson> {
    let config = ChunkConfig::with_sizes(4096, 2048)
        .with_channel_capacity(2)
        .with_min_data_rate(MinDataRate::new(rate, grace))
        .validate()
        .unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    Streamer::with_parts(config, pool, SerdeJson).unwrap()
}

/// The spawned paths over an endless source of tickets (counting pulls and its drop).
fn spawned(
    streamer: &Streamer<DefaultPool, SerdeJson>,
    path: &str,
) -> (
    ChunkStream,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let rows = tickets(64).into_iter().cycle();
    match path {
        "spawn" => {
            let (source, pulled, dropped) =
                Counted::new(stream::iter(rows.map(Ok::<_, std::io::Error>)));
            (
                streamer.stream(source, transform::passthrough()).spawn(),
                pulled,
                dropped,
            )
        }
        "spawn_batch" => {
            let (source, pulled, dropped) =
                Counted::new(stream::iter(rows.map(Ok::<_, std::io::Error>)));
            (
                streamer
                    .stream_batch(source, transform::batch_passthrough())
                    .spawn(),
                pulled,
                dropped,
            )
        }
        _ => {
            let raw = rows.map(|t| {
                Ok::<_, std::io::Error>(RawJson::from(serde_json::to_string(&t).unwrap()))
            });
            let (source, pulled, dropped) = Counted::new(stream::iter(raw));
            (
                streamer.json(chunkstream::raw::trusted(source)).spawn(),
                pulled,
                dropped,
            )
        }
    }
}

const SPAWNED: [&str; 3] = ["spawn", "spawn_batch", "spawn_raw"];

/// A reader taking a chunk every 2 s (about 1 KiB/s) against a minimum of 8 KiB/s:
/// cut after the grace period, without being polled for it; the source and every
/// buffer released; its next item is `TooSlow` with a rate below the minimum.
#[tokio::test(start_paused = true)]
async fn a_reader_below_the_rate_is_cut_on_every_spawned_path() {
    let grace = Duration::from_secs(1);
    for path in SPAWNED {
        let streamer = rate_limited(8 << 10, grace);
        let (mut chunks, pulled, dropped) = spawned(&streamer, path);
        let mut taken = 0;
        let err = loop {
            match chunks.next().await {
                Some(Ok(_)) => taken += 1,
                Some(Err(err)) => break err,
                None => panic!("{path}: an endless stream ended"),
            }
            assert!(taken < 100, "{path}: never cut");
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        match err {
            StreamError::TooSlow {
                bytes_per_second,
                min,
            } => {
                assert!(bytes_per_second < 8 << 10, "{path}: {bytes_per_second}");
                assert_eq!(min, MinDataRate::new(8 << 10, grace));
            }
            err => panic!("{path}: {err:?}"),
        }
        assert_eq!(dropped.load(SeqCst), 1, "{path}: source still held");
        assert_eq!(streamer.pool().stats().outstanding, 0, "{path}");
        let pulled_at_cut = pulled.load(SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(pulled.load(SeqCst), pulled_at_cut, "{path}");
        assert!(chunks.next().await.is_none(), "{path}");
        assert_eq!(alive_tasks(), 0, "{path}");
    }
}

/// The cut happens while nobody polls the reader: after it took its first chunks it
/// sleeps, and the source is gone before it comes back.
#[tokio::test(start_paused = true)]
async fn the_cut_does_not_wait_for_the_reader() {
    let streamer = rate_limited(8 << 10, Duration::from_millis(500));
    let (mut chunks, _, dropped) = spawned(&streamer, "spawn");
    drop(chunks.next().await.unwrap().unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(dropped.load(SeqCst), 0, "cut within the grace period");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(dropped.load(SeqCst), 1);
    assert_eq!(streamer.pool().stats().outstanding, 0);
    // The queued chunks were released: the reader gets the error next.
    let err = chunks.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), chunkstream::ErrorKind::TooSlow);
    assert_eq!(
        chunkstream::response::error_status(&err),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A fast reader that then slows down is cut soon after it slows: what it read fast
/// earns no credit for later. (Timed from the first wait, a megabyte read at full speed
/// once bought a 1 KiB/s reader two minutes at 8 KiB/s; behind a socket's buffers a
/// slow client looked like that.)
#[tokio::test(start_paused = true)]
async fn reading_fast_first_buys_no_time_later() {
    let streamer = rate_limited(8 << 10, Duration::from_secs(1));
    let (mut chunks, _, dropped) = spawned(&streamer, "spawn");
    let mut fast = 0_usize;
    while fast < 1 << 20 {
        fast += chunks.next().await.unwrap().unwrap().len();
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    let mut slow_chunks = 0;
    let err = loop {
        match chunks.next().await.unwrap() {
            Ok(_) => slow_chunks += 1,
            Err(err) => break err,
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert_eq!(err.kind(), chunkstream::ErrorKind::TooSlow, "{err}");
    assert!(
        slow_chunks <= 3,
        "{slow_chunks} chunks at 1 KiB/s before the cut"
    );
    assert_eq!(dropped.load(SeqCst), 1);
}

/// A reader a little faster than the minimum, slow enough that the channel is always
/// full, gets the whole body on every spawned path.
#[tokio::test(start_paused = true)]
async fn a_reader_at_the_rate_gets_everything() {
    let rows = tickets(300);
    let expected = serde_json::to_vec(&rows).unwrap();
    for path in SPAWNED {
        // Chunks of at most about 2.5 KiB every 250 ms: at least 10 KiB/s is never
        // needed, 8 KiB/s is the minimum.
        let streamer = rate_limited(8 << 10, Duration::from_secs(1));
        let source = stream::iter(rows.clone().into_iter().map(Ok::<_, std::io::Error>));
        let mut chunks = match path {
            "spawn" => streamer.stream(source, transform::passthrough()).spawn(),
            "spawn_batch" => streamer
                .stream_batch(source, transform::batch_passthrough())
                .spawn(),
            _ => streamer
                .json(chunkstream::raw::trusted(source.map(|t| {
                    t.map(|t| RawJson::from(serde_json::to_string(&t).unwrap()))
                })))
                .spawn(),
        };
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.unwrap_or_else(|err| panic!("{path}: {err}"));
            body.extend_from_slice(&chunk);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert_eq!(body, expected, "{path}");
    }
}

/// The direct paths have no task to cut anything: a slow reader of `stream` and
/// `stream_batch` gets everything, the minimum notwithstanding.
#[tokio::test(start_paused = true)]
async fn the_direct_paths_are_not_affected() {
    let rows = tickets(100);
    let expected = serde_json::to_vec(&rows).unwrap();
    let streamer = rate_limited(1 << 20, Duration::from_millis(10));
    for batch in [false, true] {
        let source = stream::iter(rows.clone().into_iter().map(Ok::<_, std::io::Error>));
        let mut chunks = if batch {
            streamer.stream_batch(source, transform::batch_passthrough())
        } else {
            streamer.stream(source, transform::passthrough())
        };
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            body.extend_from_slice(&chunk.unwrap());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(body, expected, "batch {batch}");
    }
}

#[test]
fn a_rate_of_zero_is_no_minimum() {
    let config = ChunkConfig::default()
        .with_min_data_rate(MinDataRate::new(0, Duration::from_secs(5)))
        .validate()
        .unwrap();
    assert_eq!(config.min_data_rate, None);
    assert_eq!(
        MinDataRate::KESTREL,
        MinDataRate::new(240, Duration::from_secs(5))
    );
    assert_eq!(ChunkConfig::default().min_data_rate, None);
}

/// Over HTTP (axum): a real client on a small socket buffer that reads 512 bytes every
/// 100 ms (about 5 KiB/s) against a minimum of 256 KiB/s loses its stream while it is
/// still connected and reading: the source is dropped. A client reading at full speed
/// with the same configuration gets the whole body.
#[cfg(feature = "axum")]
#[tokio::test]
async fn over_http_a_slow_client_loses_its_stream_and_a_fast_one_does_not() {
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let config = ChunkConfig::default()
        .with_min_data_rate(MinDataRate::new(256 << 10, Duration::from_millis(200)))
        .validate()
        .unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    let streamer = Streamer::with_parts(config, pool, SerdeJson).unwrap();
    let rows = tickets(64);
    let dropped = Arc::new(AtomicUsize::new(0));
    let app = {
        let (streamer, rows, dropped) = (streamer.clone(), rows.clone(), dropped.clone());
        axum::Router::new().route(
            "/",
            axum::routing::get(move |query: axum::extract::RawQuery| {
                let (source, _, source_dropped) = Counted::new(stream::iter(
                    rows.clone()
                        .into_iter()
                        .cycle()
                        .take(if query.0.is_some() {
                            20_000
                        } else {
                            usize::MAX
                        })
                        .map(Ok::<_, std::io::Error>),
                ));
                let dropped = dropped.clone();
                let chunks = streamer.stream(source, transform::passthrough()).spawn();
                // Counts the drop of this request's source.
                tokio::spawn(async move {
                    while source_dropped.load(SeqCst) == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    dropped.fetch_add(1, SeqCst);
                });
                async move { chunkstream::StreamResponse::new(chunks).start().await }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The fast client: the whole (finite) body.
    let body = reqwest::get(format!("http://{addr}/?finite"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let got: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(got.len(), 20_000);

    // The slow client, endless body: read slowly until the server's source is gone.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut client = socket.connect(addr).await.unwrap();
    client
        .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let before = dropped.load(SeqCst);
    let mut buf = [0_u8; 512];
    let mut read = 0;
    for _ in 0..300 {
        if dropped.load(SeqCst) > before {
            break;
        }
        read += client.read(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dropped.load(SeqCst),
        before + 1,
        "the slow stream was not cut"
    );
    assert!(read > 0);
    // What the HTTP stack still held goes back to the pool with the connection.
    drop(client);
    eventually("every buffer back in the pool", || {
        streamer.pool().stats().outstanding == 0
    })
    .await;
}
