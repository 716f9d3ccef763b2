use std::sync::Arc;
use std::time::Duration;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{DefaultPool, FromPoolConfig};
use chunkstream::{ChunkConfig, Streamer, transform};
use futures_util::{StreamExt, stream};
use tokio::time::Instant;

use crate::common::parse_body;

/// One item every 100 ms, as a slow query would deliver them; the end, too, comes 100 ms
/// after the last item.
fn slow_source(
    n: u64,
) -> impl futures_util::Stream<Item = Result<u64, std::io::Error>> + Send + 'static {
    stream::unfold(0_u64, move |i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (i < n).then_some((Ok(i), i + 1))
    })
}

#[tokio::test(start_paused = true)]
async fn partial_buffers_are_sent_once_the_interval_passes() {
    let config = ChunkConfig::default().with_flush_interval(Duration::from_millis(20));
    let config = config.validate().unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = Streamer::with_parts(config.clone(), Arc::clone(&pool), SerdeJson)
            .unwrap()
            .with_format(format);
        let start = Instant::now();
        let mut chunks = streamer.stream(slow_source(5), transform::passthrough());
        let mut arrivals = Vec::new();
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.unwrap();
            arrivals.push((start.elapsed(), chunk.clone()));
            body.extend_from_slice(&chunk);
        }
        // Item i is pulled at (i + 1) * 100 ms and must be sent 20 ms later, alone,
        // long before the 32 KiB threshold fills.
        for (i, (at, chunk)) in arrivals.iter().take(5).enumerate() {
            let expected = Duration::from_millis(100 * (i as u64 + 1) + 20);
            assert!(
                *at >= expected && *at <= expected + Duration::from_millis(5),
                "{format:?} chunk {i} at {at:?}"
            );
            let text = std::str::from_utf8(chunk).unwrap();
            let item = text.trim_start_matches(['[', ',']).trim_end();
            assert_eq!(item, i.to_string(), "{format:?}: chunk {i} is {text:?}");
        }
        // The JSON array closes with its own last chunk, when the source ends.
        let expected_chunks = if format == chunkstream::format::Json::Array {
            6
        } else {
            5
        };
        assert_eq!(arrivals.len(), expected_chunks, "{format:?}");
        assert_eq!(
            parse_body(format, &body).unwrap(),
            (0..5).map(serde_json::Value::from).collect::<Vec<_>>()
        );
    }
    drop(pool);
}

#[tokio::test(start_paused = true)]
async fn without_an_interval_a_slow_source_waits_for_the_threshold() {
    let config = ChunkConfig::default();
    let streamer = Streamer::new(config).unwrap();
    let start = Instant::now();
    let mut chunks = streamer.stream(slow_source(3), transform::passthrough());
    let first = chunks.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"[0,1,2]");
    assert_eq!(start.elapsed(), Duration::from_millis(400));
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Stream,
    StreamBatch,
    Spawn,
    SpawnBatch,
}

const PATHS: [Path; 4] = [
    Path::Stream,
    Path::StreamBatch,
    Path::Spawn,
    Path::SpawnBatch,
];

/// Every path, the batch paths included: 3 items 100 ms apart with a 20 ms interval
/// (and batches of 10 that never fill): each item reaches the reader 20 ms after the
/// source delivered it, long before the source ends (at 400 ms).
#[tokio::test(start_paused = true)]
async fn every_path_sends_a_partial_batch_once_the_interval_passes() {
    let config = ChunkConfig::default()
        .with_flush_interval(Duration::from_millis(20))
        .with_batch_size(10);
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        for path in PATHS {
            let streamer = Streamer::new(config.clone()).unwrap().with_format(format);
            let source = slow_source(3);
            let start = Instant::now();
            let mut chunks = match path {
                Path::Stream => streamer.stream(source, transform::passthrough()),
                Path::StreamBatch => streamer.stream_batch(source, transform::batch_passthrough()),
                Path::Spawn => streamer.stream(source, transform::passthrough()).spawn(),
                Path::SpawnBatch => streamer
                    .stream_batch(source, transform::batch_passthrough())
                    .spawn(),
            };
            let mut body = Vec::new();
            let mut arrivals = Vec::new();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.unwrap();
                arrivals.push(start.elapsed());
                body.extend_from_slice(&chunk);
            }
            for (i, at) in arrivals.iter().take(3).enumerate() {
                let expected = Duration::from_millis(100 * (i as u64 + 1) + 20);
                assert!(
                    *at >= expected && *at <= expected + Duration::from_millis(5),
                    "{format:?} {path:?}: chunk {i} at {at:?}, expected {expected:?}"
                );
            }
            assert_eq!(
                parse_body(format, &body).unwrap(),
                (0..3).map(serde_json::Value::from).collect::<Vec<_>>(),
                "{format:?} {path:?}"
            );
        }
    }
}

/// A partial batch flushed by the deadline is transformed as one batch: the transform
/// sees it, and the items that follow make new batches.
#[tokio::test(start_paused = true)]
async fn a_flushed_partial_batch_goes_through_the_batch_transform() {
    let config = ChunkConfig::default()
        .with_flush_interval(Duration::from_millis(20))
        .with_batch_size(10);
    let streamer = Streamer::new(config).unwrap();
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&sizes);
    let chunks = streamer.stream_batch(slow_source(3), move |batch: Vec<u64>| {
        seen.lock().unwrap().push(batch.len());
        Ok::<_, std::convert::Infallible>(batch.into_iter().map(|i| i * 10).collect::<Vec<_>>())
    });
    let body = crate::common::body(chunks).await.unwrap();
    assert_eq!(body, b"[0,10,20]");
    assert_eq!(*sizes.lock().unwrap(), vec![1, 1, 1]);
}
