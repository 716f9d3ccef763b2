//! Every pool strategy under concurrency: 64 streams x 200 requests each on a
//! multi-thread runtime. Every body must be exact, and afterwards every buffer taken
//! must be accounted for (returned or dropped) and the pool within its bounds.

mod common;

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{Calibrated, NoPool};
use chunkstream::{BufferPool, ChunkConfig, PoolConfig, Streamer, transform};
use tokio::task::JoinSet;

use common::{Ticket, body, tickets};

const STREAMS: usize = 64;
const REQUESTS: usize = 200;
/// Requests carry 0..=MAX_ITEMS tickets.
const MAX_ITEMS: usize = 12;

fn config() -> ChunkConfig {
    let mut config = ChunkConfig::with_sizes(2048, 1024);
    config.batch_size = 5;
    config.pool.max_pooled = 32;
    config.pool.max_retained = 4096;
    config
}

fn pool_config() -> PoolConfig {
    config().validate().unwrap().pool
}

async fn stress<P: BufferPool>(name: &str, pool: P) {
    let pool = Arc::new(pool);
    let streamer = Streamer::with_parts(config(), Arc::clone(&pool), SerdeJson).unwrap();
    let items: Arc<Vec<Ticket>> = Arc::new(tickets(MAX_ITEMS));
    let expected: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..=MAX_ITEMS)
            .map(|n| serde_json::to_vec(&items[..n]).unwrap())
            .collect(),
    );

    let mut tasks = JoinSet::new();
    for s in 0..STREAMS {
        let (streamer, items, expected) = (streamer.clone(), items.clone(), expected.clone());
        tasks.spawn(async move {
            for r in 0..REQUESTS {
                let n = (s * 7 + r) % (MAX_ITEMS + 1);
                let rows = items[..n].to_vec();
                let source = chunkstream::source::from_iter(rows);
                let chunks = match r % 3 {
                    0 => streamer.stream(source, transform::passthrough()),
                    1 => streamer.stream_batch(source, transform::batch_passthrough()),
                    _ => streamer.stream(source, transform::passthrough()).spawn(),
                };
                let body = body(chunks).await.unwrap();
                assert_eq!(body, expected[n], "stream {s}, request {r}, {n} items");
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    drop(streamer);

    let stats = pool.stats();
    println!(
        "{name}: taken {} (hit rate {:.1}%), returned {}, dropped full {}, dropped oversize {}, pooled {} ({} bytes)",
        stats.taken(),
        100.0 * stats.hit_rate(),
        stats.returned,
        stats.dropped_full,
        stats.dropped_oversize,
        stats.pooled,
        stats.pooled_bytes
    );
    let bounds = pool_config();
    assert!(stats.taken() > 0);
    assert_eq!(stats.outstanding, 0, "{name}: {stats:?}");
    assert_eq!(stats.taken(), stats.given_back(), "{name}: {stats:?}");
    assert!(
        stats.pooled <= bounds.max_pooled as u64,
        "{name}: {stats:?}"
    );
    assert!(
        stats.pooled_bytes <= (bounds.max_pooled * bounds.max_retained) as u64,
        "{name}: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_pool() {
    stress("NoPool", NoPool::new(pool_config())).await;
}

#[cfg(feature = "pool-freelist")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn freelist() {
    stress(
        "FreelistPool",
        chunkstream::pool::FreelistPool::new(pool_config()),
    )
    .await;
}

#[cfg(feature = "pool-object-pool")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_pool() {
    stress(
        "ObjectPool",
        chunkstream::pool::ObjectPool::new(pool_config()),
    )
    .await;
}

#[cfg(feature = "pool-thread-local")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thread_local() {
    stress(
        "ThreadLocalPool",
        chunkstream::pool::ThreadLocalPool::new(pool_config()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calibrated_no_pool() {
    stress(
        "Calibrated<NoPool>",
        Calibrated::with_period(NoPool::new(pool_config()), 100),
    )
    .await;
}

#[cfg(feature = "pool-freelist")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calibrated_freelist() {
    stress(
        "Calibrated<FreelistPool>",
        Calibrated::with_period(chunkstream::pool::FreelistPool::new(pool_config()), 100),
    )
    .await;
}
