//! `tune`: the sweep of buffer size x chunk threshold x batch size around the Go
//! package's 50 KiB / 32 KiB / 1000, on each workload, with the limit in the same
//! interleaved rounds.

use std::path::Path as FsPath;
use std::sync::Arc;

use chunkstream::{BoxError, ChunkConfig, format::Json};
use chunkstream_benches::contestants::{DEFAULT_ENCODER, DEFAULT_POOL};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{self, Framing, Limit, Path, Scenario, Streaming};
use chunkstream_benches::workload::{self, Workload};
use serde::Serialize;

use super::Options;
use crate::env_info::Environment;
use crate::harness::matrix::{self, Entry, Plan};
use crate::harness::noise::Noise;
use crate::record::{self, Num};
use crate::{items, report};

/// Buffer sizes swept, KiB.
pub(crate) const BUFFERS_KIB: &[usize] = &[4, 8, 16, 32, 50, 64, 128, 256];
/// Chunk thresholds swept, KiB (only those not above the buffer).
pub(crate) const THRESHOLDS_KIB: &[usize] = &[4, 8, 16, 32, 64, 128];
/// Batch sizes swept.
pub(crate) const BATCHES: &[usize] = &[1, 10, 100, 1000, 10_000];
/// Seconds of paired blocks for the whole sweep of a default run and of a quick one.
pub(crate) const BUDGET: [f64; 2] = [150.0, 2.0];

/// A configuration of the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) buffer_kib: usize,
    pub(crate) threshold_kib: usize,
    pub(crate) batch: usize,
}

/// A configuration on a workload; `None` for the workload's limit.
type Meta = Option<(&'static str, Point)>;

/// The configurations swept (buffer x threshold <= buffer x batch).
pub(crate) fn grid(quick: bool) -> Vec<Point> {
    let (buffers, thresholds, batches): (&[usize], &[usize], &[usize]) = if quick {
        (&[16, 50], &[8, 32], &[10, 1000])
    } else {
        (BUFFERS_KIB, THRESHOLDS_KIB, BATCHES)
    };
    let mut out = Vec::new();
    for &buffer_kib in buffers {
        for &threshold_kib in thresholds.iter().filter(|&&t| t <= buffer_kib) {
            for &batch in batches {
                out.push(Point {
                    buffer_kib,
                    threshold_kib,
                    batch,
                });
            }
        }
    }
    out
}

/// Configurations re-measured per workload in the confirmation stage (plus the Go
/// package's): the best of the sweep.
const CONFIRM_TOP: usize = 5;

const GO_POINT: Point = Point {
    buffer_kib: 50,
    threshold_kib: 32,
    batch: 1000,
};

/// A workload swept: its name, and what adds its entries at some points.
type Swept = (
    &'static str,
    Box<dyn Fn(&mut Vec<Entry<Meta>>, &[Point]) -> Result<(), BoxError>>,
);

/// `items` swept as `workload`: each point, then the limit, all in the workload's group.
fn swept<T: Serialize + Send + Sync + 'static>(
    workload: &'static str,
    items: &'static [T],
) -> Swept {
    let add = move |entries: &mut Vec<Entry<Meta>>, points: &[Point]| -> Result<(), BoxError> {
        let expected = Arc::new(scenario::reference(items)?);
        let n = items.len() as u64;
        let entry = |meta: Meta, scenario: Box<dyn Scenario>| {
            let (group, expected) = (workload.to_owned(), Arc::clone(&expected));
            Entry::new(meta, group, n, Framing::Array, expected, scenario)
        };
        for &point in points {
            let config =
                ChunkConfig::with_sizes(point.buffer_kib * 1024, point.threshold_kib * 1024)
                    .with_batch_size(point.batch)
                    .validate()?;
            let make = move || peers::memory(items);
            let (pool, encoder) = (DEFAULT_POOL, DEFAULT_ENCODER);
            let built =
                scenario::chunkstream(pool, encoder, &config, Json::Array, Path::Batch, make);
            let mut e = entry(Some((workload, point)), Box::new(Streaming(built.chunks)));
            e.stats = Some(built.stats);
            entries.push(e);
        }
        let mut limit = entry(None, Box::new(Limit::new(items)));
        limit.is_limit = true;
        entries.push(limit);
        Ok(())
    };
    (workload, Box::new(add))
}

/// Measures every workload at its `points` for `seconds` in all, split over the
/// configurations (`min_pairs` each at least): the rows of `tuning.csv` and the noise.
fn measure(
    rt: &tokio::runtime::Runtime,
    workloads: &[Swept],
    points: impl Fn(&str) -> Vec<Point>,
    options: &Options,
    (seconds, min_pairs): (f64, usize),
    label: &str,
) -> Result<(Vec<record::Tuning>, f64), BoxError> {
    let mut entries = Vec::new();
    for (workload, add) in workloads {
        add(&mut entries, &points(workload))?;
    }
    let configurations = entries.iter().filter(|e| !e.is_limit).count().max(1);
    let min_pairs = if options.quick { 5 } else { min_pairs };
    let seconds = seconds / configurations as f64;
    let plan = Plan {
        schedule: matrix::schedule(options.block(), seconds, min_pairs),
        alloc_requests: 2,
        passes: 1,
    };
    eprintln!(
        "{label}: {configurations} configurations, each alternating with its limit for {seconds:.2} s"
    );
    let outcomes = matrix::run(rt, &mut entries, plan, label);
    let mut table = Vec::new();
    for (entry, o) in entries.iter().zip(&outcomes) {
        let Some((workload, point)) = entry.meta else {
            continue;
        };
        let (ratio, ratio_lo, ratio_hi) = record::columns(&o.ratio);
        table.push(record::Tuning {
            workload: workload.to_owned(),
            buffer_kib: point.buffer_kib,
            threshold_kib: point.threshold_kib,
            batch: point.batch,
            items: entry.items,
            body_bytes: o.body_bytes,
            pairs: o.pairs,
            ratio,
            ratio_lo,
            ratio_hi,
            limit_variation: Num(o.limit_variation),
            mb_per_s: Num(o.bytes_per_sec / 1e6),
            allocs_per_request: Num(o.allocs),
            alloc_bytes_per_request: Num(o.alloc_bytes),
            chunks_per_request: o.chunks,
            first_chunk_us: Num(o.first_chunk.as_secs_f64() * 1e6),
            check: record::check(&o.check),
        });
    }
    Ok((table, matrix::noise(&outcomes)))
}

/// The best `CONFIRM_TOP` configurations of `workload` in the sweep, and the Go one.
pub(crate) fn finalists(sweep: &[record::Tuning], workload: &str) -> Vec<Point> {
    let mut rows: Vec<_> = sweep
        .iter()
        .filter(|r| r.workload == workload && !r.ratio.0.is_nan())
        .collect();
    // Ranked by the median ratio; ties (flat curves) keep the sweep's order.
    rows.sort_by(|a, b| b.ratio.0.total_cmp(&a.ratio.0));
    let mut out: Vec<_> = rows.iter().take(CONFIRM_TOP).map(|r| r.point()).collect();
    if !out.contains(&GO_POINT) {
        out.push(GO_POINT);
    }
    out
}

/// Runs the sweep, then re-measures the finalists of each workload (the best of the
/// sweep and the Go configuration) with more rounds: the maximum of hundreds of noisy
/// medians is biased upwards, the confirmation is not. Writes `tuning.csv` (the sweep),
/// `tuning_confirm.csv`, `tuning.env`, the plots and the markdown.
pub(crate) fn run(options: &Options, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    let rt = matrix::runtime()?;
    let quick = options.quick;
    let n = |w: Workload| w.items_for_bytes(matrix::request_bytes(quick));
    let mut env = env.clone();
    let workloads = match &options.items {
        Some(path) => {
            let (items, represented) = items::load(path)?;
            env.0.insert("items".into(), represented);
            vec![swept(items::WORKLOAD, items)]
        }
        None => vec![
            swept(
                "tickets",
                workload::leak(workload::tickets(n(Workload::Tickets))),
            ),
            swept("small", workload::leak(workload::small(n(Workload::Small)))),
            swept("large", workload::leak(workload::large(n(Workload::Large)))),
        ],
    };
    let budget = options.budget(BUDGET);
    let grid = |_: &str| grid(quick);
    let (sweep, sweep_noise) = measure(&rt, &workloads, grid, options, (budget, 11), "tune")?;
    let finals = |w: &str| finalists(&sweep, w);
    let seconds = if quick { 1.0 } else { 45.0 };
    let (confirm, confirm_noise) =
        measure(&rt, &workloads, finals, options, (seconds, 31), "confirm")?;
    let mut noise = Noise::default();
    noise.add("tune sweep", sweep_noise);
    noise.add("tune confirmation", confirm_noise);

    std::fs::create_dir_all(out)?;
    record::write(&out.join("tuning.csv"), &sweep)?;
    record::write(&out.join("tuning_confirm.csv"), &confirm)?;
    record::write(&out.join("tuning_noise.csv"), &noise.table())?;
    env.write(&out.join("tuning.env"))?;
    report::regenerate(out)?;
    let tuning_md = std::fs::read_to_string(out.join("tuning.md"))?;
    // The optimum table is the first table of the report.
    let summary: Vec<&str> = tuning_md
        .lines()
        .skip_while(|l| !l.starts_with("## Optimum"))
        .take_while(|l| !l.starts_with("## Plots"))
        .collect();
    println!("{}", summary.join("\n"));
    if let Some(warning) = noise.warning() {
        eprintln!("\nWARNING: {warning}\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tune --items` sweeps the user's items and confirms its finalists.
    #[test]
    fn tune_items_sweeps_the_users_items() -> Result<(), BoxError> {
        let (sweep, md) = crate::cmd::on_mixed_items::<record::Tuning>(run, "tuning")?;
        assert_eq!(sweep.len(), grid(true).len());
        let ok = record::check(&Ok(()));
        assert!(
            sweep
                .iter()
                .all(|r| r.workload == items::WORKLOAD && r.check == ok)
        );
        assert!(md.contains("**Items**: 300 items from"), "{md}");
        Ok(())
    }

    #[test]
    fn grid_never_puts_the_threshold_above_the_buffer() {
        let grid = grid(false);
        assert!(grid.iter().all(|p| p.threshold_kib <= p.buffer_kib));
        assert!(grid.contains(&GO_POINT), "the Go settings are in the sweep");
        let smallest = grid.iter().filter(|p| p.buffer_kib == 4 && p.batch == 1);
        assert_eq!(smallest.count(), 1);
    }
}
