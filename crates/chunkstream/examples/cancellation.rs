//! Cancellation: dropping the stream (the client went away), a `CancellationToken`, and
//! a timeout each stop the source at once.
//!
//! ```sh
//! cargo run -p chunkstream --example cancellation
//! ```
//!
//! The source counts the items pulled from it, so each case prints how far it got.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chunkstream::{CancellationToken, ChunkConfig, StreamError, Streamer, source};
use futures_util::StreamExt;

/// An endless source, one item per millisecond, counting what is pulled.
fn ticking(
    pulled: Arc<AtomicUsize>,
) -> impl futures_util::Stream<Item = Result<usize, std::convert::Infallible>> {
    source::from_stream(futures_util::stream::iter(0..).then(move |i| {
        let pulled = Arc::clone(&pulled);
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            pulled.fetch_add(1, Ordering::Relaxed);
            i
        }
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Tiny chunks, so each item is a chunk of its own.
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 64;
    config.chunk_threshold = 1;
    let streamer = Streamer::new(config)?;

    // 1. Drop: read three chunks, then drop the stream, as hyper does when the client
    //    disconnects. Nothing more is pulled.
    let pulled = Arc::new(AtomicUsize::new(0));
    let mut chunks = streamer.json(ticking(Arc::clone(&pulled)));
    for _ in 0..3 {
        chunks.next().await.transpose()?;
    }
    drop(chunks);
    let at_drop = pulled.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!(
        "drop: {at_drop} items pulled at the drop, {} after 50 ms",
        pulled.load(Ordering::Relaxed)
    );

    // 2. Token: cancel from elsewhere (shutdown, a parent request); the last item is
    //    `StreamError::Cancelled`.
    let token = CancellationToken::new();
    let mut chunks = streamer
        .stream(
            ticking(Arc::new(AtomicUsize::new(0))),
            chunkstream::transform::passthrough(),
        )
        .spawn()
        .cancel_on(token.clone());
    chunks.next().await.transpose()?;
    token.cancel();
    let last = last_error(&mut chunks).await;
    println!("token: {}", describe(last));

    // 3. Timeout: a deadline for the whole stream; the last item is
    //    `StreamError::TimedOut`.
    let mut chunks = streamer
        .json(ticking(Arc::new(AtomicUsize::new(0))))
        .timeout(Duration::from_millis(30));
    let last = last_error(&mut chunks).await;
    println!("timeout: {}", describe(last));
    Ok(())
}

/// Reads the stream to its end and returns the error it ended with.
async fn last_error(chunks: &mut chunkstream::ChunkStream) -> Option<StreamError> {
    while let Some(chunk) = chunks.next().await {
        if let Err(err) = chunk {
            return Some(err);
        }
    }
    None
}

fn describe(err: Option<StreamError>) -> String {
    match err {
        Some(err) => format!("ended with {} ({err})", err.kind()),
        None => "ended without an error".to_owned(),
    }
}
