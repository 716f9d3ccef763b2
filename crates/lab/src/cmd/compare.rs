//! `compare`: every pool x encoder, both formats, the streamer's three paths, and the
//! sources (memory, tokio channel, SQLite, PostgreSQL, axum over HTTP) on the three
//! workloads, with the peers and the limit in the same interleaved rounds. Per workload:
//! - memory, JSON array, `stream`: every pool x every encoder, every peer, the limit;
//!   NDJSON with every encoder; `stream_batch` and `spawn` with the defaults;
//! - channel and HTTP: every pool (serde_json) and the peers;
//! - SQLite through sqlx and through rusqlite, and PostgreSQL when `DATABASE_URL` points
//!   to it (else its rows say why not), tickets only, as the channel;
//! - tickets only: the one-download target's HTTP rows (each in fresh processes), and
//!   CSV, the JSON envelope and SSE beside their peers, against each format's limit.
//!
//! Ratios are to the limit of the same workload: one `serde_json::to_writer` of the
//! in-memory items (or a format's own limit), measured in the same rounds.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chunkstream::{BoxError, ChunkConfig, format::Json};
use chunkstream_benches::contestants::{
    DEFAULT_ENCODER, DEFAULT_FEATURES_ENCODER, DEFAULT_POOL, ENCODERS, EncoderKind, POOLS, PoolKind,
};
use chunkstream_benches::formats;
use chunkstream_benches::peers::{self, PEERS, PeerKind};
use chunkstream_benches::scenario::{self, Framing, Path, Scenario, Streaming};
use chunkstream_benches::workload::{self, Workload};
use futures_util::Stream;
use serde::Serialize;

use super::Options;
use crate::env_info::Environment;
use crate::go::bench as go_bench;
use crate::harness::matrix::{self, Entry, Outcome, Plan};
use crate::harness::noise::Noise;
use crate::harness::paired::Schedule;
use crate::harness::placement::{self, Cpus};
use crate::harness::stats::median;
use crate::measure::{first_byte, mixed, one_download, pool_ops, steady_alloc};
use crate::record::{self, Category, Contestant, Limit, Num, Source};
use crate::service::Service;
use crate::sources::{self, BodyFactory, Postgres, Server, Sqlite};
use crate::{items, report};

/// What the report says about one contestant: its row of `compare.csv`, measured
/// columns missing ([`row`] fills them in).
type Meta = record::Compare;

/// Runs the comparison and writes `compare.csv`, `pool_ops.csv`, `alloc_steady.csv`,
/// `first_byte.csv`, `pool_mixed.csv`, `go.csv`, `noise.csv`, their environment and
/// the markdown into `out`.
pub(crate) fn run(options: &Options, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    if let Some(path) = &options.items {
        return run_items(path, options, env, out);
    }
    let rt = matrix::runtime()?;
    let quick = options.quick;
    let n = |w: Workload| w.items_for_bytes(matrix::request_bytes(quick));
    // Each phase's start, so a run shows where its minutes go.
    let started = Instant::now();
    let phase =
        |what: &str| eprintln!("compare ({:.0} s): {what}", started.elapsed().as_secs_f64());
    let block = options.block();

    let tickets = workload::leak(workload::tickets(n(Workload::Tickets)));
    // The Go package's bulk stream alternates with chunkstream's in slices, in bursts
    // spread over the run (before and after the matrix, after the tickets service, at
    // the end), so a change of load during the run weighs on both, and a run samples
    // more than one of the host's slower and faster stretches of a few minutes.
    phase("the Go package (building it if needed)");
    let mut go = GoSide::start(tickets, block, quick);
    if let Some(reason) = go.run.missing() {
        eprintln!("compare: Go {reason}");
    }
    go.slices(&rt);
    // The one-download processes too, in bursts between the other phases: the host
    // moves between a faster and a slower state every few minutes, and processes run
    // one after another fell in one of them.
    let processes = if quick { 1 } else { one_download::PROCESSES };
    let mut bursts = one_download::bursts(processes).into_iter();
    let in_processes = |n| format!("one download, in fresh processes ({n} of {processes})");
    let mut downloads = Vec::new();
    let mut download_burst = || -> Result<(), BoxError> {
        match bursts.next() {
            Some(n) if n > 0 => {
                phase(&in_processes(n));
                downloads.extend(one_download(n, options)?);
                Ok(())
            }
            _ => Ok(()),
        }
    };
    download_burst()?;
    go.slices(&rt);

    let mut matrix = Matrix::default();
    matrix.add(Workload::Tickets.name(), tickets)?;
    let small = workload::leak(workload::small(n(Workload::Small)));
    matrix.add(Workload::Small.name(), small)?;
    let large = workload::leak(workload::large(n(Workload::Large)));
    matrix.add(Workload::Large.name(), large)?;
    matrix.add_formats(tickets)?;
    // The databases' sources of the tickets, against the serde_json limit.
    let db_rows = Rows::new(Workload::Tickets.name(), tickets)?;
    let sqlite = rt.block_on(Sqlite::seed(tickets))?;
    let pool = sqlite.pool;
    matrix.source(&db_rows, Source::Sqlite, move || Sqlite::rows(pool));
    // Leaked like the sqlx pool, so the factory stays `Copy`.
    let rusqlite: &'static _ = Box::leak(Box::new(sqlite.rusqlite.clone()));
    let rows = move || Sqlite::rusqlite_rows(rusqlite);
    matrix.source(&db_rows, Source::SqliteRusqlite, rows);
    let postgres = rt.block_on(Postgres::from_env(tickets, "compare"));
    match postgres {
        Ok(pg) => matrix.source(&db_rows, Source::Postgres, move || pg.rows()),
        Err(ref why) => {
            eprintln!("compare: PostgreSQL rows not run ({why})");
            matrix.not_run(&db_rows, Source::Postgres, why);
        }
    }
    phase("the matrix");
    let (mut table, matrix_noise) = matrix.measure(&rt, options, env)?;
    download_burst()?;
    go.slices(&rt);

    // The tickets service as one client sees it: long requests, so plans of its own.
    phase("the tickets service");
    let service = Service::start(if quick { 3_000 } else { SERVICE_TICKETS })?;
    let mut entries = service_entries(&service)?;
    let mut service_rows = Vec::new();
    for (entries, plan) in entries.chunks_mut(2).zip(service_plans(block, quick)) {
        let outcomes = matrix::run(&rt, entries, plan, "service");
        service_rows.extend(entries.iter().zip(&outcomes).map(|(e, o)| row(&e.meta, o)));
    }
    drop((entries, service));
    download_burst()?;
    let downloads = combine_downloads(&downloads);
    // Where the matrix used to put them: after the tickets' other HTTP rows.
    let at = table
        .iter()
        .rposition(|r| r.workload == Workload::Tickets.name() && r.source.is_http())
        .map_or(table.len(), |i| i + 1);
    table.splice(at..at, downloads);
    table.extend(service_rows);
    let mut noise = Noise::default();
    noise.add("compare", matrix_noise);
    drop((matrix, sqlite));
    if let Ok(pg) = postgres {
        rt.block_on(pg.drop_table())?;
    }

    // The last of the Go package's bulk comparison, then its pool beside ours.
    phase("the Go package");
    go.slices(&rt);
    let go_table = go.run.finish(go.bytes, &go.side);
    let (pool_block, seconds, min_pairs) = if quick {
        (0.5e-3, 0.02, 5)
    } else {
        (2e-3, 0.4, 31)
    };
    let pool_schedule = matrix::schedule(Duration::from_secs_f64(pool_block), seconds, min_pairs);
    let go_pool = go.run.blocks().map(|go| pool_ops::GoPool {
        go,
        slices: if quick { 2 } else { GO_POOL_SLICES },
        schedule: Schedule {
            budget: Duration::from_secs_f64(if quick { 0.01 } else { 0.1 }),
            min_pairs: if quick { 5 } else { 15 },
            ..pool_schedule
        },
    });
    phase("pool get + put");
    let pools = pool_ops::measure(&pool_schedule, go_pool)?;
    let variations: Vec<f64> = pools.iter().map(|r| r.reference_variation.0).collect();
    noise.add("pool_ops", median(&variations));
    drop(go);

    phase("steady allocations, first byte, pools on a mixed workload");
    let (warmup, requests) = if quick { (5, 20) } else { (100, 1000) };
    let steady = steady_alloc::measure(&rt, warmup, requests);
    let (interval, period) = (Duration::from_millis(10), Duration::from_millis(25));
    let first = first_byte::measure(&rt, interval, period, if quick { 3 } else { 20 });
    let (tiny, large, bytes) = if quick {
        (20, 2, 256 * 1024)
    } else {
        (200, 10, 1 << 20)
    };
    let mixed = mixed::measure(&rt, tiny, large, Workload::Tickets.items_for_bytes(bytes))?;

    std::fs::create_dir_all(out)?;
    record::write(&out.join("compare.csv"), &table)?;
    record::write(&out.join("pool_ops.csv"), &pools)?;
    record::write(&out.join("alloc_steady.csv"), &steady)?;
    record::write(&out.join("first_byte.csv"), &first)?;
    record::write(&out.join("pool_mixed.csv"), &mixed)?;
    record::write(&out.join("go.csv"), &go_table)?;
    finish(out, env, &noise)
}

/// Writes `noise.csv` and `compare.env` (with the method its report describes) into
/// `out`, and prints the regenerated markdown and any warning about the noise.
fn finish(out: &FsPath, env: &Environment, noise: &Noise) -> Result<(), BoxError> {
    record::write(&out.join("noise.csv"), &noise.table())?;
    let mut env = env.clone();
    let (key, method) = report::COMPARE_METHOD;
    env.0.insert(key.into(), method.into());
    let processes = one_download::PROCESSES.to_string();
    env.0.insert(report::PROCESSES_KEY.into(), processes);
    let bursts = one_download::BURSTS.to_string();
    env.0.insert(report::BURSTS_KEY.into(), bursts);
    if let Some(spare) = placement::spare_cpus() {
        env.0
            .insert(report::SPARE_CPUS_KEY.into(), spare.to_string());
    }
    env.write(&out.join("compare.env"))?;
    println!("{}", report::regenerate(out)?);
    if let Some(warning) = noise.warning() {
        eprintln!("\nWARNING: {warning}\n");
    }
    Ok(())
}

/// `compare --items`: the matrix (memory, channel, HTTP) on the user's items, read
/// from NDJSON as `serde_json::Value`; writes `compare.csv`, `noise.csv`, the
/// environment (saying how the items were represented) and the markdown.
fn run_items(
    path: &FsPath,
    options: &Options,
    env: &Environment,
    out: &FsPath,
) -> Result<(), BoxError> {
    let (items, represented) = items::load(path)?;
    let mut env = env.clone();
    env.0.insert("items".into(), represented);
    let mut matrix = Matrix::default();
    matrix.add(items::WORKLOAD, items)?;
    let (table, matrix_noise) = matrix.measure(&matrix::runtime()?, options, &env)?;
    let mut noise = Noise::default();
    noise.add("compare", matrix_noise);
    std::fs::create_dir_all(out)?;
    record::write(&out.join("compare.csv"), &table)?;
    finish(out, &env, &noise)
}

/// Seconds of paired blocks for the whole matrix of a default run and of a quick one,
/// split over its contestants: 105 keeps the default run within 5 minutes on the CI's
/// Intel Xeon (125 took it to 308 s, the matrix phase about half of it).
pub(crate) const BUDGET: [f64; 2] = [105.0, 3.0];

/// Seconds of paired blocks in each of those processes, over its four rows.
const ONE_DOWNLOAD_SECONDS: f64 = 0.8;
/// The rows a one-download process writes into its `--out`.
const ONE_DOWNLOAD_CSV: &str = "one_download.csv";

/// The one-download rows of `processes` fresh processes of this binary
/// (`one-download-child`), one table per process.
fn one_download(
    processes: usize,
    options: &Options,
) -> Result<Vec<Vec<record::Compare>>, BoxError> {
    let dir = tempfile::tempdir()?;
    let mut args = vec![OsStr::new("--out"), dir.path().as_os_str()];
    args.push(OsStr::new("one-download-child"));
    args.extend(options.quick.then_some(OsStr::new("--quick")));
    // The blocks the parent was told to time, in the children too.
    let block_ms = options.block_ms.map(|ms| ms.to_string());
    if let Some(ms) = &block_ms {
        args.extend([OsStr::new("--block-ms"), OsStr::new(ms)]);
    }
    let mut runs = Vec::new();
    for _ in 0..processes {
        super::run_child("a one-download process", &args)?;
        let rows: Vec<record::Compare> = record::read(&dir.path().join(ONE_DOWNLOAD_CSV))?
            .ok_or("a one-download process wrote no rows")?;
        runs.push(rows);
    }
    Ok(runs)
}

/// The one-download rows combined over the processes' tables ([`one_download::combine`]).
fn combine_downloads(runs: &[Vec<record::Compare>]) -> Vec<record::Compare> {
    let (rows, left_out) = one_download::combine(runs);
    if left_out > 0 {
        eprintln!(
            "compare: one download: {left_out} of {} rows left out, their limit slowed \
             by more than {:.0}%",
            runs.len() * ONE_DOWNLOAD.len(),
            one_download::REFERENCE_BAND * 100.0
        );
    }
    rows
}

/// `one-download-child`: the one-download rows alone, each against the serde_json
/// limit, into `out/one_download.csv` (run by `compare`, see [`one_download()`]).
pub(crate) fn one_download_child(
    quick: bool,
    block_ms: Option<f64>,
    free_threads: bool,
    env: &Environment,
    out: &FsPath,
) -> Result<(), BoxError> {
    let n = Workload::Tickets.items_for_bytes(matrix::request_bytes(quick));
    let mut matrix = Matrix {
        threads_apart: !free_threads,
        ..Matrix::default()
    };
    matrix.add_one_download(workload::leak(workload::tickets(n)))?;
    let options = Options {
        quick,
        budget: Some(if quick { 0.2 } else { ONE_DOWNLOAD_SECONDS }),
        block_ms,
        ..Options::default()
    };
    let (table, _) = matrix.measure(&matrix::runtime()?, &options, env)?;
    std::fs::create_dir_all(out)?;
    record::write(&out.join(ONE_DOWNLOAD_CSV), &table)
}

/// Tickets in the service's table: the 100,000 the `tickets` binary seeds by default
/// (about 51 MB of JSON for a full download).
const SERVICE_TICKETS: u64 = 100_000;
/// The rows of a service response of about 1 MB.
const SERVICE_MB_ROWS: u64 = 2_330;

/// The plans of the service's two pairs of rows ([`service_entries`]): about 1 MB,
/// the target's row, then the whole table.
///
/// The 1 MB row's blocks are 100 ms or more: the service as it was takes about 48 ms a
/// request (most of it Nagle's stall on a delayed ACK, whose timer varies), today's
/// about 4 ms, so with the matrix's 3 ms blocks each pair was one request against one
/// and its ratio drew both sides' spread; one run's interval read 10.88 [9.85, 12.64]x.
/// With two old requests against some twenty-five new ones, a pair averages them.
/// The whole table's pairs take about a second each, so it has fewer seconds.
fn service_plans(block: Duration, quick: bool) -> [Plan; 2] {
    let plan = |block, seconds, min_pairs| Plan {
        schedule: matrix::schedule(block, seconds, min_pairs),
        alloc_requests: 1,
        passes: 1,
    };
    match quick {
        true => [plan(block, 0.5, 3), plan(block, 0.5, 3)],
        false => [
            plan(block.max(Duration::from_millis(100)), 18.0, 9),
            plan(block, 8.0, 9),
        ],
    }
}

/// The service's rows: about 1 MB and the whole table, each the service against its
/// reference, the service as it was (`Contestant::ServiceBefore`).
fn service_entries(service: &Service) -> Result<Vec<Entry<Meta>>, BoxError> {
    let mut entries = Vec::new();
    for limit in [SERVICE_MB_ROWS.min(service.tickets), service.tickets] {
        let expected = Arc::new(Service::expected(limit)?);
        let path = format!("/tickets?limit={limit}");
        for (now, contestant) in [
            (false, Contestant::ServiceBefore),
            (true, Contestant::Service),
        ] {
            let settings = if now {
                chunkstream_tickets::Settings::default()
            } else {
                Service::before()
            };
            let meta = Meta {
                workload: Workload::Tickets.name().to_owned(),
                source: Source::Service,
                format: Framing::Array,
                path: Some(Path::Spawn),
                contestant,
                pool: Some(settings.pool),
                encoder: Some(settings.encoder),
                limit: Limit::ServiceBefore,
                items: limit,
                ..Meta::default()
            };
            let (group, expected) = (format!("service/{path}"), Arc::clone(&expected));
            let scenario = Box::new(Streaming(service.client(now, &path)));
            let mut entry = Entry::new(meta, group, limit, Framing::Array, expected, scenario);
            entry.is_limit = !now;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Passes over the matrix's contestants (see [`Plan::passes`]). One: on this 2-core
/// machine three passes made the headline ratio vary more from run to run, as each pass
/// starts its contestant cold again with a third of the pairs.
const COMPARE_PASSES: usize = 1;

/// Slices of the Go bulk comparison in a default run (`--quick`: one a burst), in
/// [`GO_BURSTS`] bursts. Many short slices rather than a few long ones: each is a fresh
/// Go process, and Go's speed differs between processes more than within one; with
/// thirty before the matrix and thirty after, two runs agreed to 2%.
const GO_SLICES: usize = 60;

/// Bursts the Go bulk slices come in, spread over the run. With two (before the matrix
/// and after the tickets service, some 200 s apart) the two bursts' medians differed by
/// 2% in one run on the AMD EPYC (6.70x and 6.84x), and the headline moved by up to 4.8%
/// between consecutive runs: each run drew two of the host's states. With four, seven
/// consecutive runs there still moved by 0.4-3.4%: the headline follows Go's speed from
/// run to run (266-286 MB/s, chunkstream's 1811-1840), which no sampling within a run
/// evens out.
const GO_BURSTS: usize = 4;

/// Seconds of paired blocks in all the slices of one Go setting (one core, or every
/// core): with 3 the headline moved 3.6% between two runs on an AMD machine.
const GO_BULK_SECONDS: f64 = 6.0;

/// Go's own streaming time on each fresh process before its slice is timed (`--quick`:
/// 10 ms): its start-up takes 100-300 ms here, and slices timed cold measured mostly that.
const GO_WARM_UP: Duration = Duration::from_millis(400);

/// Slices (each on a fresh Go process) of every pool comparison with Go: enough that Go
/// at its best (see `pool_ops`) is among them whatever share of the time it runs so.
const GO_POOL_SLICES: usize = 16;

/// The Go package and chunkstream's side of the bulk comparison: the tickets in memory,
/// `stream`, with the library's default features (freelist, sonic-rs).
struct GoSide {
    run: go_bench::GoRun,
    tickets: &'static [workload::Ticket],
    bytes: u64,
    /// One slice of the bulk alternation.
    bulk: Schedule,
    /// Go against its own limit.
    side: Schedule,
    quick: bool,
}

impl GoSide {
    fn start(tickets: &'static [workload::Ticket], block: Duration, quick: bool) -> Self {
        let schedule = |seconds, min_pairs| match quick {
            true => matrix::schedule(block, 0.05, 5),
            false => matrix::schedule(block, seconds, min_pairs),
        };
        let warm_up = match quick {
            true => Duration::from_millis(10),
            false => GO_WARM_UP,
        };
        GoSide {
            run: go_bench::GoRun::start(tickets, warm_up),
            tickets,
            bytes: serde_json::to_vec(tickets).map_or(0, |v| v.len() as u64),
            bulk: schedule(GO_BULK_SECONDS * 2.0 / GO_SLICES as f64, 9),
            side: schedule(2.0, 31),
            quick,
        }
    }

    /// One burst of slices of the bulk alternation ([`GO_BURSTS`] a run), each on a
    /// fresh Go process and a fresh streamer.
    ///
    /// chunkstream's speed, too, is set in part when its streamer is built (where its
    /// buffers land): on the AMD EPYC, consecutive seconds of one streamer agreed within
    /// about 0.5%, and streamers built one after another in one process differed by up
    /// to 5%. A streamer built once per run made that draw the whole run's, and the
    /// headline moved with it from run to run; built per slice, the run samples it.
    fn slices(&mut self, rt: &tokio::runtime::Runtime) {
        for _ in 0..if self.quick { 1 } else { GO_SLICES / GO_BURSTS } {
            let (pool, encoder) = (DEFAULT_POOL, DEFAULT_FEATURES_ENCODER);
            let built = crate::harness::in_memory(pool, encoder, Path::Item, self.tickets);
            let mut streaming = Streaming(built.chunks);
            let mut first = Vec::new();
            let mut rust = matrix::block(rt, &mut streaming, &mut first);
            self.run.bulk_slice(&mut rust, self.bytes, &self.bulk);
        }
    }
}

fn row(meta: &Meta, o: &Outcome) -> record::Compare {
    let (ratio, ratio_lo, ratio_hi) = record::columns(&o.ratio);
    record::Compare {
        body_bytes: Num(o.body_bytes as f64),
        pairs: Num(o.pairs as f64),
        mb_per_s: Num(o.bytes_per_sec / 1e6),
        items_per_s: Num(o.items_per_sec),
        ratio,
        ratio_lo,
        ratio_hi,
        limit_variation: Num(o.limit_variation),
        allocs_per_request: Num(o.allocs),
        alloc_bytes_per_request: Num(o.alloc_bytes),
        chunks_per_request: Num(o.chunks as f64),
        first_chunk_us: Num(o.first_chunk.as_secs_f64() * 1e6),
        hit_rate: Num(o.hit_rate),
        check: record::check(&o.check),
        ..meta.clone()
    }
}

/// One contestant of the matrix, against its encoder's limit (a peer: serde_json's).
#[derive(Clone, Copy, Debug)]
enum Who {
    /// chunkstream with a pool, an encoder, a format, on a path.
    Chunkstream(PoolKind, EncoderKind, Json, Path),
    /// A peer (serde_json inside).
    Peer(PeerKind),
}

/// The contestants of a source, each with the source its row names, in the report's
/// order. Adding a contestant to `compare` is one entry here.
fn contestants(source: Source) -> Vec<(Source, Who)> {
    use Who::{Chunkstream, Peer};
    let item = |pool, encoder| Chunkstream(pool, encoder, Json::Array, Path::Item);
    let on = |path| Chunkstream(DEFAULT_POOL, DEFAULT_ENCODER, Json::Array, path);
    let sonic = |path| Chunkstream(DEFAULT_POOL, DEFAULT_FEATURES_ENCODER, Json::Array, path);
    let every_pool = POOLS.iter().map(|&p| item(p, DEFAULT_ENCODER));
    let from = |who: Who| (source, who);
    match source {
        // Every pool x encoder, the peers, NDJSON with every encoder, the other paths.
        Source::Memory => POOLS
            .iter()
            .flat_map(|&p| ENCODERS.iter().map(move |&e| item(p, e)))
            .chain(PEERS.map(Peer))
            .chain(
                ENCODERS
                    .iter()
                    .map(|&e| Chunkstream(DEFAULT_POOL, e, Json::Ndjson, Path::Item)),
            )
            .chain([on(Path::Batch), on(Path::Spawn)])
            .map(from)
            .collect(),
        // Every pool on the direct path; the other paths with the default pool; each
        // path from a server that leaves Nagle's algorithm on (as `axum::serve` does
        // unless told otherwise); the default features' encoder on each path; the peers.
        Source::Http => every_pool
            .chain([on(Path::Spawn), on(Path::Parallel)])
            .map(from)
            .chain([Path::Item, Path::Spawn, Path::Parallel].map(|p| (Source::HttpNagle, on(p))))
            .chain([Path::Item, Path::Spawn, Path::Parallel].map(|p| from(sonic(p))))
            .chain(PEERS.map(|p| from(Peer(p))))
            .collect(),
        // The channel and the databases: every pool with serde_json, and the peers.
        _ => every_pool.chain(PEERS.map(Peer)).map(from).collect(),
    }
}

/// The peer every chunkstream HTTP row is also paired with (its default
/// configuration, one frame per item), served by the same server.
const HTTP_PEER: PeerKind = PeerKind::AxumStreams;

/// The tickets' HTTP rows (default pool) also paired with the serde_json limit: the
/// one-download target's paths, each with either encoder.
const ONE_DOWNLOAD: [(Path, EncoderKind); 4] = [
    (Path::Item, DEFAULT_FEATURES_ENCODER),
    (Path::Item, DEFAULT_ENCODER),
    (Path::Parallel, DEFAULT_FEATURES_ENCODER),
    (Path::Parallel, DEFAULT_ENCODER),
];

/// What the rows of one workload share.
struct Rows {
    workload: &'static str,
    items: u64,
    expected: Arc<serde_json::Value>,
}

impl Rows {
    fn new<T: Serialize>(workload: &'static str, items: &[T]) -> Result<Self, BoxError> {
        Ok(Rows {
            workload,
            items: items.len() as u64,
            expected: Arc::new(scenario::reference(items)?),
        })
    }

    /// An entry of these rows, in the group of its limit.
    fn entry(&self, meta: Meta, scenario: Box<dyn Scenario>) -> Entry<Meta> {
        let group = format!("{}/{}", self.workload, meta.limit.name());
        let (format, expected) = (meta.format, Arc::clone(&self.expected));
        Entry::new(meta, group, self.items, format, expected, scenario)
    }

    /// The report's description of `who` from `source`, with its limit: the HTTP
    /// limit over HTTP, else its encoder's (a peer's: serde_json's).
    fn meta(&self, source: Source, who: Who) -> Meta {
        let (format, path, contestant, pool, encoder) = match who {
            Who::Chunkstream(pool, encoder, format, path) => (
                format.into(),
                Some(path),
                Contestant::Chunkstream,
                Some(pool),
                Some(encoder),
            ),
            Who::Peer(peer) => (peer.framing(), None, Contestant::Peer(peer), None, None),
        };
        let limit = if source.is_http() {
            Limit::Http
        } else {
            Limit::Encoder(encoder.unwrap_or(DEFAULT_ENCODER))
        };
        Meta {
            workload: self.workload.to_owned(),
            source,
            format,
            path,
            contestant,
            pool,
            encoder,
            limit,
            items: self.items,
            ..Meta::default()
        }
    }

    /// A limit from `source` with `encoder`: the reference of `limit`'s group
    /// (`is_limit`), or `contestant` measured against the serde_json limit.
    fn limit(
        &self,
        source: Source,
        encoder: EncoderKind,
        (limit, contestant): (Limit, Contestant),
        is_limit: bool,
        scenario: Box<dyn Scenario>,
    ) -> Entry<Meta> {
        let mut meta = self.meta(source, Who::Peer(PeerKind::Naive));
        (meta.contestant, meta.limit) = if is_limit {
            (Contestant::Limit, limit)
        } else {
            (contestant, Limit::Encoder(DEFAULT_ENCODER))
        };
        meta.encoder = Some(encoder);
        let mut entry = self.entry(meta, scenario);
        entry.is_limit = is_limit;
        entry
    }
}

/// A contestant that could not run (its source is missing): its row, saying why, goes
/// before the entry with index `at`.
struct NotRun {
    at: usize,
    row: record::Compare,
}

#[derive(Default)]
struct Matrix {
    entries: Vec<Entry<Meta>>,
    /// The HTTP contestants, timed once the servers run: `(route, nodelay)` beside
    /// each entry, whose scenario is replaced when connected.
    http: Vec<(Entry<Meta>, String, bool)>,
    /// The routes of the server with `TCP_NODELAY`, and of the one without.
    routes: [HashMap<String, BodyFactory>; 2],
    not_run: Vec<NotRun>,
    /// The measuring thread (the HTTP client) and the server's worker thread each bound
    /// to a CPU of their own ([`placement`]), as for a client across the network, the
    /// server's other threads kept off the client's CPU ([`Server::place`]), and the
    /// limits' blocks run on the server's CPU, where a download is encoded.
    ///
    /// A virtual CPU here runs slow for a stretch while the other does not (a busy
    /// neighbour on the host, presumably), and a one-download process's rows are timed
    /// in under a second: with the limit on the client's CPU, a process whose client
    /// CPU ran slow had its limit slow and its downloads hardly (in one noisy stretch on
    /// the AMD EPYC, five processes with the serde_json limit at 790-860 MB/s read the
    /// direct path at 0.91-1.13x, seven with it at 1090-1190 MB/s at 0.66-1.03x), and
    /// the pair cancelled neither CPU's state. See reports/README.md.
    threads_apart: bool,
}

impl Matrix {
    fn add<T: Serialize + Send + Sync + 'static>(
        &mut self,
        workload: &'static str,
        items: &'static [T],
    ) -> Result<(), BoxError> {
        let rows = Rows::new(workload, items)?;
        let memory = move || peers::memory(items);
        // Each encoder's limit (its library's `to_writer` of the slice), and the other
        // encoders' limits measured against serde_json's.
        for &encoder in ENCODERS {
            self.limit(&rows, items, encoder, true);
            if encoder != DEFAULT_ENCODER {
                self.limit(&rows, items, encoder, false);
            }
        }
        self.source(&rows, Source::Memory, memory);
        // A tokio channel fed by a producer task.
        self.source(&rows, Source::Channel, move || sources::channel(items));
        // Over HTTP (served from memory by axum, read by the lab's client), against the
        // HTTP limit: the whole body encoded up front, served as one `Bytes`, itself
        // measured against the serde_json limit. An HTTP entry's scenario is a
        // placeholder until its server runs.
        let body = bytes::Bytes::from(serde_json::to_vec(items)?);
        for is_limit in [true, false] {
            let kind = (Limit::Http, Contestant::HttpLimit);
            let unserved = Box::new(scenario::Limit::new(items));
            let entry = rows.limit(Source::Http, DEFAULT_ENCODER, kind, is_limit, unserved);
            self.serve(entry, sources::fixed_body(body.clone()), true);
        }
        self.source(&rows, Source::Http, memory);
        // Every chunkstream HTTP row again, paired with axum-streams served by the same
        // server. The HTTP limit runs in one of two modes (about 4 or 8 GB/s for large
        // items here) from one row to the next, and a row's ratio to it moves with the
        // mode; paired block by block, both sides see one mode.
        let peer_limits = [
            (Source::Http, Limit::HttpPeer),
            (Source::HttpNagle, Limit::HttpPeerNagle),
        ];
        for (source, limit) in peer_limits {
            let meta = Meta {
                limit,
                ..rows.meta(source, Who::Peer(HTTP_PEER))
            };
            self.contestant(&rows, meta, Who::Peer(HTTP_PEER), memory, true);
            let ours = contestants(Source::Http)
                .into_iter()
                .filter(|&(s, who)| s == source && matches!(who, Who::Chunkstream(..)));
            for (source, who) in ours {
                let meta = Meta {
                    limit,
                    ..rows.meta(source, who)
                };
                self.contestant(&rows, meta, who, memory, false);
            }
        }
        Ok(())
    }

    /// `who` as the contestant `meta` describes (its group's limit when `is_limit`),
    /// its bodies made from `make`'s items: timed in memory, or served over HTTP by the
    /// server its source names (then its scenario is a placeholder until that runs).
    fn contestant<F, S, U, E>(&mut self, rows: &Rows, meta: Meta, who: Who, make: F, is_limit: bool)
    where
        F: Fn() -> S + Copy + Send + Sync + 'static,
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let (chunks, body, stats) = match who {
            Who::Chunkstream(pool, encoder, format, path) => {
                let config = ChunkConfig::default();
                let built = scenario::chunkstream(pool, encoder, &config, format, path, make);
                let body = sources::chunkstream_body(built.streams);
                (built.chunks, body, Some(built.stats))
            }
            Who::Peer(peer) => (peer.factory(make), sources::peer_body(peer, make), None),
        };
        let source = meta.source;
        let mut entry = rows.entry(meta, Box::new(Streaming(chunks)));
        (entry.stats, entry.is_limit) = (stats, is_limit);
        if source.is_http() {
            self.serve(entry, body, source == Source::Http);
        } else {
            self.entries.push(entry);
        }
    }

    /// An HTTP contestant, served by the server with `TCP_NODELAY` or the one without.
    fn serve(&mut self, entry: Entry<Meta>, body: BodyFactory, nodelay: bool) {
        let route = format!("{}/{}", entry.meta.workload, self.http.len());
        self.routes[usize::from(!nodelay)].insert(route.clone(), body);
        self.http.push((entry, route, nodelay));
    }

    /// The one-download target's rows: the tickets over HTTP on its paths, each paired
    /// block by block with the serde_json limit itself (added here too) rather than read
    /// through the HTTP limit, whose mode moved that product by up to 19% from one run to
    /// the next. `compare` measures them in fresh processes ([`one_download()`]).
    fn add_one_download(&mut self, tickets: &'static [workload::Ticket]) -> Result<(), BoxError> {
        let rows = Rows::new(Workload::Tickets.name(), tickets)?;
        self.limit(&rows, tickets, DEFAULT_ENCODER, true);
        for (path, encoder) in ONE_DOWNLOAD {
            let who = Who::Chunkstream(DEFAULT_POOL, encoder, Json::Array, path);
            let meta = Meta {
                limit: Limit::Encoder(DEFAULT_ENCODER),
                ..rows.meta(Source::Http, who)
            };
            self.contestant(&rows, meta, who, move || peers::memory(tickets), false);
        }
        Ok(())
    }

    /// The formats' rows on `tickets` from memory, in the report's order
    /// ([`formats::FORMATS`]): each format's limit, chunkstream in it (default pool, the
    /// default features' encoder, direct path), and its peers ([`peers::FORMAT_PEERS`]),
    /// each against the format's limit.
    fn add_formats(&mut self, tickets: &'static [workload::Ticket]) -> Result<(), BoxError> {
        let rows = Rows::new(Workload::Tickets.name(), tickets)?;
        let encoder = DEFAULT_FEATURES_ENCODER;
        let ours = Who::Chunkstream(DEFAULT_POOL, encoder, Json::Array, Path::Item);
        for framing in formats::FORMATS {
            let limit = Limit::Format(framing);
            let meta = Meta {
                format: framing,
                limit,
                ..rows.meta(Source::Memory, ours)
            };
            let expected = Arc::new(formats::reference(framing, tickets, true)?);
            let limit_meta = Meta {
                contestant: Contestant::Limit,
                path: None,
                pool: None,
                ..meta.clone()
            };
            let scenario = Box::new(formats::limit(framing, encoder, tickets));
            let mut reference = rows.entry(limit_meta, scenario);
            let built = formats::chunkstream(framing, DEFAULT_POOL, encoder, tickets)?;
            let mut entry = rows.entry(meta, Box::new(Streaming(built.chunks)));
            (reference.is_limit, entry.stats) = (true, Some(built.stats));
            (reference.expected, entry.expected) = (Arc::clone(&expected), expected);
            self.entries.extend([reference, entry]);
            for peer in peers::FORMAT_PEERS
                .into_iter()
                .filter(|p| p.framing() == framing)
            {
                let factory = peer.factory(move || peers::memory(tickets));
                let meta = Meta {
                    limit,
                    ..rows.meta(Source::Memory, Who::Peer(peer))
                };
                let mut entry = rows.entry(meta, Box::new(Streaming(factory)));
                // axum-streams' envelope has no fields after the array.
                entry.expected = Arc::new(formats::reference(framing, tickets, false)?);
                self.entries.push(entry);
            }
        }
        Ok(())
    }

    /// The contestants of `source` (`make` makes one request's items).
    fn source<F, S, U, E>(&mut self, rows: &Rows, source: Source, make: F)
    where
        F: Fn() -> S + Copy + Send + Sync + 'static,
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        for (source, who) in contestants(source) {
            self.contestant(rows, rows.meta(source, who), who, make, false);
        }
    }

    /// `encoder`'s limit on `items` from memory: the reference of its group, or (not
    /// `is_limit`) a contestant measured against serde_json's limit.
    fn limit<T>(&mut self, rows: &Rows, items: &'static [T], encoder: EncoderKind, is_limit: bool)
    where
        T: Serialize + Send + Sync + 'static,
    {
        let kind = (Limit::Encoder(encoder), Contestant::EncoderLimit(encoder));
        let scenario = Box::new(scenario::Limit::with_encoder(items, encoder));
        let entry = rows.limit(Source::Memory, encoder, kind, is_limit, scenario);
        self.entries.push(entry);
    }

    /// The rows [`source`](Matrix::source) would add for `source`, not run because of
    /// `why`.
    fn not_run(&mut self, rows: &Rows, source: Source, why: &str) {
        for (source, who) in contestants(source) {
            let row = Meta {
                check: format!("not run ({why})"),
                ..rows.meta(source, who)
            };
            let at = self.entries.len();
            self.not_run.push(NotRun { at, row });
        }
    }

    /// `compare.csv`: a row per entry with its outcome, and the rows not run where
    /// they would have been.
    fn table(&self, outcomes: &[Outcome]) -> Vec<record::Compare> {
        let mut table = Vec::new();
        let mut not_run = self.not_run.iter().peekable();
        for (i, (entry, outcome)) in self.entries.iter().zip(outcomes).enumerate() {
            while let Some(n) = not_run.next_if(|n| n.at <= i) {
                table.push(n.row.clone());
            }
            table.push(row(&entry.meta, outcome));
        }
        table.extend(not_run.map(|n| n.row.clone()));
        table
    }

    /// Starts the HTTP servers, adds the HTTP contestants, and measures every entry as
    /// `options` say: the rows of `compare.csv` and the noise of the run.
    fn measure(
        &mut self,
        rt: &tokio::runtime::Runtime,
        options: &Options,
        env: &Environment,
    ) -> Result<(Vec<record::Compare>, f64), BoxError> {
        let quick = options.quick;
        let [routes, nagle_routes] = std::mem::take(&mut self.routes);
        let server = Server::start(routes, true)?;
        let nagle = Server::start(nagle_routes, false)?;
        if self.threads_apart {
            match placement::apart() {
                Some((client, server_cpu)) => {
                    server.place(server_cpu, client)?;
                    Cpus::only(client).bind_this_thread()?;
                    for limit in self.entries.iter_mut().filter(|e| e.is_limit) {
                        limit.cpu = Some(server_cpu);
                    }
                }
                None => eprintln!(
                    "compare: fewer than two CPUs to bind threads to here: the client and \
                     the server run where the scheduler puts them"
                ),
            }
        }
        for (mut entry, route, nodelay) in self.http.drain(..) {
            let server = if nodelay { &server } else { &nagle };
            entry.scenario = server.client(&route);
            self.entries.push(entry);
        }
        let block = options.block();
        let budget = options.budget(BUDGET);
        let contestants = self.entries.iter().filter(|e| !e.is_limit).count();
        let seconds = budget / contestants.max(1) as f64;
        let plan = Plan {
            schedule: matrix::schedule(block, seconds, if quick { 5 } else { 21 }),
            alloc_requests: if quick { 2 } else { 5 },
            passes: if quick { 1 } else { COMPARE_PASSES },
        };
        eprintln!(
            "compare: {contestants} contestants, each alternating with its limit in {:.1} ms \
             blocks for {seconds:.2} s ({} build)",
            block.as_secs_f64() * 1e3,
            env.get("profile")
        );
        let outcomes = matrix::run(rt, &mut self.entries, plan, "compare");
        eprintln!(
            "compare: the HTTP servers accepted {} connections with TCP_NODELAY (one per \
             request) and {} without",
            server.accepted(),
            nagle.accepted()
        );
        Ok((self.table(&outcomes), matrix::noise(&outcomes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `compare --items` on a small file of mixed items: every row of the matrix on
    /// those items, checked against them, and the report saying how they were held.
    #[test]
    fn compare_items_runs_the_matrix_on_the_users_items() -> Result<(), BoxError> {
        let (rows, md) = crate::cmd::on_mixed_items::<record::Compare>(run, "compare")?;
        let memory = rows.iter().filter(|r| r.source == Source::Memory).count();
        let limits = 2 * ENCODERS.len() - 1;
        assert_eq!(memory, limits + contestants(Source::Memory).len());
        for r in &rows {
            assert_eq!(r.workload, items::WORKLOAD);
            assert!(r.is_ok() && r.pairs.0 >= 1.0 && r.ratio.0 > 0.0, "{r:?}");
        }
        assert!(md.contains("**Items**: 300 items from"), "{md}");
        assert!(
            md.contains("`serde_json::Value`") && md.contains("## items"),
            "{md}"
        );
        Ok(())
    }

    /// A matrix of `tickets` holding only their serde_json limit.
    fn with_limit(tickets: &'static [workload::Ticket]) -> Result<Matrix, BoxError> {
        let mut matrix = Matrix::default();
        let rows = Rows::new(Workload::Tickets.name(), tickets)?;
        matrix.limit(&rows, tickets, DEFAULT_ENCODER, true);
        Ok(matrix)
    }

    #[test]
    fn postgres_rows_say_why_they_were_not_run() -> Result<(), BoxError> {
        let tickets = workload::leak(workload::tickets(10));
        let mut matrix = with_limit(tickets)?;
        let rows = Rows::new(Workload::Tickets.name(), tickets)?;
        matrix.not_run(&rows, Source::Postgres, "DATABASE_URL is not set");
        matrix.limit(&rows, tickets, EncoderKind::SonicRs, true);
        let table = matrix.table(&[Outcome::default(), Outcome::default()]);
        let sources: Vec<Source> = table.iter().map(|r| r.source).collect();
        let n = POOLS.len() + PEERS.len();
        let mut order = vec![Source::Memory];
        order.extend(std::iter::repeat_n(Source::Postgres, n));
        order.push(Source::Memory);
        assert_eq!(sources, order, "the rows sit where they would have run");
        let rows: Vec<_> = table
            .iter()
            .filter(|r| r.source == Source::Postgres)
            .collect();
        assert_eq!(rows.len(), n);
        for r in &rows {
            assert_eq!(r.check, "not run (DATABASE_URL is not set)");
            assert!(r.ratio.0.is_nan());
        }
        let md = report::render_compare(
            &table,
            &report::claims::Inputs::default(),
            None,
            &Environment::from_text("command=cargo run -p chunkstream-lab -- compare\n"),
        );
        assert!(
            md.contains("| postgres | json_array | stream | chunkstream | freelist |"),
            "{md}"
        );
        assert!(md.contains("not run (DATABASE_URL is not set) |"), "{md}");
        Ok(())
    }

    #[test]
    fn postgres_rows_are_checked_and_paired_like_sqlite() -> Result<(), BoxError> {
        if let Err(why) = sources::postgres_url(std::env::var("DATABASE_URL").ok()) {
            eprintln!("skipped: {why} (the compare rows of PostgreSQL not measured)");
            return Ok(());
        }
        let rt = matrix::runtime()?;
        let tickets = workload::leak(workload::tickets(200));
        let pg = rt.block_on(Postgres::from_env(tickets, "test_compare"))?;
        let mut matrix = with_limit(tickets)?;
        let rows = Rows::new(Workload::Tickets.name(), tickets)?;
        matrix.source(&rows, Source::Postgres, move || pg.rows());
        let schedule = Schedule {
            max_pairs: 50,
            ..matrix::schedule(Duration::from_millis(1), 0.02, 3)
        };
        let plan = Plan {
            schedule,
            alloc_requests: 1,
            passes: 2,
        };
        let outcomes = matrix::run(&rt, &mut matrix.entries, plan, "test");
        rt.block_on(pg.drop_table())?;
        let table = matrix.table(&outcomes);
        let rows: Vec<_> = table
            .iter()
            .filter(|r| r.source == Source::Postgres)
            .collect();
        assert_eq!(rows.len(), POOLS.len() + PEERS.len());
        for r in &rows {
            assert!(r.is_ok(), "{:?}: {}", r.contestant, r.check);
            assert_eq!(r.limit, Limit::Encoder(EncoderKind::SerdeJson));
            assert!(r.pairs.0 >= 3.0, "{:?}", r.pairs);
            assert!(r.ratio.0 > 0.0, "{:?}", r.ratio);
        }
        Ok(())
    }
}
