//! SQLite through rusqlite: a query whose statement runs on a blocking thread and hands
//! its rows to the stream in bounded batches ([`rows`], [`encoded_rows`],
//! [`json_rows`]), a small pool of read-only connections ([`Pool`]), and a count for
//! `X-Total-Count`: on its own ([`count`]), or on the statement's thread just before the
//! rows, in one read transaction with them ([`Rows::counted`]).
//!
//! [`encoded_rows`] is the faster of the first two (a row is encoded on the statement's
//! thread while it is in that thread's cache, and no column needs a `String`). The
//! README's "Which SQLite source" compares them with sqlx's driver;
//! `reports/database.md` measures them.
//!
//! - **Backpressure.** At most a few batches wait between the statement and the stream
//!   ([`Rows`] says how many); when they are not taken (a slow client), the statement
//!   waits before reading its next row.
//! - **Stopping.** Dropping the stream (the client gone, [`ChunkStream::cancel_on`],
//!   [`ChunkStream::timeout`], the stall limit) interrupts the statement at once
//!   (`sqlite3_interrupt`) and releases the connection.
//! - **Errors.** A failing statement, row or column is the stream's last item (before
//!   the first row, its first: a server still answers with an error status); so is a
//!   value the encoder refuses in [`encoded_rows`] ([`Error::Encode`], naming the row);
//!   a panic in the row mapping becomes
//!   [`StreamError::Panicked`](crate::StreamError::Panicked).
//!
//! [`ChunkStream::cancel_on`]: crate::ChunkStream::cancel_on
//! [`ChunkStream::timeout`]: crate::ChunkStream::timeout
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use futures_util::TryStreamExt;
//! use chunkstream::{ChunkConfig, Streamer, sqlite};
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("tickets.db");
//! # let db = sqlite::rusqlite::Connection::open(&path)?;
//! # db.execute_batch("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
//! #     INSERT INTO tickets VALUES (1, 'one'), (2, 'two'), (3, 'three');")?;
//! #[derive(serde::Serialize)]
//! struct Ticket { id: i64, title: String }
//!
//! let pool = sqlite::Pool::read_only(&path, 4, Duration::from_secs(5))?;
//! let rows = sqlite::rows(
//!     pool,
//!     "SELECT id, title FROM tickets WHERE id <= ?1 ORDER BY id",
//!     (2,),
//!     |row| Ok(Ticket { id: row.get(0)?, title: row.get(1)? }),
//! );
//! let streamer = Streamer::new(ChunkConfig::default())?;
//! let body = streamer.json(rows).collect_bytes().await?;
//! assert_eq!(body, br#"[{"id":1,"title":"one"},{"id":2,"title":"two"}]"#[..]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod batch;
mod error;
mod pool;
mod rows;

pub use batch::RowJson;
pub use error::Error;
pub use pool::{Connection, Pool};
pub use rows::{Connect, Count, Rows, count, encoded_rows, json_rows, rows};

/// The rusqlite this module is built on, so that rows are mapped and parameters bound
/// with the same version.
pub use rusqlite;
