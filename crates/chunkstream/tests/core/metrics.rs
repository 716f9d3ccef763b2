//! Metrics of an observed stream: reported once, at its end, with its outcome.

use std::sync::mpsc;

use futures_util::StreamExt;

use chunkstream::metrics::{ItemCounter, Outcome, Probe};
use chunkstream::{ChunkConfig, Streamer, transform};

fn small() -> Streamer {
    Streamer::new(ChunkConfig::with_sizes(64, 32)).unwrap()
}

#[tokio::test]
async fn a_dropped_stream_reports_what_it_sent() {
    let streamer = small();
    let counter = ItemCounter::new();
    let (tx, rx) = mpsc::channel();
    let mut chunks = streamer
        .stream(
            counter.count(chunkstream::source::from_iter(0..10_000)),
            transform::passthrough(),
        )
        .observe_with(
            Probe::new().items(&counter).pool(streamer.pool()),
            move |m| tx.send(m).unwrap(),
        );
    let first = chunks.next().await.unwrap().unwrap();
    assert!(rx.try_recv().is_err(), "reported only at the end");
    drop(chunks);
    let m = rx.try_recv().unwrap();
    assert_eq!(m.outcome, Outcome::Dropped);
    assert_eq!((m.chunks, m.bytes), (1, first.len() as u64));
    assert!(m.time_to_first_chunk.is_some());
    assert!(m.items.unwrap() < 100);
    assert_eq!(m.pool_misses, Some(1));
}

#[tokio::test]
async fn a_failed_stream_reports_its_error_kind_once() {
    let (tx, rx) = mpsc::channel();
    let items = (0..100).map(|i| {
        if i == 50 {
            Err(std::io::Error::other("x"))
        } else {
            Ok(i)
        }
    });
    let chunks = small()
        .stream(futures_util::stream::iter(items), transform::passthrough())
        .observe(move |m| tx.send(m).unwrap());
    let n = chunks.count().await;
    let m = rx.try_recv().unwrap();
    assert_eq!(m.outcome, Outcome::Failed(chunkstream::ErrorKind::Source));
    assert_eq!(m.chunks + 1, n as u64);
    assert!(rx.try_recv().is_err(), "one report");
}
