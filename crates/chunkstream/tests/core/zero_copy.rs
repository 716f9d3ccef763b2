use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chunkstream::encode::SerdeJson;
use chunkstream::pool::{DefaultPool, FromPoolConfig};
use chunkstream::{BufferPool, ChunkConfig, PoolStats, Streamer, source, transform};

use crate::common::{drain, reference, tickets};

/// Records the address of every buffer the inner pool hands out.
struct Recording {
    inner: DefaultPool,
    handed_out: Mutex<HashSet<usize>>,
}

impl BufferPool for Recording {
    fn get(&self) -> Vec<u8> {
        let buf = self.inner.get();
        self.handed_out
            .lock()
            .unwrap()
            .insert(buf.as_ptr() as usize);
        buf
    }
    fn put(&self, buf: Vec<u8>) {
        self.inner.put(buf)
    }
    fn initial_size(&self) -> usize {
        self.inner.initial_size()
    }
    fn stats(&self) -> PoolStats {
        self.inner.stats()
    }
}

#[tokio::test]
async fn chunks_are_the_pooled_buffers() {
    let config = ChunkConfig::with_sizes(8 * 1024, 4 * 1024)
        .validate()
        .unwrap();
    let pool = Arc::new(Recording {
        inner: DefaultPool::from_pool_config(config.pool),
        handed_out: Mutex::new(HashSet::new()),
    });
    let streamer = Streamer::with_parts(config, Arc::clone(&pool), SerdeJson).unwrap();
    let rows = tickets(200);

    let (chunks, err) =
        drain(streamer.stream(source::from_iter(rows.clone()), transform::passthrough())).await;
    assert!(err.is_none());
    assert!(
        chunks.len() > 5,
        "expected several chunks, got {}",
        chunks.len()
    );
    let handed_out = pool.handed_out.lock().unwrap().clone();
    for chunk in &chunks {
        // The chunk's bytes start at a pooled buffer: nothing was copied after encoding.
        assert!(
            handed_out.contains(&(chunk.as_ptr() as usize)),
            "chunk not in a pooled buffer"
        );
    }
    let body: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap(),
        reference(&rows)
    );

    let before = pool.stats();
    assert_eq!(
        before.outstanding,
        chunks.len() as u64,
        "chunks hold their buffers"
    );
    // A clone shares the buffer; the buffer comes back only when the last one drops.
    let clone = chunks[0].clone();
    drop(chunks);
    assert_eq!(pool.stats().outstanding, 1);
    drop(clone);
    let after = pool.stats();
    assert_eq!(after.outstanding, 0, "{after:?}");
    assert_eq!(after.taken(), after.given_back());
    assert_eq!(after.dropped_oversize, 0);
}

#[cfg(any(
    feature = "pool-freelist",
    feature = "pool-object-pool",
    feature = "pool-thread-local"
))]
#[tokio::test]
async fn buffers_are_reused_across_requests() {
    let config = ChunkConfig::with_sizes(4096, 2048).validate().unwrap();
    let pool = Arc::new(DefaultPool::from_pool_config(config.pool));
    let streamer = Streamer::with_parts(config, Arc::clone(&pool), SerdeJson).unwrap();
    let rows = tickets(100);
    for _ in 0..20 {
        let (chunks, err) =
            drain(streamer.stream(source::from_iter(rows.clone()), transform::passthrough())).await;
        assert!(err.is_none());
        drop(chunks);
    }
    let stats = pool.stats();
    assert_eq!(stats.outstanding, 0);
    // Chunks are dropped together at the end of each request, so a request needs at most
    // as many buffers as it has chunks; after the first request every buffer is reused.
    assert!(stats.hit_rate() > 0.9, "{stats:?}");
}
