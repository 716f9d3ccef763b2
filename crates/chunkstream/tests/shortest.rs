//! The shortest handlers, over real HTTP (axum on 127.0.0.1, reqwest) and real SQLite:
//! `streamer.json(source).respond().await` with no transform, shared data through
//! `source::from_arc`, and `ChunkStream::collect_bytes`.
//!
//! Needs the `axum` and `sqlx` features (the feature matrix builds the tests without them).
#![cfg(all(feature = "axum", feature = "sqlx"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chunkstream::{ChunkConfig, StreamResponse, Streamer, source, sql};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize, sqlx::FromRow)]
struct Ticket {
    id: i64,
    title: String,
}

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

/// `GET http://addr/path` by [`client`].
async fn fetch(addr: SocketAddr, path: &str) -> reqwest::Response {
    client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap()
}

async fn sqlite(with_table: bool) -> sqlx::SqlitePool {
    // One connection: every query sees the same in-memory database.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    if with_table {
        sqlx::query("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        for id in 1..=3 {
            sqlx::query("INSERT INTO tickets (id, title) VALUES (?, ?)")
                .bind(id)
                .bind(format!("ticket {id}"))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    pool
}

/// The README's first example, written the shortest way.
async fn tickets(State((pool, streamer)): State<(sqlx::SqlitePool, Streamer)>) -> StreamResponse {
    let rows = sql::rows(pool, |pool| {
        sqlx::query_as::<_, Ticket>("SELECT id, title FROM tickets ORDER BY id").fetch(pool)
    });
    streamer.json(rows).respond().await
}

async fn tickets_app(with_table: bool) -> SocketAddr {
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let state = (sqlite(with_table).await, streamer);
    serve(
        Router::new()
            .route("/tickets", get(tickets))
            .with_state(state),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortest_handler_streams_the_rows() {
    let addr = tickets_app(true).await;
    let response = fetch(addr, "/tickets").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!([
            {"id": 1, "title": "ticket 1"},
            {"id": 2, "title": "ticket 2"},
            {"id": 3, "title": "ticket 3"},
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortest_handler_answers_an_early_error_with_a_status_and_no_detail() {
    // No table: the query fails before the first row.
    let addr = tickets_app(false).await;
    let response = fetch(addr, "/tickets").await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    // The database's message (table name, SQL error) stays in the log.
    assert!(!text.contains("no such table"), "{text}");
    assert!(!text.contains("tickets"), "{text}");
    assert!(!text.contains("database"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "source");
    assert_eq!(body["message"], chunkstream::ErrorKind::Source.message());
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    // Another failure, another id.
    let again = fetch(addr, "/tickets").await.text().await.unwrap();
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_ne!(again["id"], body["id"]);
}

/// What the crate logs, captured for the whole test binary (one global subscriber).
fn captured_log() -> &'static std::sync::Mutex<Vec<u8>> {
    use std::sync::{Mutex, OnceLock};

    struct Capture;
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            captured_log().lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    LOG.get_or_init(|| Mutex::new(Vec::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_the_detail_under_the_id_the_body_carries() {
    captured_log();
    let addr = tickets_app(false).await;
    let text = fetch(addr, "/tickets").await.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let id = body["id"].as_str().unwrap();
    let log = String::from_utf8_lossy(&captured_log().lock().unwrap()).into_owned();
    let line = log
        .lines()
        .find(|line| {
            line.contains(&format!("error_id=\"{id}\"")) || line.contains(&format!("error_id={id}"))
        })
        .unwrap_or_else(|| panic!("no log line with the id {id}:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("no such table: tickets"), "{line}");
}

/// The README's shortest handler with `policy`, asked for a table that does not exist.
async fn failed_query_under(policy: chunkstream::ErrorPolicy) -> reqwest::Response {
    type Shared = (sqlx::SqlitePool, Streamer, chunkstream::ErrorPolicy);
    async fn handler(State((pool, streamer, policy)): State<Shared>) -> StreamResponse {
        let rows = sql::rows(pool, |pool| {
            sqlx::query_as::<_, Ticket>("SELECT id, title FROM tickets ORDER BY id").fetch(pool)
        });
        StreamResponse::new(streamer.json(rows))
            .with_error_policy(policy)
            .start()
            .await
    }
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let state = (sqlite(false).await, streamer, policy);
    let router = Router::new()
        .route("/tickets", get(handler))
        .with_state(state);
    let addr = serve(router).await;
    fetch(addr, "/tickets").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortest_handler_opted_in_to_detail_shows_it() {
    let policy = chunkstream::ErrorPolicy::default().with_detail(true);
    let response = failed_query_under(policy).await;
    assert_eq!(response.status(), 500);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "source");
    assert_eq!(body["message"], chunkstream::ErrorKind::Source.message());
    assert!(body["id"].is_string());
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("no such table: tickets"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_answers_with_its_own_status_and_body() {
    use chunkstream::{ErrorPolicy, StreamError};

    let policy = ErrorPolicy::default().with_mapper(|err: &StreamError, id: &str| {
        let mut answer = http::Response::new(format!("unavailable: {} ({id})", err.kind()));
        *answer.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        answer
    });
    let response = failed_query_under(policy).await;
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("unavailable: source ("), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortest_handler_aborts_a_late_error() {
    async fn late(State(streamer): State<Streamer>) -> StreamResponse {
        // The failing row takes a moment to arrive, as from a database: the chunks
        // before it are on the wire by then.
        let items = futures_util::stream::iter(0..1000).then(|i| async move {
            if i == 500 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::other("late"))
            } else {
                Ok(i)
            }
        });
        streamer.json(items).respond().await
    }
    let streamer = Streamer::new(ChunkConfig::with_sizes(256, 64)).unwrap();
    let addr = serve(Router::new().route("/late", get(late)).with_state(streamer)).await;
    let response = fetch(addr, "/late").await;
    // The status went out with the first chunk; the error can only abort the transfer.
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a truncated body must not look complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortest_ndjson_handler_with_a_total_count() {
    async fn lines(State(streamer): State<Streamer>) -> StreamResponse {
        StreamResponse::new(
            streamer
                .clone()
                .with_format(chunkstream::format::Json::Ndjson)
                .json(source::from_iter(["a", "b"])),
        )
        .with_total_count(2)
        .start()
        .await
    }
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let addr = serve(
        Router::new()
            .route("/lines", get(lines))
            .with_state(streamer),
    )
    .await;
    let response = fetch(addr, "/lines").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(response.headers()["x-total-count"], "2");
    assert_eq!(response.text().await.unwrap(), "\"a\"\n\"b\"\n");
}

/// Not `Clone`: `from_arc` must serve it without copying.
#[derive(Serialize)]
struct Row {
    id: u32,
    name: String,
}

#[derive(Clone)]
struct Shared {
    streamer: Streamer,
    rows: Arc<[Row]>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arc_source_serves_shared_state_and_lets_it_go() {
    async fn rows(State(app): State<Shared>) -> StreamResponse {
        app.streamer
            .json(source::from_arc(app.rows))
            .respond()
            .await
    }
    let data: Arc<[Row]> = (0..2000)
        .map(|id| Row {
            id,
            name: format!("row {id}"),
        })
        .collect();
    let app = Shared {
        streamer: Streamer::new(ChunkConfig::with_sizes(4096, 1024)).unwrap(),
        rows: Arc::clone(&data),
    };
    let addr = serve(Router::new().route("/rows", get(rows)).with_state(app)).await;
    for _ in 0..2 {
        let response = fetch(addr, "/rows").await;
        let body: Vec<Value> = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body.len(), 2000);
        assert_eq!(body[1999], json!({"id": 1999, "name": "row 1999"}));
    }
    // Ours and the router's state: no request keeps (or leaked) a reference.
    let mut count = Arc::strong_count(&data);
    for _ in 0..500 {
        if count == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        count = Arc::strong_count(&data);
    }
    assert_eq!(count, 2);
}

#[tokio::test]
#[allow(clippy::field_reassign_with_default)] // `ChunkConfig` is meant to be built this way
async fn arc_vec_source_on_the_batch_path() {
    let names = Arc::new(vec![
        String::from("a"),
        String::from("bcd"),
        String::from("ef"),
    ]);
    let mut config = ChunkConfig::default();
    config.batch_size = 2;
    let streamer = Streamer::new(config).unwrap();
    let lengths = streamer.stream_batch(
        source::from_arc(Arc::clone(&names)),
        |batch: Vec<source::Shared<Vec<String>>>| {
            Ok::<_, std::convert::Infallible>(
                batch.iter().map(|name| name.len()).collect::<Vec<_>>(),
            )
        },
    );
    assert_eq!(&lengths.collect_bytes().await.unwrap()[..], b"[1,3,2]");
    assert_eq!(Arc::strong_count(&names), 1);
}

#[tokio::test]
async fn collect_bytes_returns_the_error_not_a_partial_body() {
    let streamer = Streamer::new(ChunkConfig::with_sizes(64, 16)).unwrap();
    let items = (0..100).map(|i| {
        if i == 50 {
            Err(std::io::Error::other("late"))
        } else {
            Ok(i)
        }
    });
    let err = streamer
        .json(futures_util::stream::iter(items))
        .collect_bytes()
        .await
        .unwrap_err();
    assert_eq!(err.kind().as_str(), "source");
}

#[tokio::test]
async fn collect_bytes_joins_many_chunks() {
    #[allow(unused_imports)] // both in scope: `collect` would be ambiguous
    use {futures_util::StreamExt, http_body_util::BodyExt};

    let streamer = Streamer::new(ChunkConfig::with_sizes(64, 16)).unwrap();
    let body = streamer
        .json(source::from_iter(0..500))
        .collect_bytes()
        .await
        .unwrap();
    let expected = serde_json::to_vec(&(0..500).collect::<Vec<_>>()).unwrap();
    assert_eq!(body, expected);
}
