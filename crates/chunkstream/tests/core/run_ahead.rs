//! `source::run_ahead`: a source polled on its own task into a bounded queue.

use std::io;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chunkstream::{ChunkConfig, StreamError, Streamer, source, transform};
use futures_util::{Stream, StreamExt, stream};

use crate::common::{Counted, alive_tasks, body, drain, eventually, tickets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_is_the_same_with_and_without_run_ahead() {
    let rows = tickets(3000);
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let plain = body(streamer.stream_batch(
        source::from_iter(rows.clone()),
        transform::batch_passthrough(),
    ))
    .await
    .unwrap();
    for capacity in [0, 1, 7, 2000] {
        for workers in [1, 2] {
            let ahead = source::run_ahead(source::from_iter(rows.clone()), capacity);
            let streamer = streamer.clone().with_encode_workers(workers);
            let got = body(streamer.stream_batch(ahead, transform::batch_passthrough()))
                .await
                .unwrap();
            assert_eq!(got, plain, "capacity {capacity}, {workers} workers");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_runs_ahead_by_at_most_the_capacity() {
    let (source, pulled, dropped) = Counted::new(stream::iter(
        tickets(16).into_iter().cycle().map(Ok::<_, io::Error>),
    ));
    let mut ahead = source::run_ahead(source, 40);
    let mut read = 0;
    for _ in 0..3 {
        ahead.next().await.unwrap().unwrap();
        read += 1;
        // The task fills the queue while the reader waits, and stops there.
        eventually("the source runs ahead", || pulled.load(SeqCst) >= read + 20).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let pulled_now = pulled.load(SeqCst);
        assert!(pulled_now <= read + 40, "read {read}, pulled {pulled_now}");
        for _ in 0..50 {
            ahead.next().await.unwrap().unwrap();
            read += 1;
        }
    }
    drop(ahead);
    eventually("the source is dropped", || dropped.load(SeqCst) == 1).await;
    let pulled_at_drop = pulled.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        pulled.load(SeqCst),
        pulled_at_drop,
        "no pull after the drop"
    );
    eventually("no task left", || alive_tasks() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_ends_the_task_even_while_the_source_waits() {
    let (source, _, dropped) = Counted::new(stream::iter(0..10_u32).map(Ok::<_, io::Error>));
    let stalled = source.chain(stream::pending());
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let mut chunks = streamer
        .stream(source::run_ahead(stalled, 100), transform::passthrough())
        .timeout(Duration::from_millis(30));
    let err = chunks.next().await.unwrap().unwrap_err();
    assert!(matches!(err, StreamError::TimedOut(_)), "{err:?}");
    eventually("the source is dropped", || dropped.load(SeqCst) == 1).await;
    eventually("no task left", || alive_tasks() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_ends_after_its_first_error() {
    let items = (0..5)
        .map(Ok)
        .chain([Err(io::Error::other("bad row"))])
        .chain((5..10).map(Ok));
    let (source, pulled, dropped) = Counted::new(stream::iter(items));
    let got: Vec<_> = source::run_ahead(source, 100).collect().await;
    assert_eq!(got.len(), 6);
    assert!(got[..5].iter().all(Result::is_ok));
    assert_eq!(got[5].as_ref().unwrap_err().to_string(), "bad row");
    assert_eq!(pulled.load(SeqCst), 6, "nothing is read past the error");
    eventually("the source is dropped", || dropped.load(SeqCst) == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_source_is_a_panicked_error() {
    let exploding = stream::iter(0..3_u32)
        .map(Ok::<_, io::Error>)
        .chain(stream::poll_fn(
            |_| -> Poll<Option<Result<u32, io::Error>>> { panic!("poll exploded") },
        ));
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let (chunks, err) =
        drain(streamer.stream(source::run_ahead(exploding, 10), transform::passthrough())).await;
    assert!(chunks.is_empty());
    match err {
        Some(StreamError::Panicked {
            index: None,
            message,
        }) => {
            assert!(message.contains("poll exploded"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn outside_a_runtime_the_source_is_polled_in_place() {
    let mut ahead = pin!(source::run_ahead(source::from_iter([1, 2]), 10));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        ahead.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(Ok(1)))
    ));
    assert!(matches!(
        ahead.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(Ok(2)))
    ));
    assert!(matches!(
        ahead.as_mut().poll_next(&mut cx),
        Poll::Ready(None)
    ));
}
