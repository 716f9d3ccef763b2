//! `database`: from the database to the body, SQLite always and PostgreSQL when
//! `DATABASE_URL` points to one: the same tickets table and rows in both, four ways of
//! answering, paired with "sqlx decode + axum-streams":
//!
//! - chunkstream, typed decode + encode (freelist pool, serde_json);
//! - naive: one `serde_json::to_vec` and one `Bytes` per decoded row;
//! - chunkstream with the database making the JSON (`Streamer::json` over `sql::json_rows`, trusted `RawJson` items:
//!   SQLite `json_object(...)`, PostgreSQL `row_to_json(t)::text`).
//!
//! On SQLite, the rusqlite source (`chunkstream::sqlite`, the same file) against the
//! sqlx source: typed decode + encode paired with sqlx's (target 3x) and with the
//! serde_json limit of the same tickets in memory (target 0.25x); database-made JSON
//! paired with sqlx's `sql::json_rows` path (target 2x).
//!
//! Then pprof flamegraphs of the typed and database-JSON scenarios per database (and
//! per SQLite source) into `flamegraphs/`, with the share of samples per thread and per
//! kind of frame.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chunkstream::encode::SerdeJson;
use chunkstream::pool::FreelistPool;
use chunkstream::{BoxError, ChunkConfig, ChunkStream, Streamer, sql, sqlite, transform};
use chunkstream_benches::peers::{self, PeerKind};
use chunkstream_benches::scenario::{self, Chunks, ChunksFactory};
use chunkstream_benches::workload::{self, Ticket, Workload};
use futures_util::{StreamExt, TryStreamExt};
use tokio::runtime::Runtime;

use crate::env_info::Environment;
use crate::frames::{self, FrameTest};
use crate::harness::paired::Schedule;
use crate::harness::rows::{self as paired_rows, Row, timed};
use crate::report;
use crate::sampling::{self, Sampled, Tally, shares};
use crate::sources::{self, Postgres, Sqlite};

const SQLITE_JSON: &str = "SELECT json_object('id', id, 'project_id', project_id, \
     'title', title, 'description', description, 'status', status, 'priority', priority, \
     'assignee', assignee, 'reporter', reporter, 'created_at', created_at, \
     'updated_at', updated_at, 'estimate_hours', estimate_hours, 'labels', labels) \
     FROM tickets ORDER BY id";

/// The databases measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    Sqlite,
    Postgres,
}

impl Database {
    /// Its name in the sections.
    fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "PostgreSQL",
        }
    }
}

/// One database's four ways to answer.
struct Db {
    database: Database,
    typed: ChunksFactory,
    naive: ChunksFactory,
    axum: ChunksFactory,
    raw: ChunksFactory,
}

/// The rusqlite source's two ways to answer (SQLite only).
struct Rusqlite {
    typed: ChunksFactory,
    /// Typed, encoded on the statement's thread (`sqlite::encoded_rows`).
    encoded: ChunksFactory,
    raw: ChunksFactory,
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

/// A chunkstream body as a scenario's chunks.
fn chunks(stream: ChunkStream) -> Chunks {
    stream.map_err(BoxError::from).boxed()
}

fn streamer() -> Result<Arc<Streamer<FreelistPool, SerdeJson>>, BoxError> {
    let config = ChunkConfig::default();
    let pool = Arc::new(FreelistPool::new(config.pool));
    Ok(Arc::new(Streamer::with_parts(config, pool, SerdeJson)?))
}

fn sqlite_db(pool: &'static sqlx::SqlitePool) -> Result<Db, BoxError> {
    let s = streamer()?;
    let s2 = Arc::clone(&s);
    Ok(Db {
        database: Database::Sqlite,
        typed: Arc::new(move || chunks(s.stream(Sqlite::rows(pool), transform::passthrough()))),
        naive: Arc::new(move || peers::naive(Sqlite::rows(pool))),
        axum: Arc::new(move || PeerKind::AxumStreams.body(Sqlite::rows(pool))),
        raw: Arc::new(move || {
            let rows = sql::json_rows(pool.clone(), |db| {
                sqlx::query_scalar::<_, String>(SQLITE_JSON).fetch(db)
            });
            chunks(s2.json(chunkstream::raw::trusted(rows)))
        }),
    })
}

fn rusqlite_db(pool: &'static sqlite::Pool) -> Result<Rusqlite, BoxError> {
    let s = streamer()?;
    let s2 = Arc::clone(&s);
    let s3 = Arc::clone(&s);
    Ok(Rusqlite {
        typed: Arc::new(move || {
            chunks(s.stream(Sqlite::rusqlite_rows(pool), transform::passthrough()))
        }),
        encoded: Arc::new(move || {
            let rows = Sqlite::rusqlite_encoded(pool, *s3.encoder());
            chunks(s3.json(chunkstream::raw::trusted(rows)))
        }),
        raw: Arc::new(move || {
            let rows = sqlite::json_rows(pool.clone(), SQLITE_JSON, []);
            chunks(s2.json(chunkstream::raw::trusted(rows)))
        }),
    })
}

/// The rusqlite rows: each paired with the sqlx path it replaces, or with the limit.
fn rusqlite_rows(
    rt: &Runtime,
    sqlx: &Db,
    ours: &Rusqlite,
    tickets: &'static [Ticket],
    body_bytes: u64,
    schedule: &Schedule,
) -> Vec<Row> {
    let ours_typed = (RUSQLITE_TYPED, &ours.typed);
    let ours_encoded = (RUSQLITE_ENCODED, &ours.encoded);
    let sqlx_typed = (SQLX_TYPED, Some(&sqlx.typed));
    // The targets are the source at its best (encoding on the statement's thread);
    // `sqlite::rows` is shown beside it, against sqlx and against `encoded_rows`.
    let pairs = [
        (ours_encoded, sqlx_typed, Some(3.0)),
        (ours_encoded, (LIMIT, None), Some(0.25)),
        (ours_typed, sqlx_typed, None),
        (ours_encoded, (RUSQLITE_TYPED, Some(&ours.typed)), None),
        (
            (RUSQLITE_RAW, &ours.raw),
            (SQLX_RAW, Some(&sqlx.raw)),
            Some(2.0),
        ),
    ];
    pairs
        .into_iter()
        .map(|((name, make), (reference_name, reference), target)| {
            let row = Row {
                section: "SQLite, DB to body, rusqlite source".into(),
                contestant: name.into(),
                reference: reference_name.into(),
                bytes: body_bytes,
                target,
                ..Row::default()
            };
            measured(rt, row, make, reference, tickets, schedule)
        })
        .collect()
}

/// `row` with the check of `make`'s body as its note, `make` paired with `reference`
/// (the serde_json limit for `None`).
fn measured(
    rt: &Runtime,
    row: Row,
    make: &ChunksFactory,
    reference: Option<&ChunksFactory>,
    tickets: &'static [Ticket],
    schedule: &Schedule,
) -> Row {
    let row = Row {
        note: check(rt, make, tickets),
        ..row
    };
    let mut reference = match reference {
        Some(reference) => timed(rt, || unit(reference)),
        None => paired_rows::limit_block(tickets),
    };
    let mut cont = timed(rt, || unit(make));
    row.measure(&mut reference, &mut cont, schedule)
}

fn postgres_db(pg: Postgres) -> Result<Db, BoxError> {
    let pool = pg.pool;
    let json_sql: &'static str = Box::leak(
        format!(
            "SELECT row_to_json(t)::text FROM (SELECT {} FROM {} ORDER BY id) t",
            sources::columns(),
            pg.table
        )
        .into_boxed_str(),
    );
    let s = streamer()?;
    let s2 = Arc::clone(&s);
    Ok(Db {
        database: Database::Postgres,
        typed: Arc::new(move || chunks(s.stream(pg.rows(), transform::passthrough()))),
        naive: Arc::new(move || peers::naive(pg.rows())),
        axum: Arc::new(move || PeerKind::AxumStreams.body(pg.rows())),
        raw: Arc::new(move || {
            let rows = sql::json_rows(pool.clone(), move |db| {
                sqlx::query_scalar::<_, String>(json_sql).fetch(db)
            });
            chunks(s2.json(chunkstream::raw::trusted(rows)))
        }),
    })
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bytes = if quick { 128 << 10 } else { 2 << 20 };
    let tickets = workload::leak(workload::tickets(Workload::Tickets.items_for_bytes(bytes)));
    let body_bytes = serde_json::to_vec(tickets)?.len() as u64;
    let schedule = Schedule {
        block: Duration::from_millis(if quick { 5 } else { 60 }),
        budget: Duration::from_secs_f64(if quick { 0.6 } else { 11.0 }),
        min_pairs: if quick { 3 } else { 15 },
        max_pairs: 2000,
    };
    eprintln!(
        "database: {} tickets ({body_bytes} bytes of JSON)",
        tickets.len()
    );
    let sqlite = rt.block_on(Sqlite::seed(tickets))?;
    let mut dbs = vec![sqlite_db(sqlite.pool)?];
    let rusqlite = rusqlite_db(Box::leak(Box::new(sqlite.rusqlite.clone())))?;
    let (postgres, missing) = match rt.block_on(Postgres::from_env(tickets, "database")) {
        Ok(pg) => (Some(pg), None),
        Err(why) => (None, Some(why)),
    };
    if let Some(pg) = postgres {
        dbs.push(postgres_db(pg)?);
    }

    let mut rows = Vec::new();
    for db in &dbs {
        let db_json_target = (db.database == Database::Postgres).then_some(2.0);
        let contestants = [
            (TYPED, &db.typed, None),
            (NAIVE, &db.naive, None),
            (DB_JSON, &db.raw, db_json_target),
        ];
        if db.database == Database::Sqlite {
            rows.extend(rusqlite_rows(
                &rt, db, &rusqlite, tickets, body_bytes, &schedule,
            ));
        }
        for (name, make, target) in contestants {
            let row = Row {
                section: format!("{}, DB to body", db.database.name()),
                contestant: name.into(),
                reference: AXUM.into(),
                bytes: body_bytes,
                target,
                ..Row::default()
            };
            rows.push(measured(&rt, row, make, Some(&db.axum), tickets, &schedule));
        }
    }
    if let Some(why) = &missing {
        for name in [TYPED, NAIVE, DB_JSON] {
            rows.push(Row {
                section: format!("{}, DB to body", Database::Postgres.name()),
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
        let mut profiled: Vec<(&str, &str, &ChunksFactory)> = Vec::new();
        for db in &dbs {
            let name = db.database.name();
            profiled.push((name, "typed", &db.typed));
            profiled.push((name, "dbjson", &db.raw));
            if db.database == Database::Sqlite {
                profiled.push((name, "rusqlite-typed", &rusqlite.typed));
                profiled.push((name, "rusqlite-encoded", &rusqlite.encoded));
                profiled.push((name, "rusqlite-dbjson", &rusqlite.raw));
            }
        }
        for (name, kind, make) in profiled {
            let file = format!("database-{}-{kind}.svg", name.to_lowercase());
            let summary = profile(&rt, make, &out.join("flamegraphs").join(&file), 4.0)?;
            profiles.push_str(&format!(
                "- **{name} {kind}** ([flamegraph](flamegraphs/{file})): {summary}\n"
            ));
        }
    }
    if let Some(pg) = postgres {
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
    report::paired::write(
        out,
        "database",
        "From the database to the body",
        env,
        &rows,
        &body,
    )?;
    Ok(())
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
    let Tally {
        total,
        threads,
        kinds,
        ..
    } = sampling::tally(&report, KINDS, |thread, _| {
        let thread = thread.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        format!("`{thread}`")
    });
    let threads = shares(threads, total, 4);
    let kinds = shares(kinds, total, usize::MAX);
    let per_request_ms = 1e3 * wall / requests.max(1) as f64;
    // The process's CPU time from the kernel: the samples undercount it (the profiling
    // timer ticks at the kernel's clock rate, below 999 Hz on this machine's kernel).
    let busy = match cpu {
        Some(cpu) => {
            let cpu_ms = 1e3 * cpu / requests.max(1) as f64;
            format!(
                "{cpu_ms:.1} ms of this process's CPU per request, {:.2} cores busy on \
                 average (one request at a time, whose statement and stream may each keep \
                 a core busy; less, and they waited on each other, on the database server \
                 or for a core of this shared machine)",
                cpu / wall.max(1e-9)
            )
        }
        None => "CPU time unknown".to_owned(),
    };
    Ok(format!(
        "{requests} requests in {wall:.1} s: {per_request_ms:.1} ms of wall time per \
         request, {busy} ({total} samples). Threads: {}. Samples by innermost recognised \
         frame: {}.",
        threads, kinds
    ))
}
