//! Sources from sqlx: a query over an owned pool as a `'static` stream a handler can
//! return, row batches, rows the database already made into JSON ([`json_rows`]), and a
//! count for `X-Total-Count`.
//!
//! `sqlx::query_as(..).fetch(&pool)` borrows the pool, so its stream cannot leave the
//! handler that made it (axum#2156, sqlx#3887). [`rows`] takes the pool by value (a
//! `sqlx::Pool` is a cheap handle) and a closure that builds the query against it; the
//! returned [`Rows`] owns both, is `'static + Send`, and is a source for
//! [`Streamer::stream`](crate::Streamer::stream).
//!
//! Any sqlx database works through the same code: SQLite (embedded, the one the tickets
//! demo uses) and PostgreSQL are tested.
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use futures_util::TryStreamExt;
//! use chunkstream::{ChunkConfig, Streamer, sql, transform};
//!
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let rows = sql::rows(pool.clone(), |pool| {
//!     sqlx::query_as::<_, (i64, String)>("SELECT 1, 'one' UNION ALL SELECT 2, 'two'").fetch(pool)
//! });
//! let streamer = Streamer::new(ChunkConfig::default())?;
//! let body: Vec<u8> = streamer
//!     .stream(rows, transform::passthrough())
//!     .map_ok(|chunk| chunk.to_vec())
//!     .try_concat()
//!     .await?;
//! assert_eq!(body, br#"[[1,"one"],[2,"two"]]"#);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! In an axum handler the stream leaves the handler inside the response: see the crate
//! docs' handler example.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Database, Executor, FromRow, IntoArguments, Pool};

use crate::raw::RawJson;
use crate::source::{Batched, batched};
use crate::sync::lock;

/// A row of a [`Rows`] source, or the database error that ended it.
pub type RowResult<T> = Result<T, sqlx::Error>;

/// Streams the rows of the query that `query` builds against `pool`, owning the pool.
///
/// `query` is called once, on the first poll, with a reference to the pool the stream
/// owns; the query it returns may therefore borrow the pool (as `fetch(pool)` does) and
/// anything `'static` it captured. Bind values by value (`.bind(status)` with an owned
/// `String`); the SQL text must be `'static` (a literal), or see [`rows_with`] for SQL
/// built at run time.
///
/// The stream ends after the first error. Dropping it drops the query at once, and sqlx
/// returns the connection to the pool.
///
/// # Examples
///
/// See the [module docs](self).
pub fn rows<DB, T, F>(pool: Pool<DB>, query: F) -> Rows<T>
where
    DB: Database,
    T: Send + 'static,
    F: for<'p> FnOnce(&'p Pool<DB>) -> BoxStream<'p, RowResult<T>> + Send + 'static,
{
    rows_with(pool, (), move |pool, ()| query(pool))
}

/// Like [`rows`], with an owned value `owned` (typically the SQL text as a `String`, or
/// the values to bind) that the query may borrow for as long as it runs.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use futures_util::TryStreamExt;
///
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let sql = format!("SELECT {} AS n", 41 + 1);
/// let rows = chunkstream::sql::rows_with(pool, sql, |pool, sql| {
///     sqlx::query_scalar::<_, i64>(sql).fetch(pool)
/// });
/// let all: Vec<i64> = rows.try_collect().await?;
/// assert_eq!(all, [42]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn rows_with<DB, O, T, F>(pool: Pool<DB>, owned: O, query: F) -> Rows<T>
where
    DB: Database,
    O: Send + Sync + 'static,
    T: Send + 'static,
    F: for<'p> FnOnce(&'p Pool<DB>, &'p O) -> BoxStream<'p, RowResult<T>> + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let yielder = Yielder {
        slot: Arc::clone(&slot),
    };
    // The future owns the pool and `owned`, and the query's stream borrows them: a
    // self-referential state that only an `async` block can hold in safe Rust. Each row
    // is passed out through `slot`, and the block then yields once.
    let driver = async move {
        let (pool, owned) = (pool, owned);
        let mut stream = query(&pool, &owned);
        while let Some(row) = stream.next().await {
            let failed = row.is_err();
            yielder.send(row).await;
            if failed {
                break;
            }
        }
    };
    Rows {
        driver: Some(Box::pin(driver)),
        slot,
    }
}

/// Like [`rows`], grouped into batches of `size` rows (the last may be shorter): the
/// source for [`Streamer::stream_batch`](crate::Streamer::stream_batch), and the
/// successor of the Go package's `SQLBatchFetcher` / `ScanBatch`.
///
/// The rows read before an error come out as a short batch, then the error.
pub fn row_batches<DB, T, F>(
    pool: Pool<DB>,
    size: usize,
    query: F,
) -> Batched<Rows<T>, T, sqlx::Error>
where
    DB: Database,
    T: Send + 'static,
    F: for<'p> FnOnce(&'p Pool<DB>) -> BoxStream<'p, RowResult<T>> + Send + 'static,
{
    batched(rows(pool, query), size)
}

/// Streams rows that the database already made into JSON text, as trusted [`RawJson`]
/// items for any stream-making method ([`Streamer::json`](crate::Streamer::json), say;
/// wrap it in [`raw::validated`](crate::raw::validated) to check each row): the service
/// never decodes a row into a struct, and chunkstream copies the text into the body as
/// it is.
///
/// `query` selects one text column per row, the row's JSON, and decodes it as `String`
/// (or anything `Into<RawJson>`); otherwise as [`rows`]. The JSON comes from:
///
/// - SQLite: `SELECT json_object('id', id, 'title', title) FROM tickets ORDER BY id`;
/// - PostgreSQL: `SELECT row_to_json(t)::text FROM (SELECT id, title FROM tickets ORDER
///   BY id) t`, or `json_build_object('id', id, 'title', title)::text` (cast to `text`:
///   sqlx does not decode a `json` column as a `String`).
///
/// Each row is trusted to be one JSON value unless the stream validates it; see
/// [`raw`](crate::raw) for the trust model. The database decides how values are written,
/// so compare with the typed path by value, not by bytes:
///
/// - PostgreSQL writes a `float8` 1.0 as `1` (the same number; a strict client that
///   tells integers from floats sees the difference), and every float exactly;
/// - SQLite writes a REAL with 15 significant digits (0.30000000000000004 becomes 0.3):
///   keep floats that need all 17 digits on the typed path, or store them as integers;
///   it writes booleans as `0` and `1` (use `json(iif(done, 'true', 'false'))`).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use futures_util::TryStreamExt;
/// use chunkstream::{ChunkConfig, Streamer, sql};
///
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let rows = sql::json_rows(pool, |pool| {
///     sqlx::query_scalar::<_, String>(
///         "SELECT json_object('id', 1, 'title', 'one') UNION ALL \
///          SELECT json_object('id', 2, 'title', 'two')",
///     )
///     .fetch(pool)
/// });
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let body: Vec<u8> = streamer
///     .json(rows)
///     .map_ok(|chunk| chunk.to_vec())
///     .try_concat()
///     .await?;
/// assert_eq!(body, br#"[{"id":1,"title":"one"},{"id":2,"title":"two"}]"#);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn json_rows<DB, J, F>(pool: Pool<DB>, query: F) -> Rows<RawJson>
where
    DB: Database,
    J: Into<RawJson> + Send + 'static,
    F: for<'p> FnOnce(&'p Pool<DB>) -> BoxStream<'p, RowResult<J>> + Send + 'static,
{
    rows(pool, move |pool| query(pool).map_ok(Into::into).boxed())
}

/// Like [`json_rows`], with an owned value the query may borrow; see [`rows_with`].
pub fn json_rows_with<DB, O, J, F>(pool: Pool<DB>, owned: O, query: F) -> Rows<RawJson>
where
    DB: Database,
    O: Send + Sync + 'static,
    J: Into<RawJson> + Send + 'static,
    F: for<'p> FnOnce(&'p Pool<DB>, &'p O) -> BoxStream<'p, RowResult<J>> + Send + 'static,
{
    rows_with(pool, owned, move |pool, owned| {
        query(pool, owned).map_ok(Into::into).boxed()
    })
}

/// Runs `sql`, a query returning one integer (such as `SELECT COUNT(*) FROM t`), for the
/// `X-Total-Count` of a response.
///
/// # Errors
///
/// The database's error, or [`sqlx::Error::Decode`] if the count is negative.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// assert_eq!(chunkstream::sql::count(&pool, "SELECT 3").await?, 3);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn count<DB>(pool: &Pool<DB>, sql: &str) -> Result<u64, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
    u64::try_from(n).map_err(|err| sqlx::Error::Decode(Box::new(err)))
}

/// The source made by [`rows`], [`rows_with`]: the rows of a query, owning its pool.
///
/// `'static` and `Send`, so a handler can return it inside a response.
#[must_use = "streams do nothing unless polled"]
pub struct Rows<T> {
    /// Runs the query; `None` once it has finished.
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Where the driver leaves each row.
    slot: Arc<Mutex<Option<RowResult<T>>>>,
}

impl<T> fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("running", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Stream for Rows<T> {
    type Item = RowResult<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(driver) = this.driver.as_mut() else {
            return Poll::Ready(None);
        };
        let finished = driver.as_mut().poll(cx).is_ready();
        let row = lock(&this.slot).take();
        if finished {
            this.driver = None; // drops the query and the pool handle now
        }
        match row {
            Some(row) => Poll::Ready(Some(row)),
            None if finished => Poll::Ready(None),
            // The query registered the waker: it is waiting on the database.
            None => Poll::Pending,
        }
    }
}

/// The driver's end of the slot.
struct Yielder<T> {
    slot: Arc<Mutex<Option<RowResult<T>>>>,
}

impl<T> Yielder<T> {
    /// Leaves `row` in the slot and returns `Pending` once, so that [`Rows::poll_next`]
    /// hands it out before the driver reads the next one.
    async fn send(&self, row: RowResult<T>) {
        *lock(&self.slot) = Some(row);
        YieldOnce(false).await;
    }
}

/// Pending on its first poll (without waking: the caller is about to return a row and
/// will be polled again), ready on the second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}
