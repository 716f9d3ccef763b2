//! Bytes allocated per request, measured with dhat (one profiler per process, so one
//! allocation test per file): `FreelistPool` in steady state against `NoPool`.
#![cfg(feature = "pool-freelist")]

mod common;

use chunkstream::pool::{FreelistPool, NoPool};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn pooled_requests_allocate_almost_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let pooled = common::alloc_per_request(FreelistPool::default(), 10, 1000);
    let fresh = common::alloc_per_request(NoPool::default(), 10, 1000);

    println!(
        "request of 100 tickets, {} bytes of JSON:",
        pooled.json_size
    );
    println!(
        "  FreelistPool: {} bytes in {} blocks per request",
        pooled.bytes, pooled.blocks
    );
    println!(
        "  NoPool:       {} bytes in {} blocks per request",
        fresh.bytes, fresh.blocks
    );

    dhat::assert!(
        pooled.json_size > 40_000,
        "the workload is ~400-500 bytes per row"
    );
    dhat::assert!(
        pooled.bytes <= 2048,
        "FreelistPool allocated {} bytes per request",
        pooled.bytes
    );
    dhat::assert!(
        fresh.bytes >= fresh.json_size as u64,
        "NoPool allocated {} bytes per request",
        fresh.bytes
    );
}
