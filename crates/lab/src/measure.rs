//! Paired measurement of contestants against their group's limit: every contestant is
//! checked against the reference, warmed up and its allocations counted (untimed), then
//! contestants are timed one after another, each in its own tight alternation with its
//! limit ([`paired`]): one ratio per pair, the median with a bootstrap
//! 95% interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chunkstream::{BoxError, Format, PoolStats};
use chunkstream_benches::scenario::{self, Scenario};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::runtime::Runtime;

use crate::alloc_count;
use crate::paired::{self, Schedule};
use crate::stats::{Estimate, block_variation, median, ratio};

/// Counters of a contestant's pool.
pub(crate) type StatsFn = Arc<dyn Fn() -> PoolStats + Send + Sync>;

/// One contestant to measure, with `meta` describing it for the report.
pub(crate) struct Entry<M> {
    /// What the report says about it.
    pub(crate) meta: M,
    /// Entries with the same group share a limit (the entry with `is_limit`).
    pub(crate) group: String,
    /// Whether this entry is its group's limit.
    pub(crate) is_limit: bool,
    /// Items per request.
    pub(crate) items: u64,
    /// How its body is framed (for the check).
    pub(crate) format: Format,
    /// The reference values its body must parse to.
    pub(crate) expected: Arc<serde_json::Value>,
    /// How it answers a request.
    pub(crate) scenario: Box<dyn Scenario>,
    /// Its pool's counters, for chunkstream contestants.
    pub(crate) stats: Option<StatsFn>,
}

impl<M: std::fmt::Debug> std::fmt::Debug for Entry<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("meta", &self.meta)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// What was measured for one entry.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// `Ok` when the body matched the reference; else why not (then nothing was timed).
    pub(crate) check: Result<(), String>,
    /// Pairs of blocks timed (contestant blocks; for a limit, all its blocks).
    pub(crate) pairs: usize,
    /// Requests per contestant block.
    pub(crate) reps: u64,
    /// Median body bytes per second over blocks.
    pub(crate) bytes_per_sec: f64,
    /// Median items per second.
    pub(crate) items_per_sec: f64,
    /// This entry's throughput over its group limit's, per pair: median and 95% interval.
    pub(crate) ratio: Estimate,
    /// The limit's block-to-block variation during this entry's alternation.
    pub(crate) limit_variation: f64,
    /// Bytes of one body.
    pub(crate) body_bytes: u64,
    /// Chunks per request.
    pub(crate) chunks: u64,
    /// Median time to the first chunk.
    pub(crate) first_chunk: Duration,
    /// Allocations per request (counting allocator, untimed pass).
    pub(crate) allocs: f64,
    /// Bytes allocated per request.
    pub(crate) alloc_bytes: f64,
    /// Pool hit rate over the timed requests (NaN without a pool).
    pub(crate) hit_rate: f64,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            check: Err("not run".to_owned()),
            pairs: 0,
            reps: 0,
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

/// A timed block of `scenario`: `reps` requests, seconds per request; the mean time to
/// the first chunk of the block is pushed to `first`.
pub(crate) fn block<'a>(
    rt: &'a Runtime,
    scenario: &'a mut dyn Scenario,
    first: &'a mut Vec<f64>,
) -> impl FnMut(u64) -> Result<f64, BoxError> + 'a {
    move |reps| {
        let (elapsed, first_chunk) = rt.block_on(async {
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
    let mut limit_blocks: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut limit_reps: Vec<Option<u64>> = vec![None; n];
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
        bar.set_message(format!("{} ({})", entries[i].group, i + 1));
        let before = entries[i].stats.as_ref().map(|s| s());
        let (entry, limit) = pair_mut(entries, i, l);
        let mut first = Vec::new();
        let mut limit_first = Vec::new();
        let series = {
            let mut mine = block(rt, &mut *entry.scenario, &mut first);
            let mut theirs = block(rt, &mut *limit.scenario, &mut limit_first);
            let result = (|| {
                let reps = match limit_reps[l] {
                    Some(reps) => reps,
                    None => paired::calibrate(&mut theirs, plan.schedule.block)?,
                };
                let own = paired::calibrate(&mut mine, plan.schedule.block)?;
                paired::alternate_with(&mut theirs, reps, &mut mine, own, &plan.schedule)
            })();
            match result {
                Ok(series) => series,
                Err(e) => {
                    outcomes[i].check = Err(format!("failed while timed: {e}"));
                    continue;
                }
            }
        };
        limit_reps[l] = Some(series.reference_reps);
        limit_blocks[l].extend_from_slice(&series.reference);
        let outcome = &mut outcomes[i];
        let per_sec = ratio(1.0, median(&series.contestant));
        outcome.pairs = series.pairs();
        outcome.reps = series.contestant_reps;
        outcome.bytes_per_sec = per_sec * outcome.body_bytes as f64;
        outcome.items_per_sec = per_sec * entry.items as f64;
        outcome.first_chunk = Duration::from_secs_f64(median(&first).max(0.0));
        outcome.ratio = series.speed();
        outcome.limit_variation = series.reference_variation();
        outcome.hit_rate = match (&entry.stats, before) {
            (Some(stats), Some(before)) => {
                let after = stats();
                ratio(
                    (after.hits - before.hits) as f64,
                    (after.taken() - before.taken()) as f64,
                )
            }
            _ => f64::NAN,
        };
    }
    bar.finish_and_clear();

    // The limits: their speed over every block they ran; ratio 1 by definition.
    for (l, blocks) in limit_blocks.iter().enumerate() {
        if !entries[l].is_limit || blocks.is_empty() {
            continue;
        }
        let outcome = &mut outcomes[l];
        let per_sec = ratio(1.0, median(blocks));
        outcome.pairs = blocks.len();
        outcome.reps = limit_reps[l].unwrap_or(0);
        outcome.bytes_per_sec = per_sec * outcome.body_bytes as f64;
        outcome.items_per_sec = per_sec * entries[l].items as f64;
        outcome.ratio = Estimate::exact(1.0);
        outcome.limit_variation = block_variation(blocks);
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
