//! The tickets service: an axum server that streams an SQL table of tickets as chunked
//! JSON with chunkstream, the way the original Go service did.
//!
//! - `GET /tickets`: a JSON array (`?limit=N`, `?status=open`), `X-Total-Count`.
//! - `GET /tickets.ndjson`: the same rows, one per line.
//! - `?json=db` on either: the same tickets with the JSON written by the database
//!   (SQLite `json_object`, PostgreSQL `json_build_object`) and copied into the body
//!   without the service decoding a row ([`chunkstream::Streamer::spawn_raw`]): the same
//!   field names, types and values, the same filters, `X-Total-Count`, stream slots and
//!   stall limit. The text may differ where the database writes numbers its own way
//!   (PostgreSQL writes an `estimate_hours` of 1.0 as `1`; SQLite keeps 15 significant
//!   digits). The database's text is trusted to be valid JSON. `?json=service` is the
//!   default.
//! - `GET /tickets/summary`: the batch path; each batch of rows goes through the
//!   "formulas" ([`model::summarize`]: age in days, SLA breached, priority score).
//!   `?as_of=UNIX_SECONDS` fixes "now" (the current time by default).
//! - `GET /healthz`: `200` with the streams in progress and the database pool's state.
//! - `GET /readyz`: the same, `503` while every stream slot is taken.
//!
//! A download holds one database connection (its count and its rows come from it) and
//! one of [`Settings::max_streams`] stream slots; when every slot is taken a request is
//! answered at once with `503` and `Retry-After`. A client that stops reading for
//! [`Settings::stall_timeout`] loses its stream, and its connection goes back to the pool.
//!
//! Every 4xx and 5xx has the JSON body `{"error", "message", "request_id"}`; internal
//! details go to the log (and to the client only with [`Settings::expose_errors`]).
//! Unknown query parameters are a `400` that names them.
//!
//! Responses are gzip-compressed (tower-http's `CompressionLayer`) for clients that ask.
//! The database is SQLite by default (created and seeded on first start), PostgreSQL when
//! the URL says `postgres://`; each through sqlx's typed pool ([`db::Db`]), which decodes
//! rows faster than sqlx's dynamic `Any` driver (the `any_vs_typed` example measures it).
//! SQLite downloads read through rusqlite by default ([`reader`]: read-only connections
//! on the same file, the statement on a blocking thread); [`Settings::sqlite_driver`]
//! (`--sqlite-driver sqlx`) reads them through sqlx instead, to compare.

pub mod db;
pub mod error;
pub mod model;
pub mod params;
pub mod reader;
pub mod seed;
pub mod shutdown;
pub mod strategy;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chunkstream::encode::SerdeJson;
use chunkstream::metrics::{ItemCounter, Probe, StreamMetrics};
use chunkstream::{ChunkConfig, ChunkStream, Format, PoolStats, StreamResponse, Streamer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::compression::CompressionLayer;

use crate::db::{Conn, Db, Selection};
use crate::error::{ApiError, ExposeErrors};
use crate::model::{Ticket, summarize};
use crate::params::{JsonBy, ListParams, Params, SummaryParams};
use crate::reader::SqliteDriver;
use crate::strategy::{AnyStreamer, EncoderKind, PoolKind, SharedPool};

/// An error opening the service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the service runs. `Settings::default()` is what the `tickets` binary runs with
/// when given no flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Buffer, chunk and batch sizes.
    pub chunk: ChunkConfig,
    /// The buffer pool strategy. Default: the freelist pool.
    pub pool: PoolKind,
    /// The JSON encoder. Default: sonic-rs (serde_json's bytes, faster).
    pub encoder: EncoderKind,
    /// Database connections at most. Default 8.
    pub db_connections: u32,
    /// Streams (downloads) in progress at most; more are refused with `503`. Default 8,
    /// and never more than `db_connections` (each stream holds a connection).
    pub max_streams: usize,
    /// The `Retry-After` of a `503`, in seconds. Default 1.
    pub retry_after_secs: u64,
    /// How long a stream waits for a client that stopped reading before it is cut and
    /// its connection released. Default 30 s.
    pub stall_timeout: Duration,
    /// How long a request waits for a database connection. Default 5 s.
    pub acquire_timeout: Duration,
    /// Error bodies carry the internal detail (for development). Default `false`.
    pub expose_errors: bool,
    /// Which driver reads SQLite downloads. Default rusqlite (see [`reader`]).
    pub sqlite_driver: SqliteDriver,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chunk: ChunkConfig::default(),
            pool: PoolKind::default(),
            encoder: EncoderKind::default(),
            db_connections: 8,
            max_streams: 8,
            retry_after_secs: 1,
            stall_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
            expose_errors: false,
            sqlite_driver: SqliteDriver::default(),
        }
    }
}

impl Settings {
    /// The chunk configuration the streamers get: [`Settings::chunk`] with the stall
    /// limit.
    fn chunk_config(&self) -> ChunkConfig {
        self.chunk.clone().with_stall_timeout(self.stall_timeout)
    }
}

/// The service: a database pool, the streamers (one per format, sharing one buffer pool),
/// the stream slots and a count of rows read from the database.
#[derive(Clone, Debug)]
pub struct App {
    db: Db,
    /// The rusqlite pool SQLite downloads read from, unless they read through sqlx.
    reader: Option<chunkstream::sqlite::Pool>,
    json: AnyStreamer,
    ndjson: AnyStreamer,
    slots: Slots,
    rows_read: ItemCounter,
    settings: Arc<Settings>,
}

impl App {
    /// Connects to `database_url` (for instance `sqlite://tickets.db?mode=rwc` or
    /// `postgres://user:pw@127.0.0.1/db`), creates the table if needed and, if it is
    /// empty, seeds it with `tickets` rows.
    ///
    /// # Errors
    ///
    /// What failed and where: the database (with its URL, password hidden), the seeding,
    /// or the configuration.
    pub async fn open(
        database_url: &str,
        tickets: u64,
        settings: Settings,
    ) -> Result<App, BoxError> {
        let shown = redact(database_url);
        let db = Db::connect(
            database_url,
            settings.db_connections,
            settings.acquire_timeout,
        )
        .await
        .map_err(|err| format!("cannot open the database {shown}: {err}"))?;
        let seeded = seed::seed(&db, tickets)
            .await
            .map_err(|err| format!("cannot prepare the tickets table in {shown}: {err}"))?;
        if !seeded.inserted && seeded.rows != tickets {
            tracing::info!(
                "the tickets table already has {} rows; not seeding (the {tickets} tickets \
                 asked for are ignored)",
                seeded.rows
            );
        }
        App::with_pool(db, settings)
    }

    /// A service over an existing pool whose database already has the table.
    ///
    /// # Errors
    ///
    /// The configuration's error.
    pub fn with_pool(db: Db, settings: Settings) -> Result<App, BoxError> {
        let chunk = settings.chunk_config().validate()?;
        let pool = settings.pool.build(&chunk);
        let json = AnyStreamer::new(chunk, pool, settings.encoder)?;
        let ndjson = json.clone().with_format(Format::Ndjson);
        let connections = db.max_connections() as usize;
        Ok(App {
            reader: reader::open(&db, settings.sqlite_driver)?,
            slots: Slots::new(settings.max_streams.clamp(1, connections.max(1))),
            db,
            json,
            ndjson,
            rows_read: ItemCounter::new(),
            settings: Arc::new(settings),
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
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                ExposeErrors(self.settings.expose_errors),
                error::request_context,
            ))
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A serde_json streamer on the service's buffer pool (for routes built around the
    /// service's).
    pub fn streamer(&self) -> Streamer<SharedPool, SerdeJson> {
        Streamer::with_parts(
            self.json.config().clone(),
            Arc::clone(self.json.pool()),
            SerdeJson,
        )
        .expect("the service's configuration is valid")
    }

    /// Database connections in use now (by downloads, in whichever pool they read).
    pub fn connections_in_use(&self) -> u32 {
        let in_use = |size: u32, idle: u32| size.saturating_sub(idle);
        let sqlx = in_use(self.db.size(), self.db.num_idle() as u32);
        sqlx + self
            .reader
            .as_ref()
            .map_or(0, |r| in_use(r.size(), r.idle()))
    }

    /// The buffer pool's counters.
    pub fn buffer_pool_stats(&self) -> PoolStats {
        self.json.pool().stats()
    }

    /// Rows read from the database by every request so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read.get()
    }

    /// Streams in progress, and the most allowed.
    pub fn streams(&self) -> (usize, usize) {
        (self.slots.active(), self.slots.max)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A stream slot and a database connection for one download, and the selection's
    /// row count read on that connection.
    async fn open_stream(
        &self,
        selection: &Selection,
    ) -> Result<(OwnedSemaphorePermit, Conn, u64), ApiError> {
        let overloaded = || ApiError::overloaded(self.settings.retry_after_secs);
        let slot = self.slots.try_take().ok_or_else(overloaded)?;
        let mut conn =
            db::acquire(&self.db, self.reader.as_ref())
                .await
                .map_err(|err| match err {
                    sqlx::Error::PoolTimedOut => overloaded().with_detail(err),
                    err => ApiError::internal(err),
                })?;
        let total = selection
            .count(&mut conn)
            .await
            .map_err(ApiError::internal)?;
        Ok((slot, conn, total))
    }

    /// The rows of `selection` on their own connection and slot, counted, as a JSON
    /// stream from `streamer`; and the row count.
    async fn ticket_rows(
        &self,
        streamer: &AnyStreamer,
        selection: Selection,
    ) -> Result<
        (
            impl futures_util::Stream<Item = Result<Ticket, BoxError>> + Send + 'static,
            Probe,
            u64,
        ),
        ApiError,
    > {
        let (slot, conn, total) = self.open_stream(&selection).await?;
        let (rows, probe) = self.counted(streamer, selection.rows::<Ticket, _>(conn, slot));
        Ok((rows, probe, total))
    }

    /// `rows` counted (for the request's metrics and [`App::rows_read`]), and the probe
    /// that reads the count and `streamer`'s pool.
    fn counted<T, S>(
        &self,
        streamer: &AnyStreamer,
        rows: S,
    ) -> (
        impl futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static + use<T, S>,
        Probe,
    )
    where
        S: futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static,
    {
        let counter = ItemCounter::new();
        let rows = self.rows_read.count(counter.count(rows));
        let probe = Probe::new().items(&counter).pool(streamer.pool());
        (rows, probe)
    }

    async fn list(&self, streamer: AnyStreamer, params: ListParams) -> Result<Response, ApiError> {
        let selection = Selection {
            status: params.status,
            limit: params.limit,
        };
        let (chunks, total) = match params.json.unwrap_or_default() {
            JsonBy::Service => {
                let (rows, probe, total) = self.ticket_rows(&streamer, selection).await?;
                let chunks = streamer
                    .spawn(rows, chunkstream::transform::passthrough())
                    .observe_with(probe, log_metrics("tickets"));
                (chunks, total)
            }
            JsonBy::Db => {
                let (slot, conn, total) = self.open_stream(&selection).await?;
                let (rows, probe) = self.counted(&streamer, selection.json_rows(conn, slot));
                let chunks = streamer
                    .spawn_raw(rows)
                    .observe_with(probe, log_metrics("tickets_db_json"));
                (chunks, total)
            }
        };
        respond(chunks, total).await
    }
}

/// The stream slots: at most `max` downloads at once.
#[derive(Clone, Debug)]
struct Slots {
    free: Arc<Semaphore>,
    max: usize,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.free).try_acquire_owned().ok()
    }

    fn active(&self) -> usize {
        self.max.saturating_sub(self.free.available_permits())
    }
}

async fn list_json(
    State(app): State<App>,
    Params(params): Params<ListParams>,
) -> Result<Response, ApiError> {
    let streamer = app.json.clone();
    app.list(streamer, params).await
}

async fn list_ndjson(
    State(app): State<App>,
    Params(params): Params<ListParams>,
) -> Result<Response, ApiError> {
    let streamer = app.ndjson.clone();
    app.list(streamer, params).await
}

async fn summary(
    State(app): State<App>,
    Params(params): Params<SummaryParams>,
) -> Result<Response, ApiError> {
    let now = params.as_of.unwrap_or_else(unix_now);
    let selection = Selection {
        status: params.status,
        limit: params.limit,
    };
    let streamer = app.json.clone();
    let (rows, probe, total) = app.ticket_rows(&streamer, selection).await?;
    let chunks = streamer
        .spawn_batch(rows, move |batch: Vec<Ticket>| {
            batch.iter().map(|ticket| summarize(ticket, now)).collect()
        })
        .observe_with(probe, log_metrics("summary"));
    respond(chunks, total).await
}

/// The service's state: `"ok"`, or `"saturated"` while every stream slot is taken.
fn health(app: &App) -> (bool, serde_json::Map<String, serde_json::Value>) {
    let (active, max) = app.streams();
    let saturated = active >= max;
    let body = serde_json::json!({
        "status": if saturated { "saturated" } else { "ok" },
        "streams": { "active": active, "max": max },
        "strategy": {
            "pool": app.settings.pool.name(),
            "encoder": app.settings.encoder.name(),
        },
        "db": {
            "connections": app.db.size(),
            "idle": app.db.num_idle(),
            "max": app.db.max_connections(),
        },
    });
    let serde_json::Value::Object(map) = body else {
        unreachable!("a JSON object literal")
    };
    (saturated, map)
}

async fn healthz(State(app): State<App>) -> Response {
    let (_, body) = health(&app);
    axum::Json(body).into_response()
}

async fn readyz(State(app): State<App>) -> Result<Response, ApiError> {
    let (saturated, body) = health(&app);
    if saturated {
        return Err(ApiError::overloaded(app.settings.retry_after_secs).with_fields(body));
    }
    Ok(axum::Json(body).into_response())
}

/// Awaits the first chunk: a stream that fails before it is an error response.
async fn respond(chunks: ChunkStream, total: u64) -> Result<Response, ApiError> {
    let response = StreamResponse::new(chunks)
        .with_total_count(total)
        .start()
        .await;
    if let Some(err) = response.error() {
        return Err(ApiError::from_stream(err));
    }
    Ok(response.into_response())
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

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
