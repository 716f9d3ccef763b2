//! Bytes allocated per request, measured with dhat (one profiler per process, so one
//! allocation test per file): `FreelistPool` in steady state against `NoPool`.
#![cfg(feature = "pool-freelist")]

mod common;

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{FreelistPool, NoPool};
use chunkstream::{BufferPool, ChunkConfig, Streamer, source, transform};

use common::{Ticket, drain_ready, tickets};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const REQUESTS: u64 = 1000;
const ROWS: usize = 100;

/// Average bytes and blocks allocated per request of `rows`, after a warm-up.
fn per_request<P: BufferPool>(
    streamer: &Streamer<P, SerdeJson>,
    rows: &'static [Ticket],
) -> (u64, u64, usize) {
    let mut body_len = 0;
    for _ in 0..10 {
        body_len =
            drain_ready(streamer.stream(source::from_iter(rows.iter()), transform::passthrough()));
    }
    let before = dhat::HeapStats::get();
    for _ in 0..REQUESTS {
        drain_ready(streamer.stream(source::from_iter(rows.iter()), transform::passthrough()));
    }
    let after = dhat::HeapStats::get();
    (
        (after.total_bytes - before.total_bytes) / REQUESTS,
        (after.total_blocks - before.total_blocks) / REQUESTS,
        body_len,
    )
}

#[test]
fn pooled_requests_allocate_almost_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Leaked so the source can borrow it for the stream's `'static` lifetime.
    let rows: &'static [Ticket] = Vec::leak(tickets(ROWS, 42));
    let config = ChunkConfig::default().validate().unwrap();

    let freelist = Streamer::with_parts(
        config.clone(),
        Arc::new(FreelistPool::new(config.pool_config())),
        SerdeJson,
    )
    .unwrap();
    let (pooled_bytes, pooled_blocks, json_len) = per_request(&freelist, rows);

    let no_pool = Streamer::with_parts(
        config.clone(),
        Arc::new(NoPool::new(config.pool_config())),
        SerdeJson,
    )
    .unwrap();
    let (fresh_bytes, fresh_blocks, _) = per_request(&no_pool, rows);

    println!("request of {ROWS} tickets, {json_len} bytes of JSON:");
    println!("  FreelistPool: {pooled_bytes} bytes in {pooled_blocks} blocks per request");
    println!("  NoPool:       {fresh_bytes} bytes in {fresh_blocks} blocks per request");

    dhat::assert!(json_len > 40_000, "the workload is ~400-500 bytes per row");
    dhat::assert!(
        pooled_bytes <= 2048,
        "FreelistPool allocated {pooled_bytes} bytes per request"
    );
    dhat::assert!(
        fresh_bytes >= json_len as u64,
        "NoPool allocated {fresh_bytes} bytes per request"
    );
    dhat::assert_eq!(freelist.pool().stats().outstanding, 0);
}
