//! What can fail in an SQLite source.

use std::fmt;

/// An error of the [`sqlite`](crate::sqlite) sources and pool.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// SQLite's error: preparing or running the statement, or reading a row or a column
    /// (an interrupted statement included).
    Sqlite(rusqlite::Error),
    /// No connection came from the pool in time, or the pool could not be built.
    Pool(r2d2::Error),
    /// The thread that runs the statement could not be started, or it stopped before the
    /// statement ended (its runtime shutting down).
    Thread(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(err) => write!(f, "SQLite: {err}"),
            Error::Pool(err) => write!(f, "SQLite connection pool: {err}"),
            Error::Thread(err) => write!(f, "the SQLite statement's thread: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(err) => Some(err),
            Error::Pool(err) => Some(err),
            Error::Thread(err) => Some(err),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Sqlite(err)
    }
}

impl From<r2d2::Error> for Error {
    fn from(err: r2d2::Error) -> Self {
        Error::Pool(err)
    }
}
