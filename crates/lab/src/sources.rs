//! The sources beyond memory: a tokio channel fed by a producer task, SQLite through
//! sqlx and rusqlite (one seeded file), PostgreSQL through sqlx (a seeded table on the
//! server `DATABASE_URL` names, the same rows), and an axum server on 127.0.0.1.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use chunkstream::sqlite::{self, rusqlite};
use chunkstream::{BoxError, ChunkStream};
use chunkstream_benches::peers::PeerKind;
use chunkstream_benches::scenario::{self, Chunks, ChunksFactory, Sample, Scenario, Streaming};
use chunkstream_benches::workload::Ticket;
use chunkstream_fixtures::bind_fields;
use chunkstream_fixtures::sql::{self, WORKLOAD_TICKETS};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::sync::mpsc;

use crate::harness::placement::Cpus;

/// A channel source: a task on the current runtime sends the items one by one into a
/// tokio channel of 256, read through `source::from_channels`.
pub(crate) fn channel<T: Sync>(
    items: &'static [T],
) -> impl Stream<Item = Result<&'static T, BoxError>> + Send + 'static {
    let (tx, rx) = mpsc::channel(256);
    let (_errors_tx, errors) = mpsc::channel::<BoxError>(1);
    tokio::spawn(async move {
        for item in items {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    chunkstream::source::from_channels(rx, errors)
}

/// The tickets table's columns, in the order of [`Ticket`]'s fields.
pub(crate) fn columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| sql::column_list(WORKLOAD_TICKETS))
}

/// Creates `table` with `tickets` as rows, in SQLite or PostgreSQL.
async fn seed_table<DB>(
    pool: &sqlx::Pool<DB>,
    table: &str,
    tickets: &[Ticket],
) -> Result<(), BoxError>
where
    DB: sql::SqlTypes,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    sqlx::query::<DB>(&sql::create_table::<DB>(table, WORKLOAD_TICKETS))
        .execute(pool)
        .await?;
    let rows = tickets.iter().cloned();
    sql::insert(
        pool,
        table,
        WORKLOAD_TICKETS,
        rows,
        ROWS_PER_INSERT,
        |q, t| {
            bind_fields!(q, t;
                id, project_id, title, description, status, priority, assignee, reporter,
                created_at, updated_at, estimate_hours, labels
            )
        },
        |_| (),
    )
    .await?;
    Ok(())
}

/// Rows per `INSERT` while seeding (12 parameters each, under either database's limit).
const ROWS_PER_INSERT: usize = 500;

/// `$ty` (a ticket) from a row of `SELECT {columns}`, each number read by
/// `$row.$get(i)` (sqlx's `try_get`, rusqlite's `get`) and each text by `$text(i)`.
macro_rules! ticket_from {
    ($ty:ident, $row:ident.$get:ident, $text:expr) => {{
        let text = $text;
        $ty {
            id: $row.$get(0)?,
            project_id: $row.$get(1)?,
            title: text(2)?,
            description: text(3)?,
            status: text(4)?,
            priority: text(5)?,
            assignee: text(6)?,
            reporter: text(7)?,
            created_at: text(8)?,
            updated_at: text(9)?,
            estimate_hours: $row.$get(10)?,
            labels: text(11)?,
        }
    }};
}

/// A ticket decoded from a row of `SELECT {columns}`, in either database.
fn decode<R>(row: &R) -> Result<Ticket, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ticket_from!(Ticket, row.try_get, |i| row.try_get(i)))
}

/// A ticket decoded by rusqlite from a row of `SELECT {columns}`.
fn decode_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Ticket> {
    Ok(ticket_from!(Ticket, row.get, |i| row.get(i)))
}

/// A ticket read from a row of `SELECT {columns}` and encoded by `json` on the
/// statement's thread, its text borrowed from the row (`sqlite::encoded_rows`).
fn encode_rusqlite<E: chunkstream::Encoder>(
    row: &rusqlite::Row<'_>,
    json: sqlite::RowJson<'_, E>,
) -> Result<(), sqlite::Error> {
    /// [`Ticket`]'s fields, in its order, with its text borrowed.
    #[derive(serde::Serialize)]
    struct TicketRef<'r> {
        id: i64,
        project_id: i64,
        title: &'r str,
        description: &'r str,
        status: &'r str,
        priority: &'r str,
        assignee: &'r str,
        reporter: &'r str,
        created_at: &'r str,
        updated_at: &'r str,
        estimate_hours: f64,
        labels: &'r str,
    }
    let text = |i: usize| -> rusqlite::Result<&str> { Ok(row.get_ref(i)?.as_str()?) };
    json.encode(&ticket_from!(TicketRef, row.get, text))
}

/// `SELECT {columns} FROM tickets ORDER BY id`.
fn tickets_query() -> &'static str {
    static QUERY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    QUERY.get_or_init(|| format!("SELECT {} FROM tickets ORDER BY id", columns()))
}

/// A seeded SQLite database in a temporary folder (removed on drop).
#[derive(Debug)]
pub(crate) struct Sqlite {
    /// The pool, leaked so row streams can be `'static`.
    pub(crate) pool: &'static SqlitePool,
    /// Read-only rusqlite connections to the same file (`chunkstream::sqlite`).
    pub(crate) rusqlite: sqlite::Pool,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    /// Creates `tickets.db` in a temporary folder with `tickets` as rows.
    pub(crate) async fn seed(tickets: &[Ticket]) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tickets.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        seed_table(&pool, "tickets", tickets).await?;
        let rusqlite = sqlite::Pool::read_only(path, 4, std::time::Duration::from_secs(10))?;
        Ok(Sqlite {
            pool: Box::leak(Box::new(pool)),
            rusqlite,
            _dir: dir,
        })
    }

    /// Every ticket in `pool`, in id order, decoded from its row.
    pub(crate) fn rows(
        pool: &'static SqlitePool,
    ) -> impl Stream<Item = Result<Ticket, BoxError>> + Send + 'static {
        sqlx::query(tickets_query())
            .fetch(pool)
            .map(|row| Ok(decode(&row?)?))
    }

    /// Every ticket in `pool`, in id order, decoded by rusqlite on the statement's
    /// thread (`chunkstream::sqlite::rows`).
    pub(crate) fn rusqlite_rows(
        pool: &sqlite::Pool,
    ) -> impl Stream<Item = Result<Ticket, BoxError>> + Send + 'static {
        sqlite::rows(pool.clone(), tickets_query(), [], decode_rusqlite).map_err(BoxError::from)
    }

    /// Every ticket in `pool`, in id order, as JSON encoded by `encoder` on the
    /// statement's thread (`chunkstream::sqlite::encoded_rows`).
    pub(crate) fn rusqlite_encoded<E: chunkstream::Encoder + Send + 'static>(
        pool: &sqlite::Pool,
        encoder: E,
    ) -> sqlite::Rows<chunkstream::RawJson> {
        sqlite::encoded_rows(pool.clone(), tickets_query(), [], encoder, encode_rusqlite)
    }
}

/// The PostgreSQL server from a `DATABASE_URL` value, or why there is none in words.
pub(crate) fn postgres_url(database_url: Option<String>) -> Result<String, String> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(url),
        Some(_) => Err("DATABASE_URL does not point to PostgreSQL".into()),
        None => Err("DATABASE_URL is not set".into()),
    }
}

/// A seeded table of tickets in PostgreSQL, named for the command and this process
/// (`lab_<label>_tickets_<pid>`), the same columns and rows as [`Sqlite`]'s; dropped by
/// [`Postgres::drop_table`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Postgres {
    /// The pool, leaked so row streams can be `'static`.
    pub(crate) pool: &'static PgPool,
    pub(crate) table: &'static str,
    /// `SELECT {columns} FROM table ORDER BY id`.
    select: &'static str,
}

impl Postgres {
    /// Seeds the table on the server `DATABASE_URL` names, or says why not.
    pub(crate) async fn from_env(tickets: &[Ticket], label: &str) -> Result<Self, String> {
        Postgres::from_url(std::env::var("DATABASE_URL").ok(), tickets, label).await
    }

    /// [`from_env`](Postgres::from_env) with `database_url` as the variable's value.
    async fn from_url(
        database_url: Option<String>,
        tickets: &[Ticket],
        label: &str,
    ) -> Result<Self, String> {
        let url = postgres_url(database_url)?;
        Postgres::seed(&url, tickets, label)
            .await
            .map_err(|e| format!("PostgreSQL not reachable: {e}"))
    }

    /// Creates (or recreates) `lab_<label>_tickets_<pid>` on the server at `url` with
    /// `tickets` as rows.
    pub(crate) async fn seed(url: &str, tickets: &[Ticket], label: &str) -> Result<Self, BoxError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        let table = format!("lab_{label}_tickets_{}", std::process::id());
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&pool)
            .await?;
        seed_table(&pool, &table, tickets).await?;
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&pool)
            .await?;
        let select = format!("SELECT {} FROM {table} ORDER BY id", columns());
        Ok(Postgres {
            pool: Box::leak(Box::new(pool)),
            table: Box::leak(table.into_boxed_str()),
            select: Box::leak(select.into_boxed_str()),
        })
    }

    /// Every ticket in the table, in id order, decoded from its row.
    pub(crate) fn rows(self) -> impl Stream<Item = Result<Ticket, BoxError>> + Send + 'static {
        sqlx::query(self.select)
            .fetch(self.pool)
            .map(|row| Ok(decode(&row?)?))
    }

    pub(crate) async fn drop_table(self) -> Result<(), BoxError> {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", self.table))
            .execute(self.pool)
            .await?;
        Ok(())
    }
}

/// Makes a response body on the server, per request.
pub(crate) type BodyFactory = Arc<dyn Fn() -> Body + Send + Sync>;

/// A server body serving a chunkstream (the `ChunkStream` is the HTTP body as is).
pub(crate) fn chunkstream_body(make: Arc<dyn Fn() -> ChunkStream + Send + Sync>) -> BodyFactory {
    Arc::new(move || Body::new(make()))
}

/// A server body serving `body`, encoded up front, as one `Bytes` (the HTTP limit).
pub(crate) fn fixed_body(body: bytes::Bytes) -> BodyFactory {
    Arc::new(move || Body::from(body.clone()))
}

pub(crate) fn peer_body<F, S, U, E>(peer: PeerKind, source: F) -> BodyFactory
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Stream<Item = Result<U, E>> + Send + 'static,
    U: serde::Serialize + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    Arc::new(move || peer.response(source()).into_body())
}

/// An axum server on 127.0.0.1 (its own one-worker runtime), serving one route per
/// contestant; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    /// The kept-alive client with Nagle's algorithm on; `None` with `TCP_NODELAY`.
    kept_alive: Option<reqwest::Client>,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// The CPUs a thread the server starts may run on (`None`: where it starts).
    started_on: Arc<Mutex<Option<Cpus>>>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Serves `routes` (`/name` -> body) on an ephemeral port, with `TCP_NODELAY` on
    /// every accepted connection when `nodelay` (as a production server sets it), or
    /// with Nagle's algorithm left on (as `axum::serve` leaves it).
    ///
    /// With `TCP_NODELAY`, every request opens a fresh connection
    /// ([`FreshConnections`]): a kept-alive connection on loopback settles in one of
    /// two states that last as long as it does (the HTTP limit of large items ran at
    /// about 4 or 8 GB/s from one row to the next), so a row's speed was a draw per
    /// connection (`reports/README.md`). Without it, connections are kept (reqwest's
    /// pool), as by the clients whose stall its rows show.
    pub(crate) fn start(
        routes: HashMap<String, BodyFactory>,
        nodelay: bool,
    ) -> Result<Self, BoxError> {
        // Every thread the server starts may run where this one may, even once this
        // one or the server's worker is bound to a CPU, until `place` says otherwise: a
        // thread starts with the set of the thread that made it.
        let started_on = Arc::new(Mutex::new(Cpus::of_this_thread().ok()));
        let cpus = Arc::clone(&started_on);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lab-server")
            .on_thread_start(move || {
                let cpus = *cpus.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(cpus) = cpus {
                    let _ = cpus.bind_this_thread();
                }
            })
            .enable_all()
            .build()?;
        let mut router = Router::new();
        for (name, make) in routes {
            let get = get(move || std::future::ready(Response::new(make()).into_response()));
            router = router.route(&format!("/{name}"), get);
        }
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        // Without TCP_NODELAY, bodies written a frame at a time stall on Nagle's
        // algorithm and the client's delayed ACKs.
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let listener = listener.tap_io(move |tcp| {
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.set_nodelay(nodelay);
        });
        runtime.spawn(async move { axum::serve(listener, router).await });
        let kept_alive = match nodelay {
            true => None,
            false => Some(reqwest::Client::builder().no_gzip().build()?),
        };
        Ok(Server {
            addr,
            kept_alive,
            accepted,
            started_on,
            runtime,
        })
    }

    /// A client of route `name`: each request sends `GET /name` and streams the
    /// response body as it arrives.
    pub(crate) fn client(&self, name: &str) -> Box<dyn Scenario> {
        let path = format!("/{name}");
        match &self.kept_alive {
            None => Box::new(FreshConnections {
                addr: self.addr,
                path,
                accepted: Arc::clone(&self.accepted),
                ready: Arc::default(),
            }),
            Some(client) => {
                let url = format!("http://{}{path}", self.addr);
                Box::new(Streaming(http_body(client.clone(), url)))
            }
        }
    }

    /// Places the server as for a client across the network: its worker thread, which
    /// accepts, serves and sends every response, bound to `cpu`, and the threads it
    /// starts later (the parallel path's encoding workers, on the blocking pool) kept
    /// off `client`'s CPU, free on the others. With two CPUs that leaves the workers the
    /// server's CPU alone, as a server of one core would have. Left free, they ran on
    /// the server's CPU in 98% of samples on an AMD EPYC and took the client's idle
    /// time on an Intel Xeon, so the parallel row measured the scheduler's placement.
    pub(crate) fn place(&self, cpu: usize, client: usize) -> std::io::Result<()> {
        let mut started_on = self.started_on.lock().unwrap_or_else(|p| p.into_inner());
        *started_on = started_on.map(|cpus| cpus.without(client));
        drop(started_on);
        let bind = self
            .runtime
            .spawn(async move { Cpus::only(cpu).bind_this_thread() });
        self.runtime.block_on(bind)?
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// The client of the server with `TCP_NODELAY`: each request on a connection of its
/// own, opened and accepted by the server before the request is timed
/// ([`Scenario::ready`]; a request nobody readied connects first), the body streamed as
/// it arrives (an error status is an error), then the connection closed with a reset
/// (`SO_LINGER` 0) rather than a FIN, which would leave the socket in TIME_WAIT for a
/// minute. A default run opens some 60,000 connections: closed the usual way, up to
/// 19,000 of them waited at once, expiring during the rows that follow (on a faster
/// machine they would near the 28,000 ephemeral ports).
///
/// Readied ahead, a connection's setup (the handshake, the server's accept) is not
/// timed with the download, as it was not when the lab kept one connection for a
/// whole run; a fresh connection's TCP start still is.
pub(crate) struct FreshConnections {
    addr: SocketAddr,
    path: String,
    /// The server's count of accepted connections.
    accepted: Arc<AtomicUsize>,
    ready: Arc<Mutex<VecDeque<Sender>>>,
}

/// A client connection's request half.
type Sender = hyper::client::conn::http1::SendRequest<Empty<bytes::Bytes>>;

impl FreshConnections {
    /// `GET path` on a readied connection, or on a new one.
    fn get(&self) -> Chunks {
        let (addr, path) = (self.addr, self.path.clone());
        let readied = self.ready.lock().ok().and_then(|mut r| r.pop_front());
        futures_util::stream::once(async move {
            let mut sender = match readied {
                Some(sender) => sender,
                None => connect(addr).await?,
            };
            let request = http::Request::get(path)
                .header(http::header::HOST, addr.to_string())
                .body(Empty::<bytes::Bytes>::new())?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(BoxError::from(format!("HTTP status {status}")));
            }
            Ok(response
                .into_body()
                .into_data_stream()
                .map_err(BoxError::from))
        })
        .try_flatten()
        .boxed()
    }
}

impl Scenario for FreshConnections {
    fn run(&mut self) -> BoxFuture<'static, Result<Sample, BoxError>> {
        scenario::drain(self.get()).boxed()
    }

    fn body(&mut self) -> BoxFuture<'static, Result<Vec<u8>, BoxError>> {
        scenario::collect(self.get()).boxed()
    }

    fn ready(&mut self, requests: u64) -> BoxFuture<'static, Result<(), BoxError>> {
        let (addr, ready) = (self.addr, Arc::clone(&self.ready));
        let accepted = Arc::clone(&self.accepted);
        async move {
            let opened = usize::try_from(requests)?;
            let target = accepted.load(Ordering::Relaxed) + opened;
            for _ in 0..opened {
                let sender = connect(addr).await?;
                ready
                    .lock()
                    .map_err(|_| "readied connections poisoned")?
                    .push_back(sender);
            }
            // The server accepts on its own thread: until it has, its accept would be
            // timed with the first request.
            let deadline = Instant::now() + Duration::from_secs(10);
            while accepted.load(Ordering::Relaxed) < target {
                if Instant::now() > deadline {
                    return Err("the server did not accept the readied connections".into());
                }
                tokio::task::yield_now().await;
            }
            Ok(())
        }
        .boxed()
    }
}

/// A connection to `addr` with `TCP_NODELAY`, to be closed with a reset, its hyper
/// client handshake done.
async fn connect(addr: SocketAddr) -> Result<Sender, BoxError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO))?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(ResetOnClose(TokioIo::new(tcp))).await?;
    // Ends once the body is read and `sender` is gone, closing the socket.
    tokio::spawn(connection);
    Ok(sender)
}

/// A socket whose end is left to its close, a reset (`SO_LINGER` 0): hyper shuts a
/// finished connection down first, and after that FIN the socket would wait out
/// TIME_WAIT all the same.
struct ResetOnClose(TokioIo<tokio::net::TcpStream>);

impl hyper::rt::Read for ResetOnClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ResetOnClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A factory of client-side bodies: each call sends `GET url` with `client` and streams
/// the response body as it arrives (an error status is an error).
pub(crate) fn http_body(client: reqwest::Client, url: String) -> ChunksFactory {
    Arc::new(move || -> Chunks {
        let request = client.get(&url).send();
        futures_util::stream::once(async move {
            let response = request.await?.error_for_status()?;
            Ok::<_, BoxError>(response.bytes_stream().map_err(BoxError::from))
        })
        .try_flatten()
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use chunkstream_benches::workload;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        crate::harness::matrix::runtime().expect("a tokio runtime")
    }

    #[test]
    fn a_placed_server_runs_its_worker_on_its_cpu_and_the_threads_it_starts_off_the_clients()
    -> Result<(), BoxError> {
        let all = Cpus::of_this_thread()?.list();
        let cpu = *all.last().ok_or("this thread may run on no CPU")?;
        let client = all[0];
        let server = Server::start(HashMap::new(), true)?;
        server.place(cpu, client)?;
        let on_server = server.runtime.spawn(async {
            let worker = Cpus::of_this_thread().map(|c| c.list());
            let started = tokio::task::spawn_blocking(|| Cpus::of_this_thread().map(|c| c.list()));
            (worker, started.await)
        });
        let (worker, started) = server.runtime.block_on(on_server)?;
        assert_eq!(worker?, [cpu]);
        let off_client: Vec<usize> = all.iter().copied().filter(|&c| c != client).collect();
        // With one CPU the client's is the server's: a started thread may run nowhere,
        // so binding it fails and it keeps the set it started with.
        match off_client.is_empty() {
            true => assert_eq!(started??, all),
            false => assert_eq!(started??, off_client),
        }
        Ok(())
    }

    #[test]
    fn with_tcp_nodelay_every_request_opens_readies_and_resets_a_connection_and_without_one_is_kept()
    -> Result<(), BoxError> {
        let rt = runtime();
        for (nodelay, connections) in [(true, 3), (false, 1)] {
            let body = bytes::Bytes::from_static(b"[1,2,3]");
            let routes = HashMap::from([("fixed".to_owned(), fixed_body(body.clone()))]);
            let server = Server::start(routes, nodelay)?;
            let mut get = server.client("fixed");
            // Sockets of earlier connections may wait on this port already (a listener
            // may take a port in TIME_WAIT).
            let port = server.addr.port();
            let waiting = sockets(port, Some(TIME_WAIT))?;
            // One request unreadied, then two readied: with TCP_NODELAY the server has
            // accepted their connections before they are sent, and they are used.
            assert_eq!(rt.block_on(get.body())?, body);
            rt.block_on(get.ready(2))?;
            assert_eq!(server.accepted(), connections, "nodelay {nodelay}");
            for _ in 0..2 {
                assert_eq!(rt.block_on(get.body())?, body);
            }
            assert_eq!(server.accepted(), connections, "nodelay {nodelay}");
            if nodelay {
                // Runs the client's connection tasks until they end: until every socket
                // of the port is gone or waiting out TIME_WAIT (bar the listener).
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while sockets(port, Some(TIME_WAIT))? + 1 < sockets(port, None)? {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "connections stay open"
                    );
                    rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
                }
                // Each connection was reset, not closed: none waits out TIME_WAIT.
                assert!(sockets(port, Some(TIME_WAIT))? <= waiting);
            }
        }
        Ok(())
    }

    /// The TCP state TIME_WAIT in `/proc/net/tcp`.
    const TIME_WAIT: &str = "06";

    /// Sockets with `port` at either end in `state` (any state for `None`), from
    /// Linux's `/proc/net/tcp`.
    fn sockets(port: u16, state: Option<&str>) -> Result<usize, BoxError> {
        let table = std::fs::read_to_string("/proc/net/tcp")?;
        let port = format!(":{port:04X}");
        Ok(table
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 3 && state.is_none_or(|state| f[3] == state))
            .filter(|f| f[1].ends_with(&port) || f[2].ends_with(&port))
            .count())
    }

    #[test]
    fn without_a_postgres_url_the_reason_is_given_in_words() {
        assert_eq!(
            postgres_url(None),
            Err("DATABASE_URL is not set".to_owned())
        );
        assert_eq!(
            postgres_url(Some("sqlite://tickets.db".into())),
            Err("DATABASE_URL does not point to PostgreSQL".to_owned())
        );
        for url in ["postgres://u@127.0.0.1/db", "postgresql://u@127.0.0.1/db"] {
            assert_eq!(postgres_url(Some(url.into())), Ok(url.to_owned()));
        }
        let tickets = workload::tickets(3);
        let rt = runtime();
        let missing = rt.block_on(Postgres::from_url(None, &tickets, "test_missing"));
        assert_eq!(missing.err().as_deref(), Some("DATABASE_URL is not set"));
        // Port 1 on the loopback: nothing listens there, the connection is refused.
        let unreachable = rt.block_on(Postgres::from_url(
            Some("postgres://lab@127.0.0.1:1/none".into()),
            &tickets,
            "test_unreachable",
        ));
        let why = unreachable.err().unwrap_or_default();
        assert!(why.starts_with("PostgreSQL not reachable: "), "{why}");
    }

    #[test]
    fn sqlite_yields_the_seeded_tickets_through_sqlx_and_rusqlite() -> Result<(), BoxError> {
        // More rows than one INSERT takes: the seeding spans statements.
        let tickets = workload::tickets(ROWS_PER_INSERT + 7);
        runtime().block_on(async {
            let sqlite = Sqlite::seed(&tickets).await?;
            let sqlx: Vec<Ticket> = Sqlite::rows(sqlite.pool).try_collect().await?;
            let rusqlite: Vec<Ticket> = Sqlite::rusqlite_rows(&sqlite.rusqlite)
                .try_collect()
                .await?;
            assert_eq!(sqlx, tickets);
            assert_eq!(rusqlite, tickets);
            Ok(())
        })
    }

    #[test]
    fn postgres_yields_the_same_tickets_as_sqlite() -> Result<(), BoxError> {
        let url = match postgres_url(std::env::var("DATABASE_URL").ok()) {
            Ok(url) => url,
            Err(why) => {
                eprintln!("skipped: {why} (PostgreSQL tickets not compared)");
                return Ok(());
            }
        };
        let tickets = workload::tickets(300);
        runtime().block_on(async {
            let sqlite = Sqlite::seed(&tickets).await?;
            let pg = Postgres::seed(&url, &tickets, "test_same").await?;
            let from_sqlite: Vec<Ticket> = Sqlite::rows(sqlite.pool).try_collect().await?;
            let from_pg: Result<Vec<Ticket>, BoxError> = pg.rows().try_collect().await;
            pg.drop_table().await?;
            let from_pg = from_pg?;
            assert_eq!(from_sqlite, tickets);
            assert_eq!(from_pg, from_sqlite);
            Ok(())
        })
    }
}
