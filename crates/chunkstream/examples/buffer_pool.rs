//! Buffer pool usage: the statistics every pool keeps (hits, misses, returns, drops)
//! and the hit rate across requests.
//!
//! ```sh
//! cargo run -p chunkstream --example buffer_pool
//! ```
//!
//! Streams ten "requests" one after the other through one streamer: the first allocates
//! its buffers (misses), the later ones reuse them (hits). Then shows the process-wide
//! pool helpers.
// `ChunkConfig` is set field by field on its default, the form that keeps compiling
// when fields are added.
#![allow(clippy::field_reassign_with_default)]

use chunkstream::{BufferPool, ChunkConfig, Streamer, pool, source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ChunkConfig::default();
    config.pool.buffer_size = 4 * 1024;
    config.chunk_threshold = 2 * 1024;
    // The feature-selected default pool (`FreelistPool` with default features).
    let streamer = Streamer::new(config)?;

    for request in 1..=10 {
        let body = streamer
            .json(source::from_iter((0..1000).map(|i| format!("item {i}"))))
            .collect_bytes()
            .await?;
        drop(body); // the last chunk goes back to the pool when its `Bytes` is dropped
        let stats = streamer.pool().stats();
        if request == 1 || request == 10 {
            println!(
                "after request {request}: hits {}, misses {}, returned {}, outstanding {}, pooled {}",
                stats.hits, stats.misses, stats.returned, stats.outstanding, stats.pooled
            );
        }
    }
    let stats = streamer.pool().stats();
    println!("hit rate: {:.1}%", stats.hit_rate() * 100.0);
    println!(
        "buffers allocated: {}, reused: {}",
        stats.misses, stats.hits
    );
    println!("outstanding after the requests: {}", stats.outstanding);

    // The process-wide pool, for code that wants a pooled buffer outside a stream.
    let mut buf = pool::get_buffer();
    buf.extend_from_slice(b"scratch");
    pool::put_buffer(buf);
    let again = pool::get_buffer();
    println!(
        "global pool buffer comes back cleared: {}",
        again.is_empty()
    );
    pool::put_buffer(again);
    Ok(())
}
