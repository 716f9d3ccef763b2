//! `database`: from the database to the body, SQLite always and PostgreSQL when
//! `DATABASE_URL` points to one (the same tickets table and rows): typed decode +
//! encode, naive per-item `Bytes` and database-made JSON (`Streamer::json` over
//! `sql::json_rows`) paired with "sqlx decode + axum-streams". On SQLite, the rusqlite
//! source (`chunkstream::sqlite`, the same file) paired with the sqlx source and with
//! the serde_json limit. Then flamegraphs of each database's typed and JSON scenarios.

use std::path::Path;
use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::FreelistPool;
use chunkstream::{BoxError, ChunkConfig, ChunkStream, RawJson, Streamer, sql, sqlite, transform};
use chunkstream_benches::peers::{self, PeerKind};
use chunkstream_benches::scenario::{self, Chunks, ChunksFactory};
use chunkstream_benches::workload::Ticket;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::runtime::Runtime;

use super::parallel;
use crate::env_info::Environment;
use crate::frames::{self, FrameTest};
use crate::harness::rows::{self as paired_rows, Row, timed};
use crate::report;
use crate::sampling::{self, Sampled, shares};
use crate::sources::{self, Postgres, Sqlite};

const SQLITE_JSON: &str = "SELECT json_object('id', id, 'project_id', project_id, \
     'title', title, 'description', description, 'status', status, 'priority', priority, \
     'assignee', assignee, 'reporter', reporter, 'created_at', created_at, \
     'updated_at', updated_at, 'estimate_hours', estimate_hours, 'labels', labels) \
     FROM tickets ORDER BY id";

/// One database's ways to answer.
struct Db {
    name: &'static str,
    typed: ChunksFactory,
    naive: ChunksFactory,
    axum: ChunksFactory,
    raw: ChunksFactory,
    /// The target of database-made JSON against axum-streams.
    raw_target: Option<f64>,
}

/// The contestants of each database and their reference.
const TYPED: &str = "chunkstream typed decode + encode (freelist, serde_json)";
const NAIVE: &str = "naive per-item Bytes";
const DB_JSON: &str = "chunkstream, database-made JSON (stream_raw over sql::json_rows)";
const AXUM: &str = "sqlx decode + axum-streams";
/// The contestants of the rusqlite rows.
/// (No commas in the names: `claims.md` shows them in a list.)
const RUSQLITE_TYPED: &str =
    "chunkstream typed decode + encode over the rusqlite source (sqlite::rows)";
const RUSQLITE_ENCODED: &str = "chunkstream typed decode + encode on the statement's thread \
     over the rusqlite source (sqlite::encoded_rows)";
const RUSQLITE_RAW: &str =
    "chunkstream database-made JSON over the rusqlite source (sqlite::json_rows)";
/// Their references.
const SQLX_TYPED: &str = "chunkstream typed decode + encode over the sqlx source (sql::rows)";
const SQLX_RAW: &str = "chunkstream database-made JSON over the sqlx source (sql::json_rows)";
const LIMIT: &str = "serde_json limit (one to_writer of the tickets in memory)";

type Json = Arc<Streamer<FreelistPool, SerdeJson>>;

/// A chunkstream body as a scenario's chunks.
fn chunks(stream: ChunkStream) -> Chunks {
    stream.map_err(BoxError::from).boxed()
}

fn streamer() -> Result<Json, BoxError> {
    let config = ChunkConfig::default();
    let pool = Arc::new(FreelistPool::new(config.pool));
    Ok(Arc::new(Streamer::with_parts(config, pool, SerdeJson)?))
}

/// `s` encoding the tickets of `rows`.
fn typed<S>(s: &Json, rows: impl Fn() -> S + Send + Sync + 'static) -> ChunksFactory
where
    S: Stream<Item = Result<Ticket, BoxError>> + Send + 'static,
{
    let s = Arc::clone(s);
    Arc::new(move || chunks(s.stream(rows(), transform::passthrough())))
}

/// `s` framing the JSON text of `rows` as trusted items.
fn raw<S, E>(s: &Json, rows: impl Fn() -> S + Send + Sync + 'static) -> ChunksFactory
where
    S: Stream<Item = Result<RawJson, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    let s = Arc::clone(s);
    Arc::new(move || chunks(s.json(chunkstream::raw::trusted(rows()))))
}

/// The ways to answer from the tickets of `rows` and the database's JSON in `raw`.
fn db<S>(
    name: &'static str,
    s: &Json,
    rows: impl Fn() -> S + Copy + Send + Sync + 'static,
    raw: ChunksFactory,
    raw_target: Option<f64>,
) -> Db
where
    S: Stream<Item = Result<Ticket, BoxError>> + Send + 'static,
{
    Db {
        name,
        typed: typed(s, rows),
        naive: Arc::new(move || peers::naive(rows())),
        axum: Arc::new(move || PeerKind::AxumStreams.body(rows())),
        raw,
        raw_target,
    }
}

/// Numbers as f64 (an encoder may print `2.0` where the database prints `2`).
fn normalize(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

/// The body's values against the in-memory tickets': "same values" or what differs.
fn check(rt: &Runtime, make: &ChunksFactory, tickets: &[Ticket]) -> String {
    let body = match rt.block_on(scenario::collect(make())) {
        Ok(b) => b,
        Err(e) => return format!("failed: {e}"),
    };
    let parsed = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => normalize(v),
        Err(e) => return format!("body is not JSON: {e}"),
    };
    match serde_json::to_value(tickets).map(normalize) {
        Ok(expected) if expected == parsed => "same values as the tickets".into(),
        Ok(_) => "values differ from the tickets".into(),
        Err(e) => format!("reference failed: {e}"),
    }
}

fn unit(make: &ChunksFactory) -> impl std::future::Future<Output = Result<u64, BoxError>> + use<> {
    let chunks: Chunks = make();
    async move { Ok(scenario::drain(chunks).await?.bytes) }
}

/// Runs the comparison (and, unless `quick`, the profiles) and writes `database.md`,
/// `.csv`, `.env` and `flamegraphs/database-*.svg`.
pub(crate) fn run(quick: bool, env: &Environment, out: &Path) -> Result<(), BoxError> {
    let rt = parallel::runtime()?;
    let tickets = parallel::tickets(if quick { 128 << 10 } else { 2 << 20 });
    let body_bytes = serde_json::to_vec(tickets)?.len() as u64;
    let schedule = parallel::schedule(quick, 60, 11.0);
    eprintln!(
        "database: {} tickets ({body_bytes} bytes of JSON)",
        tickets.len()
    );
    let sqlite = rt.block_on(Sqlite::seed(tickets))?;
    let pool = sqlite.pool;
    let s = streamer()?;
    let json = raw(&s, move || {
        sql::json_rows(pool.clone(), |db| {
            sqlx::query_scalar::<_, String>(SQLITE_JSON).fetch(db)
        })
    });
    let mut dbs = vec![db("SQLite", &s, move || Sqlite::rows(pool), json, None)];
    // The rusqlite source on the same file.
    let rusqlite: &'static sqlite::Pool = Box::leak(Box::new(sqlite.rusqlite.clone()));
    let s = streamer()?;
    let ours_typed = typed(&s, move || Sqlite::rusqlite_rows(rusqlite));
    let ours_encoded = raw(&s, move || Sqlite::rusqlite_encoded(rusqlite, SerdeJson));
    let ours_raw = raw(&s, move || {
        sqlite::json_rows(rusqlite.clone(), SQLITE_JSON, [])
    });
    let postgres = rt.block_on(Postgres::from_env(tickets, "database"));
    if let Ok(pg) = postgres {
        let json_sql: &'static str = Box::leak(
            format!(
                "SELECT row_to_json(t)::text FROM (SELECT {} FROM {} ORDER BY id) t",
                sources::columns(),
                pg.table
            )
            .into_boxed_str(),
        );
        let s = streamer()?;
        let json = raw(&s, move || {
            sql::json_rows(pg.pool.clone(), move |db| {
                sqlx::query_scalar::<_, String>(json_sql).fetch(db)
            })
        });
        dbs.push(db("PostgreSQL", &s, move || pg.rows(), json, Some(2.0)));
    }

    let mut rows = Vec::new();
    // Each contestant paired with its reference (the serde_json limit for `None`), the
    // check of its body as its note.
    let mut pair = |section: &str,
                    (name, make): (&str, &ChunksFactory),
                    (reference_name, reference): (&str, Option<&ChunksFactory>),
                    target| {
        let row = Row {
            section: section.into(),
            contestant: name.into(),
            reference: reference_name.into(),
            bytes: body_bytes,
            target,
            note: check(&rt, make, tickets),
            ..Row::default()
        };
        let mut reference = match reference {
            Some(reference) => timed(&rt, || unit(reference)),
            None => paired_rows::limit_block(tickets),
        };
        let mut cont = timed(&rt, || unit(make));
        rows.push(row.measure(&mut reference, &mut cont, &schedule));
    };
    // The targets are the rusqlite source at its best (encoding on the statement's
    // thread); `sqlite::rows` is shown beside it, against sqlx and against `encoded_rows`.
    let sqlx_typed = (SQLX_TYPED, Some(&dbs[0].typed));
    let encoded = (RUSQLITE_ENCODED, &ours_encoded);
    for (contestant, reference, target) in [
        (encoded, sqlx_typed, Some(3.0)),
        (encoded, (LIMIT, None), Some(0.25)),
        ((RUSQLITE_TYPED, &ours_typed), sqlx_typed, None),
        (encoded, (RUSQLITE_TYPED, Some(&ours_typed)), None),
        (
            (RUSQLITE_RAW, &ours_raw),
            (SQLX_RAW, Some(&dbs[0].raw)),
            Some(2.0),
        ),
    ] {
        pair(
            "SQLite, DB to body, rusqlite source",
            contestant,
            reference,
            target,
        );
    }
    for db in &dbs {
        let section = format!("{}, DB to body", db.name);
        let axum = (AXUM, Some(&db.axum));
        pair(&section, (TYPED, &db.typed), axum, None);
        pair(&section, (NAIVE, &db.naive), axum, None);
        pair(&section, (DB_JSON, &db.raw), axum, db.raw_target);
    }
    if let Err(why) = &postgres {
        for name in [TYPED, NAIVE, DB_JSON] {
            rows.push(Row {
                section: "PostgreSQL, DB to body".into(),
                contestant: name.into(),
                reference: AXUM.into(),
                target: (name == DB_JSON).then_some(2.0),
                note: format!("not run: {why}"),
                ..Row::default()
            });
        }
    }

    let mut profiles = String::new();
    if !quick {
        eprintln!("database: profiles");
        let mut profiled: Vec<(&str, &str, &ChunksFactory)> = (dbs.iter())
            .flat_map(|db| [(db.name, "typed", &db.typed), (db.name, "dbjson", &db.raw)])
            .collect();
        // The rusqlite source's after SQLite's own.
        let rusqlite = [
            ("rusqlite-typed", &ours_typed),
            ("rusqlite-encoded", &ours_encoded),
            ("rusqlite-dbjson", &ours_raw),
        ];
        profiled.splice(2..2, rusqlite.map(|(kind, make)| ("SQLite", kind, make)));
        for (name, kind, make) in profiled {
            let file = format!("database-{}-{kind}.svg", name.to_lowercase());
            let summary = profile(&rt, make, &out.join("flamegraphs").join(&file), 4.0)?;
            profiles.push_str(&format!(
                "- **{name} {kind}** ([flamegraph](flamegraphs/{file})): {summary}\n"
            ));
        }
    }
    if let Ok(pg) = postgres {
        rt.block_on(pg.drop_table())?;
    }
    drop(sqlite);

    let profiles = if profiles.is_empty() {
        "Not profiled in a quick run.".to_owned()
    } else {
        format!(
            "pprof at 999 Hz, 4 s of requests each, every thread of this process (the \
             PostgreSQL server is another process, not sampled). Per profile: wall and CPU \
             time per request (CPU time from `/proc/self/stat`), the share of samples per thread, and the share of samples \
             by the kind of their innermost recognised frame (each sample counts once, as \
             the top edge of the flamegraph reads).\n\n\
             {profiles}"
        )
    };
    let body = format!(
        "{} tickets ({:.1} MB of JSON) from the same table and rows in each database, \
         drained in the process (no HTTP), on a two-worker tokio runtime. Each contestant \
         alternates with \"sqlx decode + axum-streams\" (`json_array` with its defaults) \
         in blocks; the ratio is axum-streams' time over the contestant's (above 1: \
         faster), median with a bootstrap 95% interval. A target is **met** when the \
         whole interval is at or above it, **missed** when the whole interval is below, \
         **inconclusive** otherwise. The note checks each body's values against the \
         tickets (numbers compared as f64).\n\n\
         Database-made JSON: SQLite `json_object('id', id, ...)`, PostgreSQL \
         `row_to_json(t)::text`, read with `sqlx::query_scalar::<_, String>` through \
         `sql::json_rows` and framed by `Streamer::json` as trusted `RawJson` items (no row decoding, no \
         re-encoding).\n\n\
         The rusqlite source (`chunkstream::sqlite`, feature `rusqlite`) reads the same \
         SQLite file through read-only connections: its statement runs on a thread of \
         its own, which decodes the rows (or takes SQLite's JSON text) and hands them \
         over in batches: as values for the stream to encode (`sqlite::rows`), or \
         encoded there already, their text borrowed from the row (`sqlite::encoded_rows`, \
         with the same encoder as the others: serde_json). Its rows are paired with the \
         sqlx source doing the same work (typed, and database-made JSON), and with the \
         serde_json limit of the same tickets in memory (no database at all).\n\n{}\n\n## Where the time goes\n\n{profiles}\n",
        tickets.len(),
        body_bytes as f64 / 1e6,
        report::paired::markdown(&rows),
    );
    let title = "From the database to the body";
    report::paired::write(out, "database", title, env, &rows, &body)
}

/// Kinds of frame, most specific first: each sample counts for the kind of its innermost
/// recognised frame (its "self" time, the way a flamegraph's top edge reads).
const KINDS: &[(&str, FrameTest)] = &[
    ("allocation and freeing", |n| {
        n.contains("alloc_count") || frames::is_allocation(n)
    }),
    ("memory copies", frames::is_copy),
    ("SQLite C library", |n| n.starts_with("sqlite3")),
    ("row decoding (try_get, Decode, column values)", |n| {
        n.contains("try_get")
            || n.contains("Decode")
            || n.contains("sources::decode")
            || n.contains("::value::")
            || n.contains("::row::")
    }),
    ("sqlx driver (protocol, statement, worker, channels)", |n| {
        n.contains("sqlx_")
    }),
    ("rusqlite (statement, rows) and its batches", |n| {
        n.contains("rusqlite::") || n.contains("chunkstream::sqlite::")
    }),
    ("serde_json encoding", |n| n.contains("serde_json")),
    ("axum-streams", |n| n.contains("axum_streams")),
    ("chunkstream framing and buffers", |n| {
        n.contains("chunkstream::")
    }),
    ("tokio runtime", |n| n.contains("tokio::")),
];

/// Profiles `make` for `seconds`, writes the flamegraph to `path`; a summary in words.
fn profile(
    rt: &Runtime,
    make: &ChunksFactory,
    path: &Path,
    seconds: f64,
) -> Result<String, BoxError> {
    let Sampled {
        report,
        requests,
        wall,
        cpu,
        ..
    } = sampling::sample(seconds, path, || rt.block_on(unit(make)))?;
    let tally = sampling::tally(&report, KINDS, |thread, _| {
        let thread = thread.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        format!("`{thread}`")
    });
    let total = tally.total;
    let threads = shares(tally.threads, total, 4);
    let kinds = shares(tally.kinds, total, usize::MAX);
    let per_request_ms = 1e3 * wall / requests.max(1) as f64;
    // The process's CPU time from the kernel: the samples undercount it (the profiling
    // timer ticks at the kernel's clock rate, below 999 Hz on this machine's kernel).
    let busy = match cpu {
        Some(cpu) => format!(
            "{:.1} ms of this process's CPU per request, {:.2} cores busy on \
             average (one request at a time, whose statement and stream may each keep \
             a core busy; less, and they waited on each other, on the database server \
             or for a core of this shared machine)",
            1e3 * cpu / requests.max(1) as f64,
            cpu / wall.max(1e-9)
        ),
        None => "CPU time unknown".to_owned(),
    };
    Ok(format!(
        "{requests} requests in {wall:.1} s: {per_request_ms:.1} ms of wall time per \
         request, {busy} ({total} samples). Threads: {threads}. Samples by innermost \
         recognised frame: {kinds}."
    ))
}
