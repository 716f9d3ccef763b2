//! The tickets service: an axum server that streams an SQL table of tickets as chunked
//! JSON with chunkstream, the way the original Go service did.
//!
//! - `GET /tickets`: the tickets (`?limit=N`, `?status=open`, `?after=ID`),
//!   `X-Total-Count`, as a JSON array, NDJSON, CSV or Server-Sent Events by content
//!   negotiation (`Accept`, or `?format=`), or a page in a JSON envelope with its count
//!   and next cursor ([`formats`]).
//! - `GET /tickets.ndjson`: the same rows, one per line.
//! - `GET /tickets.csv`: CSV with a header row.
//! - `GET /tickets/events`: Server-Sent Events that resume after `Last-Event-ID`
//!   ([`events`]).
//! - `GET /`: the demo page ([`page`]).
//! - `?json=db` on either: the same tickets with the JSON written by the database
//!   (SQLite `json_object`, PostgreSQL `json_build_object`) and copied into the body
//!   without the service decoding a row (`RawJson` items through [`chunkstream::Streamer::json`], spawned): the same
//!   field names, types and values, the same filters, `X-Total-Count`, stream slots and
//!   stall limit. The text may differ where the database writes numbers its own way
//!   (PostgreSQL writes an `estimate_hours` of 1.0 as `1`; SQLite keeps 15 significant
//!   digits). The database's text is trusted to be valid JSON. `?json=service` is the
//!   default.
//! - `GET /tickets/summary`: the batch path; each batch of rows goes through the
//!   "formulas" ([`model::summarize`]: age in days, SLA breached, priority score).
//!   `?as_of=UNIX_SECONDS` fixes "now" (the current time by default).
//! - `GET /healthz`: `200` with the streams in progress, the download queue and the
//!   database pool's state.
//! - `GET /readyz`: the same, `503` while every stream slot is taken and the queue is full.
//!
//! Admission is by cost ([`admission`]): a request whose `limit` is at most
//! [`Settings::small_rows`] is served at once on a connection of its own, without a slot.
//! A download holds one database connection (its count and its rows come from it) and
//! one of the stream slots ([`Settings::slots`]); when every slot is taken it waits in a
//! bounded first-come-first-served queue for up to [`Settings::queue_wait`], and only then
//! (or when the queue is full) is answered with `503` and `Retry-After`. A client that
//! stops reading for [`Settings::stall_timeout`], or reads slower than
//! [`Settings::min_data_rate`], loses its stream, and its slot and connection are free.
//!
//! Every 4xx and 5xx has the JSON body `{"error", "message", "request_id"}`; internal
//! details go to the log (and to the client only with [`Settings::expose_errors`]).
//! Unknown query parameters are a `400` that names them.
//!
//! Responses are gzip-compressed (tower-http's `CompressionLayer`) for clients that ask,
//! except event streams (its default predicate leaves `text/event-stream` alone). The
//! server speaks HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) on one port.
//! The database is SQLite by default (created and seeded on first start), PostgreSQL when
//! the URL says `postgres://`; each through sqlx's typed pool ([`db::Db`]), which decodes
//! rows faster than sqlx's dynamic `Any` driver (the `any_vs_typed` example measures it).
//! SQLite downloads read through rusqlite by default ([`reader`]: read-only connections
//! on the same file, the statement on a blocking thread); [`Settings::sqlite_driver`]
//! (`--sqlite-driver sqlx`) reads them through sqlx instead, to compare.

pub mod admission;
pub mod db;
pub mod error;
pub mod events;
pub mod formats;
pub mod model;
pub mod page;
pub mod params;
pub mod reader;
pub mod row;
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
use chunkstream::{ChunkConfig, ChunkStream, MinDataRate, PoolStats, StreamResponse, Streamer};
use tokio::sync::OwnedSemaphorePermit;
use tower_http::compression::CompressionLayer;

use crate::admission::{Admission, AdmissionStats, Refused};
use crate::db::{Conn, Db, Selection};
use crate::error::{ApiError, ExposeErrors};
use crate::model::{Ticket, summarize};
use crate::params::{JsonBy, ListParams, Params, SummaryParams};
use crate::reader::SqliteDriver;
use crate::strategy::{AnyStreamer, EncoderKind, PoolKind, SharedPool, build_pool, flag};

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
    /// Database connections at most. Default 10: 8 for downloads and
    /// [`SMALL_LANE_CONNECTIONS`] for small requests.
    pub db_connections: u32,
    /// Streams (downloads) in progress at most. `None` (the default): derived, see
    /// [`Settings::slots`]. Never more than the connections downloads may hold.
    pub max_streams: Option<usize>,
    /// Memory the downloads in progress may hold between them, in bytes; with
    /// [`Settings::stream_memory`] per download it bounds the slots. Default 64 MiB.
    pub stream_memory_budget: usize,
    /// Requests with a `limit` of at most this many rows are small: served without a
    /// slot or a wait. `None` (the default): [`Settings::small_rows`] derives it.
    pub small_rows: Option<u64>,
    /// Downloads that may wait for a slot at once; more are refused at once. `None` (the
    /// default): [`QUEUE_PER_SLOT`] per slot.
    pub queue_max: Option<usize>,
    /// How long a download waits in the queue for a slot before a `503`. Default 30 s:
    /// about twice what a full queue ([`QUEUE_PER_SLOT`] downloads per slot) of full
    /// downloads of the default table took to drain on a 2-core machine with the rusqlite
    /// reader (the `loadtest downloads` scenario; its numbers are in
    /// `reports/tickets-fair.txt`). With `--sqlite-driver sqlx` downloads are slower and
    /// a full queue needs about 90 s. A waiter
    /// holds a socket and a small task, no buffer and no database connection.
    pub queue_wait: Duration,
    /// The slowest a client may read a stream (after a grace period) before it is cut.
    /// Default [`DEFAULT_MIN_DATA_RATE`].
    pub min_data_rate: Option<MinDataRate>,
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
    /// End an event stream (`/tickets/events`, or `/tickets` as SSE) after this many
    /// ticket events, without its `end` event, as a server being restarted would: the
    /// client reconnects with `Last-Event-ID` (`--events-per-connection`, to see and
    /// test resuming). `None` (the default), or 0: no such cut.
    pub events_per_connection: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chunk: ChunkConfig::default(),
            pool: PoolKind::default(),
            encoder: EncoderKind::default(),
            db_connections: 10,
            max_streams: None,
            stream_memory_budget: 64 << 20,
            small_rows: None,
            queue_max: None,
            queue_wait: Duration::from_secs(30),
            min_data_rate: Some(DEFAULT_MIN_DATA_RATE),
            retry_after_secs: 1,
            stall_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
            expose_errors: false,
            sqlite_driver: SqliteDriver::default(),
            events_per_connection: None,
        }
    }
}

/// Database connections kept for small requests: downloads hold at most
/// `db_connections` minus these, so a small request never waits behind them.
pub const SMALL_LANE_CONNECTIONS: u32 = 2;

/// Downloads allowed to wait per slot. With a full queue the last one in line waits for
/// this many downloads per slot to finish; longer lines would mostly time out.
pub const QUEUE_PER_SLOT: usize = 8;

/// The bytes of JSON budgeted for one ticket when deciding what is small. Every seeded
/// ticket fits in it (a test in `seed.rs` checks); a larger row only makes a "small"
/// response take a few more chunks, and wait for its client a little.
pub const ROW_BUDGET: usize = 1 << 10; // 1 KiB

/// What hyper buffers for one HTTP/1 connection's socket before it stops taking body
/// chunks: its default `max_buf_size` (`8192 + 4096 * 100` bytes, hyper's
/// `proto::h1::io::DEFAULT_MAX_BUFFER_SIZE`).
pub const HTTP_WRITE_BUFFER: usize = 8192 + 4096 * 100;

/// SQLite's default page cache per connection (`PRAGMA cache_size = -2000`: 2000 KiB).
pub const SQLITE_PAGE_CACHE: usize = 2000 << 10;

/// The service's minimum data rate: 4 KiB/s after a 5 s grace period. Kestrel's 240 B/s
/// and 5 s guard a connection that costs a socket; a download here holds one of a few
/// stream slots and database connections, so the floor is where one default chunk
/// (32 KiB) takes 8 s; a client slower than that would hold a slot and a connection
/// for a long time on a large table. The grace is Kestrel's.
pub const DEFAULT_MIN_DATA_RATE: MinDataRate = MinDataRate::new(4 << 10, Duration::from_secs(5));

impl Settings {
    /// The chunk configuration the streamers get: [`Settings::chunk`] with the stall
    /// limit and the minimum data rate.
    fn chunk_config(&self) -> ChunkConfig {
        self.chunk
            .clone()
            .with_stall_timeout(self.stall_timeout)
            .with_min_data_rate(self.min_data_rate)
    }

    /// The memory one response holds at most, in bytes: the buffer being filled, the
    /// chunks queued ahead of the client (`channel_capacity`) and the chunks the HTTP
    /// stack holds for the socket (up to [`HTTP_WRITE_BUFFER`] of them, one more for
    /// the one it takes last), each a pooled buffer of `buffer_size` (from the validated
    /// chunk configuration).
    pub fn stream_memory(&self) -> usize {
        let chunk = self.chunk.clone().validate().unwrap_or_default();
        let in_http = HTTP_WRITE_BUFFER.div_ceil(chunk.chunk_threshold) + 1;
        chunk
            .pool
            .buffer_size
            .saturating_mul(1 + chunk.channel_capacity + in_http)
    }

    /// The memory the service holds besides its responses, at most, in bytes: the
    /// buffers the pool keeps (`max_pooled` of `buffer_size`) and, for SQLite, each
    /// connection's page cache ([`SQLITE_PAGE_CACHE`]).
    pub fn fixed_memory(&self, connections: u32) -> usize {
        let chunk = self.chunk.clone().validate().unwrap_or_default();
        chunk.pool.max_pooled.saturating_mul(chunk.pool.buffer_size)
            + (connections as usize).saturating_mul(SQLITE_PAGE_CACHE)
    }

    /// The stream slots: [`Settings::max_streams`] if set, else as many as the memory
    /// budget holds; never more than the connections downloads may hold
    /// (`connections` minus [`SMALL_LANE_CONNECTIONS`], at least 1).
    pub fn slots(&self, connections: u32) -> usize {
        let for_downloads = connections.saturating_sub(SMALL_LANE_CONNECTIONS).max(1) as usize;
        let wanted = self
            .max_streams
            .unwrap_or_else(|| self.stream_memory_budget / self.stream_memory().max(1));
        wanted.clamp(1, for_downloads)
    }

    /// The queue length: [`Settings::queue_max`], or [`QUEUE_PER_SLOT`] per slot.
    pub fn queue_len(&self, slots: usize) -> usize {
        self.queue_max.unwrap_or(slots * QUEUE_PER_SLOT)
    }

    /// The largest `limit` served without a slot: [`Settings::small_rows`] if set, else
    /// the rows of [`ROW_BUDGET`] each that fit in the chunks a stream queues ahead of
    /// its client (`channel_capacity` chunks of `chunk_threshold`): such a response is
    /// read from the database whole without waiting for the client, so its connection
    /// is free within a query's time however slowly the client reads.
    pub fn small_rows(&self) -> u64 {
        self.small_rows.unwrap_or_else(|| {
            let chunk = self.chunk.clone().validate().unwrap_or_default();
            (chunk.channel_capacity.saturating_mul(chunk.chunk_threshold) / ROW_BUDGET) as u64
        })
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
    slots: Admission,
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
        let pool = build_pool(settings.pool, &chunk);
        let json = AnyStreamer::new(chunk, pool, settings.encoder)?;
        let ndjson = json.clone().with_format(chunkstream::format::Json::Ndjson);
        let slots = settings.slots(db.max_connections());
        Ok(App {
            reader: reader::open(&db, settings.sqlite_driver)?,
            slots: Admission::new(slots, settings.queue_len(slots), settings.queue_wait),
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
            .route("/", get(page::index))
            .route("/tickets", get(formats::tickets))
            .route("/tickets.ndjson", get(list_ndjson))
            .route("/tickets.csv", get(formats::tickets_csv))
            .route("/tickets/events", get(formats::ticket_events))
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

    /// Database connections the service may open at most, in both pools (sqlx's, and
    /// the rusqlite readers' when SQLite downloads read through rusqlite).
    pub fn max_connections(&self) -> u32 {
        self.db.max_connections() + self.reader.as_ref().map_or(0, |r| r.max_size())
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
        let stats = self.slots.stats();
        (stats.active, stats.max)
    }

    /// The download slots, their queue and the counts of waits and refusals.
    pub fn admission(&self) -> AdmissionStats {
        self.slots.stats()
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A stream slot (none for a small request) and a database connection for one
    /// download.
    async fn slot_and_conn(
        &self,
        selection: &Selection,
    ) -> Result<(Option<OwnedSemaphorePermit>, Conn), ApiError> {
        let overloaded = || ApiError::overloaded(self.settings.retry_after_secs);
        let small = selection
            .limit
            .is_some_and(|limit| limit <= self.settings.small_rows());
        let slot = if small {
            None
        } else {
            Some(
                self.slots
                    .take()
                    .await
                    .map_err(|refused| refuse(self, refused))?,
            )
        };
        let conn = db::acquire(&self.db, self.reader.as_ref())
            .await
            .map_err(|err| match err {
                sqlx::Error::PoolTimedOut => overloaded().with_detail(err),
                err => ApiError::internal(err),
            })?;
        Ok((slot, conn))
    }

    /// A stream slot and a database connection for one download, and the selection's
    /// row count read on that connection.
    async fn open_stream(
        &self,
        selection: &Selection,
    ) -> Result<(Option<OwnedSemaphorePermit>, Conn, u64), ApiError> {
        let (slot, mut conn) = self.slot_and_conn(selection).await?;
        let total = selection
            .count(&mut conn)
            .await
            .map_err(ApiError::internal)?;
        Ok((slot, conn, total))
    }

    /// The rows of `selection` on their own connection and slot, counted, as `T`s (a
    /// [`Ticket`], or a [`TicketRow`](row::TicketRow) where the rows are only encoded);
    /// and the row count (of the same rows: see [`Selection::counted_rows`]).
    async fn ticket_rows<T: db::TicketRows>(
        &self,
        selection: Selection,
    ) -> Result<
        (
            impl futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static + use<T>,
            Probe,
            u64,
        ),
        ApiError,
    > {
        let (slot, conn) = self.slot_and_conn(&selection).await?;
        let (total, rows) = selection
            .counted_rows::<T, _>(conn, slot)
            .await
            .map_err(ApiError::internal)?;
        let (rows, probe) = self.counted(rows);
        Ok((rows, probe, total))
    }

    /// `rows` counted (for the request's metrics and [`App::rows_read`]), and the probe
    /// that reads the count and the buffer pool (which every streamer shares).
    fn counted<T, S>(
        &self,
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
        let probe = Probe::new().items(&counter).pool(self.json.pool());
        (rows, probe)
    }

    /// The selection as a JSON array or NDJSON (`streamer`'s framing), its JSON written
    /// by the service or by the database (`json`).
    async fn list(
        &self,
        streamer: AnyStreamer,
        selection: Selection,
        json: JsonBy,
    ) -> Result<Response, ApiError> {
        let (chunks, total) = match json {
            JsonBy::Service => {
                let (rows, probe, total) = self.ticket_rows::<row::TicketRow>(selection).await?;
                let chunks = streamer
                    .stream(rows, chunkstream::transform::passthrough())
                    .spawn()
                    .observe_with(probe, log_metrics("tickets"));
                (chunks, total)
            }
            JsonBy::Db => {
                let (slot, conn) = self.slot_and_conn(&selection).await?;
                let (total, rows) = selection
                    .counted_json_rows(conn, slot)
                    .await
                    .map_err(ApiError::internal)?;
                let (rows, probe) = self.counted(rows);
                let chunks = streamer
                    .json(chunkstream::raw::trusted(rows))
                    .spawn()
                    .observe_with(probe, log_metrics("tickets_db_json"));
                (chunks, total)
            }
        };
        respond(chunks, total).await
    }
}

/// The `503` for a download refused a slot, with the reason and the wait.
fn refuse(app: &App, refused: Refused) -> ApiError {
    let mut fields = serde_json::Map::new();
    fields.insert("reason".into(), refused.reason().into());
    let waited_ms = u64::try_from(refused.waited().as_millis()).unwrap_or(u64::MAX);
    fields.insert("waited_ms".into(), waited_ms.into());
    ApiError::overloaded(app.settings.retry_after_secs).with_fields(fields)
}

async fn list_ndjson(
    State(app): State<App>,
    Params(params): Params<ListParams>,
) -> Result<Response, ApiError> {
    let selection = Selection {
        status: params.status,
        after: params.after,
        limit: params.limit,
    };
    let streamer = app.ndjson.clone();
    app.list(streamer, selection, params.json.unwrap_or_default())
        .await
}

async fn summary(
    State(app): State<App>,
    Params(params): Params<SummaryParams>,
) -> Result<Response, ApiError> {
    let now = params.as_of.unwrap_or_else(unix_now);
    let selection = Selection {
        status: params.status,
        after: None,
        limit: params.limit,
    };
    let streamer = app.json.clone();
    let (rows, probe, total) = app.ticket_rows::<Ticket>(selection).await?;
    let chunks = streamer
        .stream_batch(rows, move |batch: Vec<Ticket>| {
            batch.iter().map(|ticket| summarize(ticket, now)).collect()
        })
        .spawn()
        .observe_with(probe, log_metrics("summary"));
    respond(chunks, total).await
}

/// The service's state: `"ok"`, `"queueing"` while every stream slot is taken, or
/// `"saturated"` while the queue is full too (a download would be refused at once).
fn health(app: &App) -> (bool, serde_json::Map<String, serde_json::Value>) {
    let admission = app.admission();
    let queueing = admission.active >= admission.max;
    let saturated = queueing && admission.waiting >= admission.queue_max;
    let status = match (saturated, queueing) {
        (true, _) => "saturated",
        (false, true) => "queueing",
        (false, false) => "ok",
    };
    let body = serde_json::json!({
        "status": status,
        "streams": { "active": admission.active, "max": admission.max },
        "admission": admission,
        "small_rows": app.settings.small_rows(),
        "memory": {
            "per_stream_bytes": app.settings.stream_memory(),
            "fixed_bytes": app.settings.fixed_memory(app.max_connections()),
        },
        "strategy": {
            "pool": flag(app.settings.pool),
            "encoder": flag(app.settings.encoder),
        },
        "db": {
            "connections": app.db.size(),
            "idle": app.db.num_idle(),
            "max": app.db.max_connections(),
        },
        "sqlite_readers": app.reader.as_ref().map(|r| serde_json::json!({
            "connections": r.size(),
            "idle": r.idle(),
            "max": r.max_size(),
        })),
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
