//! `concurrency`: 1, 2, 8 and 64 concurrent requests on a two-worker runtime, per pool
//! strategy: throughput and pool hit rate. Requests use `ChunkStream::spawn`, so buffers
//! are taken on the encoding task and returned by the reading task, often on another
//! worker thread.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chunkstream::BoxError;
use chunkstream_benches::contestants::{DEFAULT_ENCODER, POOLS};
use chunkstream_benches::scenario::{Built, Path, drain};
use chunkstream_benches::workload::{self, Workload};

use crate::env_info::Environment;
use crate::harness;
use crate::harness::stats::{median, ratio};
use crate::record::{self, Num};
use crate::report;

/// Concurrent requests measured.
const LEVELS: &[usize] = &[1, 2, 8, 64];

/// Runs `requests` requests with `level` in flight; returns (seconds, hits, taken).
fn measure(
    rt: &tokio::runtime::Runtime,
    built: &Built,
    level: usize,
    requests: u64,
) -> Result<(f64, u64, u64), BoxError> {
    let before = (built.stats)();
    let start = Instant::now();
    rt.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..level)
            .map(|_| {
                let (next, make) = (Arc::clone(&next), Arc::clone(&built.chunks));
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < requests {
                        drain(make()).await?;
                    }
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        Ok::<_, BoxError>(())
    })?;
    let (seconds, after) = (start.elapsed().as_secs_f64(), (built.stats)());
    let taken = after.taken() - before.taken();
    Ok((seconds, after.hits - before.hits, taken))
}

/// Measures every pool at every level, `rounds` interleaved rounds; writes
/// `concurrency.csv` and the markdown.
pub(crate) fn run(quick: bool, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    let rt = super::parallel::runtime()?;
    let bytes = if quick { 64 * 1024 } else { 1 << 20 };
    let items = workload::leak(workload::tickets(Workload::Tickets.items_for_bytes(bytes)));
    let body = serde_json::to_vec(items)?.len() as f64;
    let (rounds, requests) = if quick { (2, 16) } else { (5, 192) };
    let built: Vec<Built> = POOLS
        .iter()
        .map(|&pool| harness::in_memory(pool, DEFAULT_ENCODER, Path::Spawn, items))
        .collect();
    let mut table = Vec::new();
    for &level in LEVELS {
        // Per pool: the seconds of each round, hits and buffers taken in all.
        let mut runs = vec![(Vec::new(), 0, 0); POOLS.len()];
        measure(&rt, &built[0], level, level as u64)?; // warm-up
        for round in 0..rounds {
            for k in 0..POOLS.len() {
                let i = (k + round) % POOLS.len();
                let (s, h, t) = measure(&rt, &built[i], level, requests)?;
                runs[i].0.push(s);
                (runs[i].1, runs[i].2) = (runs[i].1 + h, runs[i].2 + t);
            }
        }
        for (&pool, (seconds, hits, taken)) in POOLS.iter().zip(runs) {
            table.push(record::Concurrency {
                pool,
                concurrent: level,
                requests,
                mb_per_s: Num(body * requests as f64 / median(&seconds) / 1e6),
                hit_rate: Num(ratio(hits as f64, taken as f64)),
                rounds,
            });
        }
    }
    report::write_simple(out, "concurrency", env, &table)
}
