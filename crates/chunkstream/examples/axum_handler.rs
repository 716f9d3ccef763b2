//! An axum handler: the shortest correct one, streaming an SQLite query, plus one over
//! shared in-memory data and one with a transform and a total count.
//!
//! ```sh
//! cargo run -p chunkstream --features axum,sqlx --example axum_handler           # serves until Ctrl-C
//! cargo run -p chunkstream --features axum,sqlx --example axum_handler -- --once # one request of each, then exits
//! ```
//!
//! Listens on 127.0.0.1 on a free port and prints it; try
//! `curl -i http://127.0.0.1:PORT/tickets`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chunkstream::{ChunkConfig, StreamResponse, Streamer, source, sql};

#[derive(serde::Serialize, sqlx::FromRow)]
struct Ticket {
    id: i64,
    title: String,
}

#[derive(Clone)]
struct App {
    db: sqlx::SqlitePool,
    streamer: Streamer,
    /// Shared, read-only data: each request streams it without copying it.
    statuses: Arc<[&'static str]>,
}

/// The shortest correct handler: a source in, a started response out. A query that
/// fails before its first row is answered `500` with a JSON body, not `200`.
async fn tickets(State(app): State<App>) -> StreamResponse {
    let rows = sql::rows(app.db, |db| {
        sqlx::query_as::<_, Ticket>("SELECT id, title FROM tickets ORDER BY id").fetch(db)
    });
    app.streamer.json(rows).respond().await
}

/// Shared data: `source::from_arc` streams an `Arc<[T]>` by reference counting.
async fn statuses(State(app): State<App>) -> StreamResponse {
    app.streamer
        .json(source::from_arc(app.statuses))
        .respond()
        .await
}

/// A transform, NDJSON, and `X-Total-Count`: the builder form.
async fn titles(State(app): State<App>) -> Response {
    let total = match sql::count(&app.db, "SELECT COUNT(*) FROM tickets").await {
        Ok(total) => total,
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    };
    let rows = sql::rows(app.db, |db| {
        sqlx::query_as::<_, Ticket>("SELECT id, title FROM tickets ORDER BY id").fetch(db)
    });
    let titles = app
        .streamer
        .clone()
        .with_format(chunkstream::format::Ndjson)
        .stream(rows, |t: Ticket| Ok::<_, std::convert::Infallible>(t.title));
    StreamResponse::new(titles)
        .with_total_count(total)
        .start()
        .await
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1) // one in-memory database shared by every query
        .connect("sqlite::memory:")
        .await?;
    sqlx::query("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        .execute(&db)
        .await?;
    for id in 1..=3 {
        sqlx::query("INSERT INTO tickets (id, title) VALUES (?, ?)")
            .bind(id)
            .bind(format!("ticket {id}"))
            .execute(&db)
            .await?;
    }
    let app = App {
        db,
        streamer: Streamer::new(ChunkConfig::default())?,
        statuses: Arc::from(["open", "in_progress", "closed"]),
    };
    let router = Router::new()
        .route("/tickets", get(tickets))
        .route("/statuses", get(statuses))
        .route("/titles", get(titles))
        .with_state(app);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    if !std::env::args().any(|arg| arg == "--once") {
        axum::serve(listener, router).await?;
        return Ok(());
    }
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    for path in ["/tickets", "/statuses", "/titles"] {
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        let status = response.status().as_u16();
        let content_type = header(&response, "content-type");
        let total = header(&response, "x-total-count");
        let body = response.text().await?;
        println!("GET {path}: {status} {content_type} total={total}");
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
    }
    Ok(())
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}
