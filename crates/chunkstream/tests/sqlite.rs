//! The rusqlite source (`chunkstream::sqlite`) through the public API and over real HTTP
//! (axum on 127.0.0.1, reqwest), on real SQLite files: the same body as the sqlx source
//! for the same query, backpressure and interruption (the statement stops: the rows it
//! reads stay bounded and its connection comes back), errors before and after the first
//! row, and the count read before the rows on the statement's thread (`Rows::counted`).
//!
//! Needs the `rusqlite`, `sqlx` and `axum` features.
#![cfg(all(feature = "rusqlite", feature = "sqlx", feature = "axum"))]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chunkstream::sqlite::{self, Pool};
use chunkstream::{
    CancellationToken, ChunkConfig, ChunkStream, StreamError, StreamResponse, Streamer, sql,
    transform,
};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

/// Every column type of the service's tickets table: integers, text, a real, nullable
/// text.
#[derive(Debug, PartialEq, Serialize, sqlx::FromRow)]
struct Ticket {
    id: i64,
    title: String,
    description: String,
    assignee: Option<String>,
    estimate_hours: f64,
    comments: i64,
    resolved_at: Option<String>,
}

/// [`Ticket`] with its text borrowed from the row, for `sqlite::encoded_rows`.
#[derive(Serialize)]
struct TicketRef<'r> {
    id: i64,
    title: &'r str,
    description: &'r str,
    assignee: Option<&'r str>,
    estimate_hours: f64,
    comments: i64,
    resolved_at: Option<&'r str>,
}

/// Writes a row of `SELECT {COLUMNS}` as JSON on the statement's thread.
fn encode_ticket<E: chunkstream::Encoder>(
    row: &sqlite::rusqlite::Row<'_>,
    json: sqlite::RowJson<'_, E>,
) -> Result<(), sqlite::Error> {
    json.encode(&TicketRef {
        id: row.get(0)?,
        title: row.get_ref(1)?.as_str()?,
        description: row.get_ref(2)?.as_str()?,
        assignee: row.get_ref(3)?.as_str_or_null()?,
        estimate_hours: row.get(4)?,
        comments: row.get(5)?,
        resolved_at: row.get_ref(6)?.as_str_or_null()?,
    })
}

const COLUMNS: &str = "id, title, description, assignee, estimate_hours, comments, resolved_at";
const ROWS: i64 = 3000;

impl Ticket {
    fn from_row(row: &sqlite::rusqlite::Row<'_>) -> sqlite::rusqlite::Result<Ticket> {
        Ok(Ticket {
            id: row.get(0)?,
            title: row.get(1)?,
            description: row.get(2)?,
            assignee: row.get(3)?,
            estimate_hours: row.get(4)?,
            comments: row.get(5)?,
            resolved_at: row.get(6)?,
        })
    }
}

/// A seeded file database: text a JSON writer must escape, non-ASCII, NULLs, floats
/// that print differently (integral, tiny, huge, not exact in 15 digits) and a few
/// descriptions of 200 KB. The directory lives as long as the returned guard.
fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.db");
    let mut db = sqlite::rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT \
         NOT NULL, assignee TEXT, estimate_hours REAL NOT NULL, comments INTEGER NOT NULL, \
         resolved_at TEXT)",
    )
    .unwrap();
    let tx = db.transaction().unwrap();
    {
        const FLOATS: [f64; 7] = [1.0, 0.25, 1e21, 1e-7, -2.5, 0.1 + 0.2, 12.75];
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO tickets ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .unwrap();
        for id in 1..=ROWS {
            let n = id as usize;
            let large = if id % 500 == 0 {
                "ж".repeat(100_000)
            } else {
                String::new()
            };
            insert
                .execute((
                    id,
                    format!("Ticket #{id}: \"export\" at C:\\tmp\\{id} — naïve café ☕ 🎫"),
                    format!("line\none\ttab\u{1}\u{1f} \u{2028} </script> {large}"),
                    (id % 7 != 0).then(|| ["alice", "bob", "chloé"][n % 3]),
                    FLOATS[n % FLOATS.len()] * (1 + id % 9) as f64,
                    id * 1_000_003,
                    (id % 3 == 0).then(|| format!("2024-01-{:02}T00:00:00Z", 1 + n % 28)),
                ))
                .unwrap();
        }
    }
    tx.commit().unwrap();
    (dir, path)
}

async fn sqlx_pool(path: &Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

fn one_connection(path: &Path) -> Pool {
    Pool::read_only(path, 1, Duration::from_secs(10)).unwrap()
}

fn streamer(
    format: chunkstream::format::Json,
) -> Streamer<
    chunkstream::pool::DefaultPool,
    chunkstream::encode::DefaultEncoder,
    chunkstream::format::Json,
> {
    Streamer::new(ChunkConfig::default())
        .unwrap()
        .with_format(format)
}

/// `SELECT n` for n from 1 up: as many rows as anyone reads.
const ENDLESS: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) \
                       SELECT n FROM c";
/// One row, then a scan that finds no other for a very long time.
const ONE_THEN_SCAN: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c \
                             WHERE n < 1000000000000) SELECT n FROM c WHERE n = 1 OR n < 0";

/// The rows of `sql`, tallying each row the statement reads in `read`.
fn tallied(pool: &Pool, sql: &'static str, read: &Arc<AtomicUsize>) -> sqlite::Rows<i64> {
    let read = Arc::clone(read);
    sqlite::rows(pool.clone(), sql, [], move |row| {
        read.fetch_add(1, SeqCst);
        row.get(0)
    })
}

/// Waits (at most 10 s) until the pool's only connection is free again: it is, once the
/// statement has stopped and let it go.
async fn connection_comes_back(pool: &Pool) {
    let conn = tokio::time::timeout(Duration::from_secs(10), pool.get())
        .await
        .expect("the connection came back")
        .expect("a connection");
    let n = sqlite::count(&conn, "SELECT 7", []).unwrap();
    assert_eq!(n, 7, "the connection works for its next user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_body_as_the_sqlx_source() {
    let (_dir, path) = database();
    let pool = Pool::read_only(&path, 2, Duration::from_secs(10)).unwrap();
    let sqlx = sqlx_pool(&path).await;
    let sql = format!("SELECT {COLUMNS} FROM tickets ORDER BY id");
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = streamer(format);
        let q = sql.clone();
        let by_sqlx = sql::rows_with(sqlx.clone(), q, |pool, q| {
            sqlx::query_as::<_, Ticket>(q).fetch(pool)
        });
        let expected = streamer
            .stream(by_sqlx, transform::passthrough())
            .collect_bytes()
            .await
            .unwrap();
        let ours = sqlite::rows(pool.clone(), sql.clone(), [], Ticket::from_row);
        let direct = streamer
            .stream(ours, transform::passthrough())
            .collect_bytes()
            .await
            .unwrap();
        assert!(direct == expected, "{format:?}: stream differs from sqlx's");
        let ours = sqlite::rows(pool.clone(), sql.clone(), [], Ticket::from_row);
        let spawned = streamer
            .stream(ours, transform::passthrough())
            .spawn()
            .collect_bytes()
            .await
            .unwrap();
        assert!(spawned == expected, "{format:?}: spawn differs from sqlx's");
        // Encoded on the statement's thread, each path.
        let encoded = || {
            let encoder = *streamer.encoder();
            sqlite::encoded_rows(pool.clone(), sql.clone(), [], encoder, encode_ticket)
        };
        let direct = streamer.json(encoded()).collect_bytes().await.unwrap();
        assert!(
            direct == expected,
            "{format:?}: encoded_rows differs from sqlx's"
        );
        let spawned = streamer.json(encoded()).spawn().collect_bytes().await;
        assert!(
            spawned.unwrap() == expected,
            "{format:?}: spawned encoded_rows"
        );
        let batches = streamer
            .stream_batch(encoded(), transform::passthrough())
            .collect_bytes()
            .await;
        assert!(
            batches.unwrap() == expected,
            "{format:?}: encoded_rows in batches"
        );
        if format == chunkstream::format::Json::Ndjson {
            assert_eq!(
                expected.iter().filter(|&&b| b == b'\n').count(),
                ROWS as usize
            );
        }
    }
    // Bound parameters, and an empty result.
    let ours = sqlite::rows(
        pool.clone(),
        "SELECT id FROM tickets WHERE id > ?1 AND assignee = ?2 ORDER BY id",
        (ROWS - 10, "chloé".to_owned()),
        |row| row.get::<_, i64>(0),
    );
    let body = streamer(chunkstream::format::Json::Array)
        .json(ours)
        .collect_bytes()
        .await;
    let expected: Vec<i64> = (ROWS - 9..=ROWS)
        .filter(|id| id % 7 != 0 && id % 3 == 2)
        .collect();
    assert_eq!(body.unwrap(), serde_json::to_vec(&expected).unwrap());
    let none = sqlite::rows(pool, "SELECT id FROM tickets WHERE id < 0", [], |row| {
        row.get::<_, i64>(0)
    });
    let body = streamer(chunkstream::format::Json::Array)
        .json(none)
        .collect_bytes()
        .await;
    assert_eq!(body.unwrap(), &b"[]"[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_made_json_is_the_same_text_as_through_sqlx() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let sqlx = sqlx_pool(&path).await;
    let json_sql = "SELECT json_object('id', id, 'title', title, 'description', description, \
                    'assignee', assignee, 'estimate_hours', estimate_hours, 'comments', \
                    comments, 'resolved_at', resolved_at) FROM tickets ORDER BY id";
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = streamer(format);
        let by_sqlx = sql::json_rows(sqlx.clone(), move |pool| {
            sqlx::query_scalar::<_, String>(json_sql).fetch(pool)
        });
        let expected = streamer
            .json(chunkstream::raw::trusted(by_sqlx))
            .collect_bytes()
            .await
            .unwrap();
        let ours = sqlite::json_rows(pool.clone(), json_sql, []);
        let body = streamer
            .json(chunkstream::raw::validated(ours))
            .collect_bytes()
            .await
            .unwrap();
        assert!(body == expected, "{format:?}: differs from sqlx's");
    }
    // And the values are the typed path's (floats to SQLite's 15 digits aside: none of
    // these needs more).
    let typed = sqlite::rows(
        pool.clone(),
        format!("SELECT {COLUMNS} FROM tickets WHERE id % 7 <> 5 ORDER BY id"),
        [],
        Ticket::from_row,
    );
    let typed = streamer(chunkstream::format::Json::Array)
        .json(typed)
        .collect_bytes()
        .await
        .unwrap();
    let raw = sqlite::json_rows(
        pool,
        json_sql.replace("ORDER", "WHERE id % 7 <> 5 ORDER"),
        [],
    );
    let raw = streamer(chunkstream::format::Json::Array)
        .json(chunkstream::raw::trusted(raw))
        .collect_bytes()
        .await
        .unwrap();
    let (typed, raw): (Vec<Value>, Vec<Value>) = (
        serde_json::from_slice(&typed).unwrap(),
        serde_json::from_slice(&raw).unwrap(),
    );
    assert_eq!(typed.len(), raw.len());
    for (t, r) in typed.iter().zip(&raw) {
        for (key, value) in t.as_object().unwrap() {
            let other = &r[key];
            match (value.as_f64(), other.as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= a.abs() * 1e-14, "{key}: {a} {b}"),
                _ => assert_eq!(value, other, "{key}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_runs_until_the_stream_is_polled() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let read = Arc::new(AtomicUsize::new(0));
    let rows = tallied(&pool, ENDLESS, &read);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(read.load(SeqCst), 0);
    drop(rows);
    connection_comes_back(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_holds_the_statement_and_the_stall_limit_stops_it() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let read = Arc::new(AtomicUsize::new(0));
    let config = ChunkConfig::with_sizes(4096, 2048).with_stall_timeout(Duration::from_millis(300));
    let streamer = Streamer::new(config).unwrap();
    let mut chunks = streamer
        .stream(tallied(&pool, ENDLESS, &read), transform::passthrough())
        .spawn();
    assert!(chunks.next().await.unwrap().is_ok());
    // The reader stops. The statement reads until the queues are full, then waits: in
    // the stall limit's 300 ms an endless query unchecked reads hundreds of thousands.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = read.load(SeqCst);
    assert!(
        held < 20_000,
        "{held} rows read for a reader that took one chunk"
    );
    // The stall limit cuts the stream and releases the statement's connection.
    connection_comes_back(&pool).await;
    let at_cut = read.load(SeqCst);
    assert!(at_cut < 20_000, "{at_cut} rows read before the cut");
    let mut last = None;
    while let Some(item) = chunks.next().await {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(StreamError::Stalled(_)))),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_the_statement() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    // Waiting on the stream (backpressure), on the direct and the spawned path.
    for spawned in [false, true] {
        let read = Arc::new(AtomicUsize::new(0));
        let rows = tallied(&pool, ENDLESS, &read);
        let streamer = Streamer::new(ChunkConfig::with_sizes(4096, 2048)).unwrap();
        let mut chunks = if spawned {
            streamer.stream(rows, transform::passthrough()).spawn()
        } else {
            streamer.stream(rows, transform::passthrough())
        };
        assert!(chunks.next().await.unwrap().is_ok());
        drop(chunks);
        connection_comes_back(&pool).await;
        let after = read.load(SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            read.load(SeqCst),
            after,
            "spawned {spawned}: rows read after the drop"
        );
        assert!(after < 20_000, "spawned {spawned}: {after} rows read");
    }
    // Inside SQLite, scanning for its next row: only an interrupt stops it.
    let read = Arc::new(AtomicUsize::new(0));
    let mut rows = tallied(&pool, ONE_THEN_SCAN, &read);
    assert_eq!(rows.next().await.unwrap().unwrap(), 1);
    drop(rows);
    connection_comes_back(&pool).await;
    assert_eq!(read.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_and_timeout_interrupt_the_statement() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let read = Arc::new(AtomicUsize::new(0));
    // The statement is scanning (one row, less than a chunk: nothing sent yet).
    let chunks = streamer
        .json(tallied(&pool, ONE_THEN_SCAN, &read))
        .timeout(Duration::from_millis(100));
    let err = chunks.collect_bytes().await.unwrap_err();
    assert!(matches!(err, StreamError::TimedOut(_)), "{err}");
    connection_comes_back(&pool).await;

    let token = CancellationToken::new();
    let chunks: ChunkStream = streamer
        .stream(
            tallied(&pool, ONE_THEN_SCAN, &read),
            transform::passthrough(),
        )
        .spawn()
        .cancel_on(token.clone());
    let cancel = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    });
    let err = chunks.collect_bytes().await.unwrap_err();
    assert!(matches!(err, StreamError::Cancelled), "{err}");
    cancel.await.unwrap();
    connection_comes_back(&pool).await;
    // One row each at most (none if the limit fired before the statement started).
    assert!(read.load(SeqCst) <= 2);
}

/// A slow statement (millions of steps between its rows) with `flush_interval`: each row
/// reaches the client before the statement reads the next, never held back for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_s_rows_are_flushed_one_by_one() {
    const SLOW: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c \
                        WHERE n < 9000000) SELECT n FROM c WHERE n % 3000000 = 1";
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let read = Arc::new(AtomicUsize::new(0));
    let config = ChunkConfig::default().with_flush_interval(Duration::from_millis(5));
    let streamer = Streamer::new(config).unwrap();
    let mut chunks = streamer.stream(tallied(&pool, SLOW, &read), transform::passthrough());
    let mut body = Vec::new();
    for row in 1..=3 {
        body.extend_from_slice(&chunks.next().await.unwrap().unwrap());
        let sent = body.split(|&b| b == b',').count();
        assert_eq!(sent, row, "{}", String::from_utf8_lossy(&body));
        assert_eq!(read.load(SeqCst), row, "row {row} waited for the next one");
    }
    let rest = chunks.collect_bytes().await.unwrap();
    body.extend_from_slice(&rest);
    assert_eq!(body, b"[1,3000001,6000001]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_reads_a_wal_file_and_never_writes() {
    let (dir, path) = database();
    // Made by rusqlite's defaults (a rollback journal): the pool switches it to WAL.
    let pool = one_connection(&path);
    let conn = pool.get().await.unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let write = conn.execute("DELETE FROM tickets", []);
    assert!(write.is_err(), "a read-only connection wrote");
    assert_eq!(
        sqlite::count(&conn, "SELECT COUNT(*) FROM tickets", []).unwrap(),
        ROWS as u64
    );
    drop(conn);
    // A missing file is an error, not a new empty database.
    let missing = Pool::read_only(dir.path().join("missing.db"), 1, Duration::from_secs(1));
    assert!(
        matches!(missing, Err(sqlite::Error::Sqlite(_))),
        "{missing:?}"
    );
    assert!(!dir.path().join("missing.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_end_the_stream_after_the_rows_before_them() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    // abs(i64::MIN) overflows on the 1001st row: the 1000 before it come out first.
    let sql = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000) \
               SELECT CASE WHEN n <= 1000 THEN n ELSE abs(-9223372036854775807 - 1) END FROM c";
    let mut rows = sqlite::rows(pool.clone(), sql, [], |row| row.get::<_, i64>(0));
    let mut got = Vec::new();
    let err = loop {
        match rows.next().await.unwrap() {
            Ok(n) => got.push(n),
            Err(err) => break err,
        }
    };
    assert_eq!(got, (1..=1000).collect::<Vec<_>>());
    assert!(err.to_string().contains("overflow"), "{err}");
    assert!(rows.next().await.is_none());
    // A column of the wrong type is an error of the stream too, with its cause.
    let rows = sqlite::rows(pool.clone(), "SELECT 'text'", [], |row| {
        row.get::<_, i64>(0)
    });
    let err = streamer.json(rows).collect_bytes().await.unwrap_err();
    assert!(matches!(err, StreamError::Source(_)), "{err}");
    // A panic in the row mapping is a panic of the stream, not its end.
    let rows = sqlite::rows(pool.clone(), ENDLESS, [], |row| {
        let n: i64 = row.get(0)?;
        assert!(n < 600, "row {n} refused");
        Ok(n)
    });
    let err = streamer
        .stream(rows, transform::passthrough())
        .spawn()
        .collect_bytes()
        .await;
    assert!(matches!(err, Err(StreamError::Panicked { .. })), "{err:?}");
    connection_comes_back(&pool).await;
}

/// `SELECT id FROM t ORDER BY id` on a fresh WAL file holding ids 1 to 3, and the file.
fn three_rows() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let db = sqlite::rusqlite::Connection::open(&path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);",
    )
    .unwrap();
    (dir, path)
}

const IDS: &str = "SELECT id FROM t ORDER BY id";

fn ids<C: sqlite::Connect>(conn: C) -> sqlite::Rows<i64> {
    sqlite::rows(conn, IDS, [], |row| row.get(0))
}

/// The count and the rows come from one snapshot: rows another connection commits
/// between them (here from inside the count, through an SQL function) are in neither.
/// Read one after the other (the count on its own, then the stream), they would be in
/// the rows and not in the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_stream_reads_the_rows_it_counted_while_another_connection_writes() {
    use sqlite::rusqlite::functions::FunctionFlags;
    let (_dir, path) = three_rows();
    let conn = sqlite::rusqlite::Connection::open(&path).unwrap();
    let writes_to = path.clone();
    conn.create_scalar_function("write_more", 0, FunctionFlags::SQLITE_UTF8, move |_| {
        let writer = sqlite::rusqlite::Connection::open(&writes_to)?;
        writer.execute("INSERT INTO t VALUES (4), (5)", [])?;
        Ok(0)
    })
    .unwrap();
    let (count, rows) = ids(conn).counted("SELECT COUNT(*) + write_more() FROM t", []);
    assert_eq!(count.await.unwrap(), 3);
    let body = streamer(Default::default())
        .json(rows)
        .collect_bytes()
        .await;
    assert_eq!(body.unwrap(), b"[1,2,3]"[..]);
    // The write went through: a read after sees it.
    let reader = sqlite::rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        sqlite::count(&reader, "SELECT COUNT(*) FROM t", []).unwrap(),
        5
    );
}

/// A count that fails is the `Count`'s error, and the stream's only item is
/// `CountFailed` (no row read): a server answers with an error status, never with a body
/// that looks complete. The same when no connection comes from the pool; the
/// connection, when there was one, goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_count_is_the_count_s_error_and_the_stream_s_only_item() {
    let (_dir, path) = three_rows();
    let pool = Pool::read_only(&path, 1, Duration::from_millis(100)).unwrap();
    let (count, rows) = ids(pool.clone()).counted("SELECT COUNT(*) FROM no_such_table", []);
    let err = count.await.unwrap_err();
    assert!(matches!(err, sqlite::Error::Sqlite(_)), "{err}");
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let items: Vec<_> = rows.collect().await;
    assert!(
        matches!(items[..], [Err(sqlite::Error::CountFailed)]),
        "{items:?}"
    );
    // Through a streamer: a source error, whether or not the count was awaited.
    let (_count, rows) = ids(pool.clone()).counted("SELECT COUNT(*) FROM no_such_table", []);
    let err = streamer(Default::default())
        .json(rows)
        .collect_bytes()
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Source(_)), "{err}");
    // No connection in time: the pool's error, for the count.
    let held = pool.get().await.unwrap();
    let (count, rows) = ids(pool.clone()).counted("SELECT COUNT(*) FROM t", []);
    assert!(matches!(count.await, Err(sqlite::Error::Pool(_))));
    let items: Vec<_> = rows.collect().await;
    assert!(matches!(items[..], [Err(sqlite::Error::CountFailed)]));
    drop(held);
    connection_comes_back(&pool).await;
}

/// A counted stream starts at once (its count is awaited before its body), and stops
/// when dropped as any other: the count resolves (counted, or the thread's error), the
/// statement stops reading and the connection goes back. A stream already polled cannot
/// count first: its count is an error and its rows go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_stream_starts_at_once_and_stops_when_dropped() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let read = Arc::new(AtomicUsize::new(0));
    let (count, rows) = tallied(&pool, ENDLESS, &read).counted("SELECT 42", []);
    assert_eq!(count.await.unwrap(), 42);
    // Read ahead without a poll: bounded, as for a stream that is not read.
    tokio::time::timeout(Duration::from_secs(10), async {
        while read.load(SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the rows are read before the first poll");
    drop(rows);
    connection_comes_back(&pool).await;
    let after = read.load(SeqCst);
    assert!(
        after < 20_000,
        "{after} rows read for a stream never polled"
    );
    // Dropped at once: the count resolves all the same.
    let (count, rows) = ids(pool.clone()).counted("SELECT COUNT(*) FROM tickets", []);
    drop(rows);
    let counted = tokio::time::timeout(Duration::from_secs(10), count).await;
    match counted.expect("the count resolves") {
        Ok(n) => assert_eq!(n, ROWS as u64),
        Err(err) => assert!(matches!(err, sqlite::Error::Thread(_)), "{err}"),
    }
    connection_comes_back(&pool).await;
    // Polled first: too late to count; the rows go on.
    let mut rows = sqlite::rows(
        pool.clone(),
        "SELECT id FROM tickets ORDER BY id LIMIT 3",
        [],
        |row| row.get::<_, i64>(0),
    );
    assert_eq!(rows.next().await.unwrap().unwrap(), 1);
    let (count, rows) = rows.counted("SELECT 3", []);
    assert!(matches!(count.await, Err(sqlite::Error::Thread(_))));
    let rest: Vec<i64> = rows.map(Result::unwrap).collect().await;
    assert_eq!(rest, [2, 3]);
}

/// Any source of the module counts: rows the database made into JSON too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rows_count_first_too() {
    let (_dir, path) = three_rows();
    let pool = one_connection(&path);
    let rows = sqlite::json_rows(pool, "SELECT json_object('id', id) FROM t ORDER BY id", []);
    let (count, rows) = rows.counted("SELECT COUNT(*) FROM t", []);
    assert_eq!(count.await.unwrap(), 3);
    let body = streamer(Default::default())
        .json(rows)
        .collect_bytes()
        .await;
    assert_eq!(body.unwrap(), br#"[{"id":1},{"id":2},{"id":3}]"#[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_rows_leave_rows_out_stop_on_a_refused_value_and_on_a_drop() {
    let (_dir, path) = database();
    let pool = one_connection(&path);
    let streamer = Streamer::new(ChunkConfig::with_sizes(4096, 2048)).unwrap();
    let numbers = |sql: &'static str, read: &Arc<AtomicUsize>| {
        let read = Arc::clone(read);
        let encoder = *streamer.encoder();
        sqlite::encoded_rows(pool.clone(), sql, [], encoder, move |row, json| {
            read.fetch_add(1, SeqCst);
            let n: f64 = row.get(0)?;
            match n {
                // Odd rows are left out; row 1001 is not a number JSON can hold.
                _ if n % 2.0 == 1.0 => Ok(()),
                1002.0 => json.encode(&f64::NAN),
                _ => json.encode(&n),
            }
        })
    };
    let read = Arc::new(AtomicUsize::new(0));
    let mut rows = numbers(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000) \
         SELECT n FROM c",
        &read,
    );
    let mut got = Vec::new();
    let err = loop {
        match rows.next().await.unwrap() {
            Ok(json) => got.push(json.as_bytes().to_vec()),
            Err(err) => break err,
        }
    };
    let expected: Vec<Vec<u8>> = (1..=500)
        .map(|n| format!("{}.0", 2 * n).into_bytes())
        .collect();
    assert_eq!(
        got, expected,
        "the even rows before the refused one, each its own item"
    );
    assert!(
        matches!(err, sqlite::Error::Encode { row: 1001, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("row 1001"), "{err}");
    assert!(rows.next().await.is_none());
    connection_comes_back(&pool).await;
    // Dropped after the first chunk, the endless statement stops.
    let read = Arc::new(AtomicUsize::new(0));
    let mut chunks = streamer.json(numbers(ENDLESS, &read));
    assert!(chunks.next().await.unwrap().is_ok());
    drop(chunks);
    connection_comes_back(&pool).await;
    let after = read.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(read.load(SeqCst), after, "rows read after the drop");
    assert!(after < 20_000, "{after} rows read");
    // A panic in `write` is a panic of the stream.
    let encoder = *streamer.encoder();
    let rows = sqlite::encoded_rows(pool.clone(), ENDLESS, [], encoder, |row, json| {
        let n: i64 = row.get(0)?;
        assert!(n < 600, "row {n} refused");
        json.encode(&n)
    });
    let err = streamer.json(rows).spawn().collect_bytes().await;
    assert!(matches!(err, Err(StreamError::Panicked { .. })), "{err:?}");
    connection_comes_back(&pool).await;
}

/// A free connection is had at once, even on a runtime whose one thread is the caller's;
/// with none free, `get` waits for one to come back, and gives up after the acquire
/// timeout with a pool error.
#[tokio::test(flavor = "current_thread")]
async fn get_takes_a_free_connection_or_waits_for_one_until_the_timeout() {
    let (_dir, path) = database();
    let pool = Pool::read_only(&path, 1, Duration::from_millis(300)).unwrap();
    let held = pool.get().await.expect("the free connection");
    let released = {
        let pool = pool.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
            pool
        })
    };
    let waited = pool
        .get()
        .await
        .expect("the connection given back while waiting");
    let pool = released.await.unwrap();
    let started = std::time::Instant::now();
    let err = pool.get().await.expect_err("no connection comes back");
    assert!(matches!(err, sqlite::Error::Pool(_)), "{err:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    drop(waited);
    connection_comes_back(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_streams_share_a_small_pool() {
    let (_dir, path) = database();
    let pool = Pool::read_only(&path, 2, Duration::from_secs(10)).unwrap();
    let sql = format!("SELECT {COLUMNS} FROM tickets ORDER BY id");
    let streamer = streamer(chunkstream::format::Json::Array);
    let reference = {
        let rows = sqlite::rows(pool.clone(), sql.clone(), [], Ticket::from_row);
        streamer.json(rows).collect_bytes().await.unwrap()
    };
    let bodies = futures_util::future::join_all((0..6).map(|_| {
        let rows = sqlite::rows(pool.clone(), sql.clone(), [], Ticket::from_row);
        streamer
            .stream(rows, transform::passthrough())
            .spawn()
            .collect_bytes()
    }))
    .await;
    for body in bodies {
        assert!(body.unwrap() == reference);
    }
    assert!(pool.size() <= 2);
}

/// Over HTTP: the tickets by id range; `bad` makes the query fail.
async fn tickets(
    State((pool, streamer)): State<(Pool, Streamer)>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> StreamResponse {
    let sql = match q.get("fail").map(String::as_str) {
        // No such table: fails before the first row.
        Some("early") => "SELECT id FROM nowhere".to_owned(),
        // Fails after 1000 rows, well past the first chunk.
        Some("late") => "SELECT CASE WHEN id <= 1000 THEN id ELSE abs(-9223372036854775807 - 1) \
                         END FROM tickets ORDER BY id"
            .to_owned(),
        _ => "SELECT id FROM tickets ORDER BY id".to_owned(),
    };
    let rows = sqlite::rows(pool, sql, [], |row| row.get::<_, i64>(0));
    streamer.json(rows).respond().await
}

async fn serve(path: &Path) -> SocketAddr {
    let pool = Pool::read_only(path, 2, Duration::from_secs(10)).unwrap();
    let streamer = Streamer::new(ChunkConfig::with_sizes(1024, 512)).unwrap();
    let app = Router::new()
        .route("/tickets", get(tickets))
        .with_state((pool, streamer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_errors_are_a_status_before_the_first_row_and_an_abort_after() {
    let (_dir, path) = database();
    let addr = serve(&path).await;
    let client = reqwest::Client::new();
    let get = |fail: &'static str| {
        client
            .get(format!("http://{addr}/tickets?fail={fail}"))
            .send()
    };

    let ok = get("no").await.unwrap();
    assert_eq!(ok.status(), 200);
    let ids: Vec<i64> = serde_json::from_slice(&ok.bytes().await.unwrap()).unwrap();
    assert_eq!(ids, (1..=ROWS).collect::<Vec<_>>());

    let early = get("early").await.unwrap();
    assert_eq!(early.status(), 500);
    assert_eq!(early.headers()["content-type"], "application/json");
    let text = early.text().await.unwrap();
    // The database's message stays in the log: the body has the kind and an id.
    assert!(!text.contains("no such table"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "source");
    assert_eq!(body["message"], chunkstream::ErrorKind::Source.message());
    assert!(body["id"].is_string());

    let late = get("late").await.unwrap();
    assert_eq!(late.status(), 200);
    assert!(
        late.bytes().await.is_err(),
        "a truncated body must not look complete"
    );
}

#[test]
fn the_source_pool_and_error_can_leave_a_handler() {
    fn owned<T: Send + 'static>() {}
    fn shared<T: Send + Sync + 'static>() {}
    owned::<sqlite::Rows<Ticket>>();
    owned::<sqlite::Connection>();
    shared::<Pool>();
    shared::<sqlite::Error>();
}
