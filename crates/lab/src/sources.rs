//! The sources beyond memory: a tokio channel fed by a producer task, SQLite through
//! sqlx (a seeded file in a temporary folder), and an axum server on 127.0.0.1 read by
//! reqwest.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use chunkstream::{BoxError, ChunkStream};
use chunkstream_benches::peers::PeerKind;
use chunkstream_benches::scenario::{Chunks, ChunksFactory};
use chunkstream_benches::workload::Ticket;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::sync::mpsc;

/// Capacity of the channel between the producer task and the streamer.
pub(crate) const CHANNEL_CAPACITY: usize = 256;

/// A channel source: a task on the current runtime sends the items one by one into a
/// bounded tokio channel; the streamer reads it through `source::from_channels`.
pub(crate) fn channel<T: Sync>(
    items: &'static [T],
) -> impl Stream<Item = Result<&'static T, BoxError>> + Send + 'static {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
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

/// A seeded SQLite database in a temporary folder (removed on drop).
#[derive(Debug)]
pub(crate) struct Sqlite {
    /// The pool, leaked so row streams can be `'static`.
    pub(crate) pool: &'static SqlitePool,
    _dir: tempfile::TempDir,
}

const COLUMNS: &str = "id, project_id, title, description, status, priority, assignee, \
                       reporter, created_at, updated_at, estimate_hours, labels";

impl Sqlite {
    /// Creates `tickets.db` in a temporary folder with `tickets` as rows.
    pub(crate) async fn seed(tickets: &[Ticket]) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("tickets.db"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, \
             title TEXT NOT NULL, description TEXT NOT NULL, status TEXT NOT NULL, \
             priority TEXT NOT NULL, assignee TEXT NOT NULL, reporter TEXT NOT NULL, \
             created_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
             estimate_hours REAL NOT NULL, labels TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        let mut tx = pool.begin().await?;
        for t in tickets {
            sqlx::query(&format!(
                "INSERT INTO tickets ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(t.id)
            .bind(t.project_id)
            .bind(&t.title)
            .bind(&t.description)
            .bind(&t.status)
            .bind(&t.priority)
            .bind(&t.assignee)
            .bind(&t.reporter)
            .bind(&t.created_at)
            .bind(&t.updated_at)
            .bind(t.estimate_hours)
            .bind(&t.labels)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Sqlite {
            pool: Box::leak(Box::new(pool)),
            _dir: dir,
        })
    }

    /// Every ticket in `pool`, in id order, decoded from its row.
    pub(crate) fn rows(
        pool: &'static SqlitePool,
    ) -> impl Stream<Item = Result<Ticket, BoxError>> + Send + 'static {
        static QUERY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let query = QUERY.get_or_init(|| format!("SELECT {COLUMNS} FROM tickets ORDER BY id"));
        sqlx::query(query.as_str())
            .fetch(pool)
            .map(|row| Ok(decode(&row?)?))
    }
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<Ticket, sqlx::Error> {
    Ok(Ticket {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        title: row.try_get(2)?,
        description: row.try_get(3)?,
        status: row.try_get(4)?,
        priority: row.try_get(5)?,
        assignee: row.try_get(6)?,
        reporter: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        estimate_hours: row.try_get(10)?,
        labels: row.try_get(11)?,
    })
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

/// A server body serving a peer's body.
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
    base: String,
    client: reqwest::Client,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Serves `routes` (`/name` -> body) on an ephemeral port.
    pub(crate) fn start(routes: HashMap<String, BodyFactory>) -> Result<Self, BoxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lab-server")
            .enable_all()
            .build()?;
        let mut router = Router::new();
        for (name, make) in routes {
            router = router.route(
                &format!("/{name}"),
                get(move || {
                    let make = Arc::clone(&make);
                    async move { Response::new(make()).into_response() }
                }),
            );
        }
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        // TCP_NODELAY, as a production server sets it: without it, bodies written as many
        // small frames stall on Nagle's algorithm and the client's delayed ACKs.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        runtime.spawn(async move { axum::serve(listener, router).await });
        Ok(Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder().no_gzip().build()?,
            _runtime: runtime,
        })
    }

    /// A factory of client-side bodies: each call sends `GET /name` and streams the
    /// response body as it arrives.
    pub(crate) fn client(&self, name: &str) -> ChunksFactory {
        let url = format!("{}/{name}", self.base);
        let client = self.client.clone();
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
}
