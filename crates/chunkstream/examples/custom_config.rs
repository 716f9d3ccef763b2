//! Custom configuration: buffer and chunk sizes, batch size, flush interval, pool
//! bounds, and what validation does with zeros and contradictions.
//!
//! ```sh
//! cargo run -p chunkstream --example custom_config
//! ```
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use std::time::{Duration, Instant};

use chunkstream::{ChunkConfig, Streamer, source};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Start from the defaults (50 KiB buffers, 32 KiB chunks, batches of 1000) and set
    // the fields you need.
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 16 * 1024;
    config.chunk_threshold = 8 * 1024;
    config.batch_size = 250;
    config.pool.max_pooled = 32;
    config.pool.max_retained = 0; // zero means "the default": twice the buffer size
    config.flush_interval = Some(Duration::from_millis(50));
    let config = config.validate()?;
    println!(
        "buffer_size: {}, chunk_threshold: {}, batch_size: {}, max_pooled: {}, max_retained: {}",
        config.pool.buffer_size,
        config.chunk_threshold,
        config.batch_size,
        config.pool.max_pooled,
        config.pool.max_retained
    );

    // Contradictions are refused with an error naming the fields.
    let mut bad = ChunkConfig::default();
    bad.pool.buffer_size = 1024;
    bad.chunk_threshold = 4096;
    match Streamer::new(bad) {
        Ok(_) => println!("unexpected: accepted"),
        Err(err) => println!("refused: {err}"),
    }

    // The flush interval sends a partly filled buffer from a slow source: one item every
    // 20 ms never fills 8 KiB, yet chunks arrive every ~50 ms instead of at the end.
    let streamer = Streamer::new(config)?.with_format(chunkstream::format::Ndjson);
    let slow = source::from_stream(futures_util::stream::iter(1..=10).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        i
    }));
    let started = Instant::now();
    let mut chunks = streamer
        .clone()
        .with_format(chunkstream::format::Ndjson)
        .json(slow);
    let mut first_chunk = None;
    let mut count = 0;
    while let Some(chunk) = chunks.next().await {
        chunk?;
        count += 1;
        first_chunk.get_or_insert(started.elapsed());
    }
    let first_chunk = first_chunk.unwrap_or_default();
    println!(
        "slow source: {count} chunks, the first after {} ms of a {} ms stream",
        first_chunk.as_millis(),
        started.elapsed().as_millis()
    );
    println!("flushed before the end: {}", count > 1);
    Ok(())
}
