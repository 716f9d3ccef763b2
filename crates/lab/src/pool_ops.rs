//! Pool get + put per strategy as a ratio to a same-run reference, in paired blocks:
//! - one thread: get + put beside a fresh `Vec::with_capacity(buffer_size)` + drop (what
//!   a pool replaces);
//! - get here, put there: buffers taken on one thread and given back on another (what a
//!   multi-thread runtime does), beside allocating here and freeing there;
//! - two threads at once: both threads get + put on one shared pool, beside both
//!   allocating at once;
//! - and, when Go is there, the Go package's `sync.Pool` beside Go's own allocation,
//!   and each strategy beside Go's `sync.Pool` (the figure for the Go claim of 8.37 ns).
//!
//! Nothing here runs under the counting allocator (it is off while timing).

use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chunkstream::{BoxError, BufferPool, PoolConfig};
use chunkstream_benches::contestants::{POOLS, WithPool};

use crate::paired::{self, Block, Schedule, Series};
use crate::stats::ratio;
use crate::table::{Table, fmt_num};

/// The columns of `pool_ops.csv`.
pub(crate) const COLUMNS: &[&str] = &[
    "case",
    "pool",
    "reference",
    "ns_per_op",
    "ns_lo",
    "ns_hi",
    "reference_ns",
    "reference_ns_lo",
    "reference_ns_hi",
    "ratio",
    "ratio_lo",
    "ratio_hi",
    "pairs",
    "hit_rate",
    "reference_variation",
];

/// One thread, get + put.
pub(crate) const ONE_THREAD: &str = "one thread";
/// Get on one thread, put on another.
pub(crate) const CROSS_THREAD: &str = "get on one thread and put on another";
/// Two threads at once on one pool.
pub(crate) const TWO_THREADS: &str = "two threads at once";
/// One thread, against Go's `sync.Pool`.
pub(crate) const VS_GO: &str = "one thread against Go";
/// The reference: a fresh buffer and its drop.
pub(crate) const FRESH: &str = "fresh Vec";
/// Go's own pool and allocation (rows measured in Go).
pub(crate) const GO_POOL: &str = "Go sync.Pool";
/// Go's fresh allocation.
pub(crate) const GO_FRESH: &str = "Go make([]byte)";

/// Buffers handed over at once in the cross-thread case (below every pool's bound).
const HANDOFF: usize = 16;

/// The Go package's pool, as timed blocks (ns per op measured in Go).
pub(crate) struct GoPool<'a> {
    /// `iterations` sync.Pool Get + Put: ns per op.
    pub(crate) pool: Box<dyn FnMut(u64) -> Result<f64, BoxError> + 'a>,
    /// `iterations` fresh 50 KB slices: ns per op.
    pub(crate) alloc: Box<dyn FnMut(u64) -> Result<f64, BoxError> + 'a>,
}

impl std::fmt::Debug for GoPool<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GoPool")
    }
}

/// `reps` get + put on this thread: seconds per op.
fn one_thread(
    get: &(dyn Fn() -> Vec<u8> + Sync),
    put: &(dyn Fn(Vec<u8>) + Sync),
    reps: u64,
) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        let buf = get();
        put(black_box(buf));
    }
    start.elapsed().as_secs_f64() / reps.max(1) as f64
}

/// `reps` gets on this thread and puts on another, [`HANDOFF`] at a time: seconds per
/// op, counting only the get and put calls (the hand-over is not timed).
fn cross_thread(
    get: &(dyn Fn() -> Vec<u8> + Sync),
    put: &(dyn Fn(Vec<u8>) + Sync),
    reps: u64,
) -> f64 {
    let (to_worker, work) = sync_channel::<Vec<Vec<u8>>>(1);
    let (to_main, back) = sync_channel::<(Vec<Vec<u8>>, Duration)>(1);
    std::thread::scope(|s| {
        s.spawn(move || {
            for mut batch in work {
                let start = Instant::now();
                for buf in batch.drain(..) {
                    put(black_box(buf));
                }
                if to_main.send((batch, start.elapsed())).is_err() {
                    break;
                }
            }
        });
        let mut batch = Vec::with_capacity(HANDOFF);
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < reps {
            let k = (reps - done).min(HANDOFF as u64);
            let start = Instant::now();
            for _ in 0..k {
                batch.push(get());
            }
            total += start.elapsed();
            if to_worker.send(batch).is_err() {
                break;
            }
            let Ok((returned, put_time)) = back.recv() else {
                break;
            };
            batch = returned;
            total += put_time;
            done += k;
        }
        drop(to_worker);
        total.as_secs_f64() / reps.max(1) as f64
    })
}

/// Two threads, each `reps` get + put at the same time: seconds per op on one thread
/// (the slower thread's time over `reps`).
fn two_threads(
    get: &(dyn Fn() -> Vec<u8> + Sync),
    put: &(dyn Fn(Vec<u8>) + Sync),
    reps: u64,
) -> f64 {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            barrier.wait();
            one_thread(get, put, reps)
        };
        let other = s.spawn(run);
        let mine = run();
        mine.max(other.join().unwrap_or(f64::NAN))
    })
}

type Shape = fn(&(dyn Fn() -> Vec<u8> + Sync), &(dyn Fn(Vec<u8>) + Sync), u64) -> f64;

const SHAPES: [(&str, Shape); 3] = [
    (ONE_THREAD, one_thread),
    (CROSS_THREAD, cross_thread),
    (TWO_THREADS, two_threads),
];

/// One row of the table.
#[allow(clippy::too_many_arguments)]
fn push(
    table: &mut Table,
    case: &str,
    pool: &str,
    reference: &str,
    series: &Series,
    hit_rate: f64,
) {
    let ns = series.contestant_time().scale(1e9);
    let reference_ns = series.reference_time().scale(1e9);
    let cost = series.cost();
    table.push(vec![
        case.to_owned(),
        pool.to_owned(),
        reference.to_owned(),
        fmt_num(ns.median, 2),
        fmt_num(ns.lo, 2),
        fmt_num(ns.hi, 2),
        fmt_num(reference_ns.median, 2),
        fmt_num(reference_ns.lo, 2),
        fmt_num(reference_ns.hi, 2),
        fmt_num(cost.median, 3),
        fmt_num(cost.lo, 3),
        fmt_num(cost.hi, 3),
        series.pairs().to_string(),
        fmt_num(hit_rate, 3),
        fmt_num(series.reference_variation(), 4),
    ]);
}

/// Measures every strategy in every case (and against Go when `go` is given).
pub(crate) fn measure(schedule: &Schedule, mut go: Option<GoPool<'_>>) -> Result<Table, BoxError> {
    let config = PoolConfig::default();
    let size = config.buffer_size;
    let fresh = move || Vec::with_capacity(size);
    let free = |buf: Vec<u8>| drop(buf);
    let mut table = Table::new(COLUMNS);

    struct Cases<'a, 'g> {
        schedule: &'a Schedule,
        fresh: &'a (dyn Fn() -> Vec<u8> + Sync),
        free: &'a (dyn Fn(Vec<u8>) + Sync),
        go: Option<&'a mut GoPool<'g>>,
    }
    impl WithPool for Cases<'_, '_> {
        type Output = Result<Vec<(&'static str, &'static str, Series, f64)>, BoxError>;
        fn run<P: BufferPool>(self, pool: Arc<P>) -> Self::Output {
            let get = || pool.get();
            let put = |buf: Vec<u8>| pool.put(buf);
            let mut rows = Vec::new();
            for (case, shape) in SHAPES {
                let before = pool.stats();
                let mut theirs = |reps: u64| Ok(shape(self.fresh, self.free, reps));
                let mut mine = |reps: u64| Ok(shape(&get, &put, reps));
                mine(1000)?; // warm-up: fills the pool
                let series = paired::alternate(&mut theirs, &mut mine, self.schedule)?;
                let after = pool.stats();
                let hit_rate = ratio(
                    (after.hits - before.hits) as f64,
                    (after.taken() - before.taken()) as f64,
                );
                rows.push((case, FRESH, series, hit_rate));
            }
            if let Some(go) = self.go {
                let mut theirs: Box<Block<'_>> = Box::new(|reps: u64| Ok((go.pool)(reps)? * 1e-9));
                let mut mine = |reps: u64| Ok(one_thread(&get, &put, reps));
                let series = paired::alternate(&mut *theirs, &mut mine, self.schedule)?;
                rows.push((VS_GO, GO_POOL, series, f64::NAN));
            }
            Ok(rows)
        }
    }

    for &kind in POOLS {
        let rows = kind.with(
            config,
            Cases {
                schedule,
                fresh: &fresh,
                free: &free,
                go: if kind.pools() { go.as_mut() } else { None },
            },
        )?;
        for (case, reference, series, hit_rate) in rows {
            push(&mut table, case, kind.name(), reference, &series, hit_rate);
        }
    }
    if let Some(go) = go.as_mut() {
        let mut alloc = |reps: u64| Ok((go.alloc)(reps)? * 1e-9);
        let series = {
            let mut pool = |reps: u64| Ok((go.pool)(reps)? * 1e-9);
            paired::alternate(&mut alloc, &mut pool, schedule)?
        };
        push(&mut table, ONE_THREAD, GO_POOL, GO_FRESH, &series, f64::NAN);
    }
    Ok(table)
}
