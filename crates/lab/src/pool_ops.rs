//! Pool get + put per strategy on one thread, timed in interleaved rounds: the lab's
//! figure for the Go claim of 8.37 ns per pool operation (the criterion bench
//! `pool/get_put` measures the same with criterion's statistics).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chunkstream::{BufferPool, PoolConfig};
use chunkstream_benches::contestants::{POOLS, PoolKind, WithPool};

use crate::stats::median;
use crate::table::{Table, fmt_num};

/// The columns of `pool_ops.csv`.
pub(crate) const COLUMNS: &[&str] = &[
    "pool",
    "ns_per_get_put",
    "ns_min",
    "rounds",
    "ops_per_round",
];

/// Times `ops` get + put pairs per round, `rounds` rounds, every strategy in turn.
pub(crate) fn measure(rounds: usize, ops: u64) -> Table {
    struct Time(u64);
    impl WithPool for Time {
        type Output = Box<dyn FnMut() -> f64>;
        fn run<P: BufferPool>(self, pool: Arc<P>) -> Self::Output {
            let ops = self.0;
            Box::new(move || {
                let start = Instant::now();
                for _ in 0..ops {
                    let buf = pool.get();
                    pool.put(black_box(buf));
                }
                start.elapsed().as_secs_f64() * 1e9 / ops as f64
            })
        }
    }
    let mut timers: Vec<(PoolKind, Box<dyn FnMut() -> f64>)> = POOLS
        .iter()
        .map(|&p| (p, p.with(PoolConfig::default(), Time(ops))))
        .collect();
    for (_, time) in &mut timers {
        time(); // warm-up
    }
    let mut ns = vec![Vec::new(); timers.len()];
    for round in 0..rounds {
        for k in 0..timers.len() {
            let i = (k + round) % timers.len();
            ns[i].push((timers[i].1)());
        }
    }
    let mut table = Table::new(COLUMNS);
    for ((pool, _), ns) in timers.iter().zip(&ns) {
        let min = ns.iter().copied().fold(f64::NAN, f64::min);
        table.push(vec![
            pool.name().to_owned(),
            fmt_num(median(ns), 2),
            fmt_num(min, 2),
            rounds.to_string(),
            ops.to_string(),
        ]);
    }
    table
}
