//! `Calibrated` learns its allocation size and retention bound from the chunks it sees.

mod common;

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{Calibrated, NoPool};
use chunkstream::{BufferPool, ChunkConfig, Streamer, source, transform};

use common::{body, tickets};

/// Chunks of about 8 KiB (a 7 KiB threshold and ~450-byte rows: 7168..7700 bytes),
/// with a rare 1 MiB item.
#[tokio::test]
async fn settles_on_8_kib_and_drops_a_rare_1_mib_buffer() {
    // The inner pool would keep anything up to 4 MiB: only the learned bound may drop the
    // big buffer.
    let mut config = ChunkConfig::with_sizes(64 << 10, 7 << 10);
    config.pool.max_pooled = 64;
    config.pool.max_retained = 4 << 20;
    let inner = NoPool::new(config.pool);
    // Told the threshold, it may learn sizes below the inner pool's 64 KiB.
    let pool =
        Arc::new(Calibrated::with_period(inner, 200).with_chunk_threshold(config.chunk_threshold));
    assert_eq!(pool.initial_size(), 64 << 10);
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

    let mut config = ChunkConfig::with_sizes(1024, 1024);
    config.pool.max_pooled = 8;
    config.pool.max_retained = 4 << 20;
    let pool = Calibrated::with_period(FreelistPool::new(config.pool), 100);
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

/// A mixed workload through the streamer: 200 tiny responses (one small buffer each),
/// then large ones (several 32 KiB chunks each). Learning the tiny responses' 64 B
/// would make every later chunk start from a 64 B buffer, grow by doubling and be
/// dropped as oversize: the floor (threshold plus one item) keeps the pool pooling.
#[cfg(feature = "pool-freelist")]
async fn tiny_then_large(pool: Calibrated<chunkstream::pool::FreelistPool>) {
    let config = ChunkConfig::default();
    let pool = Arc::new(pool);
    let streamer = Streamer::with_parts(config.clone(), Arc::clone(&pool), SerdeJson).unwrap();

    for i in 0..200_u32 {
        let got = body(streamer.stream(source::from_iter([i]), transform::passthrough()))
            .await
            .unwrap();
        assert_eq!(got, format!("[{i}]").into_bytes());
    }
    let learned_small = pool.calibrated_size();
    let before = pool.stats();

    let rows = tickets(300); // about 130 KiB: four or five chunks a response
    let expected = serde_json::to_vec(&rows).unwrap();
    for _ in 0..40 {
        let got = body(streamer.stream(source::from_iter(rows.clone()), transform::passthrough()))
            .await
            .unwrap();
        assert!(got == expected);
    }
    let after = pool.stats();
    let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
    let dropped = after.dropped_oversize - before.dropped_oversize;
    let hit_rate = hits as f64 / (hits + misses) as f64;
    println!(
        "after 200 tiny responses: learned {learned_small:?}; 40 large responses: \
         hit rate {:.1}% ({hits} hits, {misses} misses, {dropped} dropped as oversize), \
         learned {:?}",
        100.0 * hit_rate,
        pool.calibrated_size()
    );
    assert!(
        learned_small.is_some_and(|size| size > config.chunk_threshold),
        "learned {learned_small:?} from the tiny responses"
    );
    assert!(hit_rate >= 0.9, "{after:?}");
    assert!(dropped <= misses, "{after:?}");
}

#[cfg(feature = "pool-freelist")]
#[tokio::test]
async fn tiny_then_large_keeps_pooling() {
    let inner = chunkstream::pool::FreelistPool::new(ChunkConfig::default().pool);
    tiny_then_large(Calibrated::with_period(inner, 100)).await;
}

#[cfg(feature = "pool-freelist")]
#[tokio::test]
async fn tiny_then_large_keeps_pooling_with_the_threshold() {
    let config = ChunkConfig::default();
    let inner = chunkstream::pool::FreelistPool::new(config.pool);
    let pool = Calibrated::with_period(inner, 100).with_chunk_threshold(config.chunk_threshold);
    assert_eq!(pool.floor(), config.chunk_threshold + 64);
    tiny_then_large(pool).await;
}
