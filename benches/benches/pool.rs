//! Pool get + put per strategy, on one thread and on two threads sharing the pool.

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chunkstream::{BufferPool, PoolConfig};
use chunkstream_benches::contestants::{POOLS, WithPool};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

/// Checks the pool's contract before it is timed: an empty buffer of at least the
/// initial size, and a hit after a put for pooling strategies.
fn check<P: BufferPool>(pool: &P, pools: bool) {
    let mut buf = pool.get();
    assert!(buf.is_empty() && buf.capacity() >= pool.initial_size());
    buf.extend_from_slice(b"dirty");
    pool.put(buf);
    let before = pool.stats().hits;
    let buf = pool.get();
    assert!(buf.is_empty(), "a pooled buffer comes back cleared");
    assert_eq!(pool.stats().hits - before, u64::from(pools));
    pool.put(buf);
}

/// One pool timed on `threads` threads at once (1, or 2 sharing it).
struct GetPut<'a, 'g> {
    group: &'a mut BenchmarkGroup<'g, WallTime>,
    name: &'static str,
    pools: bool,
    threads: usize,
}

impl WithPool for GetPut<'_, '_> {
    type Output = ();
    fn run<P: BufferPool>(self, pool: Arc<P>) {
        check(&*pool, self.pools);
        let threads = self.threads;
        if threads == 1 {
            self.group.bench_function(self.name, |b| {
                b.iter(|| {
                    let buf = pool.get();
                    pool.put(black_box(buf));
                })
            });
            return;
        }
        // Time per get + put pair while the other threads do the same on the same pool.
        self.group.bench_function(self.name, |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(threads);
                let elapsed: Vec<Duration> = std::thread::scope(|s| {
                    let workers: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                barrier.wait();
                                let start = Instant::now();
                                for _ in 0..iters {
                                    let buf = pool.get();
                                    pool.put(black_box(buf));
                                }
                                start.elapsed()
                            })
                        })
                        .collect();
                    workers.into_iter().map(|w| w.join().unwrap()).collect()
                });
                elapsed.into_iter().max().unwrap_or_default()
            })
        });
    }
}

fn pools(c: &mut Criterion) {
    let config = PoolConfig::default();
    for (group, threads) in [("pool/get_put", 1), ("pool/get_put_two_threads", 2)] {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Bytes(config.buffer_size as u64));
        for &pool in POOLS {
            let bench = GetPut {
                group: &mut group,
                name: pool.name(),
                pools: pool.pools(),
                threads,
            };
            pool.with(config, bench);
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = pools
}
criterion_main!(benches);
