//! `Calibrated` learns its allocation size and retention bound from the chunks it sees.

mod common;

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{Calibrated, NoPool};
use chunkstream::{BufferPool, ChunkConfig, PoolConfig, Streamer, source, transform};

use common::{body, tickets};

/// Chunks of about 8 KiB (a 7 KiB threshold and ~450-byte rows: 7168..7700 bytes),
/// with a rare 1 MiB item.
#[tokio::test]
async fn settles_on_8_kib_and_drops_a_rare_1_mib_buffer() {
    // The inner pool would keep anything up to 4 MiB: only the learned bound may drop the
    // big buffer.
    let inner = NoPool::new(
        PoolConfig::default()
            .with_buffer_size(64 << 10)
            .with_max_pooled(64)
            .with_max_retained(4 << 20),
    );
    let pool = Arc::new(Calibrated::with_period(inner, 200));
    assert_eq!(pool.initial_size(), 64 << 10);
    let config = ChunkConfig::default()
        .with_buffer_size(64 << 10)
        .with_chunk_threshold(7 << 10)
        .with_max_retained(4 << 20);
    let streamer = Streamer::with_parts(config, Arc::clone(&pool), SerdeJson).unwrap();

    // About 250 chunks of ~8 KiB, one of them holding a 1 MiB item.
    let rows: Vec<serde_json::Value> = tickets(4000)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            if i == 2000 {
                serde_json::Value::String("x".repeat(1 << 20))
            } else {
                serde_json::to_value(t).unwrap()
            }
        })
        .collect();
    let expected = serde_json::to_vec(&rows).unwrap();
    let got = body(streamer.stream(source::from_iter(rows), transform::passthrough()))
        .await
        .unwrap();
    assert!(got == expected);

    println!(
        "learned size {:?}, retention bound {:?}",
        pool.calibrated_size(),
        pool.calibrated_max_retained()
    );
    assert_eq!(pool.calibrated_size(), Some(8 << 10));
    assert_eq!(pool.calibrated_max_retained(), Some(8 << 10));
    assert_eq!(pool.initial_size(), 8 << 10);
    assert!(pool.get().capacity() >= 8 << 10);

    // A buffer that grew to hold a rare 1 MiB item is dropped by the learned bound.
    let before = pool.stats().dropped_oversize;
    let mut big = pool.get();
    big.resize(1 << 20, b'x');
    pool.put(big);
    let stats = pool.stats();
    assert_eq!(stats.dropped_oversize, before + 1, "{stats:?}");
    assert_eq!(pool.inner().stats().dropped_oversize, 0);
    // An ~8 KiB one is handed on to the inner pool.
    let mut chunk = pool.get();
    chunk.resize(7500, b'x');
    pool.put(chunk);
    assert_eq!(pool.stats().dropped_oversize, before + 1);
}

/// With a pooling inner pool, buffers above the learned bound never reach it.
#[cfg(feature = "pool-freelist")]
#[test]
fn inner_pool_keeps_only_calibrated_buffers() {
    use chunkstream::pool::FreelistPool;

    let pool = Calibrated::with_period(
        FreelistPool::new(
            PoolConfig::default()
                .with_buffer_size(1024)
                .with_max_pooled(8)
                .with_max_retained(4 << 20),
        ),
        100,
    );
    for _ in 0..100 {
        let mut buf = pool.get();
        buf.resize(7000, b'x');
        pool.put(buf);
    }
    assert_eq!(pool.calibrated_size(), Some(8192));
    let mut big = pool.get();
    big.resize(1 << 20, b'x');
    pool.put(big);
    let stats = pool.stats();
    assert_eq!(stats.dropped_oversize, 1);
    assert!(stats.pooled_bytes <= 8 * 8192, "{stats:?}");
}
