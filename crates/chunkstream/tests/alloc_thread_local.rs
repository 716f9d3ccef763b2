//! Steady-state allocations per request with `ThreadLocalPool` (dhat: one profiler per
//! process, so one allocation test per file).
#![cfg(feature = "pool-thread-local")]

mod common;

use chunkstream::ChunkConfig;
use chunkstream::pool::ThreadLocalPool;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn steady_state_bytes_per_request_of_100_tickets() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let pool = ThreadLocalPool::new(ChunkConfig::default().pool);
    let measured = common::alloc_per_request(pool, 50, 1000);
    println!(
        "ThreadLocalPool: {} bytes in {} allocations per request of 100 tickets ({} bytes of JSON)",
        measured.bytes, measured.blocks, measured.json_size
    );
    assert!(measured.bytes <= 2 * 1024, "{measured:?}");
}
