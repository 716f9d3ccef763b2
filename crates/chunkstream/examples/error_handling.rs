//! Error handling: what a client sees when a stream fails before its first chunk (an
//! error status and a JSON body with the error's kind, a generic message and an id; the
//! source's own message goes to the log under that id) and after it (a `200` whose
//! transfer is aborted, so a truncated JSON array never looks complete).
//!
//! ```sh
//! cargo run -p chunkstream --features axum --example error_handling
//! ```
//!
//! Serves both cases on 127.0.0.1 (a free port), requests each with a real HTTP client,
//! prints what it got, and exits.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chunkstream::{ChunkConfig, StreamResponse, Streamer};
use futures_util::StreamExt;

/// Items `0..1000`, failing at `fail_at`. Like rows from a database, they take a moment
/// to arrive before the failure, so what came before it is already on the wire.
fn items(fail_at: usize) -> impl futures_util::Stream<Item = Result<usize, std::io::Error>> {
    futures_util::stream::iter(0..1000).then(move |i| async move {
        if i == fail_at {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::other(format!("row {i} is corrupt")))
        } else {
            Ok(i)
        }
    })
}

/// Fails on the very first item: nothing was sent yet.
async fn early(State(streamer): State<Streamer>) -> StreamResponse {
    streamer.json(items(0)).respond().await
}

/// Fails at item 500, after several chunks went out.
async fn late(State(streamer): State<Streamer>) -> StreamResponse {
    streamer.json(items(500)).respond().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Small chunks, so that item 500 comes well after the first chunk.
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 1024;
    config.chunk_threshold = 256;
    let streamer = Streamer::new(config)?;

    // Without HTTP: the error is the stream's last item.
    match streamer.json(items(3)).collect_bytes().await {
        Ok(_) => println!("unexpected: no error"),
        Err(err) => println!("stream error: kind {}, {err}", err.kind()),
    }

    let app = Router::new()
        .route("/early", get(early))
        .route("/late", get(late))
        .with_state(streamer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let response = client.get(format!("http://{addr}/early")).send().await?;
    println!("early: status {}", response.status().as_u16());
    println!("early: body {}", response.text().await?);

    let response = client.get(format!("http://{addr}/late")).send().await?;
    println!("late: status {}", response.status().as_u16());
    let mut received = 0;
    let mut response = response;
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break "complete",
            Err(_) => break "aborted (incomplete body)",
        }
    };
    println!("late: transfer {outcome} after {received} bytes");
    Ok(())
}
