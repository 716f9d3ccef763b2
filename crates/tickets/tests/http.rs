//! Integration tests of chunkstream over HTTP and SQL: a real axum server on 127.0.0.1,
//! a real HTTP client (reqwest), real SQLite through sqlx in a temporary directory, and
//! PostgreSQL when `DATABASE_URL` is set (`scripts/ci-postgres.sh` starts one).
//!
//! Every test runs once per backend: `sqlite::<name>` always, `postgres::<name>` against
//! `DATABASE_URL` (skipped, with a message on stderr, when it is not set). The tests
//! assert behaviour, never speed; waits are bounded and generous.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chunkstream::metrics::ItemCounter;
use chunkstream::{BufferPool, ChunkConfig, StreamResponse, Streamer, sql, transform};
use chunkstream_tickets::App;
use chunkstream_tickets::model::{Summary, Ticket, summarize};
use chunkstream_tickets::seed::{self, COLUMNS, SEED_EPOCH};
use futures_util::StreamExt;
use serde_json::Value;
use sqlx::AnyPool;
use tower_http::compression::CompressionLayer;

/// Tickets in the shared database.
const TICKETS: u64 = 100_000;

// ---------------------------------------------------------------------------------------
// Backends: one seeded database per process, opened by each test with its own pool.

/// Where the shared, seeded database is.
#[derive(Clone, Debug)]
struct Db {
    url: String,
}

impl Db {
    fn sqlite() -> Db {
        static URL: OnceLock<String> = OnceLock::new();
        let url = URL.get_or_init(|| {
            // Under the target directory's scratch space, kept for the process's life
            // (statics are never dropped); earlier runs' directories are removed here.
            remove_stale_dirs();
            let dir = tempfile::Builder::new()
                .prefix("chunkstream-http-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("temp dir");
            let path: PathBuf = dir.keep().join("tickets.db");
            let url = format!("sqlite://{}?mode=rwc", path.display());
            seed_once(&url);
            url
        });
        Db { url: url.clone() }
    }

    fn postgres() -> Option<Db> {
        static URL: OnceLock<Option<String>> = OnceLock::new();
        URL.get_or_init(|| {
            let base = std::env::var("DATABASE_URL").ok()?;
            let schema = "chunkstream_http_tests";
            let base2 = base.clone();
            run_blocking(async move {
                let base = base2;
                sqlx::any::install_default_drivers();
                let pool = AnyPool::connect(&base)
                    .await
                    .expect("connect to DATABASE_URL");
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await
                    .expect("drop schema");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .expect("create schema");
                pool.close().await;
            });
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            seed_once(&url);
            Some(url)
        })
        .clone()
        .map(|url| Db { url })
    }

    async fn app(&self, config: ChunkConfig) -> App {
        App::open(&self.url, TICKETS, config)
            .await
            .expect("open app")
    }
}

/// Removes the database directories that runs older than an hour left behind.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if stale
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("chunkstream-http-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Seeds on a runtime of its own (each test has its own runtime; a pool must not outlive
/// the runtime that made it).
fn seed_once(url: &str) {
    let url = url.to_owned();
    run_blocking(async move {
        let app = App::open(&url, TICKETS, ChunkConfig::default())
            .await
            .expect("seed");
        app.db().close().await;
    });
}

fn run_blocking<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
    .join()
    .expect("seeding thread");
}

fn skip(name: &str) {
    // Straight to stderr, past the test harness's capture, so the skip is always seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED postgres::{name}: DATABASE_URL is not set (run scripts/ci-postgres.sh and eval its output)"
    );
}

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match super::Db::postgres() {
                        Some(db) => super::$name(db).await,
                        None => super::skip(stringify!($name)),
                    }
                }
            )*
        }
    };
}

backends!(
    hundred_thousand_tickets_both_formats,
    summary_is_the_batch_path_with_formulas,
    query_parameters_filter_and_limit,
    disconnect_after_first_chunk_stops_the_query,
    failure_mid_stream_is_an_incomplete_transfer,
    failure_before_first_row_is_an_error_status,
    gzip_reaches_the_client_before_a_slow_source_ends,
    slow_reader_keeps_server_buffers_bounded,
    typed_pools_stream_through_the_same_code,
);

// ---------------------------------------------------------------------------------------
// Helpers.

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A client that keeps no idle connection, so a finished request leaves no server task.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn expected_tickets(range: impl Iterator<Item = i64>) -> Vec<Value> {
    range
        .map(|id| serde_json::to_value(seed::ticket(id)).unwrap())
        .collect()
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> T {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Polls `check` every 20 ms for up to 10 s; returns its last answer.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Connections checked out of the database pool.
fn db_in_use(db: &AnyPool) -> u32 {
    db.size().saturating_sub(db.num_idle() as u32)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The ticket rows in id order, every row of `broken_id` with a NULL title (which fails to
/// decode into `Ticket::title: String`).
fn select_with_broken_row(broken_id: i64) -> String {
    let columns = COLUMNS.replacen(
        "title,",
        &format!("CASE WHEN id = {broken_id} THEN NULL ELSE title END AS title,"),
        1,
    );
    format!("SELECT {columns} FROM tickets ORDER BY id")
}

// ---------------------------------------------------------------------------------------
// The tests.

/// 100,000 tickets from the database over HTTP, as a JSON array and as NDJSON: the body
/// parses to exactly the rows, with the right `X-Total-Count` and `Content-Type`.
async fn hundred_thousand_tickets_both_formats(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    let expected = expected_tickets(1..=TICKETS as i64);

    let response = client()
        .get(format!("http://{addr}/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(header(&response, "x-total-count"), TICKETS.to_string());
    let body = response.bytes().await.unwrap();
    let got: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the JSON array differs from the seeded rows"
    );

    let response = client()
        .get(format!("http://{addr}/tickets.ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/x-ndjson");
    assert_eq!(header(&response, "x-total-count"), TICKETS.to_string());
    let body = response.bytes().await.unwrap();
    let got: Vec<Value> = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert!(body.ends_with(b"\n"));
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the NDJSON lines differ from the seeded rows"
    );

    let stats = app.buffer_pool_stats();
    assert_eq!(stats.outstanding, 0, "{stats:?}");
    assert!(
        stats.hits > 0,
        "buffers are reused across chunks: {stats:?}"
    );
}

/// `/tickets/summary` streams batches through the formulas.
async fn summary_is_the_batch_path_with_formulas(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    let limit = 5_000;
    let now = SEED_EPOCH + 86_400;
    let response = client()
        .get(format!(
            "http://{addr}/tickets/summary?limit={limit}&as_of={now}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-total-count"), limit.to_string());
    let got: Vec<Summary> = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let expected: Vec<Summary> = (1..=limit)
        .map(|id| summarize(&seed::ticket(id), now).unwrap())
        .collect();
    assert_eq!(got, expected);
    assert!(got.iter().any(|s| s.sla_breached) && got.iter().any(|s| !s.sla_breached));
    assert!(got.iter().any(|s| s.priority_score > 0.0));
}

/// `?limit=` and `?status=` select the rows; a bad parameter is a 400.
async fn query_parameters_filter_and_limit(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    let response = client()
        .get(format!("http://{addr}/tickets?limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "x-total-count"), "5");
    let got: Vec<Value> = json(response).await;
    assert_eq!(got, expected_tickets(1..=5));

    let response = client()
        .get(format!("http://{addr}/tickets?status=blocked&limit=50"))
        .send()
        .await
        .unwrap();
    let got: Vec<Value> = json(response).await;
    let expected: Vec<Value> = (1..)
        .map(seed::ticket)
        .filter(|t| t.status == "blocked")
        .take(50)
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(got, expected);

    let response = client()
        .get(format!("http://{addr}/tickets?status=nonesuch"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "x-total-count"), "0");
    assert_eq!(response.text().await.unwrap(), "[]");

    let response = client()
        .get(format!("http://{addr}/tickets?limit=many"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

/// The client goes away after the first chunk: the query stops far short of the total,
/// no task is left, the database connection and every buffer go back to their pools.
/// Checked for the in-place path (`/tickets`) and the spawned path (`Streamer::spawn`).
async fn disconnect_after_first_chunk_stops_the_query(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let spawned_rows = ItemCounter::new();
    let spawned = {
        let (db, streamer, counter) = (
            app.db().clone(),
            app.streamer().clone(),
            spawned_rows.clone(),
        );
        Router::new().route(
            "/spawned",
            get(move || {
                let select = format!("SELECT {COLUMNS} FROM tickets ORDER BY id");
                let rows = counter.count(sql::rows_with(db.clone(), select, |db, select| {
                    sqlx::query_as::<_, Ticket>(select).fetch(db)
                }));
                let chunks = streamer.spawn(rows, transform::passthrough());
                async move { StreamResponse::new(chunks).start().await }
            }),
        )
    };
    let addr = serve(app.routes().merge(spawned)).await;
    // Let the server and the pools settle, then take the baseline.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let baseline = alive_tasks();

    for (path, rows_read) in [("/tickets", None), ("/spawned", Some(&spawned_rows))] {
        let read = || rows_read.map_or_else(|| app.rows_read(), ItemCounter::get);
        let before = read();
        let response = client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"[{\"id\":1,"));
        drop(body); // the client disconnects

        let stopped = eventually(|| {
            db_in_use(app.db()) == 0
                && app.buffer_pool_stats().outstanding == 0
                && alive_tasks() <= baseline
        })
        .await;
        let fetched = read() - before;
        let stats = app.buffer_pool_stats();
        assert!(
            stopped,
            "{path}: not cleaned up: db in use {}, buffers {stats:?}, tasks {} (baseline {baseline})",
            db_in_use(app.db()),
            alive_tasks()
        );
        // The count no longer moves: the query has stopped.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(read() - before, fetched, "{path}: rows still being read");
        assert!(
            fetched < TICKETS / 4,
            "{path}: {fetched} of {TICKETS} rows read after the client left"
        );
        let _ = writeln!(
            std::io::stderr(),
            "{path}: the client left after the first chunk; {fetched} of {TICKETS} rows were read"
        );
        assert_eq!(stats.taken(), stats.given_back(), "{path}: {stats:?}");
    }
}

/// A row that fails to decode after the first chunk, or a transform that fails: the
/// response started as 200, and the client sees an incomplete transfer, never a valid
/// array.
async fn failure_mid_stream_is_an_incomplete_transfer(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let (pool, streamer) = (app.db().clone(), app.streamer().clone());
    let decode = {
        let (pool, streamer) = (pool.clone(), streamer.clone());
        move || {
            let rows = sql::rows_with(pool.clone(), select_with_broken_row(5_000), |db, select| {
                sqlx::query_as::<_, Ticket>(select).fetch(db)
            });
            let chunks = streamer.stream(rows, transform::passthrough());
            async move { StreamResponse::new(chunks).start().await }
        }
    };
    let transform_fails = move || {
        let select = format!("SELECT {COLUMNS} FROM tickets ORDER BY id");
        let rows = sql::rows_with(pool.clone(), select, |db, select| {
            sqlx::query_as::<_, Ticket>(select).fetch(db)
        });
        let chunks = streamer.stream(rows, |t: Ticket| {
            if t.id == 3_000 {
                Err(std::io::Error::other("ticket 3000 is cursed"))
            } else {
                Ok(t)
            }
        });
        async move { StreamResponse::new(chunks).start().await }
    };
    let router = Router::new()
        .route("/decode", get(decode))
        .route("/transform", get(transform_fails));
    let addr = serve(router).await;

    for path in ["/decode", "/transform"] {
        let response = client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}: the body had started");
        let mut received = Vec::new();
        let mut body = response.bytes_stream();
        let mut failed = false;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => received.extend_from_slice(&chunk),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "{path}: the transfer must end in an error");
        assert!(
            !received.is_empty(),
            "{path}: chunks came before the failure"
        );
        assert!(
            serde_json::from_slice::<Value>(&received).is_err(),
            "{path}: a truncated body must not parse"
        );
        assert!(!received.ends_with(b"]"));
    }
    assert!(
        eventually(|| app.buffer_pool_stats().outstanding == 0 && db_in_use(app.db()) == 0).await
    );
}

/// A query that fails before its first row: an error status and a JSON problem body.
async fn failure_before_first_row_is_an_error_status(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let (pool, streamer) = (app.db().clone(), app.streamer().clone());
    let router = Router::new().route(
        "/bad",
        get(move || {
            let rows = sql::rows(pool.clone(), |db| {
                sqlx::query_as::<_, Ticket>("SELECT * FROM no_such_table").fetch(db)
            });
            let chunks = streamer.stream(rows, transform::passthrough());
            async move { StreamResponse::new(chunks).start().await }
        }),
    );
    let addr = serve(router).await;
    let response = client()
        .get(format!("http://{addr}/bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(header(&response, "content-type"), "application/json");
    let problem: Value = json(response).await;
    assert_eq!(problem["error"], "source");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("no_such_table"), "{message}");
}

/// Behind tower-http's gzip `CompressionLayer`, with a source of one row per 50 ms and a
/// 10 ms flush interval: compressed bytes that decompress to whole rows reach the client
/// while the source is still running.
async fn gzip_reaches_the_client_before_a_slow_source_ends(db: Db) {
    const ROWS: i64 = 30;
    let config = ChunkConfig::default().with_flush_interval(Duration::from_millis(10));
    let app = db.app(config).await;
    let source_done = Arc::new(AtomicBool::new(false));
    let (pool, streamer, done) = (
        app.db().clone(),
        app.streamer().clone(),
        source_done.clone(),
    );
    let router = Router::new()
        .route(
            "/slow",
            get(move || {
                let done = done.clone();
                let rows = sql::rows(pool.clone(), |db| {
                    sqlx::query_as::<_, Ticket>(
                        "SELECT id, title, description, status, priority, assignee, reporter, \
                         tags, project, component, sla_hours, estimate_hours, comments, \
                         created_at, updated_at, resolved_at FROM tickets ORDER BY id LIMIT 30",
                    )
                    .fetch(db)
                })
                .then(|row| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    row
                })
                .chain(futures_util::stream::poll_fn(move |_| {
                    done.store(true, SeqCst);
                    Poll::Ready(None)
                }));
                let chunks = streamer.stream(rows, transform::passthrough());
                async move { StreamResponse::new(chunks).start().await }
            }),
        )
        .layer(CompressionLayer::new());
    let addr = serve(router).await;

    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let response = client
        .get(format!("http://{addr}/slow"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-encoding"), "gzip");
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut body = response.bytes_stream();
    let mut rows_before_end = 0;
    let mut compressed = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        compressed += chunk.len();
        decoder.write_all(&chunk).unwrap();
        decoder.flush().unwrap();
        if !source_done.load(SeqCst) {
            rows_before_end = count_ids(decoder.get_ref());
        }
    }
    let decoded = decoder.finish().unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(rows, expected_tickets(1..=ROWS));
    assert!(
        rows_before_end >= 1,
        "no decompressible row reached the client before the source ended"
    );
    let _ = writeln!(
        std::io::stderr(),
        "gzip: {rows_before_end} of {ROWS} rows decompressed before the source ended \
         ({compressed} compressed bytes for {} JSON bytes)",
        decoded.len()
    );
}

fn count_ids(json: &[u8]) -> usize {
    json.windows(6).filter(|w| w == b"{\"id\":").count()
}

/// A client reading slowly: the spawned stream's buffers stay within the channel's
/// capacity (plus the chunk being built, the one waiting to be queued, and what hyper
/// buffers for the socket), however large the result.
async fn slow_reader_keeps_server_buffers_bounded(db: Db) {
    let config = ChunkConfig::default();
    let capacity = config.channel_capacity as u64;
    let threshold = config.chunk_threshold as u64;
    let app = db.app(config).await;
    let (pool, streamer) = (app.db().clone(), app.streamer().clone());
    let router = Router::new().route(
        "/spawned",
        get(move || {
            let rows = sql::rows(pool.clone(), |db| {
                sqlx::query_as::<_, Ticket>(
                    "SELECT id, title, description, status, priority, assignee, reporter, \
                     tags, project, component, sla_hours, estimate_hours, comments, \
                     created_at, updated_at, resolved_at FROM tickets ORDER BY id",
                )
                .fetch(db)
            });
            let chunks = streamer.spawn(rows, transform::passthrough());
            async move { StreamResponse::new(chunks).start().await }
        }),
    );
    let addr = serve(router).await;

    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (pool, peak, sampling) = (
            app.streamer().pool().clone(),
            peak.clone(),
            sampling.clone(),
        );
        tokio::spawn(async move {
            while sampling.load(SeqCst) {
                peak.fetch_max(pool.stats().outstanding, SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let response = client()
        .get(format!("http://{addr}/spawned"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut read = 0_u64;
    // Read about 4 MiB (of ~48 MB) slowly: a few KiB at a time with pauses.
    while read < 4 << 20 {
        let Some(chunk) = body.next().await else {
            break;
        };
        read += chunk.unwrap().len() as u64;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(body);
    sampling.store(false, SeqCst);
    sampler.await.unwrap();
    let peak = peak.load(SeqCst);

    // hyper queues at most its write buffer (400 KiB by default) of body chunks.
    let hyper_chunks = (8192 + 4096 * 100_u64).div_ceil(threshold);
    let bound = capacity + 2 + hyper_chunks;
    let _ = writeln!(
        std::io::stderr(),
        "slow reader: peak {peak} buffers outstanding (bound {bound}: channel {capacity} + 2 + \
         hyper {hyper_chunks}); the whole result is ~{} chunks",
        TICKETS * 480 / threshold
    );
    assert!(peak >= 1);
    assert!(
        peak <= bound,
        "peak {peak} buffers outstanding, bound {bound}"
    );
    assert!(eventually(|| app.buffer_pool_stats().outstanding == 0).await);
}

/// The service goes through sqlx's `Any` driver; `sql::rows` works the same with the
/// typed pools (`SqlitePool`, `PgPool`), through the same generic code.
async fn typed_pools_stream_through_the_same_code(db: Db) {
    async fn body<DB: sqlx::Database>(pool: sqlx::Pool<DB>) -> Vec<Value>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        let streamer = Streamer::new(ChunkConfig::with_sizes(1024, 512)).unwrap();
        let rows = sql::rows(pool, |pool| {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT id, title FROM tickets ORDER BY id LIMIT 300",
            )
            .fetch(pool)
        });
        let chunks: Vec<bytes::Bytes> = streamer
            .stream(rows, |(id, title)| {
                Ok::<_, std::convert::Infallible>(serde_json::json!({ "id": id, "title": title }))
            })
            .map(Result::unwrap)
            .collect()
            .await;
        assert!(chunks.len() > 1);
        serde_json::from_slice(&chunks.concat()).unwrap()
    }
    let got = if db.url.starts_with("postgres") {
        body(sqlx::PgPool::connect(&db.url).await.unwrap()).await
    } else {
        body(sqlx::SqlitePool::connect(&db.url).await.unwrap()).await
    };
    let expected: Vec<Value> = (1..=300)
        .map(|id| serde_json::json!({ "id": id, "title": seed::ticket(id).title }))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn response_types_are_send() {
    fn send<T: Send + 'static>() {}
    send::<sql::Rows<Ticket>>();
    send::<StreamResponse>();
    send::<Streamer>();
    let _: fn(Response) = |r| drop(r.into_response());
    let _ = State(());
}
