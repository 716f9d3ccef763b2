//! `tune`: the sweep of buffer size x chunk threshold x batch size around the Go
//! package's 50 KiB / 32 KiB / 1000, on each workload, with the limit in the same
//! interleaved rounds.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use chunkstream::{BoxError, ChunkConfig};
use chunkstream_benches::contestants::{DEFAULT_ENCODER, DEFAULT_POOL};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{self, Framing, Limit, Path, Streaming};
use chunkstream_benches::workload::{self, Workload};
use serde::Serialize;

use super::Options;
use crate::env_info::Environment;
use crate::harness::matrix::{self, Entry, Plan};
use crate::harness::noise::Noise;
use crate::harness::paired::Schedule;
use crate::record::{self, Num};
use crate::{items, report};

/// Buffer sizes swept, KiB.
pub(crate) const BUFFERS_KIB: &[usize] = &[4, 8, 16, 32, 50, 64, 128, 256];
/// Chunk thresholds swept, KiB (only those not above the buffer).
pub(crate) const THRESHOLDS_KIB: &[usize] = &[4, 8, 16, 32, 64, 128];
/// Batch sizes swept.
pub(crate) const BATCHES: &[usize] = &[1, 10, 100, 1000, 10_000];

/// A configuration of the sweep.
#[derive(Clone, Copy, Debug)]
struct Point {
    workload: &'static str,
    buffer_kib: usize,
    threshold_kib: usize,
    batch: usize,
}

/// The configurations swept (buffer x threshold <= buffer x batch).
pub(crate) fn grid(quick: bool) -> Vec<(usize, usize, usize)> {
    let (buffers, thresholds, batches): (&[usize], &[usize], &[usize]) = if quick {
        (&[16, 50], &[8, 32], &[10, 1000])
    } else {
        (BUFFERS_KIB, THRESHOLDS_KIB, BATCHES)
    };
    let mut out = Vec::new();
    for &b in buffers {
        for &t in thresholds.iter().filter(|&&t| t <= b) {
            for &n in batches {
                out.push((b, t, n));
            }
        }
    }
    out
}

/// Configurations re-measured per workload in the confirmation stage (plus the Go
/// package's): the best of the sweep.
const CONFIRM_TOP: usize = 5;

/// The Go package's configuration (buffer KiB, threshold KiB, batch).
const GO_POINT: (usize, usize, usize) = (50, 32, 1000);

fn add<T: Serialize + Send + Sync + 'static>(
    entries: &mut Vec<Entry<Option<Point>>>,
    workload: &'static str,
    items: &'static [T],
    points: &[(usize, usize, usize)],
) -> Result<(), BoxError> {
    let expected = Arc::new(scenario::reference(items)?);
    // The configurations, then the limit, all in the workload's group.
    let mut push = |meta, scenario, stats| {
        entries.push(Entry {
            meta,
            group: workload.to_owned(),
            is_limit: meta.is_none(),
            items: items.len() as u64,
            format: Framing::Array,
            expected: Arc::clone(&expected),
            scenario,
            stats,
        });
    };
    for &(buffer_kib, threshold_kib, batch) in points {
        let config = ChunkConfig::with_sizes(buffer_kib * 1024, threshold_kib * 1024)
            .with_batch_size(batch)
            .validate()?;
        let built = scenario::chunkstream(
            DEFAULT_POOL,
            DEFAULT_ENCODER,
            &config,
            chunkstream::format::Json::Array,
            Path::Batch,
            move || peers::memory(items),
        );
        let point = Point {
            workload,
            buffer_kib,
            threshold_kib,
            batch,
        };
        push(
            Some(point),
            Box::new(Streaming(built.chunks)),
            Some(built.stats),
        );
    }
    push(None, Box::new(Limit::new(items)), None);
    Ok(())
}

/// The leaked items swept: the three workloads, or the user's.
enum Items {
    Workloads {
        tickets: &'static [workload::Ticket],
        small: &'static [workload::Small],
        large: &'static [workload::Large],
    },
    User(&'static [serde_json::Value]),
}

impl Items {
    /// Every point on every workload, each workload with its limit.
    fn add(
        &self,
        entries: &mut Vec<Entry<Option<Point>>>,
        points: impl Fn(&str) -> Vec<(usize, usize, usize)>,
    ) -> Result<(), BoxError> {
        match *self {
            Items::Workloads {
                tickets,
                small,
                large,
            } => {
                add(entries, "tickets", tickets, &points("tickets"))?;
                add(entries, "small", small, &points("small"))?;
                add(entries, "large", large, &points("large"))
            }
            Items::User(items) => add(entries, items::WORKLOAD, items, &points(items::WORKLOAD)),
        }
    }
}

/// Measures `entries` and returns their rows of `tuning.csv` and the run's noise.
fn measure_table(
    rt: &tokio::runtime::Runtime,
    entries: &mut [Entry<Option<Point>>],
    plan: Plan,
    label: &str,
) -> (Vec<record::Tuning>, f64) {
    let outcomes = matrix::run(rt, entries, plan, label);
    let noise = matrix::noise(&outcomes);
    let mut table = Vec::new();
    for (entry, o) in entries.iter().zip(&outcomes) {
        let Some(p) = entry.meta else { continue };
        let (ratio, ratio_lo, ratio_hi) = record::columns(&o.ratio);
        table.push(record::Tuning {
            workload: p.workload.to_owned(),
            buffer_kib: p.buffer_kib,
            threshold_kib: p.threshold_kib,
            batch: p.batch,
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
    (table, noise)
}

/// The best `CONFIRM_TOP` configurations of `workload` in the sweep, and the Go one.
pub(crate) fn finalists(sweep: &[record::Tuning], workload: &str) -> Vec<(usize, usize, usize)> {
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let quick = options.quick;
    let bytes = if quick { 64 * 1024 } else { 1 << 20 };
    let n = |w: Workload| w.items_for_bytes(bytes);
    let mut env = env.clone();
    let items = match &options.items {
        Some(path) => {
            let (items, represented) = items::load(path)?;
            env.0.insert("items".into(), represented);
            Items::User(items)
        }
        None => Items::Workloads {
            tickets: workload::leak(workload::tickets(n(Workload::Tickets))),
            small: workload::leak(workload::small(n(Workload::Small))),
            large: workload::leak(workload::large(n(Workload::Large))),
        },
    };
    let mut entries = Vec::new();
    items.add(&mut entries, |_| grid(quick))?;
    // Seconds for each configuration; pairs at least (without --quick).
    let plan_of = |seconds: f64, min_pairs| Plan {
        schedule: Schedule {
            block: options.block(),
            budget: Duration::from_secs_f64(seconds),
            min_pairs: if quick { 5 } else { min_pairs },
            max_pairs: 5000,
        },
        alloc_requests: 2,
        passes: 1,
    };
    let budget = options.budget.unwrap_or(if quick { 2.0 } else { 150.0 });
    let configurations = entries.iter().filter(|e| !e.is_limit).count().max(1);
    let plan = plan_of(budget / configurations as f64, 11);
    eprintln!(
        "tune: {configurations} configurations, each alternating with its limit for {:.2} s",
        plan.schedule.budget.as_secs_f64()
    );
    let (sweep, sweep_noise) = measure_table(&rt, &mut entries, plan, "tune");
    drop(entries);

    let mut entries = Vec::new();
    items.add(&mut entries, |w| finalists(&sweep, w))?;
    let finalists = entries.iter().filter(|e| !e.is_limit).count().max(1);
    let plan = plan_of(if quick { 1.0 } else { 45.0 } / finalists as f64, 31);
    eprintln!(
        "tune: confirming {finalists} finalists, each for {:.2} s",
        plan.schedule.budget.as_secs_f64()
    );
    let (confirm, confirm_noise) = measure_table(&rt, &mut entries, plan, "confirm");
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
    let summary: String = tuning_md
        .lines()
        .skip_while(|l| !l.starts_with("## Optimum"))
        .take_while(|l| !l.starts_with("## Plots"))
        .collect::<Vec<_>>()
        .join("\n");
    println!("{summary}");
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
        let out = crate::cmd::run_on_mixed(300, run)?;
        let sweep: Vec<record::Tuning> =
            record::read(&out.path().join("tuning.csv"))?.ok_or("no tuning.csv")?;
        assert_eq!(sweep.len(), grid(true).len());
        assert!(
            sweep
                .iter()
                .all(|r| r.workload == items::WORKLOAD && r.check == record::check(&Ok(())))
        );
        let md = std::fs::read_to_string(out.path().join("tuning.md"))?;
        assert!(md.contains("**Items**: 300 items from"), "{md}");
        Ok(())
    }

    #[test]
    fn grid_never_puts_the_threshold_above_the_buffer() {
        let grid = grid(false);
        assert!(grid.iter().all(|&(b, t, _)| t <= b));
        assert!(
            grid.contains(&(50, 32, 1000)),
            "the Go settings are in the sweep"
        );
        assert_eq!(
            grid.iter().filter(|&&(b, _, n)| b == 4 && n == 1).count(),
            1
        );
    }
}
