//! `parallel --profile`: pprof flamegraphs of the parallel batch path and the run-ahead
//! sources, into `flamegraphs/parallel-*.svg`, with a summary in
//! `flamegraphs/parallel-profile.md`.
//!
//! Each scenario is the one the `parallel` report times, driven the same way (the stream
//! polled by `block_on` on the main thread, beside a two-worker tokio runtime whose
//! blocking pool runs the encoders; the load scenarios' 64 streams are tasks on that
//! runtime), for a few seconds of back-to-back requests. The
//! summary says how much CPU one request took against its wall time (how many cores were
//! busy on average), which threads took it, and which kind of frame: a flamegraph shows
//! proportions of CPU, so idle cores only show in the busy figure.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chunkstream::encode::{SerdeJson, SonicRs};
use chunkstream::pool::FreelistPool;
use chunkstream::{
    BoxError, ChunkConfig, ChunkStream, EncodePermits, Encoder, Streamer, source, transform,
};
use chunkstream_benches::peers;
use chunkstream_benches::workload;
use tokio::runtime::Runtime;

use super::parallel::{self, RUN_AHEAD};
use crate::env_info::Environment;
use crate::frames::{self, FrameTest};
use crate::harness::rows::drain;
use crate::report;
use crate::sampling::{self, shares};
use crate::sources::{self, Sqlite};

/// One request: drives its streams to the end on the runtime, and returns the bytes.
type Request<'a> = Box<dyn Fn(&Runtime) -> Result<u64, BoxError> + 'a>;

/// A request of one stream, made fresh by `make` and polled by `block_on`.
fn one<'a>(make: impl Fn() -> ChunkStream + 'a) -> Request<'a> {
    Box::new(move |rt: &Runtime| rt.block_on(drain(make())))
}

/// A request of [`parallel::CONCURRENT`] streams of `items` at once, each a task on the runtime,
/// as the `parallel` report's load row runs them.
fn concurrent<E: Encoder>(
    streamer: Streamer<FreelistPool, E>,
    items: &'static [workload::Ticket],
) -> Request<'static> {
    let streamer = Arc::new(streamer);
    Box::new(move |rt: &Runtime| rt.block_on(parallel::concurrent(&streamer, items)))
}

/// Kinds of frame, most specific first: a sample counts for the kind of its innermost
/// recognised frame (its "self" time, as a flamegraph's top edge reads).
const KINDS: &[(&str, FrameTest)] = &[
    ("allocation and freeing", frames::is_allocation),
    ("memory copies", frames::is_copy),
    ("SQLite C library", |n| n.starts_with("sqlite3")),
    ("row decoding", |n| {
        n.contains("try_get") || n.contains("Decode") || n.contains("sources::decode")
    }),
    ("sqlx driver", |n| n.contains("sqlx_")),
    ("sonic-rs encoding", |n| n.contains("sonic_rs")),
    ("serde_json encoding", |n| n.contains("serde_json")),
    (
        "thread wake-ups and parking (futex, condvar, unpark)",
        |n| {
            n.contains("futex")
                || n.contains("Condvar")
                || n.contains("park")
                || n.contains("syscall")
                || n.contains("sched_yield")
        },
    ),
    ("channels (tokio mpsc)", |n| n.contains("sync::mpsc")),
    ("run-ahead queue", |n| n.contains("run_ahead")),
    ("parallel path bookkeeping (fill, dispatch, emit)", |n| {
        n.contains("chunkstream::parallel")
    }),
    ("batching the source", |n| n.contains("chunkstream::source")),
    ("other chunkstream", |n| n.contains("chunkstream::")),
    ("tokio scheduler and blocking pool", |n| {
        n.contains("tokio::")
    }),
];

/// Which thread a sample ran on, from its stack: the stream's driver (`main`), an
/// encoder on tokio's blocking pool, or a runtime worker (producers, run-ahead tasks).
fn thread_of(thread_name: &str, names: &[String]) -> &'static str {
    // Tokio starts its runtime workers on the blocking pool too: tell them apart first.
    if names.iter().any(|n| n.contains("multi_thread::worker")) {
        "runtime workers"
    } else if names.iter().any(|n| n.contains("blocking::pool")) {
        "blocking pool (encoders)"
    } else if thread_name.starts_with("sqlx") {
        "sqlx SQLite worker"
    } else if thread_name.starts_with("tokio") {
        "runtime workers"
    } else {
        "main (the stream's driver)"
    }
}

/// Profiles `request` for `seconds`; writes the flamegraph to `path`; a summary line.
fn profile(
    rt: &Runtime,
    request: &Request<'_>,
    path: &Path,
    seconds: f64,
) -> Result<String, BoxError> {
    let _context = rt.enter();
    // One request outside the profile: threads and pools warm.
    request(rt)?;
    let sampled = sampling::sample(seconds, path, || request(rt))?;
    let (requests, wall) = (sampled.requests.max(1) as f64, sampled.wall);
    let tally = sampling::tally(&sampled.report, KINDS, |name, names| {
        thread_of(name, names).into()
    });
    let total = tally.total;
    let threads = shares(tally.threads, total, 5);
    let kinds = shares(tally.kinds, total, 8);
    let tops = shares(tally.tops, total, 6);
    let busy = match sampled.cpu {
        Some(cpu) => format!(
            "{:.2} ms of CPU per request, so **{:.2} cores busy** on average",
            1e3 * cpu / requests,
            cpu / wall
        ),
        None => "CPU time unknown".to_owned(),
    };
    Ok(format!(
        "{} requests in {wall:.1} s ({:.0} MB/s): {:.2} ms of wall time and {busy} ({total} \
         samples). Threads: {threads}. By innermost recognised frame: {kinds}. Top frames \
         (self): {tops}.",
        sampled.requests,
        sampled.bytes as f64 / wall / 1e6,
        1e3 * wall / requests,
    ))
}

fn streamer<E: Encoder>(encoder: E, workers: usize) -> Result<Streamer<FreelistPool, E>, BoxError> {
    let config = ChunkConfig::default();
    let pool = Arc::new(FreelistPool::new(config.pool));
    Ok(Streamer::with_parts(config, pool, encoder)?
        .with_encode_workers(workers)
        .with_encode_permits(Arc::new(EncodePermits::new(workers))))
}

/// Writes the flamegraphs and their summary into `out/flamegraphs/`.
pub(crate) fn run(seconds: f64, env: &Environment, out: &Path) -> Result<(), BoxError> {
    let rt = parallel::runtime()?;
    let dir = out.join("flamegraphs");
    std::fs::create_dir_all(&dir)?;
    let items = parallel::tickets(8 << 20);
    let db_items = parallel::tickets(2 << 20);
    let sqlite = rt.block_on(Sqlite::seed(db_items))?;
    let db = sqlite.pool;

    let serde2 = streamer(SerdeJson, 2)?;
    let sonic2 = streamer(SonicRs, 2)?;
    let single = streamer(SerdeJson, 1)?;
    let load_items = parallel::tickets(1 << 20);
    let pass = || transform::batch_passthrough::<&'static workload::Ticket>();
    let scenarios: Vec<(&str, &str, Request<'_>)> = vec![
        (
            "parallel-serde_json-2-workers",
            "bulk tickets from memory, serde_json, 2 workers",
            one(|| serde2.stream_batch(peers::memory(items), pass())),
        ),
        (
            "parallel-sonic-rs-2-workers",
            "bulk tickets from memory, sonic-rs, 2 workers",
            one(|| sonic2.stream_batch(peers::memory(items), pass())),
        ),
        (
            "parallel-channel-plain",
            "channel source, no run_ahead (the reference)",
            one(|| single.stream_batch(sources::channel(items), pass())),
        ),
        (
            "parallel-channel-run_ahead",
            "channel source, run_ahead",
            one(|| {
                single.stream_batch(
                    source::run_ahead(sources::channel(items), RUN_AHEAD),
                    pass(),
                )
            }),
        ),
        (
            "parallel-sqlite-plain",
            "SQLite source, no run_ahead (the reference)",
            one(|| single.stream_batch(Sqlite::rows(db), transform::batch_passthrough())),
        ),
        (
            "parallel-sqlite-run_ahead",
            "SQLite source, run_ahead",
            one(|| {
                single.stream_batch(
                    source::run_ahead(Sqlite::rows(db), RUN_AHEAD),
                    transform::batch_passthrough(),
                )
            }),
        ),
        (
            "parallel-load-off",
            "64 concurrent requests, parallel encoding off (the reference)",
            concurrent(streamer(SerdeJson, 1)?, load_items),
        ),
        (
            "parallel-load-on",
            "64 concurrent requests, parallel encoding on (2 workers, 2 permits)",
            concurrent(streamer(SerdeJson, 2)?, load_items),
        ),
    ];
    let mut summary = String::from(
        "pprof at 999 Hz, every thread of the process, the scenarios of the `parallel` \
         report driven the same way (the stream polled by `block_on` on the main thread, \
         a two-worker tokio runtime beside it, encoders on its blocking pool; the load \
         scenarios run their 64 streams as tasks on that runtime, whose two workers then \
         encode every batch that finds no free permit). A \
         flamegraph shows where the CPU went; cores left idle show only in the \
         \"cores busy\" figure (the process's CPU time from `/proc/self/stat` over wall \
         time; at most 2 on this machine, less when other processes take the cores). The \
         sample counts are lower than the CPU time (the profiling signal is process-wide \
         and pending signals merge), so read the percentages, not the counts.\n\n",
    );
    for (file, what, request) in &scenarios {
        eprintln!("parallel --profile: {what}");
        let path = dir.join(format!("{file}.svg"));
        let line = profile(&rt, request, &path, seconds)?;
        writeln!(summary, "- **{what}** ([flamegraph]({file}.svg)): {line}")?;
    }
    drop(scenarios);
    drop(sqlite);
    let path = dir.join("parallel-profile.md");
    let title = "Profiles of the parallel path and the run-ahead sources";
    std::fs::write(&path, report::document(title, env, &summary))?;
    println!("flamegraphs and summary: {}", path.display());
    Ok(())
}
