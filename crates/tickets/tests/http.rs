//! Integration tests of chunkstream over HTTP and SQL: a real axum server on 127.0.0.1,
//! a real HTTP client (reqwest), real SQLite through sqlx in a temporary directory, and
//! PostgreSQL when `DATABASE_URL` is set (`scripts/ci-postgres.sh` starts one).
//!
//! Every test runs once per backend: `sqlite::<name>` always (downloads read by rusqlite,
//! the default), `sqlite_sqlx::<name>` (the same database, downloads read by sqlx's
//! driver: `--sqlite-driver sqlx`), `postgres::<name>` against
//! `DATABASE_URL` (skipped, with a message on stderr, when it is not set). The tests
//! assert behaviour, never speed; waits are bounded and generous.

use std::io::Write as _;
use std::net::SocketAddr;
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
use chunkstream_tickets::db::{Db as ServiceDb, Dialect};
use chunkstream_tickets::model::{Summary, Ticket, summarize};
use chunkstream_tickets::reader::SqliteDriver;
use chunkstream_tickets::seed::{self, COLUMNS, SEED_EPOCH};
use chunkstream_tickets::{App, Settings};
use futures_util::StreamExt;
use serde_json::Value;
use tower_http::compression::CompressionLayer;

mod support;

/// Tickets in the shared database.
const TICKETS: u64 = 100_000;
/// The prefix of this file's database directories.
const SCRATCH: &str = "chunkstream-http-";

// ---------------------------------------------------------------------------------------
// Backends: one seeded database per process, opened by each test with its own pool.

/// Where the shared, seeded database is, and which driver reads SQLite downloads.
#[derive(Clone, Debug)]
struct Db {
    url: String,
    driver: SqliteDriver,
}

impl Db {
    fn sqlite() -> Db {
        static URL: OnceLock<String> = OnceLock::new();
        let url = URL.get_or_init(|| {
            let url = support::sqlite_url(SCRATCH, "tickets");
            support::seed(&url, TICKETS);
            url
        });
        Db {
            url: url.clone(),
            driver: SqliteDriver::Rusqlite,
        }
    }

    /// The SQLite database, its downloads read through sqlx's driver.
    fn sqlite_sqlx() -> Db {
        Db {
            driver: SqliteDriver::Sqlx,
            ..Db::sqlite()
        }
    }

    fn postgres() -> Option<Db> {
        static URL: OnceLock<Option<String>> = OnceLock::new();
        URL.get_or_init(|| {
            let url = support::postgres_url("chunkstream_http_tests")?;
            support::seed(&url, TICKETS);
            Some(url)
        })
        .clone()
        .map(|url| Db {
            url,
            driver: SqliteDriver::Sqlx,
        })
    }

    async fn app(&self, config: ChunkConfig) -> App {
        self.app_with(Settings {
            chunk: config,
            ..Settings::default()
        })
        .await
    }

    async fn app_with(&self, settings: Settings) -> App {
        let settings = Settings {
            sqlite_driver: self.driver,
            ..settings
        };
        App::open(&self.url, TICKETS, settings)
            .await
            .expect("open app")
    }
}

impl Db {
    /// A database of its own for one test (a new SQLite file, or a new PostgreSQL
    /// schema beside the shared one), not yet seeded.
    fn scratch(&self, name: &str) -> Db {
        let url = if self.url.starts_with("sqlite") {
            support::sqlite_url(SCRATCH, name)
        } else {
            support::postgres_url(&format!("chunkstream_http_{name}")).expect("DATABASE_URL")
        };
        Db {
            url,
            driver: self.driver,
        }
    }
}

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        support::backend_tests!(sqlite, Some(super::Db::sqlite()), $($name),*);
        support::backend_tests!(sqlite_sqlx, Some(super::Db::sqlite_sqlx()), $($name),*);
        support::backend_tests!(postgres, super::Db::postgres(), $($name),*);
    };
}

backends!(
    hundred_thousand_tickets_both_formats,
    summary_is_the_batch_path_with_formulas,
    query_parameters_filter_and_limit,
    disconnect_after_first_chunk_stops_the_query,
    failure_mid_stream_is_an_incomplete_transfer,
    internal_errors_are_generic_with_a_request_id,
    stalled_readers_take_the_slots_small_requests_pass_downloads_queue,
    a_queued_download_gets_the_freed_slot,
    a_client_below_the_minimum_rate_is_cut,
    stalled_client_is_cut_after_the_stall_limit,
    summary_as_of_out_of_range_is_a_400,
    errors_share_one_json_shape,
    strategies_are_named_not_feature_selected,
    gzip_reaches_the_client_before_a_slow_source_ends,
    slow_reader_keeps_server_buffers_bounded,
    the_url_picks_the_typed_pool,
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

/// `GET url` on a fresh client; the response, whatever its status.
async fn fetch(url: impl reqwest::IntoUrl) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

fn expected_tickets(range: impl Iterator<Item = i64>) -> Vec<Value> {
    range
        .map(|id| serde_json::to_value(seed::ticket(id)).unwrap())
        .collect()
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> T {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// The JSON error body of a response, after checking its shape: `Content-Type:
/// application/json`, `error`, `message` and `request_id` (the `X-Request-Id` header).
async fn problem(response: reqwest::Response) -> Value {
    let status = response.status();
    assert_eq!(
        header(&response, "content-type"),
        "application/json",
        "{status}"
    );
    let id = header(&response, "x-request-id").to_owned();
    let body = response.bytes().await.unwrap();
    let problem: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|err| panic!("{status}: not JSON ({err}): {body:?}"));
    assert!(problem["error"].is_string(), "{status}: {problem}");
    assert!(problem["message"].is_string(), "{status}: {problem}");
    assert_eq!(problem["request_id"], id.as_str(), "{status}: {problem}");
    problem
}

/// A GET that must be answered within `within` (a generous bound: the point is an
/// answer instead of a wait for a connection, not speed).
async fn get_within(url: &str, within: Duration) -> reqwest::Response {
    tokio::time::timeout(within, client().get(url).send())
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer within {within:?}"))
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Connections checked out of the database pools (sqlx's, and rusqlite's for SQLite
/// downloads).
fn db_in_use(app: &App) -> u32 {
    app.connections_in_use()
}

/// The tickets `select` returns, decoded, as a source on the service's own pool (whichever
/// typed pool it is).
fn ticket_rows(db: &ServiceDb, select: String) -> sql::Rows<Ticket> {
    match db.clone() {
        ServiceDb::Sqlite(pool) => sql::rows_with(pool, select, |pool, select| {
            sqlx::query_as::<_, Ticket>(select).fetch(pool)
        }),
        ServiceDb::Postgres(pool) => sql::rows_with(pool, select, |pool, select| {
            sqlx::query_as::<_, Ticket>(select).fetch(pool)
        }),
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The ticket rows in id order, the row of `broken_id` with a title that fails to decode
/// into `Ticket::title: String` in `dialect`: an integer on SQLite (whose typed driver
/// would decode a NULL as `""`), NULL on PostgreSQL (where a column has one type).
fn select_with_broken_row(broken_id: i64, dialect: Dialect) -> String {
    let broken = match dialect {
        Dialect::Sqlite => "0",
        Dialect::Postgres => "NULL",
    };
    let columns = COLUMNS.replacen(
        "title,",
        &format!("CASE WHEN id = {broken_id} THEN {broken} ELSE title END AS title,"),
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

    let response = fetch(format!("http://{addr}/tickets")).await;
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

    let response = fetch(format!("http://{addr}/tickets.ndjson")).await;
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
    let response = fetch(format!(
        "http://{addr}/tickets/summary?limit={limit}&as_of={now}"
    ))
    .await;
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
    let response = fetch(format!("http://{addr}/tickets?limit=5")).await;
    assert_eq!(header(&response, "x-total-count"), "5");
    let got: Vec<Value> = json(response).await;
    assert_eq!(got, expected_tickets(1..=5));

    let response = fetch(format!("http://{addr}/tickets?status=blocked&limit=50")).await;
    let got: Vec<Value> = json(response).await;
    let expected: Vec<Value> = (1..)
        .map(seed::ticket)
        .filter(|t| t.status == "blocked")
        .take(50)
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(got, expected);

    let response = fetch(format!("http://{addr}/tickets?status=nonesuch")).await;
    assert_eq!(header(&response, "x-total-count"), "0");
    assert_eq!(response.text().await.unwrap(), "[]");

    let response = fetch(format!("http://{addr}/tickets?limit=many")).await;
    assert_eq!(response.status(), 400);
    let problem = problem(response).await;
    assert_eq!(problem["error"], "invalid_query");
    assert!(problem["message"].as_str().unwrap().contains("limit"));
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
                let rows = counter.count(ticket_rows(&db, select));
                let chunks = streamer.stream(rows, transform::passthrough()).spawn();
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
        let response = fetch(format!("http://{addr}{path}")).await;
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"[{\"id\":1,"));
        drop(body); // the client disconnects

        let stopped = support::eventually(|| {
            db_in_use(&app) == 0
                && app.buffer_pool_stats().outstanding == 0
                && alive_tasks() <= baseline
        })
        .await;
        let fetched = read() - before;
        let stats = app.buffer_pool_stats();
        assert!(
            stopped,
            "{path}: not cleaned up: db in use {}, buffers {stats:?}, tasks {} (baseline {baseline})",
            db_in_use(&app),
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
            let rows = ticket_rows(&pool, select_with_broken_row(5_000, pool.dialect()));
            let chunks = streamer.stream(rows, transform::passthrough());
            async move { StreamResponse::new(chunks).start().await }
        }
    };
    let transform_fails = move || {
        let select = format!("SELECT {COLUMNS} FROM tickets ORDER BY id");
        let rows = ticket_rows(&pool, select);
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
        let response = fetch(format!("http://{addr}{path}")).await;
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
        support::eventually(|| app.buffer_pool_stats().outstanding == 0 && db_in_use(&app) == 0)
            .await
    );
}

/// A query that fails (before any row is sent): a `500` whose body is the generic JSON
/// error with the request id of the `X-Request-Id` header, and no database text; with
/// `expose_errors` the detail is there too. Checked for a failing row query (the count
/// works, the rows do not) and a failing count (no table).
async fn internal_errors_are_generic_with_a_request_id(db: Db) {
    let db = db.scratch("errors");
    let settings = |expose_errors| Settings {
        expose_errors,
        ..Settings::default()
    };
    let app = App::open(&db.url, 20, settings(false)).await.unwrap();
    let exposed = App::with_pool(app.db().clone(), settings(true)).unwrap();
    let (addr, exposed_addr) = (serve(app.router()).await, serve(exposed.router()).await);
    let secret_words = [
        "title",
        "tickets",
        "column",
        "relation",
        "table",
        "sqlite",
        "error returned",
    ];

    for (breakage, detail_word) in [
        (
            "ALTER TABLE tickets RENAME COLUMN title TO heading",
            "title",
        ),
        ("DROP TABLE tickets", "tickets"),
    ] {
        app.db().execute(breakage).await.unwrap();
        let response = fetch(format!("http://{addr}/tickets")).await;
        assert_eq!(response.status(), 500, "{breakage}");
        let id = header(&response, "x-request-id").to_owned();
        let generic = problem(response).await;
        assert_eq!(generic["error"], "internal", "{breakage}: {generic}");
        assert_eq!(generic["request_id"], id.as_str());
        assert!(generic.get("detail").is_none(), "{generic}");
        let text = generic.to_string().to_lowercase();
        for word in secret_words {
            assert!(
                !text.contains(word),
                "{breakage}: {word:?} reached the client: {text}"
            );
        }

        let response = fetch(format!("http://{exposed_addr}/tickets")).await;
        assert_eq!(response.status(), 500);
        let exposed = problem(response).await;
        let detail = exposed["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(detail_word), "{breakage}: {exposed}");
    }
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
                let select = format!("SELECT {COLUMNS} FROM tickets ORDER BY id LIMIT {ROWS}");
                let rows = ticket_rows(&pool, select)
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
            let rows = ticket_rows(&pool, format!("SELECT {COLUMNS} FROM tickets ORDER BY id"));
            let chunks = streamer.stream(rows, transform::passthrough()).spawn();
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
    let response = fetch(format!("http://{addr}/spawned")).await;
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
    assert!(support::eventually(|| app.buffer_pool_stats().outstanding == 0).await);
}

/// The service runs on the typed pool its URL names (`SqlitePool` for `sqlite:`, `PgPool`
/// for `postgres:`), never sqlx's `Any`; and `sql::rows` streams from either through the
/// same generic code.
async fn the_url_picks_the_typed_pool(db: Db) {
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
    let app = db.app(ChunkConfig::default()).await;
    let got = match app.db().clone() {
        ServiceDb::Sqlite(pool) => {
            assert!(db.url.starts_with("sqlite:"), "{}: SqlitePool", db.url);
            body(pool).await
        }
        ServiceDb::Postgres(pool) => {
            assert!(db.url.starts_with("postgres"), "{}: PgPool", db.url);
            body(pool).await
        }
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

/// Clients that stop reading hold every stream slot (and the connections their streams
/// use): small requests are still served at once, on connections of their own; a
/// download waits in the queue and gets a `503` with `Retry-After` and the JSON error
/// only once its wait ran out, or at once when the queue is full; `/readyz` says `503`
/// while the queue is full and `/healthz` reports slots, queue and refusals. Once the
/// stalled clients go, service is normal.
async fn stalled_readers_take_the_slots_small_requests_pass_downloads_queue(db: Db) {
    let queue_wait = Duration::from_millis(500);
    let settings = Settings {
        stall_timeout: Duration::from_secs(600),
        min_data_rate: None,
        queue_max: Some(1),
        queue_wait,
        ..Settings::default()
    };
    let small = settings.small_rows();
    let app = db.app_with(settings).await;
    let slots = app.streams().1;
    let addr = serve(app.router()).await;
    let mut stalled = Vec::new();
    for _ in 0..slots {
        let (reader, status) = support::stalled_reader(addr, "/tickets").await;
        assert_eq!(status, 200);
        stalled.push(reader);
    }
    assert!(support::eventually(|| db_in_use(&app) as usize == slots).await);

    for path in ["/tickets?limit=5", "/tickets/summary?limit=5"] {
        let response = get_within(&format!("http://{addr}{path}"), Duration::from_secs(5)).await;
        assert_eq!(response.status(), 200, "{path}");
        let got: Vec<Value> = json(response).await;
        assert_eq!(got.len(), 5, "{path}");
    }
    let response = get_within(
        &format!("http://{addr}/tickets?limit={small}"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(response.status(), 200);

    // A download waits its turn in the queue (of one), then gets the 503.
    let download = format!("http://{addr}/tickets?limit={}", small + 1);
    let waiting = tokio::spawn({
        let download = download.clone();
        async move {
            let began = std::time::Instant::now();
            let response = get_within(&download, Duration::from_secs(30)).await;
            (began.elapsed(), response)
        }
    });
    assert!(support::eventually(|| app.admission().waiting == 1).await);
    // The queue is full: not ready, and another download is refused at once.
    let response = get_within(&format!("http://{addr}/readyz"), Duration::from_secs(5)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(problem(response).await["status"], "saturated");
    let response = get_within(&download, Duration::from_secs(5)).await;
    assert_eq!(response.status(), 503);
    let refused = problem(response).await;
    assert_eq!(refused["reason"], "queue_full", "{refused}");
    let (took, response) = waiting.await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), "1");
    assert!(took >= queue_wait, "refused after {took:?}");
    let refused = problem(response).await;
    assert_eq!(refused["error"], "overloaded");
    assert_eq!(refused["reason"], "queue_wait_expired", "{refused}");
    assert!(refused["waited_ms"].as_u64().unwrap() >= queue_wait.as_millis() as u64);

    let response = get_within(&format!("http://{addr}/healthz"), Duration::from_secs(5)).await;
    assert_eq!(response.status(), 200);
    let health: Value = json(response).await;
    assert_eq!(health["status"], "queueing", "{health}");
    assert_eq!(health["streams"]["active"], slots, "{health}");
    let admission = &health["admission"];
    assert_eq!(admission["waiting"], 0, "{health}");
    assert_eq!(admission["queue_max"], 1, "{health}");
    assert_eq!(admission["refused_timed_out"], 1, "{health}");
    assert_eq!(admission["refused_queue_full"], 1, "{health}");

    drop(stalled); // the clients go
    assert!(support::eventually(|| db_in_use(&app) == 0 && app.streams().0 == 0).await);
    let response = get_within(&format!("http://{addr}/readyz"), Duration::from_secs(5)).await;
    assert_eq!(response.status(), 200);
    let response = client().get(&download).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let got: Vec<Value> = json(response).await;
    assert_eq!(got, expected_tickets(1..=small as i64 + 1));
}

/// A download waiting in the queue gets the first slot that frees, and completes.
async fn a_queued_download_gets_the_freed_slot(db: Db) {
    let settings = Settings {
        stall_timeout: Duration::from_secs(600),
        min_data_rate: None,
        max_streams: Some(1),
        queue_wait: Duration::from_secs(30),
        ..Settings::default()
    };
    let app = db.app_with(settings).await;
    let addr = serve(app.router()).await;
    let (reader, status) = support::stalled_reader(addr, "/tickets").await;
    assert_eq!(status, 200);
    let waiting = tokio::spawn(async move {
        let response = get_within(
            &format!("http://{addr}/tickets?limit=500"),
            Duration::from_secs(30),
        )
        .await;
        (response.status(), json::<Vec<Value>>(response).await)
    });
    assert!(support::eventually(|| app.admission().waiting == 1).await);
    drop(reader);
    let (status, got) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(got, expected_tickets(1..=500));
    let admission = app.admission();
    assert_eq!(admission.admitted_after_wait, 1, "{admission:?}");
    assert_eq!(admission.refused_timed_out, 0, "{admission:?}");
}

/// A client that keeps reading, but slower than the minimum data rate, loses its stream
/// once the grace period is over: its slot and its database connection come back
/// without it leaving, where the stall limit alone would never cut it.
async fn a_client_below_the_minimum_rate_is_cut(db: Db) {
    let settings = Settings {
        stall_timeout: Duration::from_secs(600),
        min_data_rate: Some(chunkstream::MinDataRate::new(
            256 << 10,
            Duration::from_millis(300),
        )),
        max_streams: Some(1),
        ..Settings::default()
    };
    let app = db.app_with(settings).await;
    let addr = serve(app.router()).await;
    let (mut reader, status) = support::stalled_reader(addr, "/tickets").await;
    assert_eq!(status, 200);
    // Reads 1 KiB every 50 ms (about 20 KiB/s) until the server ends the response.
    let reading = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0_u8; 1024];
        let mut total = 0;
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let freed = support::eventually(|| app.streams().0 == 0 && db_in_use(&app) == 0).await;
    assert!(freed, "the slow stream still holds its slot and connection");
    assert!(!reading.is_finished() || reading.await.unwrap() > 0);
    let response = get_within(
        &format!("http://{addr}/tickets?limit=500"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(response.status(), 200);
    let got: Vec<Value> = json(response).await;
    assert_eq!(got, expected_tickets(1..=500));
}

/// A client that stops reading but stays connected loses its stream after the stall
/// limit: its slot and its database connection come back without it leaving.
async fn stalled_client_is_cut_after_the_stall_limit(db: Db) {
    let settings = Settings {
        stall_timeout: Duration::from_millis(500),
        db_connections: 4,
        max_streams: Some(2),
        ..Settings::default()
    };
    let app = db.app_with(settings).await;
    let addr = serve(app.router()).await;
    let mut stalled = Vec::new();
    for path in ["/tickets", "/tickets/summary"] {
        let (reader, status) = support::stalled_reader(addr, path).await;
        assert_eq!(status, 200);
        stalled.push(reader);
    }
    // Both slots are taken for now (the stall limit has not passed yet, or just has).
    let freed = support::eventually(|| app.streams().0 == 0 && db_in_use(&app) == 0).await;
    assert!(
        freed,
        "the stalled streams still hold {} slots and {} connections",
        app.streams().0,
        db_in_use(&app)
    );
    let response = fetch(format!("http://{addr}/tickets?limit=5")).await;
    assert_eq!(response.status(), 200);
    let got: Vec<Value> = json(response).await;
    assert_eq!(got, expected_tickets(1..=5));
    drop(stalled);
}

/// `as_of` outside years 1 to 9999 (and values that do not fit an i64) is a `400` that
/// names the parameter; the bounds themselves work.
async fn summary_as_of_out_of_range_is_a_400(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    for as_of in [
        "-9223372036854775808",
        "9223372036854775807",
        "-62135596801",
        "253402300800",
        "99999999999999999999",
        "1e9",
    ] {
        let response = fetch(format!(
            "http://{addr}/tickets/summary?limit=3&as_of={as_of}"
        ))
        .await;
        assert_eq!(response.status(), 400, "as_of={as_of}");
        let problem = problem(response).await;
        let message = problem["message"].as_str().unwrap();
        assert!(message.contains("as_of"), "as_of={as_of}: {message}");
    }
    for as_of in [
        chunkstream_tickets::params::MIN_AS_OF,
        chunkstream_tickets::params::MAX_AS_OF,
    ] {
        let response = fetch(format!(
            "http://{addr}/tickets/summary?limit=3&as_of={as_of}"
        ))
        .await;
        assert_eq!(response.status(), 200, "as_of={as_of}");
        let got: Vec<Summary> = json(response).await;
        let expected: Vec<Summary> = (1..=3)
            .map(|id| summarize(&seed::ticket(id), as_of).unwrap())
            .collect();
        assert_eq!(got, expected);
        assert!(
            got.iter().all(|s| (0..=9999 * 366).contains(&s.age_days)),
            "{got:?}"
        );
    }
}

/// Every 4xx and 5xx has the same JSON shape: a route that does not exist (404), a
/// method it does not take (405), a request target over 8 KiB (414), too many headers
/// (431), a value that does not parse (400), and an unknown parameter, named (400).
async fn errors_share_one_json_shape(db: Db) {
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    let client = client();
    let base = format!("http://{addr}");

    let response = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(problem(response).await["error"], "not_found");

    let response = client.post(format!("{base}/tickets")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(header(&response, "allow").contains("GET"));
    assert_eq!(problem(response).await["error"], "method_not_allowed");

    let long = "x".repeat(10 * 1024);
    let response = client
        .get(format!("{base}/tickets?status={long}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 414);
    assert_eq!(problem(response).await["error"], "uri_too_long");

    let mut request = client.get(format!("{base}/tickets?limit=1"));
    for i in 0..80 {
        request = request.header(format!("x-extra-{i}"), "1");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 431);
    assert_eq!(problem(response).await["error"], "headers_too_large");

    let response = client
        .get(format!("{base}/tickets?limit=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(problem(response).await["error"], "invalid_query");

    for (query, named) in [
        ("/tickets?limt=5", vec!["limt"]),
        ("/tickets.ndjson?limit=5&as_of=1&x=2", vec!["as_of", "x"]),
        ("/tickets/summary?limit=5&stat=open", vec!["stat"]),
    ] {
        let response = client.get(format!("{base}{query}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let problem = problem(response).await;
        assert_eq!(problem["error"], "unknown_parameter", "{query}");
        let message = problem["message"].as_str().unwrap();
        for name in named {
            assert!(message.contains(name), "{query}: {message}");
        }
    }

    // Successful responses carry the request id too.
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!header(&response, "x-request-id").is_empty());
}

/// The service's pool and encoder are the ones its settings name (freelist and
/// serde_json by default, whatever features the build enabled), and every combination
/// streams the same values.
async fn strategies_are_named_not_feature_selected(db: Db) {
    use chunkstream_tickets::strategy::{EncoderKind, PoolKind};
    let app = db.app(ChunkConfig::default()).await;
    let addr = serve(app.router()).await;
    let health: Value = json(fetch(format!("http://{addr}/healthz")).await).await;
    assert_eq!(health["strategy"]["pool"], "freelist", "{health}");
    assert_eq!(health["strategy"]["encoder"], "sonic-rs", "{health}");

    let expected = expected_tickets(1..=200);
    for (pool, encoder, names) in [
        (
            PoolKind::ThreadLocal,
            EncoderKind::SonicRs,
            ["thread-local", "sonic-rs"],
        ),
        (
            PoolKind::ObjectPool,
            EncoderKind::SimdJson,
            ["object-pool", "simd-json"],
        ),
        (
            PoolKind::None,
            EncoderKind::SerdeJson,
            ["none", "serde-json"],
        ),
    ] {
        let settings = Settings {
            pool,
            encoder,
            ..Settings::default()
        };
        let app = App::with_pool(app.db().clone(), settings).unwrap();
        let addr = serve(app.router()).await;
        let health: Value = json(fetch(format!("http://{addr}/healthz")).await).await;
        // The names `--pool` and `--encoder` take.
        assert_eq!(health["strategy"]["pool"], names[0], "{health}");
        assert_eq!(health["strategy"]["encoder"], names[1], "{health}");
        let response = fetch(format!("http://{addr}/tickets?limit=200")).await;
        assert_eq!(response.status(), 200);
        let got: Vec<Value> = json(response).await;
        assert_eq!(got, expected, "{pool:?} {encoder:?}");
    }
}

/// On SQLite, `id` is the row key (`INTEGER PRIMARY KEY`): `ORDER BY id` walks the
/// table itself, with no separate index and no sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_orders_by_the_row_key() {
    let db = Db::sqlite();
    let app = db.app(ChunkConfig::default()).await;
    let ServiceDb::Sqlite(pool) = app.db() else {
        panic!("{}: not on a SqlitePool: {:?}", db.url, app.db())
    };
    let id_type: String =
        sqlx::query_scalar("SELECT type FROM pragma_table_info('tickets') WHERE name = 'id'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(id_type, "INTEGER");
    let mut conn = pool.acquire().await.unwrap();
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM tickets ORDER BY id LIMIT 10"
    ))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
    assert_eq!(plan, ["SCAN tickets"], "{plan:?}");
}

/// The service's connections have `TCP_NODELAY` (without it a spawned stream's partly
/// filled segments wait for the client's delayed ACKs): a real request over a kept-alive
/// connection to `shutdown::serve`, the function the `tickets` binary serves with, then
/// the server's end of that connection is found among this process's descriptors and
/// asked. A server started with plain `axum::serve` answers `false` to the same probe,
/// so the probe can tell the two apart.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_sets_tcp_nodelay_on_every_connection() {
    use chunkstream_tickets::shutdown;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Sends one request on a new connection and reads its whole (chunked) response;
    /// the connection stays open for the probe.
    async fn request(addr: SocketAddr) -> tokio::net::TcpStream {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /tickets?limit=3 HTTP/1.1\r\nHost: tickets\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let mut buf = [0; 4096];
        while !response.ends_with(b"\r\n0\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
                .await
                .expect("the response within 10 s")
                .unwrap();
            assert_ne!(n, 0, "{}", String::from_utf8_lossy(&response));
            response.extend_from_slice(&buf[..n]);
        }
        assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        conn
    }

    /// `TCP_NODELAY` of the server's end of `conn`, found in this process.
    fn server_nodelay(conn: &tokio::net::TcpStream) -> Option<bool> {
        let (server, client) = (conn.peer_addr().unwrap(), conn.local_addr().unwrap());
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .find_map(|fd| {
                // SAFETY: only getsockname, getpeername and getsockopt are called on
                // the borrowed descriptor, and only within this closure. The server's
                // end of `conn` stays open while `conn` does; any other descriptor
                // that closes meanwhile makes these calls fail, nothing more.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                let socket = socket2::SockRef::from(&fd);
                let ours = socket.local_addr().ok()?.as_socket() == Some(server)
                    && socket.peer_addr().ok()?.as_socket() == Some(client);
                ours.then(|| socket.tcp_nodelay().ok()).flatten()
            })
    }

    let db = Db::sqlite();
    let app = db.app(ChunkConfig::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(shutdown::serve(
        listener,
        app.router(),
        async move {
            let _ = stopped.await;
            "the test's end"
        },
        Duration::from_secs(5),
    ));
    for _ in 0..3 {
        let conn = request(addr).await;
        assert_eq!(server_nodelay(&conn), Some(true));
    }

    let plain = serve(app.router()).await;
    let conn = request(plain).await;
    assert_eq!(server_nodelay(&conn), Some(false));

    let _ = stop.send(());
    assert_eq!(service.await.unwrap().unwrap(), shutdown::Stopped::Drained);
}
