//! A mixed workload for the pools that learn: many tiny responses, then large ones.
//! A pool that learned its buffer size from the tiny responses must still serve the
//! large ones from the pool (`Calibrated` beside the plain freelist it wraps).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chunkstream::{BoxError, ChunkConfig};
use chunkstream_benches::contestants::{EncoderKind, PoolKind};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{self, Path, drain};
use chunkstream_benches::workload;
use tokio::runtime::Runtime;

use crate::harness::alloc_count;
use crate::harness::stats::ratio;
use crate::record::{self, Num};

/// Tickets in a tiny response.
const TINY: usize = 1;

/// `tiny` responses of one ticket, then `large` responses of `large_items` tickets,
/// per pool; the hit rate, the buffers dropped as oversize and the allocations per
/// response (a buffer that starts too small grows by reallocating) are over the large
/// phase.
pub(crate) fn measure(
    rt: &Runtime,
    tiny: u64,
    large: u64,
    large_items: usize,
) -> Result<Vec<record::Mixed>, BoxError> {
    let items = workload::leak(workload::tickets(large_items.max(TINY)));
    let mut table = Vec::new();
    for pool in [PoolKind::Freelist, PoolKind::Calibrated] {
        let size = Arc::new(AtomicUsize::new(TINY));
        let n = Arc::clone(&size);
        let built = scenario::chunkstream(
            pool,
            EncoderKind::SerdeJson,
            &ChunkConfig::default(),
            chunkstream::format::Json::Array,
            Path::Item,
            move || peers::memory(&items[..n.load(Ordering::Relaxed)]),
        );
        rt.block_on(async {
            for _ in 0..tiny {
                drain((built.chunks)()).await?;
            }
            Ok::<_, BoxError>(())
        })?;
        size.store(large_items, Ordering::Relaxed);
        let before = (built.stats)();
        // Counted (untimed): a buffer that starts small and grows reallocates.
        let (chunks, counts) = alloc_count::counting(|| {
            rt.block_on(async {
                let mut chunks = 0;
                for _ in 0..large {
                    chunks += drain((built.chunks)()).await?.chunks;
                }
                Ok::<_, BoxError>(chunks)
            })
        });
        let chunks = chunks?;
        let after = (built.stats)();
        let hits = after.hits - before.hits;
        let misses = after.misses - before.misses;
        table.push(record::Mixed {
            pool,
            tiny_requests: tiny,
            large_requests: large,
            large_chunks: chunks,
            hits,
            misses,
            hit_rate: Num(ratio(hits as f64, (hits + misses) as f64)),
            dropped_oversize: after.dropped_oversize - before.dropped_oversize,
            allocs_per_large_response: Num(counts.allocs as f64 / large.max(1) as f64),
        });
    }
    Ok(table)
}
