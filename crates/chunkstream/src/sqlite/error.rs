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
    /// The count of a [`Rows::counted`](crate::sqlite::Rows::counted) stream failed: its
    /// error went to the [`Count`](crate::sqlite::Count), and no row was read.
    CountFailed,
    /// The encoder refused a row's value in [`encoded_rows`](crate::sqlite::encoded_rows)
    /// (a non-finite float, a map key that cannot be a string).
    Encode {
        /// The row's number in the statement's result, from 0.
        row: u64,
        /// What the encoder said.
        source: crate::EncodeError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(err) => write!(f, "SQLite: {err}"),
            Error::Pool(err) => write!(f, "SQLite connection pool: {err}"),
            Error::Thread(err) => write!(f, "the SQLite statement's thread: {err}"),
            Error::CountFailed => f.write_str("the count before the rows failed; no row was read"),
            Error::Encode { row, source } => write!(f, "row {row} cannot be encoded: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(err) => Some(err),
            Error::Pool(err) => Some(err),
            Error::Thread(err) => Some(err),
            Error::CountFailed => None,
            Error::Encode { source, .. } => Some(source),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Sqlite(err)
    }
}

/// A column read as the wrong type (`row.get_ref(i)?.as_str()?` in
/// [`encoded_rows`](crate::sqlite::encoded_rows)'s `write`).
impl From<rusqlite::types::FromSqlError> for Error {
    fn from(err: rusqlite::types::FromSqlError) -> Self {
        Error::Sqlite(err.into())
    }
}

impl From<r2d2::Error> for Error {
    fn from(err: r2d2::Error) -> Self {
        Error::Pool(err)
    }
}
