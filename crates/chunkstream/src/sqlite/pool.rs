//! A small pool of read-only SQLite connections for streaming, on r2d2.
//!
//! r2d2 rather than an async pool: the connection is used on the statement's own thread,
//! which may as well wait for it there, and r2d2_sqlite opens connections with the flags
//! and start-up statements a read-only streaming connection needs.

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::OpenFlags;

use super::Error;

/// A connection taken from a [`Pool`], back in it when dropped.
pub type Connection = r2d2::PooledConnection<SqliteConnectionManager>;

/// A bounded pool of read-only connections to one SQLite file, in WAL mode so that
/// readers never block the writer nor each other.
///
/// A `Pool` is a cheap handle (clones share the connections), so a source can own one:
/// `sqlite::rows(pool.clone(), ...)` takes a connection on the statement's thread.
///
/// # Examples
///
/// See the [module docs](super).
#[derive(Clone, Debug)]
pub struct Pool {
    inner: r2d2::Pool<SqliteConnectionManager>,
}

impl Pool {
    /// Opens at most `max_size` read-only connections (at least 1) to the SQLite file at
    /// `path`, each waiting up to `acquire_timeout` for a lock (`busy_timeout`); a caller
    /// waits at most `acquire_timeout` for a free connection.
    ///
    /// The file must exist. If it is not in WAL mode yet, it is switched to it first
    /// (WAL is a setting of the file, kept by every later connection, and needs one
    /// writable connection to make).
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the file cannot be opened or switched to WAL mode;
    /// [`Error::Pool`] if the connections cannot be opened in time.
    pub fn read_only(
        path: impl AsRef<Path>,
        max_size: u32,
        acquire_timeout: Duration,
    ) -> Result<Pool, Error> {
        let path = path.as_ref();
        let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let writer =
            rusqlite::Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let mode: String = writer.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            writer.pragma_update(None, "journal_mode", "WAL")?;
        }
        drop(writer);
        let manager = SqliteConnectionManager::file(path)
            .with_flags(flags | OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_init(move |conn| conn.busy_timeout(acquire_timeout));
        let inner = r2d2::Pool::builder()
            .max_size(max_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(acquire_timeout)
            .build(manager)?;
        Ok(Pool { inner })
    }

    /// Wraps an r2d2 pool built another way (other flags, other start-up statements).
    pub fn from_r2d2(inner: r2d2::Pool<SqliteConnectionManager>) -> Pool {
        Pool { inner }
    }

    /// The r2d2 pool inside.
    pub fn r2d2(&self) -> &r2d2::Pool<SqliteConnectionManager> {
        &self.inner
    }

    /// A free connection, waiting at most the pool's acquire timeout.
    ///
    /// An idle connection is taken at once on the caller's task (r2d2's check-out: a
    /// short lock and its health check, an empty statement); only a wait for one goes
    /// to tokio's blocking pool, not the caller's task. Handing every `get` to the
    /// blocking pool and back cost a download two thread wake-ups before its first row.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] when every connection stayed in use that long (or a new one could
    /// not be opened).
    pub async fn get(&self) -> Result<Connection, Error> {
        if let Some(conn) = self.inner.try_get() {
            return Ok(conn);
        }
        let pool = self.inner.clone();
        match tokio::task::spawn_blocking(move || pool.get()).await {
            Ok(conn) => Ok(conn?),
            // The closure does not panic; a runtime shutting down cancels it.
            Err(err) => Err(Error::Thread(std::io::Error::other(err))),
        }
    }

    /// A free connection, waiting on this thread (at most the acquire timeout).
    ///
    /// # Errors
    ///
    /// As [`get`](Pool::get).
    pub fn get_blocking(&self) -> Result<Connection, Error> {
        Ok(self.inner.get()?)
    }

    /// Connections open at most.
    pub fn max_size(&self) -> u32 {
        self.inner.max_size()
    }

    /// Connections open now, idle or in use.
    pub fn size(&self) -> u32 {
        self.inner.state().connections
    }

    /// Connections open and idle now.
    pub fn idle(&self) -> u32 {
        self.inner.state().idle_connections
    }
}
