//! Paired measurement of contestants against their group's limit: every contestant is
//! checked, warmed up and its allocations counted (untimed), then timed in its own
//! alternation with its limit ([`paired`]): the median ratio with a bootstrap interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chunkstream::{BoxError, PoolStats};
use chunkstream_benches::scenario::{self, Framing, Scenario};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::runtime::Runtime;

use crate::harness::paired::{self, Schedule, Series};
use crate::harness::stats::{Estimate, block_variation, median, ratio};
use crate::harness::{alloc_count, placement};

/// Counters of a contestant's pool.
pub(crate) type StatsFn = Arc<dyn Fn() -> PoolStats + Send + Sync>;

/// One contestant to measure, with `meta` describing it for the report.
pub(crate) struct Entry<M> {
    /// What the report says about it.
    pub(crate) meta: M,
    /// Entries with the same group share a limit (the entry with `is_limit`).
    pub(crate) group: String,
    pub(crate) is_limit: bool,
    /// Items per request.
    pub(crate) items: u64,
    /// How its body is framed (for the check).
    pub(crate) format: Framing,
    /// The reference values its body must parse to.
    pub(crate) expected: Arc<serde_json::Value>,
    /// How it answers a request.
    pub(crate) scenario: Box<dyn Scenario>,
    /// Its pool's counters, for chunkstream contestants.
    pub(crate) stats: Option<StatsFn>,
    /// The CPU its blocks run on, the measuring thread bound to it for each block (the
    /// binding outside the timing); `None`: wherever the measuring thread runs.
    pub(crate) cpu: Option<usize>,
}

impl<M> Entry<M> {
    /// A contestant (not a limit) without pool counters.
    pub(crate) fn new(
        meta: M,
        group: String,
        items: u64,
        format: Framing,
        expected: Arc<serde_json::Value>,
        scenario: Box<dyn Scenario>,
    ) -> Self {
        Entry {
            meta,
            group,
            is_limit: false,
            items,
            format,
            expected,
            scenario,
            stats: None,
            cpu: None,
        }
    }
}

/// What was measured for one entry.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// `Ok` when the body matched the reference; else why not (then nothing was timed).
    pub(crate) check: Result<(), String>,
    /// Pairs of blocks timed (contestant blocks; for a limit, all its blocks).
    pub(crate) pairs: usize,
    /// Median body bytes and items per second over blocks.
    pub(crate) bytes_per_sec: f64,
    pub(crate) items_per_sec: f64,
    /// This entry's throughput over its group limit's, per pair: median and 95% interval.
    pub(crate) ratio: Estimate,
    /// The limit's block-to-block variation during this entry's alternation.
    pub(crate) limit_variation: f64,
    /// Bytes of one body and chunks per request.
    pub(crate) body_bytes: u64,
    pub(crate) chunks: u64,
    /// Median time to the first chunk.
    pub(crate) first_chunk: Duration,
    /// Allocations and bytes allocated per request (counting allocator, untimed pass),
    /// and the pool's hit rate over the timed requests (NaN without a pool).
    pub(crate) allocs: f64,
    pub(crate) alloc_bytes: f64,
    pub(crate) hit_rate: f64,
}

impl Outcome {
    /// Pairs and speeds from `blocks` (seconds per request) of requests of `items`
    /// items each.
    fn timed(&mut self, blocks: &[f64], items: u64) {
        let per_sec = ratio(1.0, median(blocks));
        self.pairs = blocks.len();
        self.bytes_per_sec = per_sec * self.body_bytes as f64;
        self.items_per_sec = per_sec * items as f64;
    }
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            check: Err("not run".to_owned()),
            pairs: 0,
            bytes_per_sec: f64::NAN,
            items_per_sec: f64::NAN,
            ratio: Estimate::MISSING,
            limit_variation: f64::NAN,
            body_bytes: 0,
            chunks: 0,
            first_chunk: Duration::ZERO,
            allocs: f64::NAN,
            alloc_bytes: f64::NAN,
            hit_rate: f64::NAN,
        }
    }
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// The alternation of each contestant with its limit.
    pub(crate) schedule: Schedule,
    /// Requests counted for allocations (after warm-up, untimed).
    pub(crate) alloc_requests: u64,
    /// Passes over the contestants, each with its share of the schedule's budget and
    /// pairs. With several, a burst of load from another process that lasts about one
    /// contestant's turn weighs on a part of its pairs, not all of them, and the
    /// interval (which resamples passes, then pairs) shows the spread between passes.
    pub(crate) passes: usize,
}

/// A schedule of `block`s for `seconds`, `min_pairs` at least and 5000 at most.
pub(crate) fn schedule(block: Duration, seconds: f64, min_pairs: usize) -> Schedule {
    Schedule {
        block,
        budget: Duration::from_secs_f64(seconds),
        min_pairs,
        max_pairs: 5000,
    }
}

/// Bytes of JSON per request of a workload.
pub(crate) fn request_bytes(quick: bool) -> usize {
    if quick { 64 * 1024 } else { 1 << 20 }
}

/// The runtime contestants are measured on: the measuring thread's own (HTTP servers
/// run on runtimes of their own).
pub(crate) fn runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The median of the limits' block-to-block variations over `outcomes`: the noise
/// gate's figure.
pub(crate) fn noise(outcomes: &[Outcome]) -> f64 {
    let v: Vec<f64> = outcomes
        .iter()
        .map(|o| o.limit_variation)
        .filter(|v| v.is_finite())
        .collect();
    median(&v)
}

/// A timed block of `scenario`: `reps` requests, readied untimed first
/// ([`Scenario::ready`]), seconds per request; the mean time to the first chunk of the
/// block is pushed to `first`.
pub(crate) fn block<'a>(
    rt: &'a Runtime,
    scenario: &'a mut dyn Scenario,
    first: &'a mut Vec<f64>,
) -> impl FnMut(u64) -> Result<f64, BoxError> + 'a {
    move |reps| {
        let (elapsed, first_chunk) = rt.block_on(async {
            scenario.ready(reps).await?;
            let start = Instant::now();
            let mut first_chunk = Duration::ZERO;
            for _ in 0..reps {
                first_chunk += scenario.run().await?.first_chunk;
            }
            Ok::<_, BoxError>((start.elapsed(), first_chunk))
        })?;
        let reps = reps.max(1) as f64;
        first.push(first_chunk.as_secs_f64() / reps);
        Ok(elapsed.as_secs_f64() / reps)
    }
}

/// `block`, each call with the measuring thread bound to `cpu` when given (see
/// [`Entry::cpu`]).
fn on_cpu<'a>(
    cpu: Option<usize>,
    mut block: impl FnMut(u64) -> Result<f64, BoxError> + 'a,
) -> impl FnMut(u64) -> Result<f64, BoxError> + 'a {
    move |reps| placement::on_cpu(cpu, || block(reps))
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "a contestant is not its own limit");
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

/// What an entry's passes gathered.
#[derive(Clone, Default)]
struct Tally {
    /// Requests per block, once calibrated.
    reps: Option<u64>,
    /// A contestant's alternations, one per pass.
    runs: Vec<Series>,
    /// A limit's blocks, over every contestant of its group.
    blocks: Vec<f64>,
    /// Time to the first chunk per block.
    firsts: Vec<f64>,
    /// Pool hits and takes over a contestant's own blocks.
    pooled: Option<(u64, u64)>,
}

/// Measures `entries` on `rt` following `plan`, showing progress as `label`: every
/// entry is checked and its allocations counted (untimed), then each contestant in
/// turn alternates with its group's limit.
pub(crate) fn run<M>(
    rt: &Runtime,
    entries: &mut [Entry<M>],
    plan: Plan,
    label: &str,
) -> Vec<Outcome> {
    let n = entries.len();
    let mut outcomes = vec![Outcome::default(); n];
    let bar = progress(label, (2 * n) as u64);
    for (entry, outcome) in entries.iter_mut().zip(&mut outcomes) {
        bar.set_message(format!("checking {}", entry.group));
        outcome.check = prepare(rt, entry, outcome, plan.alloc_requests).map_err(|e| e.to_string());
        bar.inc(1);
    }

    let limit_of = |entries: &[Entry<M>], group: &str| {
        entries.iter().position(|e| e.is_limit && e.group == group)
    };
    let passes = plan.passes.max(1);
    let schedule = Schedule {
        budget: plan.schedule.budget.div_f64(passes as f64),
        min_pairs: plan.schedule.min_pairs.div_ceil(passes),
        ..plan.schedule
    };
    let mut tallies = vec![Tally::default(); n];
    bar.set_length((n + passes * n) as u64);
    for pass in 0..passes {
        for i in 0..n {
            bar.inc(1);
            if entries[i].is_limit || outcomes[i].check.is_err() {
                continue;
            }
            let Some(l) = limit_of(entries, &entries[i].group) else {
                continue;
            };
            if outcomes[l].check.is_err() {
                outcomes[i].check = Err(format!("its limit failed: {:?}", outcomes[l].check));
                continue;
            }
            let group = &entries[i].group;
            bar.set_message(format!("{group} ({}, pass {})", i + 1, pass + 1));
            let (entry, limit) = pair_mut(entries, i, l);
            let (mine, theirs) = pair_mut(&mut tallies, i, l);
            let before = entry.stats.as_ref().map(|s| s());
            let mut limit_first = Vec::new();
            let (my_cpu, its_cpu) = (entry.cpu, limit.cpu);
            let result = {
                let mut me = on_cpu(my_cpu, block(rt, &mut *entry.scenario, &mut mine.firsts));
                let mut it = on_cpu(its_cpu, block(rt, &mut *limit.scenario, &mut limit_first));
                (|| {
                    let reps = match theirs.reps {
                        Some(reps) => reps,
                        None => paired::calibrate(&mut it, schedule.block)?,
                    };
                    let own = match mine.reps {
                        Some(own) => own,
                        None => paired::calibrate(&mut me, schedule.block)?,
                    };
                    paired::alternate_with(&mut it, reps, &mut me, own, &schedule)
                })()
            };
            if let (Some(stats), Some(before)) = (&entry.stats, before) {
                let after = stats();
                let (hits, taken) = mine.pooled.get_or_insert((0, 0));
                *hits += after.hits - before.hits;
                *taken += after.taken() - before.taken();
            }
            match result {
                Ok(series) => {
                    theirs.reps = Some(series.reference_reps);
                    mine.reps = Some(series.contestant_reps);
                    theirs.blocks.extend_from_slice(&series.reference);
                    mine.runs.push(series);
                }
                Err(e) => outcomes[i].check = Err(format!("failed while timed: {e}")),
            }
        }
    }
    bar.finish_and_clear();
    for ((entry, outcome), t) in entries.iter().zip(&mut outcomes).zip(&tallies) {
        if entry.is_limit && !t.blocks.is_empty() {
            // A limit: its speed over every block it ran; ratio 1 by definition.
            outcome.timed(&t.blocks, entry.items);
            outcome.ratio = Estimate::exact(1.0);
            outcome.limit_variation = block_variation(&t.blocks);
        } else if !t.runs.is_empty() && outcome.check.is_ok() {
            let contestant: Vec<f64> = t.runs.iter().flat_map(|s| s.contestant.clone()).collect();
            outcome.timed(&contestant, entry.items);
            outcome.first_chunk = Duration::from_secs_f64(median(&t.firsts).max(0.0));
            let ratios: Vec<Vec<f64>> = t.runs.iter().map(Series::speed_ratios).collect();
            outcome.ratio = Estimate::of_groups(&ratios);
            let variations: Vec<f64> = t.runs.iter().map(Series::reference_variation).collect();
            outcome.limit_variation = median(&variations);
            outcome.hit_rate = t
                .pooled
                .map_or(f64::NAN, |(hits, taken)| ratio(hits as f64, taken as f64));
        }
    }
    outcomes
}

/// Checks the body, warms up, and counts allocations per request in an untimed pass.
fn prepare<M>(
    rt: &Runtime,
    entry: &mut Entry<M>,
    outcome: &mut Outcome,
    alloc_requests: u64,
) -> Result<(), BoxError> {
    rt.block_on(scenario::check(
        &mut *entry.scenario,
        entry.format,
        &entry.expected,
    ))?;
    let scenario = &mut entry.scenario;
    // Warm-up: fills pools, connection pools and caches.
    let sample = rt.block_on(async { scenario.run().await })?;
    let (counted, counts) = alloc_count::counting(|| {
        rt.block_on(async {
            for _ in 0..alloc_requests {
                scenario.run().await?;
            }
            Ok::<_, BoxError>(())
        })
    });
    counted?;
    let per_request = alloc_requests.max(1) as f64;
    outcome.body_bytes = sample.bytes;
    outcome.chunks = sample.chunks;
    outcome.allocs = counts.allocs as f64 / per_request;
    outcome.alloc_bytes = counts.bytes as f64 / per_request;
    Ok(())
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress(label: &str, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::placement::Cpus;

    /// An entry with a CPU has each of its blocks run with the measuring thread bound to
    /// that CPU, and the thread's own CPUs back between blocks; without one, a block runs
    /// wherever the thread may.
    #[test]
    fn an_entry_s_blocks_run_on_its_cpu() -> Result<(), BoxError> {
        let test = || -> Result<(), BoxError> {
            let all = Cpus::of_this_thread()?.list();
            let cpu = *all.last().ok_or("this thread may run on no CPU")?;
            let mut seen = Vec::new();
            let mut bound = on_cpu(Some(cpu), |_| {
                seen.push(Cpus::of_this_thread()?.list());
                Ok(1.0)
            });
            bound(1)?;
            bound(1)?;
            drop(bound);
            assert_eq!(seen, [vec![cpu], vec![cpu]]);
            assert_eq!(Cpus::of_this_thread()?.list(), all);
            let mut free = on_cpu(None, |_| Ok(Cpus::of_this_thread()?.list().len() as f64));
            assert_eq!(free(1)?, all.len() as f64);
            Ok(())
        };
        // A thread of its own, so no other test's thread is bound.
        std::thread::spawn(test)
            .join()
            .map_err(|_| "the test's thread panicked")?
    }
}
