use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{DefaultPool, FromPoolConfig};
use chunkstream::{
    BufferPool, CancellationToken, ChunkConfig, ChunkStream, StreamError, Streamer, transform,
};
use futures_util::StreamExt;
use futures_util::stream;

use crate::common::{Counted, alive_tasks, eventually, tickets};

fn streamer() -> Streamer<DefaultPool, SerdeJson> {
    let config = ChunkConfig::with_sizes(4096, 2048).validate().unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    Streamer::with_parts(config, pool, SerdeJson).unwrap()
}

/// An endless source of tickets (cycled), counting pulls and its own drop.
fn endless() -> (
    Counted<
        impl futures_util::Stream<Item = Result<crate::common::Ticket, std::io::Error>> + Unpin,
    >,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let rows = tickets(64);
    Counted::new(stream::iter(rows.into_iter().cycle().map(Ok)))
}

#[tokio::test]
async fn dropping_the_stream_stops_the_source_at_once() {
    let streamer = streamer();
    let (source, pulled, dropped) = endless();
    let mut chunks = streamer.stream(source, transform::passthrough());
    let first = chunks.next().await.unwrap().unwrap();
    let pulled_at_drop = pulled.load(SeqCst);
    assert!(pulled_at_drop > 0);
    drop(chunks);
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the source is dropped with the stream"
    );
    tokio::task::yield_now().await;
    assert_eq!(
        pulled.load(SeqCst),
        pulled_at_drop,
        "no pull after the drop"
    );
    drop(first);
    let stats = streamer.pool().stats();
    assert_eq!(stats.outstanding, 0, "{stats:?}");
    assert_eq!(stats.taken(), stats.given_back());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_spawned_stream_ends_its_task() {
    let streamer = streamer();
    let (source, pulled, dropped) = endless();
    let mut chunks = streamer.stream(source, transform::passthrough()).spawn();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(alive_tasks() >= 1);
    drop(chunks);
    eventually("the task drops the source", || dropped.load(SeqCst) == 1).await;
    let pulled_at_end = pulled.load(SeqCst);
    // Bounded read-ahead: the channel holds `channel_capacity` chunks at most.
    let per_chunk = 2048 / 400 + 1;
    assert!(
        pulled_at_end <= (streamer.config().channel_capacity + 3) * per_chunk + 64,
        "pulled {pulled_at_end}"
    );
    eventually("no task left", || alive_tasks() == 0).await;
    drop(first);
    let stats = streamer.pool().stats();
    assert_eq!(stats.outstanding, 0, "{stats:?}");
}

async fn check_stopped_by(
    make: impl Fn(ChunkStream) -> ChunkStream,
    stop: impl FnOnce(),
    expected: fn(&StreamError) -> bool,
    spawned: bool,
) {
    let streamer = streamer();
    let (source, _pulled, dropped) = endless();
    // A source that waits forever after the first 20 items, like a stalled query.
    let stalling = source.take(20).chain(stream::pending());
    let raw = if spawned {
        streamer.stream(stalling, transform::passthrough()).spawn()
    } else {
        streamer.stream(stalling, transform::passthrough())
    };
    let mut chunks = make(raw);
    let mut received = vec![chunks.next().await.unwrap().unwrap()];
    stop();
    let err = loop {
        match chunks.next().await.expect("the stream ends with an error") {
            Ok(chunk) => received.push(chunk),
            Err(err) => break err,
        }
    };
    assert!(expected(&err), "{err:?}");
    assert!(chunks.next().await.is_none());
    // Dropped, the source cannot be pulled again: that is the check.
    eventually("the source is dropped", || dropped.load(SeqCst) == 1).await;
    drop((received, chunks));
    eventually("no task left", || alive_tasks() == 0).await;
    eventually("buffers returned", || {
        streamer.pool().stats().outstanding == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_stops_the_stream() {
    for spawned in [false, true] {
        let token = CancellationToken::new();
        let child = token.clone();
        check_stopped_by(
            move |chunks| chunks.cancel_on(child.clone()),
            || token.cancel(),
            |err| matches!(err, StreamError::Cancelled),
            spawned,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_the_stream() {
    for spawned in [false, true] {
        check_stopped_by(
            |chunks| chunks.timeout(Duration::from_millis(50)),
            || {},
            |err| matches!(err, StreamError::TimedOut(after) if *after == Duration::from_millis(50)),
            spawned,
        )
        .await;
    }
}

fn stall_limited(stall: Duration) -> Streamer<DefaultPool, SerdeJson> {
    let config = ChunkConfig::with_sizes(4096, 2048)
        .with_channel_capacity(1)
        .with_stall_timeout(stall)
        .validate()
        .unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    Streamer::with_parts(config, pool, SerdeJson).unwrap()
}

/// A reader that stops reading: after `stall_timeout` with the channel full, the task
/// drops the source and every buffer, without being polled, and the reader's next item
/// is `Stalled`.
#[tokio::test(start_paused = true)]
async fn a_stalled_reader_releases_the_source_and_every_buffer() {
    let stall = Duration::from_millis(100);
    for batch in [false, true] {
        let streamer = stall_limited(stall);
        let (source, pulled, dropped) = endless();
        let mut chunks = if batch {
            streamer
                .stream_batch(source, transform::batch_passthrough())
                .spawn()
        } else {
            streamer.stream(source, transform::passthrough()).spawn()
        };
        drop(chunks.next().await.unwrap().unwrap());
        // Not polled from here on. Before the limit, the source is still held.
        tokio::time::sleep(stall / 2).await;
        assert_eq!(dropped.load(SeqCst), 0, "batch {batch}: dropped too early");
        assert!(streamer.pool().stats().outstanding > 0);
        tokio::time::sleep(stall).await;
        assert_eq!(dropped.load(SeqCst), 1, "batch {batch}: source still held");
        let stats = streamer.pool().stats();
        assert_eq!(stats.outstanding, 0, "batch {batch}: {stats:?}");
        let pulled_at_stall = pulled.load(SeqCst);
        tokio::time::sleep(stall * 10).await;
        assert_eq!(pulled.load(SeqCst), pulled_at_stall);
        // The reader comes back: the stream ends with the stall, then nothing.
        let err = chunks.next().await.unwrap().unwrap_err();
        assert!(
            matches!(err, StreamError::Stalled(after) if after == stall),
            "{err:?}"
        );
        assert_eq!(err.kind(), chunkstream::ErrorKind::Stalled);
        assert!(chunks.next().await.is_none());
        assert_eq!(alive_tasks(), 0);
    }
}

/// A reader that is slow but never stops for as long as the limit gets the whole body.
#[tokio::test(start_paused = true)]
async fn a_slow_reader_within_the_stall_limit_gets_everything() {
    let stall = Duration::from_millis(100);
    let streamer = stall_limited(stall);
    let rows = tickets(200);
    let mut chunks = streamer
        .stream(
            futures_util::stream::iter(rows.clone().into_iter().map(Ok::<_, std::io::Error>)),
            transform::passthrough(),
        )
        .spawn();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.unwrap());
        tokio::time::sleep(stall * 9 / 10).await;
    }
    assert_eq!(body, serde_json::to_vec(&rows).unwrap());
}

#[test]
fn a_stall_before_the_first_chunk_is_a_503() {
    let err = StreamError::Stalled(Duration::from_secs(1));
    assert_eq!(
        chunkstream::response::error_status(&err),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A spawned stream whose reader stopped polling: a token and a timeout still stop the
/// task, drop the source and release every buffer, without any poll of the reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_a_timeout_stop_a_spawned_task_while_the_reader_is_stalled() {
    for (by_token, batch) in [(true, false), (true, true), (false, false), (false, true)] {
        let config = ChunkConfig::with_sizes(4096, 2048)
            .with_channel_capacity(1)
            .validate()
            .unwrap();
        let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
        let streamer = Streamer::with_parts(config, pool, SerdeJson).unwrap();
        let (source, _pulled, dropped) = endless();
        let spawned = if batch {
            streamer
                .stream_batch(source, transform::batch_passthrough())
                .spawn()
        } else {
            streamer.stream(source, transform::passthrough()).spawn()
        };
        let token = CancellationToken::new();
        let mut chunks = if by_token {
            spawned.cancel_on(token.clone())
        } else {
            spawned.timeout(Duration::from_millis(50))
        };
        drop(chunks.next().await.unwrap().unwrap());
        // The reader stops here: nothing has stopped the task yet.
        assert_eq!(dropped.load(SeqCst), 0);
        token.cancel();
        let what = format!("token {by_token}, batch {batch}");
        eventually(&format!("{what}: the source is dropped"), || {
            dropped.load(SeqCst) == 1
        })
        .await;
        eventually(&format!("{what}: every buffer is back"), || {
            streamer.pool().stats().outstanding == 0
        })
        .await;
        let err = chunks.next().await.unwrap().unwrap_err();
        let expected = if by_token { "cancelled" } else { "timed_out" };
        assert_eq!(err.kind().as_str(), expected, "{what}: {err:?}");
        assert!(chunks.next().await.is_none());
    }
}

/// The direct path runs only when polled: a stalled reader keeps its source until it
/// polls again (then the timeout ends the stream) or drops the stream.
#[tokio::test(start_paused = true)]
async fn the_direct_path_does_nothing_while_unpolled_and_dropping_releases() {
    let streamer = streamer();
    let (source, _pulled, dropped) = endless();
    let mut chunks = streamer
        .stream(source, transform::passthrough())
        .timeout(Duration::from_millis(50));
    drop(chunks.next().await.unwrap().unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(dropped.load(SeqCst), 0, "nothing runs while unpolled");
    let err = chunks.next().await.unwrap().unwrap_err();
    assert!(matches!(err, StreamError::TimedOut(_)), "{err:?}");
    assert_eq!(dropped.load(SeqCst), 1, "the next poll drops the source");

    let (source, _pulled, dropped) = endless();
    let mut chunks = streamer.stream(source, transform::passthrough());
    drop(chunks.next().await.unwrap().unwrap());
    drop(chunks);
    assert_eq!(dropped.load(SeqCst), 1, "dropping releases at once");
    assert_eq!(streamer.pool().stats().outstanding, 0);
}
