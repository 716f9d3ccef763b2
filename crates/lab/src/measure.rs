//! Interleaved rounds: every contestant is checked against the reference, warmed up and
//! calibrated, then timed in rounds that visit all contestants in turn (A B C A B C ...,
//! each round starting one further along), so drift and noise hit every contestant
//! alike. Ratios to the limit are taken per round, then the median is reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chunkstream::{BoxError, Format, PoolStats};
use chunkstream_benches::scenario::{self, Scenario};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::runtime::Runtime;

use crate::alloc_count::Counts;
use crate::stats::{median, range, ratio};

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
    /// Rounds timed.
    pub(crate) rounds: usize,
    /// Requests per round.
    pub(crate) reps: u64,
    /// Median body bytes per second over rounds.
    pub(crate) bytes_per_sec: f64,
    /// Median items per second.
    pub(crate) items_per_sec: f64,
    /// Median over rounds of this entry's throughput / its group limit's throughput.
    pub(crate) ratio: f64,
    /// Smallest and largest per-round ratio.
    pub(crate) ratio_range: (f64, f64),
    /// Bytes of one body.
    pub(crate) body_bytes: u64,
    /// Chunks per request.
    pub(crate) chunks: u64,
    /// Median time to the first chunk.
    pub(crate) first_chunk: Duration,
    /// Allocations per request (counting allocator, steady state).
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
            rounds: 0,
            reps: 0,
            bytes_per_sec: f64::NAN,
            items_per_sec: f64::NAN,
            ratio: f64::NAN,
            ratio_range: (f64::NAN, f64::NAN),
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
    /// Rounds over all entries.
    pub(crate) rounds: usize,
    /// Total time for the timed rounds, split evenly over entries and rounds.
    pub(crate) budget: Duration,
    /// Requests counted for allocations (after warm-up).
    pub(crate) alloc_requests: u64,
}

/// Measures `entries` on `rt` following `plan`, showing progress as `label`.
pub(crate) fn run<M>(
    rt: &Runtime,
    entries: &mut [Entry<M>],
    plan: Plan,
    label: &str,
) -> Vec<Outcome> {
    let n = entries.len();
    let mut outcomes = vec![Outcome::default(); n];
    let bar = progress(label, (n * (plan.rounds + 1)) as u64);

    // Check, warm up, count allocations and calibrate every entry.
    let per_round = plan.budget.as_secs_f64() / (plan.rounds.max(1) * n.max(1)) as f64;
    for (entry, outcome) in entries.iter_mut().zip(&mut outcomes) {
        bar.set_message(format!("checking {}", entry.group));
        outcome.check =
            prepare(rt, entry, outcome, per_round, plan.alloc_requests).map_err(|e| e.to_string());
        bar.inc(1);
    }

    // Timed rounds, interleaved.
    let mut seconds = vec![Vec::with_capacity(plan.rounds); n];
    let mut first = vec![Vec::with_capacity(plan.rounds); n];
    let stats_before: Vec<Option<PoolStats>> = entries
        .iter()
        .map(|e| e.stats.as_ref().map(|s| s()))
        .collect();
    for round in 0..plan.rounds {
        bar.set_message(format!("round {}/{}", round + 1, plan.rounds));
        for k in 0..n {
            let i = (k + round) % n;
            let (entry, outcome) = (&mut entries[i], &outcomes[i]);
            if outcome.check.is_ok() {
                let reps = outcome.reps;
                let scenario = &mut entry.scenario;
                let (elapsed, first_chunk) = rt.block_on(async {
                    let start = Instant::now();
                    let mut first_chunk = Duration::ZERO;
                    for _ in 0..reps {
                        match scenario.run().await {
                            Ok(sample) => first_chunk += sample.first_chunk,
                            Err(_) => return (Duration::ZERO, Duration::ZERO),
                        }
                    }
                    (start.elapsed(), first_chunk / reps.max(1) as u32)
                });
                seconds[i].push(elapsed.as_secs_f64() / reps as f64);
                first[i].push(first_chunk.as_secs_f64());
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    // Throughputs and ratios to each group's limit, per round.
    for i in 0..n {
        let outcome = &mut outcomes[i];
        if outcome.check.is_err() {
            continue;
        }
        let entry = &entries[i];
        let bytes = outcome.body_bytes as f64;
        let per_sec: Vec<f64> = seconds[i].iter().map(|&s| ratio(1.0, s)).collect();
        outcome.rounds = per_sec.len();
        outcome.bytes_per_sec = median(&per_sec) * bytes;
        outcome.items_per_sec = median(&per_sec) * entry.items as f64;
        outcome.first_chunk = Duration::from_secs_f64(median(&first[i]).max(0.0));
        let limit = entries
            .iter()
            .position(|e| e.is_limit && e.group == entry.group);
        if let Some(l) = limit {
            let ratios: Vec<f64> = seconds[i]
                .iter()
                .zip(&seconds[l])
                .map(|(&mine, &limit)| ratio(limit, mine))
                .collect();
            outcome.ratio = median(&ratios);
            outcome.ratio_range = range(&ratios);
        } else {
            outcome.ratio = f64::NAN;
            outcome.ratio_range = (f64::NAN, f64::NAN);
        }
        outcome.hit_rate = match (&entry.stats, stats_before[i]) {
            (Some(stats), Some(before)) => {
                let after = stats();
                let hits = after.hits - before.hits;
                let taken = after.taken() - before.taken();
                ratio(hits as f64, taken as f64)
            }
            _ => f64::NAN,
        };
    }
    outcomes
}

/// Checks the body, warms up, counts allocations per request and picks the number of
/// requests per round.
fn prepare<M>(
    rt: &Runtime,
    entry: &mut Entry<M>,
    outcome: &mut Outcome,
    per_round: f64,
    alloc_requests: u64,
) -> Result<(), BoxError> {
    rt.block_on(scenario::check(
        &mut *entry.scenario,
        entry.format,
        &entry.expected,
    ))?;
    let scenario = &mut entry.scenario;
    let (sample, once, counts) = rt.block_on(async {
        // Warm-up: fills pools, connection pools and caches.
        let start = Instant::now();
        let sample = scenario.run().await?;
        let once = start.elapsed();
        let before = Counts::now();
        for _ in 0..alloc_requests {
            scenario.run().await?;
        }
        Ok::<_, BoxError>((sample, once, Counts::now().since(before)))
    })?;
    let per_request = alloc_requests.max(1) as f64;
    outcome.body_bytes = sample.bytes;
    outcome.chunks = sample.chunks;
    outcome.allocs = counts.allocs as f64 / per_request;
    outcome.alloc_bytes = counts.bytes as f64 / per_request;
    outcome.reps = ((per_round / once.as_secs_f64().max(1e-7)) as u64).max(1);
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
