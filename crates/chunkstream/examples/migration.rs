//! Migrating a hand-rolled axum handler to chunkstream.
//!
//! ```sh
//! cargo run -p chunkstream --features axum --example migration -- --once
//! ```
//!
//! Before: `Body::from_stream` over items serialized one by one with
//! `serde_json::to_vec`, with the brackets and commas written by hand. Every item is its
//! own allocation and its own chunk on the wire, an error mid-stream is easy to turn
//! into a body that looks complete, and the status is always `200`.
//!
//! After: the same items through `Streamer::json`; pooled buffers cut into ~32 KiB
//! chunks, the closing `]` only on success, and an error before the first chunk
//! answered with an error status.
//!
//! Both routes are served side by side; with `--once` the example requests each with a
//! real client, compares the bodies, prints how many chunks each took, and exits.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use chunkstream::{ChunkConfig, StreamResponse, Streamer, source};
use futures_util::StreamExt;

#[derive(Clone, serde::Serialize)]
struct Ticket {
    id: u32,
    subject: String,
}

fn tickets() -> impl Iterator<Item = Ticket> {
    (1..=2000).map(|id| Ticket {
        id,
        subject: format!("ticket {id}"),
    })
}

/// Before: a hand-rolled JSON array, one `to_vec` (and one chunk) per item.
async fn before() -> Response {
    let items = futures_util::stream::iter(tickets().enumerate()).map(|(i, ticket)| {
        let mut bytes = if i == 0 { b"[".to_vec() } else { b",".to_vec() };
        bytes.extend(serde_json::to_vec(&ticket).expect("a ticket serializes"));
        Ok::<_, Infallible>(Bytes::from(bytes))
    });
    let body = items.chain(futures_util::stream::once(async {
        Ok::<_, Infallible>(Bytes::from_static(b"]"))
    }));
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .expect("a valid response")
}

/// After: the same items, the shortest chunkstream handler.
async fn after(State(streamer): State<Streamer>) -> StreamResponse {
    streamer.json(source::from_iter(tickets())).respond().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let streamer = Streamer::new(ChunkConfig::default())?;
    let router = Router::new()
        .route("/before", get(before))
        .route("/after", get(after))
        .with_state(streamer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} (/before, /after)");
    if !std::env::args().any(|arg| arg == "--once") {
        axum::serve(listener, router).await?;
        return Ok(());
    }
    tokio::spawn(async move { axum::serve(listener, router).await });

    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    for path in ["/before", "/after"] {
        let mut response = client.get(format!("http://{addr}{path}")).send().await?;
        let status = response.status().as_u16();
        let (mut reads, mut body) = (0, Vec::new());
        while let Some(chunk) = response.chunk().await? {
            reads += 1;
            body.extend_from_slice(&chunk);
        }
        let items: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
        println!(
            "GET {path}: {status}, {} items, {} bytes, {reads} reads",
            items.len(),
            body.len()
        );
        bodies.push(items);
    }
    println!("same items: {}", bodies[0] == bodies[1]);
    Ok(())
}
