//! The rows of one statement, run on a blocking thread and handed to the stream in
//! bounded batches.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_core::Stream;
use rusqlite::{InterruptHandle, Params, Row};
use tokio::sync::{mpsc, oneshot};

use super::batch::{BATCH_ROWS, Batch, Json, Mapped, RowJson, encoding};
use super::{Connection, Error, Pool};
use crate::encode::Encoder;
use crate::raw::RawJson;
use crate::sync::lock;

/// Batches decoded and not yet taken by the stream, at most (the bound [`Rows`] states:
/// with the batch being filled and the one being read, `(BATCHES_AHEAD + 2) * BATCH_ROWS`).
const BATCHES_AHEAD: usize = 2;
/// How long a partial batch may wait for more rows once the stream has nothing left to
/// encode (the first row goes at once, for an early first byte and early errors, and so
/// does a row that took this long to come: a slow statement's rows are not held).
const HOLD: Duration = Duration::from_millis(1);

/// Where a statement's rows come from: a [`Pool`] (a connection is taken on the
/// statement's thread), a [`Connection`] already taken from one, or a plain
/// `rusqlite::Connection`.
pub trait Connect: Send + 'static {
    /// The connection the statement runs on, held until it ends.
    type Connection: std::ops::Deref<Target = rusqlite::Connection>;

    /// Takes or opens the connection; called on the statement's thread.
    ///
    /// # Errors
    ///
    /// When no connection can be had.
    fn connect(self) -> Result<Self::Connection, Error>;
}

impl Connect for Pool {
    type Connection = Connection;

    fn connect(self) -> Result<Connection, Error> {
        self.get_blocking()
    }
}

impl Connect for Connection {
    type Connection = Connection;

    fn connect(self) -> Result<Connection, Error> {
        Ok(self)
    }
}

impl Connect for rusqlite::Connection {
    type Connection = Box<rusqlite::Connection>;

    fn connect(self) -> Result<Self::Connection, Error> {
        Ok(Box::new(self))
    }
}

/// Streams the rows of `sql` with `params` bound, each made into a `T` by `map`, on
/// `conn` (a [`Pool`], a pooled [`Connection`] or a `rusqlite::Connection`, which the
/// stream owns until the statement ends).
///
/// Nothing runs until the stream is first polled; then the statement starts on a thread
/// of tokio's blocking pool (a thread of its own outside a tokio runtime), which decodes
/// the rows (`map` runs there) and hands them over in batches, a bounded number ahead of
/// the stream; the statement holds that thread until it ends. Dropping the stream
/// interrupts the statement and releases the connection. Once the stream has caught up,
/// rows that come within a millisecond of each other are gathered (one may wait for the
/// next to be read), and a row that took longer to come is handed over at once: a slow
/// statement's rows reach the stream, and `flush_interval`, one by one.
///
/// The stream ends after the first error. A panic in `map` resumes in the stream's
/// `poll_next`, where the streamer turns it into
/// [`StreamError::Panicked`](crate::StreamError::Panicked).
///
/// # Examples
///
/// See the [module docs](super).
pub fn rows<C, S, P, T, F>(conn: C, sql: S, params: P, map: F) -> Rows<T>
where
    C: Connect,
    S: AsRef<str> + Send + 'static,
    P: Params + Send + 'static,
    T: Send + 'static,
    F: FnMut(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    start(conn, sql, params, Mapped::new(map))
}

/// Streams the rows of `sql` with `params` bound as JSON encoded on the statement's
/// thread: `write` reads each row and hands its value to [`RowJson::encode`], which
/// encodes it with `encoder` (use the streamer's, `streamer.encoder().clone()`, for the
/// same bytes as [`rows`] would give) into a buffer shared by the batch. The stream
/// yields [`RawJson`] items for [`Streamer::json`](crate::Streamer::json) (trusted: the
/// encoder wrote them).
///
/// Against [`rows`] followed by the streamer's encoding, this reads and encodes a row
/// while its values are in the statement thread's cache, and the value may borrow the
/// row's text (`row.get_ref(i)?.as_str()?`), so no column needs a `String`; only
/// finished JSON crosses threads. The statement, its batches, backpressure, dropping,
/// interrupts and panics behave as in [`rows`]. A row for which `write` encodes nothing
/// is left out. A value the encoder refuses ends the stream with [`Error::Encode`] naming
/// the row (the streamer reports it as a source error).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Streamer, sqlite};
///
/// #[derive(serde::Serialize)]
/// struct Ticket<'r> {
///     id: i64,
///     title: &'r str, // borrowed from the row: no String
/// }
///
/// let db = sqlite::rusqlite::Connection::open_in_memory()?;
/// db.execute_batch(
///     "CREATE TABLE t (id INTEGER, title TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');",
/// )?;
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let rows = sqlite::encoded_rows(
///     db,
///     "SELECT id, title FROM t ORDER BY id",
///     [],
///     streamer.encoder().clone(),
///     |row, json| {
///         json.encode(&Ticket {
///             id: row.get(0)?,
///             title: row.get_ref(1)?.as_str()?,
///         })
///     },
/// );
/// let body = streamer.json(rows).collect_bytes().await?;
/// assert_eq!(body, br#"[{"id":1,"title":"one"},{"id":2,"title":"two"}]"#[..]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn encoded_rows<C, S, P, E, F>(
    conn: C,
    sql: S,
    params: P,
    encoder: E,
    write: F,
) -> Rows<RawJson>
where
    C: Connect,
    S: AsRef<str> + Send + 'static,
    P: Params + Send + 'static,
    E: Encoder + Send + 'static,
    F: FnMut(&Row<'_>, RowJson<'_, E>) -> Result<(), Error> + Send + 'static,
{
    start(conn, sql, params, Json::new(encoding(encoder, write)))
}

/// The stream of `sql`'s rows read into `batch` on the statement's thread.
fn start<C, S, P, B>(conn: C, sql: S, params: P, mut batch: B) -> Rows<B::Item>
where
    C: Connect,
    S: AsRef<str> + Send + 'static,
    P: Params + Send + 'static,
    B: Batch + 'static,
{
    let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
    let running = Arc::new(Mutex::new(Running::default()));
    let shared = Arc::clone(&running);
    let statement = move |counting: Option<Counting>| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            run(
                conn,
                sql.as_ref(),
                params,
                counting,
                &mut batch,
                &tx,
                &shared,
            )
        }));
        let last = match result {
            Ok(Ok(())) => Message::End,
            Ok(Err(err)) => Message::Failed(err),
            Err(panic) => Message::Panicked(panic),
        };
        // Nobody to tell if the stream is gone.
        let _ = tx.blocking_send(last);
    };
    Rows {
        start: Some(Box::new(statement)),
        rx,
        batch: Vec::new().into_iter(),
        running,
        done: false,
    }
}

/// Streams rows that SQLite already made into JSON text (`SELECT json_object('id', id,
/// ...) FROM ...`), as [`RawJson`] items for
/// [`Streamer::json`](crate::Streamer::json) (trusted): no row is decoded into a struct
/// and no value encoded. Otherwise as [`rows`]; see [`sql::json_rows`] for how SQLite
/// writes values (floats with 15 significant digits, booleans as `0` and `1`).
///
/// [`sql::json_rows`]: https://docs.rs/chunkstream/latest/chunkstream/sql/fn.json_rows.html
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Streamer, sqlite};
///
/// let db = sqlite::rusqlite::Connection::open_in_memory()?;
/// let rows = sqlite::json_rows(
///     db,
///     "SELECT json_object('id', 1, 'title', 'one') UNION ALL \
///      SELECT json_object('id', 2, 'title', 'two')",
///     [],
/// );
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let body = streamer.json(rows).collect_bytes().await?;
/// assert_eq!(body, br#"[{"id":1,"title":"one"},{"id":2,"title":"two"}]"#[..]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn json_rows<C, S, P>(conn: C, sql: S, params: P) -> Rows<RawJson>
where
    C: Connect,
    S: AsRef<str> + Send + 'static,
    P: Params + Send + 'static,
{
    // Each row's text copied into the batch's buffer: no String per row.
    let text = |row: &Row<'_>, out: &mut Vec<u8>, _: u64| {
        out.extend_from_slice(row.get_ref(0)?.as_str()?.as_bytes());
        Ok(true)
    };
    start(conn, sql, params, Json::new(text))
}

/// Runs `sql`, a query returning one integer (such as `SELECT COUNT(*) FROM t`), on
/// `conn`, for the `X-Total-Count` of a response. It blocks: call it on a blocking
/// thread (`tokio::task::spawn_blocking`).
///
/// # Errors
///
/// SQLite's error, or `rusqlite::Error::IntegralValueOutOfRange` if the count is
/// negative.
///
/// # Examples
///
/// ```
/// let db = chunkstream::sqlite::rusqlite::Connection::open_in_memory()?;
/// assert_eq!(chunkstream::sqlite::count(&db, "SELECT ?1 + 1", (2,))?, 3);
/// # Ok::<_, chunkstream::sqlite::Error>(())
/// ```
pub fn count(conn: &rusqlite::Connection, sql: &str, params: impl Params) -> Result<u64, Error> {
    let n: i64 = conn.query_row(sql, params, |row| row.get(0))?;
    u64::try_from(n).map_err(|_| Error::Sqlite(rusqlite::Error::IntegralValueOutOfRange(0, n)))
}

/// A count query with its parameters bound, run on the statement's connection.
type CountQuery = Box<dyn FnOnce(&rusqlite::Connection) -> Result<u64, Error> + Send>;

/// The count a [`Rows::counted`] statement runs first, and where its result goes.
struct Counting {
    count: CountQuery,
    to: oneshot::Sender<Result<u64, Error>>,
}

/// Sends `err` to the count (`to`); returns what the stream reports instead.
fn count_failed(to: oneshot::Sender<Result<u64, Error>>, err: Error) -> Error {
    // Nobody to tell if the count is no longer awaited.
    let _ = to.send(Err(err));
    Error::CountFailed
}

/// The count of a [`Rows::counted`] stream, from the statement's thread: a future of
/// the number [`count`] would give, or of the error that stopped it (the connection, the
/// count's SQL; [`Error::Thread`] if the thread stopped before it counted).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Count(oneshot::Receiver<Result<u64, Error>>);

impl Future for Count {
    type Output = Result<u64, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|counted| {
            counted.unwrap_or_else(|_| {
                let stopped = "the statement's thread stopped before it counted";
                Err(Error::Thread(std::io::Error::other(stopped)))
            })
        })
    }
}

/// What the statement's thread sends: rows, then exactly one of the others. A channel
/// that closes without one (the thread never ran: its runtime was shutting down) is an
/// error, never a complete result.
enum Message<T> {
    Rows(Vec<T>),
    End,
    Failed(Error),
    Panicked(Box<dyn Any + Send>),
}

/// Shared by the stream and its statement: whether the stream is gone, and how to
/// interrupt the statement while it holds its connection.
#[derive(Default)]
struct Running {
    stopped: bool,
    interrupt: Option<InterruptHandle>,
}

/// The statement's interrupt handle, registered while it holds its connection: dropped
/// (unregistered) before the connection goes back to its pool, so an interrupt never
/// reaches the connection's next user.
struct Registered<'a>(&'a Mutex<Running>);

impl<'a> Registered<'a> {
    /// `None` if the stream is already gone.
    fn new(running: &'a Mutex<Running>, handle: InterruptHandle) -> Option<Self> {
        let mut state = lock(running);
        if state.stopped {
            return None;
        }
        state.interrupt = Some(handle);
        Some(Registered(running))
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(self.0).interrupt = None;
    }
}

/// The statement's thread: connects, counts first if `counting` (in one read transaction
/// with the statement), runs the statement, sends the rows in batches.
fn run<C, P, B>(
    conn: C,
    sql: &str,
    params: P,
    counting: Option<Counting>,
    batch: &mut B,
    tx: &mpsc::Sender<Message<B::Item>>,
    running: &Mutex<Running>,
) -> Result<(), Error>
where
    C: Connect,
    P: Params,
    B: Batch,
{
    let conn = match conn.connect() {
        Ok(conn) => conn,
        Err(err) => {
            return Err(match counting {
                Some(counting) => count_failed(counting.to, err),
                None => err,
            });
        }
    };
    // Declared after `conn`, dropped before it (with the statement, dropped first).
    let Some(_registered) = Registered::new(running, conn.get_interrupt_handle()) else {
        return Ok(());
    };
    // The count and the rows read one snapshot: the transaction ends (rolled back:
    // nothing was written) after the statement, before the connection goes back.
    let _snapshot = match counting {
        Some(Counting { count, to }) => {
            let counted = conn
                .unchecked_transaction()
                .map_err(Error::from)
                .and_then(|snapshot| Ok((count(&snapshot)?, snapshot)));
            match counted {
                Ok((n, snapshot)) => {
                    // Not awaited: the rows may still be.
                    let _ = to.send(Ok(n));
                    Some(snapshot)
                }
                Err(err) => return Err(count_failed(to, err)),
            }
        }
        None => None,
    };
    // Cached on the connection: a pooled connection prepares a service's query once.
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    // Whether a batch was handed over yet; when the batch's first row was read, and the
    // last row read while the stream idled.
    let mut first = true;
    let (mut first_at, mut row_at) = (Instant::now(), Instant::now());
    let outcome = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break Ok(()),
            Err(err) => break Err(err.into()),
        };
        if batch.len() == 0 {
            first_at = Instant::now();
        }
        if let Err(err) = batch.push(row) {
            break Err(err);
        }
        if batch.len() == 0 {
            continue; // the row was left out
        }
        // Hand the batch over when full; or, when the stream has caught up (nothing
        // queued), if this is the very first row, the batch has waited `HOLD`, or this
        // row took `HOLD` to come (a slow statement: held, it would wait a whole gap).
        let hand_over = batch.len() >= BATCH_ROWS
            || (tx.capacity() == BATCHES_AHEAD && {
                let now = Instant::now();
                let slow = now.duration_since(row_at) >= HOLD;
                row_at = now;
                first || slow || now.duration_since(first_at) >= HOLD
            });
        if hand_over {
            first = false;
            if tx.blocking_send(Message::Rows(batch.take())).is_err() {
                return Ok(()); // the stream is gone
            }
        }
    };
    // The rows read before an error go out before it.
    if batch.len() > 0 && tx.blocking_send(Message::Rows(batch.take())).is_err() {
        return Ok(());
    }
    outcome
}

/// The source made by [`rows`], [`encoded_rows`] and [`json_rows`]: the rows of one statement, `'static`
/// and `Send`, so a handler can return it inside a response.
///
/// At most `2 + 2` batches of 256 rows are decoded and not yet encoded at any time; a
/// stream that is not read holds its statement there (the statement waits, and keeps
/// its connection, until the stream is read or dropped).
#[must_use = "streams do nothing unless polled"]
pub struct Rows<T> {
    /// Starts the statement's thread on the first poll (or at once: [`Rows::counted`]).
    start: Option<Box<dyn FnOnce(Option<Counting>) + Send>>,
    rx: mpsc::Receiver<Message<T>>,
    /// The rows of the batch being read.
    batch: std::vec::IntoIter<T>,
    running: Arc<Mutex<Running>>,
    done: bool,
}

impl<T> fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("started", &self.start.is_none())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<T> Rows<T> {
    /// Counts with `sql` (a query returning one integer, as [`count`] takes) before the
    /// first row, on the statement's connection and thread, in one read transaction with
    /// the statement: the count is of the rows the stream then reads, even while others
    /// write. For `X-Total-Count`, which goes out before the body.
    ///
    /// The statement's thread starts now rather than on the first poll: while the
    /// response is made around the count, the first batches are read. Against [`count`]
    /// on a thread of its own and then the stream, one thread is woken rather than two,
    /// and the rows are read while the response is made.
    ///
    /// When the count fails, [`Count`] is its error, and the stream's only item is
    /// [`Error::CountFailed`] (no row is read). Dropping the stream stops the statement
    /// as usual, the count included; dropping the [`Count`] does not stop the rows. A
    /// stream polled before it is counted cannot count first: its `Count` is an
    /// [`Error::Thread`] and the stream goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, sqlite};
    ///
    /// let db = sqlite::rusqlite::Connection::open_in_memory()?;
    /// db.execute_batch("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1), (2), (3);")?;
    /// let rows = sqlite::rows(db, "SELECT id FROM t WHERE id <= ?1", (2,), |row| {
    ///     row.get::<_, i64>(0)
    /// });
    /// let (count, rows) = rows.counted("SELECT COUNT(*) FROM t WHERE id <= ?1", (2,));
    /// assert_eq!(count.await?, 2); // before the body: a header
    /// let body = Streamer::new(ChunkConfig::default())?.json(rows).collect_bytes().await?;
    /// assert_eq!(body, b"[1,2]"[..]);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn counted<S, P>(mut self, sql: S, params: P) -> (Count, Rows<T>)
    where
        S: AsRef<str> + Send + 'static,
        P: Params + Send + 'static,
    {
        let (to, counted) = oneshot::channel();
        let Some(start) = self.start.take() else {
            let started = "the stream was polled before it was counted";
            let _ = to.send(Err(Error::Thread(std::io::Error::other(started))));
            return (Count(counted), self);
        };
        let counting = Counting {
            count: Box::new(move |conn| count(conn, sql.as_ref(), params)),
            to,
        };
        // On failure the count learns it from its dropped sender, the stream from its
        // closed channel: both report the thread.
        let _ = spawn(start, Some(counting));
        (Count(counted), self)
    }
}

// Nothing is pinned: rows are moved out of the batch, never borrowed across polls.
impl<T> Unpin for Rows<T> {}

impl<T> Stream for Rows<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(row) = this.batch.next() {
                return Poll::Ready(Some(Ok(row)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(start) = this.start.take()
                && let Err(err) = spawn(start, None)
            {
                this.done = true;
                return Poll::Ready(Some(Err(Error::Thread(err))));
            }
            match ready!(this.rx.poll_recv(cx)) {
                Some(Message::Rows(rows)) => this.batch = rows.into_iter(),
                Some(Message::Failed(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Some(Message::Panicked(panic)) => {
                    this.done = true;
                    resume_unwind(panic);
                }
                Some(Message::End) => this.done = true,
                None => {
                    this.done = true;
                    let stopped = std::io::Error::other("the statement's thread stopped early");
                    return Poll::Ready(Some(Err(Error::Thread(stopped))));
                }
            }
        }
    }
}

/// Runs the statement on tokio's blocking pool (its threads are reused, so a small
/// query pays no thread start), or on a thread of its own outside a runtime.
fn spawn(
    statement: Box<dyn FnOnce(Option<Counting>) + Send>,
    counting: Option<Counting>,
) -> std::io::Result<()> {
    let statement = move || statement(counting);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            drop(runtime.spawn_blocking(statement));
            Ok(())
        }
        Err(_) => std::thread::Builder::new()
            .name("chunkstream-sqlite".into())
            .spawn(statement)
            .map(drop),
    }
}

impl<T> Drop for Rows<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.running);
        state.stopped = true;
        // Under the lock: the statement cannot let go of its connection meanwhile.
        if let Some(handle) = &state.interrupt {
            handle.interrupt();
        }
    }
}
