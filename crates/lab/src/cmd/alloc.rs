//! `alloc`: bytes and blocks allocated per request, per pool strategy, each strategy in
//! its own child process (the lab re-invoked with the hidden `alloc-child`
//! subcommand), so one strategy's heap never shows in another's figures. Built with
//! `--features dhat-heap`, the children count with dhat's global allocator; otherwise
//! with the lab's counting allocator.

use std::path::Path as FsPath;

use chunkstream::BoxError;
use chunkstream_benches::contestants::{DEFAULT_ENCODER, POOLS, PoolKind};
use chunkstream_benches::scenario::{Path, Scenario, Streaming};
use chunkstream_benches::workload;

use crate::env_info::Environment;
use crate::harness;
use crate::record::{self, Num, fmt_num};
use crate::report;

/// Tickets per request.
pub(crate) const ITEMS: usize = 100;

/// Runs one child per strategy and writes `alloc.csv` and the markdown.
pub(crate) fn run(requests: u64, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    let mut table = Vec::new();
    for pool in POOLS {
        let text = super::run_child(
            &format!("alloc child for {}", pool.name()),
            [
                "alloc-child",
                "--pool",
                pool.name(),
                "--requests",
                &requests.to_string(),
            ],
        )?;
        let line = text
            .lines()
            .find(|l| l.starts_with("tool="))
            .ok_or("no result from the alloc child")?;
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .unwrap_or("")
                .to_owned()
        };
        let num = |k: &str| field(k).parse().unwrap_or(f64::NAN);
        table.push(record::Alloc {
            pool: *pool,
            tool: field("tool"),
            items: ITEMS,
            requests,
            blocks_per_request: Num(num("blocks")),
            bytes_per_request: Num(num("bytes")),
            max_live_bytes: Num(num("max_live")),
        });
    }
    report::write_simple(out, "alloc", env, &table)
}

/// Heap totals so far: (blocks, bytes, max live bytes).
#[cfg(feature = "dhat-heap")]
fn heap() -> (u64, u64, u64) {
    let s = dhat::HeapStats::get();
    (s.total_blocks, s.total_bytes, s.max_bytes as u64)
}

#[cfg(not(feature = "dhat-heap"))]
fn heap() -> (u64, u64, u64) {
    crate::harness::alloc_count::set_counting(true);
    let c = crate::harness::alloc_count::Counts::now();
    (c.allocs, c.bytes, 0)
}

/// The child: warms up, then prints the allocations per request of `requests`
/// requests of [`ITEMS`] tickets with strategy `pool`.
pub(crate) fn child(pool: &str, requests: u64) -> Result<(), BoxError> {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::builder()
        .file_name(std::env::temp_dir().join(format!("chunkstream-lab-dhat-{pool}.json")))
        .build();
    let tool = if cfg!(feature = "dhat-heap") {
        "dhat"
    } else {
        "counting"
    };
    let pool = PoolKind::from_name(pool).ok_or("unknown pool")?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let items = workload::leak(workload::tickets(ITEMS));
    let built = harness::in_memory(pool, DEFAULT_ENCODER, Path::Item, items);
    let mut scenario = Streaming(built.chunks);
    let (blocks, bytes, max_live) = rt.block_on(async {
        for _ in 0..requests.min(100) {
            scenario.run().await?;
        }
        let before = heap();
        for _ in 0..requests {
            scenario.run().await?;
        }
        let after = heap();
        Ok::<_, BoxError>((after.0 - before.0, after.1 - before.1, after.2))
    })?;
    let per = requests.max(1) as f64;
    println!(
        "tool={tool} blocks={} bytes={} max_live={max_live}",
        fmt_num(blocks as f64 / per, 2),
        fmt_num(bytes as f64 / per, 1)
    );
    Ok(())
}
