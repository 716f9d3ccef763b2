//! The tickets service as one client sees it: its own `App` with its default settings
//! (SQLite, seeded as the binary seeds it) served by its own `shutdown::serve` (its
//! socket settings), read over loopback HTTP by a real client, against the service as
//! it was (serde_json, SQLite read through sqlx, served by plain `axum::serve`: Nagle's
//! algorithm on), paired.

use std::net::SocketAddr;
use std::time::Duration;

use chunkstream::BoxError;
use chunkstream_benches::scenario::ChunksFactory;
use chunkstream_tickets::reader::SqliteDriver;
use chunkstream_tickets::strategy::EncoderKind;
use chunkstream_tickets::{App, Settings, seed, shutdown};

use crate::sources;

/// The service (as the `tickets` binary serves it) and the service as it was, each on a
/// port of its own, on a runtime shaped like the binary's (multi-threaded, a worker per
/// core), reading `tickets` tickets; dropping it stops both.
#[derive(Debug)]
pub(crate) struct Service {
    now: SocketAddr,
    before: SocketAddr,
    pub(crate) tickets: u64,
    client: reqwest::Client,
    _db: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Service {
    /// Seeds a fresh SQLite file with `tickets` tickets and starts both servers.
    pub(crate) fn start(tickets: u64) -> Result<Self, BoxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("lab-tickets")
            .enable_all()
            .build()?;
        let db = tempfile::tempdir()?;
        let file = db.path().join("tickets.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let (now, before) = runtime.block_on(async {
            let app = App::open(&url, tickets, Settings::default()).await?;
            let was = App::open(&url, tickets, Self::before()).await?;
            let (listener, was_listener) = (bind().await?, bind().await?);
            let (now, before) = (listener.local_addr()?, was_listener.local_addr()?);
            let forever = std::future::pending::<&'static str>();
            tokio::spawn(shutdown::serve(
                listener,
                app.router(),
                forever,
                Duration::ZERO,
            ));
            tokio::spawn(async move { axum::serve(was_listener, was.router()).await });
            Ok::<_, BoxError>((now, before))
        })?;
        Ok(Service {
            now,
            before,
            tickets,
            client: reqwest::Client::builder().no_gzip().build()?,
            _db: db,
            _runtime: runtime,
        })
    }

    /// The settings of the service as it was.
    pub(crate) fn before() -> Settings {
        Settings {
            encoder: EncoderKind::SerdeJson,
            sqlite_driver: SqliteDriver::Sqlx,
            ..Settings::default()
        }
    }

    /// Bodies of `GET path` from the service as it is (`now`) or as it was.
    pub(crate) fn client(&self, now: bool, path: &str) -> ChunksFactory {
        let addr = if now { self.now } else { self.before };
        sources::http_body(self.client.clone(), format!("http://{addr}{path}"))
    }

    /// The tickets a response of the first `limit` holds, as the reference values.
    pub(crate) fn expected(limit: u64) -> Result<serde_json::Value, BoxError> {
        let tickets: Vec<_> = (1..=limit as i64).map(seed::ticket).collect();
        Ok(serde_json::to_value(tickets)?)
    }
}
