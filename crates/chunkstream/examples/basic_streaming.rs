//! Basic streaming: a collection in, chunked JSON out.
//!
//! ```sh
//! cargo run -p chunkstream --example basic_streaming
//! ```
//!
//! Prints the body of a small stream, then how a larger one is cut into chunks of about
//! the threshold, each cut on an item boundary.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use chunkstream::{ChunkConfig, Streamer, source};
use futures_util::StreamExt;

#[derive(serde::Serialize)]
struct User {
    id: u32,
    name: String,
}

fn users(n: u32) -> impl Iterator<Item = User> {
    (1..=n).map(|id| User {
        id,
        name: format!("user {id}"),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One streamer per service: it owns the buffer pool.
    let streamer = Streamer::new(ChunkConfig::default())?;

    // The shortest path: any source of `Serialize` items, no transform.
    let body = streamer
        .json(source::from_iter(users(3)))
        .collect_bytes()
        .await?;
    println!("body: {}", std::str::from_utf8(&body)?);

    // With a transform (`User` -> its name), NDJSON framing this time.
    let names = streamer
        .clone()
        .with_format(chunkstream::format::Ndjson)
        .stream(source::from_iter(users(2)), |user: User| {
            Ok::<_, std::convert::Infallible>(user.name)
        });
    print!(
        "ndjson:\n{}",
        std::str::from_utf8(&names.collect_bytes().await?)?
    );

    // Chunk by chunk: 1000 users with a 4 KiB threshold.
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 8 * 1024;
    config.chunk_threshold = 4 * 1024;
    let small = Streamer::new(config)?;
    let mut chunks = small.json(source::from_iter(users(1000)));
    let (mut count, mut body) = (0, Vec::new());
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?; // a `bytes::Bytes`, straight from a pooled buffer
        count += 1;
        body.extend_from_slice(&chunk);
    }
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
    println!(
        "chunks: {count}, bytes: {}, items: {}",
        body.len(),
        parsed.len()
    );
    Ok(())
}
