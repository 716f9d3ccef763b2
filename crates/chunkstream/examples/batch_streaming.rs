//! Batch streaming: items grouped in batches of `batch_size`, one transform call per
//! batch (for work that is cheaper in bulk: a lookup, a formula over many rows).
//!
//! ```sh
//! cargo run -p chunkstream --example batch_streaming
//! ```
//!
//! Prints how many batches the transform saw and their sizes, and the first items of
//! the body.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chunkstream::{ChunkConfig, Streamer, source};

#[derive(serde::Serialize)]
struct Scored {
    id: u32,
    score: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ChunkConfig::default();
    config.batch_size = 100;
    let streamer = Streamer::new(config)?;

    let batches = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&batches);
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sizes_seen = Arc::clone(&sizes);
    // The batch transform: `Vec<T>` in, `Vec<U>` out, all or nothing.
    let score = move |ids: Vec<u32>| {
        seen.fetch_add(1, Ordering::Relaxed);
        sizes_seen.lock().unwrap().push(ids.len());
        let max = ids.iter().copied().max().unwrap_or(1) as f64;
        Ok::<_, std::convert::Infallible>(
            ids.into_iter()
                .map(|id| Scored {
                    id,
                    score: f64::from(id) / max,
                })
                .collect::<Vec<_>>(),
        )
    };
    let body = streamer
        .stream_batch(source::from_iter(1..=250), score)
        .collect_bytes()
        .await?;

    let items: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
    println!("batches: {}", batches.load(Ordering::Relaxed));
    println!("batch sizes: {:?}", sizes.lock().unwrap());
    println!("items: {}", items.len());
    println!("first: {}", items[0]);
    println!("last: {}", items[items.len() - 1]);
    Ok(())
}
