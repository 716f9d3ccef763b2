//! `compare`: every pool x encoder, both formats, the streamer's three paths, and four
//! sources (memory, tokio channel, SQLite, axum over HTTP) on the three workloads, with
//! the peers and the limit in the same interleaved rounds.
//!
//! The matrix, per workload (tickets, small, large):
//! - memory, JSON array, `stream`: every pool x every encoder, every peer, the limit;
//! - memory, NDJSON, `stream`: the default pool x every encoder;
//! - memory, JSON array, `stream_batch` and `spawn`: the default pool and encoder;
//! - channel and HTTP, JSON array: every pool (serde_json) and the peers;
//! - SQLite (tickets only: the rows of the original service), as the channel.
//!
//! Ratios are to the limit of the same workload: one `serde_json::to_writer` of the
//! in-memory items, measured in the same rounds.

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use chunkstream::{BoxError, ChunkConfig, Format};
use chunkstream_benches::contestants::{
    DEFAULT_ENCODER, DEFAULT_POOL, ENCODERS, EncoderKind, POOLS, PoolKind,
};
use chunkstream_benches::peers::{self, LIMIT, PEERS, PeerKind};
use chunkstream_benches::scenario::{self, Limit, Path, Scenario, Streaming};
use chunkstream_benches::workload::{self, Workload};
use futures_util::Stream;
use serde::Serialize;

use crate::env_info::Environment;
use crate::measure::{self, Entry, Outcome, Plan, StatsFn};
use crate::sources::{self, BodyFactory, Server, Sqlite};
use crate::table::{Table, fmt_num};
use crate::{first_byte, pool_ops, report, steady_alloc};

/// Options of `compare`.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Small requests, few rounds, a short budget (the CI smoke test).
    pub(crate) quick: bool,
    /// Rounds (default 11, quick 3).
    pub(crate) rounds: Option<usize>,
    /// Seconds for the timed rounds (default 150, quick 4).
    pub(crate) budget: Option<f64>,
}

/// What the report says about one contestant.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    workload: Workload,
    source: &'static str,
    format: Format,
    path: &'static str,
    contestant: String,
    pool: String,
    encoder: String,
}

/// The columns of `compare.csv`.
pub(crate) const COLUMNS: &[&str] = &[
    "workload",
    "source",
    "format",
    "path",
    "contestant",
    "pool",
    "encoder",
    "items",
    "body_bytes",
    "rounds",
    "mb_per_s",
    "items_per_s",
    "ratio",
    "ratio_min",
    "ratio_max",
    "allocs_per_request",
    "alloc_bytes_per_request",
    "chunks_per_request",
    "first_chunk_us",
    "hit_rate",
    "check",
];

/// Bytes of JSON per request.
fn request_bytes(quick: bool) -> usize {
    if quick { 64 * 1024 } else { 1 << 20 }
}

/// Runs the comparison and writes `compare.csv`, `pool_ops.csv`, `alloc_steady.csv`,
/// `first_byte.csv`, their environment and the markdown into `out`.
pub(crate) fn run(options: &Options, env: &Environment, out: &FsPath) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let quick = options.quick;
    let bytes = request_bytes(quick);
    let mut plan = Plan {
        rounds: options.rounds.unwrap_or(if quick { 3 } else { 11 }),
        budget: Duration::from_secs_f64(options.budget.unwrap_or(if quick { 4.0 } else { 150.0 })),
        alloc_requests: if quick { 2 } else { 5 },
    };
    plan.rounds = plan.rounds.max(1);

    let mut matrix = Matrix::default();
    let tickets = workload::leak(workload::tickets(Workload::Tickets.items_for_bytes(bytes)));
    let small = workload::leak(workload::small(Workload::Small.items_for_bytes(bytes)));
    let large = workload::leak(workload::large(Workload::Large.items_for_bytes(bytes)));
    matrix.add(Workload::Tickets, tickets)?;
    matrix.add(Workload::Small, small)?;
    matrix.add(Workload::Large, large)?;
    let sqlite = rt.block_on(Sqlite::seed(tickets))?;
    matrix.add_sqlite(tickets, sqlite.pool)?;
    let server = Server::start(std::mem::take(&mut matrix.routes))?;
    matrix.connect(&server);

    eprintln!(
        "compare: {} contestants, {} rounds, {:.0} s of timed rounds ({} build)",
        matrix.entries.len(),
        plan.rounds,
        plan.budget.as_secs_f64(),
        env.get("profile")
    );
    let outcomes = measure::run(&rt, &mut matrix.entries, plan, "compare");
    let mut table = Table::new(COLUMNS);
    for (entry, outcome) in matrix.entries.iter().zip(&outcomes) {
        table.push(row(&entry.meta, entry.items, outcome));
    }
    drop(server);
    drop(sqlite);

    let (pool_rounds, pool_ops) = if quick { (5, 10_000) } else { (101, 200_000) };
    let pools = pool_ops::measure(pool_rounds, pool_ops);
    let steady = if quick {
        steady_alloc::measure(&rt, 5, 20)
    } else {
        steady_alloc::measure(&rt, 100, 1000)
    };
    let first = first_byte::measure(
        &rt,
        Duration::from_millis(10),
        Duration::from_millis(25),
        if quick { 2 } else { 5 },
    );

    std::fs::create_dir_all(out)?;
    table.write(&out.join("compare.csv"))?;
    pools.write(&out.join("pool_ops.csv"))?;
    steady.write(&out.join("alloc_steady.csv"))?;
    first.write(&out.join("first_byte.csv"))?;
    env.write(&out.join("compare.env"))?;
    let markdown = report::regenerate(out)?;
    println!("{markdown}");
    Ok(())
}

fn row(meta: &Meta, items: u64, o: &Outcome) -> Vec<String> {
    let check = match &o.check {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("FAILED: {e}"),
    };
    vec![
        meta.workload.name().to_owned(),
        meta.source.to_owned(),
        format_name(meta.format).to_owned(),
        meta.path.to_owned(),
        meta.contestant.clone(),
        meta.pool.clone(),
        meta.encoder.clone(),
        items.to_string(),
        o.body_bytes.to_string(),
        o.rounds.to_string(),
        fmt_num(o.bytes_per_sec / 1e6, 1),
        fmt_num(o.items_per_sec, 0),
        fmt_num(o.ratio, 3),
        fmt_num(o.ratio_range.0, 3),
        fmt_num(o.ratio_range.1, 3),
        fmt_num(o.allocs, 1),
        fmt_num(o.alloc_bytes, 0),
        o.chunks.to_string(),
        fmt_num(o.first_chunk.as_secs_f64() * 1e6, 0),
        fmt_num(o.hit_rate, 3),
        check,
    ]
}

/// The name of a format in reports.
pub(crate) fn format_name(format: Format) -> &'static str {
    match format {
        Format::Ndjson => "ndjson",
        _ => "json_array",
    }
}

fn path_name(path: Path) -> &'static str {
    match path {
        Path::Item => "stream",
        Path::Batch => "stream_batch",
        Path::Spawn => "spawn",
    }
}

/// A contestant served over HTTP, waiting for the server to start.
struct Pending {
    meta: Meta,
    route: String,
    items: u64,
    expected: Arc<serde_json::Value>,
    stats: Option<StatsFn>,
}

#[derive(Default)]
struct Matrix {
    entries: Vec<Entry<Meta>>,
    routes: HashMap<String, BodyFactory>,
    pending: Vec<Pending>,
}

impl Matrix {
    fn add<T: Serialize + Send + Sync + 'static>(
        &mut self,
        workload: Workload,
        items: &'static [T],
    ) -> Result<(), BoxError> {
        let expected = Arc::new(scenario::reference(items)?);
        let config = ChunkConfig::default();
        let memory = move || peers::memory(items);

        // Memory, JSON array: every pool x encoder, the peers, the limit.
        for &pool in POOLS {
            for &encoder in ENCODERS {
                self.chunkstream(
                    workload,
                    items,
                    &expected,
                    "memory",
                    pool,
                    encoder,
                    Format::JsonArray,
                    Path::Item,
                    memory,
                );
            }
        }
        for &peer in &PEERS {
            self.peer(workload, items, &expected, "memory", peer, memory);
        }
        self.entries.push(Entry {
            meta: self.meta(workload, "memory", Format::JsonArray, "-", LIMIT, "-", "-"),
            group: workload.name().to_owned(),
            is_limit: true,
            items: items.len() as u64,
            format: Format::JsonArray,
            expected: Arc::clone(&expected),
            scenario: Box::new(Limit::new(items)),
            stats: None,
        });
        // Memory, NDJSON: every encoder with the default pool.
        for &encoder in ENCODERS {
            self.chunkstream(
                workload,
                items,
                &expected,
                "memory",
                DEFAULT_POOL,
                encoder,
                Format::Ndjson,
                Path::Item,
                memory,
            );
        }
        // The other paths.
        for path in [Path::Batch, Path::Spawn] {
            self.chunkstream(
                workload,
                items,
                &expected,
                "memory",
                DEFAULT_POOL,
                DEFAULT_ENCODER,
                Format::JsonArray,
                path,
                memory,
            );
        }
        // A tokio channel fed by a producer task.
        let channel = move || sources::channel(items);
        for &pool in POOLS {
            self.chunkstream(
                workload,
                items,
                &expected,
                "channel",
                pool,
                DEFAULT_ENCODER,
                Format::JsonArray,
                Path::Item,
                channel,
            );
        }
        for &peer in &PEERS {
            self.peer(workload, items, &expected, "channel", peer, channel);
        }
        // Over HTTP: served from memory by axum, read by reqwest.
        for &pool in POOLS {
            let built = scenario::chunkstream(
                pool,
                DEFAULT_ENCODER,
                &config,
                Format::JsonArray,
                Path::Item,
                memory,
            );
            let route = format!("{}/chunkstream-{}", workload.name(), pool.name());
            self.routes
                .insert(route.clone(), sources::chunkstream_body(built.streams));
            self.pending.push(Pending {
                meta: self.meta(
                    workload,
                    "http",
                    Format::JsonArray,
                    "stream",
                    "chunkstream",
                    pool.name(),
                    DEFAULT_ENCODER.name(),
                ),
                route,
                items: items.len() as u64,
                expected: Arc::clone(&expected),
                stats: Some(built.stats),
            });
        }
        for &peer in &PEERS {
            let route = format!(
                "{}/{}",
                workload.name(),
                peer.name().replace([' ', '='], "-")
            );
            self.routes
                .insert(route.clone(), sources::peer_body(peer, memory));
            self.pending.push(Pending {
                meta: self.meta(
                    workload,
                    "http",
                    Format::JsonArray,
                    "-",
                    peer.name(),
                    "-",
                    "-",
                ),
                route,
                items: items.len() as u64,
                expected: Arc::clone(&expected),
                stats: None,
            });
        }
        Ok(())
    }

    fn add_sqlite(
        &mut self,
        tickets: &'static [workload::Ticket],
        pool: &'static sqlx::SqlitePool,
    ) -> Result<(), BoxError> {
        let expected = Arc::new(scenario::reference(tickets)?);
        let rows = move || Sqlite::rows(pool);
        for &p in POOLS {
            self.chunkstream(
                Workload::Tickets,
                tickets,
                &expected,
                "sqlite",
                p,
                DEFAULT_ENCODER,
                Format::JsonArray,
                Path::Item,
                rows,
            );
        }
        for &peer in &PEERS {
            self.peer(Workload::Tickets, tickets, &expected, "sqlite", peer, rows);
        }
        Ok(())
    }

    /// Adds the HTTP contestants, reading from `server`.
    fn connect(&mut self, server: &Server) {
        for p in self.pending.drain(..) {
            self.entries.push(Entry {
                meta: p.meta,
                group: p_group(&p.route).to_owned(),
                is_limit: false,
                items: p.items,
                format: Format::JsonArray,
                expected: p.expected,
                scenario: Box::new(Streaming(server.client(&p.route))),
                stats: p.stats,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn chunkstream<T, F, S, U, E>(
        &mut self,
        workload: Workload,
        items: &'static [T],
        expected: &Arc<serde_json::Value>,
        source: &'static str,
        pool: PoolKind,
        encoder: EncoderKind,
        format: Format,
        path: Path,
        make: F,
    ) where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let built =
            scenario::chunkstream(pool, encoder, &ChunkConfig::default(), format, path, make);
        self.entries.push(Entry {
            meta: self.meta(
                workload,
                source,
                format,
                path_name(path),
                "chunkstream",
                pool.name(),
                encoder.name(),
            ),
            group: workload.name().to_owned(),
            is_limit: false,
            items: items.len() as u64,
            format,
            expected: Arc::clone(expected),
            scenario: Box::new(Streaming(built.chunks)),
            stats: Some(built.stats),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn peer<T, F, S, U, E>(
        &mut self,
        workload: Workload,
        items: &'static [T],
        expected: &Arc<serde_json::Value>,
        source: &'static str,
        peer: PeerKind,
        make: F,
    ) where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        let scenario: Box<dyn Scenario> = Box::new(Streaming(peer.factory(make)));
        self.entries.push(Entry {
            meta: self.meta(
                workload,
                source,
                Format::JsonArray,
                "-",
                peer.name(),
                "-",
                "-",
            ),
            group: workload.name().to_owned(),
            is_limit: false,
            items: items.len() as u64,
            format: Format::JsonArray,
            expected: Arc::clone(expected),
            scenario,
            stats: None,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn meta(
        &self,
        workload: Workload,
        source: &'static str,
        format: Format,
        path: &'static str,
        contestant: &str,
        pool: &str,
        encoder: &str,
    ) -> Meta {
        Meta {
            workload,
            source,
            format,
            path,
            contestant: contestant.to_owned(),
            pool: pool.to_owned(),
            encoder: encoder.to_owned(),
        }
    }
}

/// The workload (ratio group) of an HTTP route, `workload/contestant`.
fn p_group(route: &str) -> &str {
    route.split('/').next().unwrap_or(route)
}
