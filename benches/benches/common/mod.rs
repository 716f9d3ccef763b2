//! Criterion configuration shared by the bench targets.

use std::time::Duration;

use criterion::Criterion;

/// Criterion's defaults, with pprof flamegraphs under the `pprof` feature
/// (`cargo bench -p chunkstream-benches --features pprof -- --profile-time 5`).
#[cfg(feature = "pprof")]
pub(crate) fn criterion() -> Criterion {
    short(Criterion::default()).with_profiler(pprof::criterion::PProfProfiler::new(
        1000,
        pprof::criterion::Output::Flamegraph(None),
    ))
}

/// Criterion's defaults (build with the `pprof` feature for flamegraphs).
#[cfg(not(feature = "pprof"))]
pub(crate) fn criterion() -> Criterion {
    short(Criterion::default())
}

/// Shorter than criterion's defaults (3 s warm-up, 5 s measurement): this machine has
/// two cores shared with other builds, and `just bench` runs every group.
fn short(c: Criterion) -> Criterion {
    c.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}
