//! A single 10 MiB item streams correctly with every pool, and the buffer it grew is
//! not retained (counted as `dropped_oversize`).

mod common;

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{Calibrated, NoPool};
use chunkstream::{BufferPool, ChunkConfig, PoolConfig, Streamer, source, transform};

use common::body;

const BIG: usize = 10 << 20; // 10 MiB

fn pool_config() -> PoolConfig {
    ChunkConfig::default().pool
}

async fn big_item<P: BufferPool>(name: &str, pool: P) {
    let pool = Arc::new(pool);
    let streamer =
        Streamer::with_parts(ChunkConfig::default(), Arc::clone(&pool), SerdeJson).unwrap();
    let items = vec![
        "small".to_owned(),
        "é\"\n".repeat(3).to_owned() + &"x".repeat(BIG),
        "after".to_owned(),
    ];
    let expected = serde_json::to_vec(&items).unwrap();

    let body = body(streamer.stream(source::from_iter(items), transform::passthrough()))
        .await
        .unwrap();
    assert_eq!(body.len(), expected.len(), "{name}");
    assert!(body == expected, "{name}: body differs from the reference");

    let stats = pool.stats();
    println!("{name}: {stats:?}");
    let bounds = pool_config();
    assert!(stats.dropped_oversize >= 1, "{name}: {stats:?}");
    assert_eq!(stats.outstanding, 0, "{name}: {stats:?}");
    assert!(
        stats.pooled_bytes <= (bounds.max_pooled * bounds.max_retained) as u64,
        "{name}: {stats:?}"
    );
    // Nothing the pool keeps is the grown buffer.
    assert!(stats.pooled_bytes < BIG as u64, "{name}: {stats:?}");
}

#[tokio::test]
async fn no_pool() {
    big_item("NoPool", NoPool::new(pool_config())).await;
}

#[cfg(feature = "pool-freelist")]
#[tokio::test]
async fn freelist() {
    big_item(
        "FreelistPool",
        chunkstream::pool::FreelistPool::new(pool_config()),
    )
    .await;
}

#[cfg(feature = "pool-object-pool")]
#[tokio::test]
async fn object_pool() {
    big_item(
        "ObjectPool",
        chunkstream::pool::ObjectPool::new(pool_config()),
    )
    .await;
}

#[cfg(feature = "pool-thread-local")]
#[tokio::test]
async fn thread_local() {
    big_item(
        "ThreadLocalPool",
        chunkstream::pool::ThreadLocalPool::new(pool_config()),
    )
    .await;
}

#[tokio::test]
async fn calibrated() {
    big_item(
        "Calibrated<NoPool>",
        Calibrated::new(NoPool::new(pool_config())),
    )
    .await;
}
