//! The tickets service: an axum server that streams an SQL table of tickets as chunked
//! JSON with chunkstream, the way the original Go service did.
//!
//! - `GET /tickets`: a JSON array (`?limit=N`, `?status=open`), `X-Total-Count`.
//! - `GET /tickets.ndjson`: the same rows, one per line.
//! - `GET /tickets/summary`: the batch path; each batch of rows goes through the
//!   "formulas" ([`model::summarize`]: age in days, SLA breached, priority score).
//!   `?as_of=UNIX_SECONDS` fixes "now" (the current time by default).
//! - `GET /healthz`: `ok`.
//!
//! Responses are gzip-compressed (tower-http's `CompressionLayer`) for clients that ask.
//! The database is SQLite by default (created and seeded on first start); any URL that
//! sqlx's `Any` driver knows works, PostgreSQL included.

pub mod model;
pub mod seed;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chunkstream::metrics::{ItemCounter, Probe, StreamMetrics};
use chunkstream::{ChunkConfig, ChunkStream, Format, PoolStats, StreamResponse, Streamer, sql};
use serde::Deserialize;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use tower_http::compression::CompressionLayer;

use crate::model::{Ticket, summarize};

/// The ticket columns, in [`Ticket`] order.
const SELECT: &str = "SELECT id, title, description, status, priority, assignee, reporter, tags, \
     project, component, sla_hours, estimate_hours, comments, created_at, updated_at, resolved_at \
     FROM tickets WHERE ($1 IS NULL OR status = $1) ORDER BY id LIMIT $2";
const COUNT: &str = "SELECT COUNT(*) FROM tickets WHERE ($1 IS NULL OR status = $1)";

/// The service: a database pool, the streamers (one per format, sharing one buffer pool)
/// and a count of rows read from the database.
#[derive(Clone, Debug)]
pub struct App {
    db: AnyPool,
    json: Streamer,
    ndjson: Streamer,
    rows_read: ItemCounter,
}

/// An error opening the service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl App {
    /// Connects to `database_url` (for instance `sqlite://tickets.db?mode=rwc` or
    /// `postgres://user:pw@127.0.0.1/db`), creates the table if needed and, if it is
    /// empty, seeds it with `tickets` rows.
    ///
    /// # Errors
    ///
    /// The database's or the configuration's error.
    pub async fn open(
        database_url: &str,
        tickets: u64,
        config: ChunkConfig,
    ) -> Result<App, BoxError> {
        sqlx::any::install_default_drivers();
        let db = AnyPoolOptions::new()
            .max_connections(8)
            .connect(database_url)
            .await?;
        seed::seed(&db, tickets).await?;
        App::with_pool(db, config)
    }

    /// A service over an existing pool whose database already has the table.
    ///
    /// # Errors
    ///
    /// The configuration's error.
    pub fn with_pool(db: AnyPool, config: ChunkConfig) -> Result<App, BoxError> {
        let json = Streamer::new(config)?;
        let ndjson = json.clone().with_format(Format::Ndjson);
        Ok(App {
            db,
            json,
            ndjson,
            rows_read: ItemCounter::new(),
        })
    }

    /// The routes, with gzip compression for clients that accept it.
    pub fn router(&self) -> Router {
        self.routes().layer(CompressionLayer::new())
    }

    /// The routes without compression.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/tickets", get(list_json))
            .route("/tickets.ndjson", get(list_ndjson))
            .route("/tickets/summary", get(summary))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    /// The database pool.
    pub fn db(&self) -> &AnyPool {
        &self.db
    }

    /// The JSON-array streamer (its buffer pool is shared with the NDJSON one).
    pub fn streamer(&self) -> &Streamer {
        &self.json
    }

    /// The buffer pool's counters.
    pub fn buffer_pool_stats(&self) -> PoolStats {
        chunkstream::BufferPool::stats(&**self.json.pool())
    }

    /// Rows read from the database by every request so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read.get()
    }
}

/// The query string of the list endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// At most this many tickets.
    pub limit: Option<u64>,
    /// Only tickets with this status.
    pub status: Option<String>,
    /// "Now" for the summary formulas, in Unix seconds.
    pub as_of: Option<i64>,
}

async fn list_json(State(app): State<App>, Query(params): Query<ListParams>) -> Response {
    let streamer = app.json.clone();
    list(app, streamer, params).await
}

async fn list_ndjson(State(app): State<App>, Query(params): Query<ListParams>) -> Response {
    let streamer = app.ndjson.clone();
    list(app, streamer, params).await
}

async fn list(app: App, streamer: Streamer, params: ListParams) -> Response {
    let total = match total(&app, &params).await {
        Ok(total) => total,
        Err(err) => return db_error(err),
    };
    let (rows, probe) = ticket_rows(&app, &streamer, params);
    let chunks = streamer
        .stream(rows, chunkstream::transform::passthrough())
        .observe_with(probe, log_metrics("tickets"));
    respond(chunks, total).await
}

async fn summary(State(app): State<App>, Query(params): Query<ListParams>) -> Response {
    let total = match total(&app, &params).await {
        Ok(total) => total,
        Err(err) => return db_error(err),
    };
    let now = params.as_of.unwrap_or_else(unix_now);
    let streamer = app.json.clone();
    let (rows, probe) = ticket_rows(&app, &streamer, params);
    let chunks = streamer
        .stream_batch(rows, move |batch: Vec<Ticket>| {
            batch.iter().map(|ticket| summarize(ticket, now)).collect()
        })
        .observe_with(probe, log_metrics("summary"));
    respond(chunks, total).await
}

/// The rows the parameters select, counted, and the probe that reports them.
fn ticket_rows(
    app: &App,
    streamer: &Streamer,
    params: ListParams,
) -> (
    impl futures_util::Stream<Item = sql::RowResult<Ticket>> + Send + 'static,
    Probe,
) {
    let limit = params
        .limit
        .map_or(i64::MAX, |l| l.min(i64::MAX as u64) as i64);
    let status = params.status;
    let rows = sql::rows(app.db.clone(), move |db| {
        sqlx::query_as::<_, Ticket>(SELECT)
            .bind(status)
            .bind(limit)
            .fetch(db)
    });
    let counter = ItemCounter::new();
    let rows = app.rows_read.count(counter.count(rows));
    let probe = Probe::new().items(&counter).pool(streamer.pool());
    (rows, probe)
}

async fn total(app: &App, params: &ListParams) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(COUNT)
        .bind(params.status.clone())
        .fetch_one(&app.db)
        .await?;
    let n = n.max(0) as u64;
    Ok(params.limit.map_or(n, |limit| n.min(limit)))
}

async fn respond(chunks: ChunkStream, total: u64) -> Response {
    StreamResponse::new(chunks)
        .with_total_count(total)
        .start()
        .await
        .into_response()
}

fn db_error(err: sqlx::Error) -> Response {
    tracing::warn!(error = %err, "count query failed");
    let body = serde_json::json!({ "error": "database", "message": err.to_string() });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

fn log_metrics(route: &'static str) -> impl FnOnce(StreamMetrics) + Send + 'static {
    move |m| {
        tracing::info!(
            route,
            outcome = ?m.outcome,
            items = m.items,
            chunks = m.chunks,
            bytes = m.bytes,
            first_chunk_ms = m.time_to_first_chunk.map(|d| d.as_secs_f64() * 1e3),
            elapsed_ms = m.elapsed.as_secs_f64() * 1e3,
            pool_hits = m.pool_hits,
            pool_misses = m.pool_misses,
            "stream done"
        );
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
