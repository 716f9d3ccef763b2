//! `soak`: ten million tickets (generated on the fly, never held) through the streamer,
//! with the resident set sampled from `/proc/self/status`: memory must stay flat.

use std::path::Path as FsPath;
use std::time::Instant;

use chunkstream::{BoxError, ChunkConfig};
use chunkstream_benches::contestants::{DEFAULT_ENCODER, DEFAULT_POOL};
use chunkstream_benches::scenario::{self, Path};
use chunkstream_benches::workload::{SEED, Ticket};
use futures_util::StreamExt;

use crate::env_info::Environment;
use crate::record::{self, Num};
use crate::report;

/// Chunks between two samples of the resident set.
const SAMPLE_EVERY: u64 = 512;

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`), or 0 where there is none.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Streams `items` tickets and writes `soak.csv` (samples), `soak_summary.csv` and the
/// markdown.
pub(crate) fn run(items: u64, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    let rt = crate::harness::matrix::runtime()?;
    let built = scenario::chunkstream(
        DEFAULT_POOL,
        DEFAULT_ENCODER,
        &ChunkConfig::default(),
        chunkstream::format::Json::Array,
        Path::Item,
        move || {
            chunkstream::source::from_iter((1..=items as i64).map(|id| Ticket::generate(SEED, id)))
        },
    );
    let baseline = status_kib("VmRSS");
    let start = Instant::now();
    let mut samples = Vec::new();
    let (bytes, chunks, peak) = rt.block_on(async {
        let mut body = (built.chunks)();
        let (mut bytes, mut chunks, mut peak) = (0u64, 0u64, baseline);
        while let Some(chunk) = body.next().await {
            bytes += chunk?.len() as u64;
            chunks += 1;
            if chunks % SAMPLE_EVERY == 1 {
                let rss = status_kib("VmRSS");
                peak = peak.max(rss);
                samples.push(record::SoakSample {
                    seconds: Num(start.elapsed().as_secs_f64()),
                    bytes_streamed: bytes,
                    chunks,
                    rss_kib: rss,
                });
            }
        }
        Ok::<_, BoxError>((bytes, chunks, peak.max(status_kib("VmRSS"))))
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let hwm = status_kib("VmHWM");
    let stats = (built.stats)();
    let summary = [record::Soak {
        items,
        bytes,
        chunks,
        seconds: Num(seconds),
        mb_per_s: Num(bytes as f64 / seconds / 1e6),
        baseline_mib: Num(mib(baseline)),
        peak_sampled_mib: Num(mib(peak)),
        vm_hwm_mib: Num(mib(hwm)),
        peak_above_baseline_mib: Num(mib(peak.max(hwm).saturating_sub(baseline))),
        pool_hits: stats.hits,
        pool_misses: stats.misses,
        pooled_buffers: stats.pooled as u64,
    }];
    std::fs::create_dir_all(out)?;
    record::write(&out.join("soak.csv"), &samples)?;
    report::write_simple(out, "soak_summary", env, &summary)
}
