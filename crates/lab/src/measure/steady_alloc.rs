//! Allocations per small request in steady state (100 tickets after warm-up), per pool
//! strategy and peer, with the counting allocator: the design's "at most 1 KiB per
//! 100-item request" target and the Go claim of 111 KB -> 54 KB.

use chunkstream_benches::contestants::{DEFAULT_ENCODER, POOLS, PoolKind};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{Path, Scenario, Streaming};
use chunkstream_benches::workload;
use tokio::runtime::Runtime;

use crate::harness::stats::{Estimate, median};
use crate::harness::{self, alloc_count};
use crate::record::{self, Contestant, Num};

/// Items per request, as in the design's target.
pub(crate) const ITEMS: usize = 100;

/// Counting passes the requests are split into (the interval is over passes).
const PASSES: u64 = 10;

/// Counts allocations over `requests` requests of [`ITEMS`] tickets after `warmup`, in
/// untimed passes; the interval is over the passes.
pub(crate) fn measure(rt: &Runtime, warmup: u64, requests: u64) -> Vec<record::Steady> {
    let items = workload::leak(workload::tickets(ITEMS));
    let json = serde_json::to_vec(items).map_or(0, |v| v.len());
    let mut contestants: Vec<(Contestant, Option<PoolKind>, _, Box<dyn Scenario>)> = Vec::new();
    for &pool in POOLS {
        let built = harness::in_memory(pool, DEFAULT_ENCODER, Path::Item, items);
        contestants.push((
            Contestant::Chunkstream,
            Some(pool),
            Some(DEFAULT_ENCODER),
            Box::new(Streaming(built.chunks)),
        ));
    }
    for peer in peers::all(items) {
        let contestant = peer.peer.map_or(Contestant::Limit, Contestant::Peer);
        contestants.push((contestant, None, None, peer.scenario));
    }
    let mut table = Vec::new();
    for (contestant, pool, encoder, mut scenario) in contestants {
        rt.block_on(async {
            for _ in 0..warmup {
                scenario.run().await.ok();
            }
        });
        let per_pass = (requests / PASSES).max(1);
        let (mut allocs, mut bytes) = (Vec::new(), Vec::new());
        for _ in 0..PASSES {
            let ((), counts) = alloc_count::counting(|| {
                rt.block_on(async {
                    for _ in 0..per_pass {
                        scenario.run().await.ok();
                    }
                });
            });
            allocs.push(counts.allocs as f64 / per_pass as f64);
            bytes.push(counts.bytes as f64 / per_pass as f64);
        }
        let bytes = Estimate::of(&bytes);
        let (bytes_per_request, bytes_lo, bytes_hi) = record::columns(&bytes);
        table.push(record::Steady {
            contestant,
            pool,
            encoder,
            items: ITEMS,
            json_bytes: json,
            allocs_per_request: Num(median(&allocs)),
            bytes_per_request,
            bytes_lo,
            bytes_hi,
            requests: per_pass * PASSES,
        });
    }
    table
}
