//! The database side of a request: connecting, the queries, and the rows of one query
//! over one connection that the response owns until it ends.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use chunkstream::{BoxError, RawJson, sqlite};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{ConnectOptions, Database};
use tokio::sync::mpsc;

use crate::seed::COLUMNS;

/// A pool of connections to the tickets database, through sqlx's typed driver for its
/// backend: SQLite, or PostgreSQL.
///
/// The typed pools decode rows without the dynamic conversion of sqlx's `Any` driver,
/// and read the service's rows faster than `AnyPool` does on both backends (the
/// `any_vs_typed` example measures it: paired rounds, their median ratio and spread).
///
/// A `Db` is a cheap handle, like the pool inside it: clones share the connections.
///
/// One difference from `Any`: sqlx's SQLite driver decodes a NULL into a field that is
/// not an `Option` as its empty value (`""`, `0`) instead of failing. The tickets table
/// declares every such column `NOT NULL`, so the service's rows never hold one.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use chunkstream_tickets::db::{Db, Dialect};
///
/// let db = Db::connect("sqlite::memory:", 1, Duration::from_secs(5)).await?;
/// assert_eq!(db.dialect(), Dialect::Sqlite);
/// db.execute("CREATE TABLE t (x INTEGER)").await?;
/// assert_eq!(db.execute("INSERT INTO t VALUES (1), (2)").await?, 2);
/// # Ok::<_, sqlx::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the typed pool inside any [`Db`] variant: the body
/// is written once and compiled for each backend.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Db {
    /// Opens a pool of at most `connections` connections to `url`, waiting at most
    /// `acquire_timeout` for a connection: PostgreSQL when the URL's scheme is
    /// `postgres:` or `postgresql:`, SQLite when it is `sqlite:`. sqlx's per-statement
    /// "slow statement" warnings are off (streams here are slow by design, when their
    /// client reads slowly); statements are logged at `DEBUG` under the `sqlx` target.
    ///
    /// # Errors
    ///
    /// sqlx's error when the URL is not understood (another scheme included) or the first
    /// connection fails.
    pub async fn connect(
        url: &str,
        connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Db, sqlx::Error> {
        fn options<DB: Database>(connections: u32, acquire_timeout: Duration) -> PoolOptions<DB> {
            PoolOptions::new()
                .max_connections(connections.max(1))
                .acquire_timeout(acquire_timeout)
        }
        fn logged<O: ConnectOptions>(options: O) -> O {
            options
                .log_slow_statements(tracing::log::LevelFilter::Off, Duration::MAX)
                .log_statements(tracing::log::LevelFilter::Debug)
        }
        match Dialect::of_url(url)? {
            Dialect::Sqlite => {
                let connect = logged(SqliteConnectOptions::from_str(url)?);
                let pool = options(connections, acquire_timeout).connect_with(connect);
                Ok(Db::Sqlite(pool.await?))
            }
            Dialect::Postgres => {
                let connect = logged(PgConnectOptions::from_str(url)?);
                let pool = options(connections, acquire_timeout).connect_with(connect);
                Ok(Db::Postgres(pool.await?))
            }
        }
    }

    /// The SQL dialect its connections speak.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement without parameters; returns the rows it changed.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        on_pool!(self, pool => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()))
    }

    /// Connections open now, idle or in use.
    pub fn size(&self) -> u32 {
        on_pool!(self, pool => pool.size())
    }

    /// Connections open and idle now.
    pub fn num_idle(&self) -> usize {
        on_pool!(self, pool => pool.num_idle())
    }

    /// Connections open at most.
    pub fn max_connections(&self) -> u32 {
        on_pool!(self, pool => pool.options().get_max_connections())
    }

    /// Closes the pool: waits for the connections in use to come back and closes them.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// A connection of the pool, waiting at most the pool's acquire timeout.
    ///
    /// # Errors
    ///
    /// sqlx's error; `sqlx::Error::PoolTimedOut` when every connection stayed in use.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }
}

/// A connection taken from a [`Db`] (or from the rusqlite pool beside it), back in its
/// pool when dropped.
#[derive(Debug)]
pub enum Conn {
    /// SQLite.
    Sqlite(PoolConnection<sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<sqlx::Postgres>),
    /// SQLite through rusqlite (see [`reader`](crate::reader)); `None` only if a count
    /// on it failed to give it back.
    Rusqlite(Option<sqlite::Connection>),
}

/// `$query` with a selection's parameters bound in the order its SQL numbers them (as
/// `reader::params` does for rusqlite): the status if any, the cursor (`after`) if any,
/// then the limit if any.
macro_rules! bind_selection {
    ($query:expr, $status:expr, $after:expr, $limit:expr) => {{
        let mut query = $query;
        if let Some(status) = $status {
            query = query.bind(status.clone());
        }
        if let Some(after) = $after {
            query = query.bind(after);
        }
        if let Some(limit) = $limit {
            query = query.bind(limit);
        }
        query
    }};
}

/// Runs `$body` with `$c` bound to the typed sqlx connection inside a [`Conn`], or
/// `$rusqlite` with `$r` bound to a rusqlite one.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr, $r:ident => $rusqlite:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
            Conn::Rusqlite($r) => $rusqlite,
        }
    };
}

/// A connection for one download: from `reader` (rusqlite) when there is one, else from
/// `db`'s pool; waiting at most the pool's acquire timeout.
///
/// # Errors
///
/// As [`Db::acquire`]; `sqlx::Error::PoolTimedOut` when every connection of either
/// pool stayed in use.
pub async fn acquire(db: &Db, reader: Option<&sqlite::Pool>) -> Result<Conn, sqlx::Error> {
    let Some(reader) = reader else {
        return db.acquire().await;
    };
    match reader.get().await {
        Ok(conn) => Ok(Conn::Rusqlite(Some(conn))),
        Err(sqlite::Error::Pool(_)) => Err(sqlx::Error::PoolTimedOut),
        Err(err) => Err(sqlx::Error::Configuration(err.into())),
    }
}

impl Conn {
    /// The SQL dialect it speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
            Conn::Rusqlite(_) => Dialect::Sqlite,
        }
    }
}

/// A lost rusqlite connection, as an error.
fn lost() -> BoxError {
    "the database connection was lost while counting".into()
}

/// Which SQL dialect a connection speaks, for the queries that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The dialect a database URL names by its scheme: `sqlite:`, or `postgres:` (also
    /// spelled `postgresql:`).
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream_tickets::db::Dialect;
    ///
    /// assert_eq!(Dialect::of_url("sqlite://tickets.db?mode=rwc")?, Dialect::Sqlite);
    /// assert_eq!(Dialect::of_url("postgres://u:pw@127.0.0.1/db")?, Dialect::Postgres);
    /// assert!(Dialect::of_url("mysql://127.0.0.1/db").is_err());
    /// # Ok::<_, sqlx::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `sqlx::Error::Configuration` naming the scheme, for any other scheme or none.
    pub fn of_url(url: &str) -> Result<Dialect, sqlx::Error> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            _ => Err(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL scheme {scheme:?} (the service speaks sqlite: \
                     and postgres:)"
                )
                .into(),
            )),
        }
    }

    /// One ticket row as JSON text, with the field names and types of
    /// [`Ticket`](crate::model::Ticket)'s `Serialize`: `tags` split on commas into an
    /// array (empty tags left out), absent `assignee` and `resolved_at` as `null`.
    ///
    /// SQLite splits `tags` by quoting it as one JSON string and turning each comma into
    /// `","`; only tags with an empty part (`a,,b`, a leading or trailing comma) take the
    /// slower path through `json_each` that drops the empty parts.
    ///
    /// The values are the same as the service's; the text may differ: PostgreSQL writes
    /// an `estimate_hours` of 1.0 as `1`, and SQLite writes it with 15 significant
    /// digits.
    pub fn ticket_json(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "json_object('id', id, 'title', title, 'description', description, \
                 'status', status, 'priority', priority, 'assignee', assignee, \
                 'reporter', reporter, 'tags', CASE WHEN tags = '' THEN json_array() \
                 WHEN instr(',' || tags || ',', ',,') = 0 \
                 THEN json('[' || replace(json_quote(tags), ',', '\",\"') || ']') \
                 ELSE json((SELECT json_group_array(value) FROM \
                 json_each('[' || replace(json_quote(tags), ',', '\",\"') || ']') \
                 WHERE value <> '')) END, 'project', project, 'component', component, \
                 'sla_hours', sla_hours, 'estimate_hours', estimate_hours, \
                 'comments', comments, 'created_at', created_at, 'updated_at', updated_at, \
                 'resolved_at', resolved_at)"
            }
            Dialect::Postgres => {
                "json_build_object('id', id, 'title', title, 'description', description, \
                 'status', status, 'priority', priority, 'assignee', assignee, \
                 'reporter', reporter, 'tags', \
                 to_json(array_remove(string_to_array(tags, ','), '')), \
                 'project', project, 'component', component, 'sla_hours', sla_hours, \
                 'estimate_hours', estimate_hours, 'comments', comments, \
                 'created_at', created_at, 'updated_at', updated_at, \
                 'resolved_at', resolved_at)::text"
            }
        }
    }
}

/// The queries of one list request: its rows and their count.
///
/// Parameters are numbered in the order they appear in the SQL (status, after, limit),
/// the order they are bound in: SQLite numbers `$N` by first appearance, PostgreSQL by
/// position, so one order serves both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only tickets with this status.
    pub status: Option<String>,
    /// Only tickets with an id greater than this (a page's cursor, or the last event a
    /// client saw).
    pub after: Option<i64>,
    /// At most this many tickets.
    pub limit: Option<u64>,
}

impl Selection {
    /// The limit as bound to the queries (no limit: the largest).
    pub(crate) fn limit_value(&self) -> i64 {
        self.limit
            .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
    }

    /// The `WHERE` clause for the status and the cursor, if any.
    fn filter(&self) -> String {
        let mut clauses = Vec::with_capacity(2);
        if self.status.is_some() {
            clauses.push(format!("status = ${}", clauses.len() + 1));
        }
        if self.after.is_some() {
            clauses.push(format!("id > ${}", clauses.len() + 1));
        }
        if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        }
    }

    /// The limit's parameter: the one after the filter's.
    fn limit_param(&self) -> String {
        let filters = usize::from(self.status.is_some()) + usize::from(self.after.is_some());
        format!("${}", filters + 1)
    }

    /// The rows, in id order.
    pub fn rows_sql(&self) -> String {
        format!(
            "SELECT {COLUMNS} FROM tickets{} ORDER BY id LIMIT {}",
            self.filter(),
            self.limit_param()
        )
    }

    /// The rows of [`rows_sql`](Selection::rows_sql), each as one JSON text made by the
    /// database in `dialect`.
    pub fn json_rows_sql(&self, dialect: Dialect) -> String {
        format!(
            "SELECT {} FROM tickets{} ORDER BY id LIMIT {}",
            dialect.ticket_json(),
            self.filter(),
            self.limit_param()
        )
    }

    /// The number of rows [`rows_sql`](Selection::rows_sql) returns. With a limit it
    /// stops counting at the limit, so a small page costs a small count.
    pub fn count_sql(&self) -> String {
        if self.limit.is_some() {
            format!(
                "SELECT COUNT(*) FROM (SELECT id FROM tickets{} LIMIT {}) AS page",
                self.filter(),
                self.limit_param()
            )
        } else {
            format!("SELECT COUNT(*) FROM tickets{}", self.filter())
        }
    }

    /// Counts the selected rows on `conn`.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn count(&self, conn: &mut Conn) -> Result<u64, BoxError> {
        let sql = self.count_sql();
        let n: i64 = on_conn!(conn, conn => {
            let limit = self.limit.is_some().then(|| self.limit_value());
            let query = sqlx::query_scalar::<_, i64>(&sql);
            bind_selection!(query, &self.status, self.after, limit)
                .fetch_one(&mut **conn)
                .await?
        }, slot => {
            let (back, n) = crate::reader::count(self, slot.take().ok_or_else(lost)?).await;
            *slot = back;
            return n;
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Streams the selected rows over `conn`, which the stream owns (with `guard`) until
    /// it ends or is dropped.
    pub fn rows<T, G>(self, conn: Conn, guard: G) -> BoxStream<'static, Result<T, BoxError>>
    where
        T: TicketRows,
        G: Send + Sync + 'static,
    {
        on_conn!(conn, conn => {
            let (after, limit) = (self.after, self.limit_value());
            let owned = (self.rows_sql(), self.status, guard);
            OwnedRows::new(conn, owned, move |conn, (sql, status, _guard)| {
                bind_selection!(sqlx::query_as::<_, T>(sql), status, after, Some(limit)).fetch(conn)
            })
            .map_err(BoxError::from)
            .boxed()
        }, conn => match conn {
            Some(conn) => crate::reader::rows(&self, conn, guard),
            None => futures_util::stream::once(async { Err(lost()) }).boxed(),
        })
    }

    /// The count of the selected rows and the stream of them over `conn`, owned as in
    /// [`rows`](Selection::rows). Through rusqlite both are read on the statement's
    /// thread in one read transaction: the count is of the rows that follow, whatever is
    /// written meanwhile, and the first rows are read while the response is made. Through
    /// sqlx, [`count`](Selection::count) and then the rows.
    ///
    /// # Errors
    ///
    /// The count's error.
    pub async fn counted_rows<T, G>(
        self,
        conn: Conn,
        guard: G,
    ) -> Result<(u64, BoxStream<'static, Result<T, BoxError>>), BoxError>
    where
        T: TicketRows,
        G: Send + Sync + 'static,
    {
        match conn {
            Conn::Rusqlite(conn) => {
                crate::reader::counted_rows(&self, conn.ok_or_else(lost)?, guard).await
            }
            mut conn => {
                let total = self.count(&mut conn).await?;
                Ok((total, self.rows(conn, guard)))
            }
        }
    }

    /// The count of the selected rows and the stream of them as the JSON text the
    /// database makes of each (see [`Dialect::ticket_json`]) over `conn`; otherwise as
    /// [`counted_rows`](Selection::counted_rows).
    ///
    /// # Errors
    ///
    /// The count's error.
    pub async fn counted_json_rows<G>(
        self,
        conn: Conn,
        guard: G,
    ) -> Result<(u64, BoxStream<'static, Result<RawJson, BoxError>>), BoxError>
    where
        G: Send + Sync + 'static,
    {
        let dialect = conn.dialect();
        let (total, conn) = match conn {
            Conn::Rusqlite(conn) => {
                let conn = conn.ok_or_else(lost)?;
                return crate::reader::counted_json_rows(&self, conn, guard).await;
            }
            mut conn => (self.count(&mut conn).await?, conn),
        };
        let rows = on_conn!(conn, conn => {
            let (after, limit) = (self.after, self.limit_value());
            let owned = (self.json_rows_sql(dialect), self.status, guard);
            OwnedRows::new(conn, owned, move |conn, (sql, status, _guard)| {
                bind_selection!(sqlx::query_scalar::<_, String>(sql), status, after, Some(limit)).fetch(conn)
            })
            .map_ok(RawJson::from)
            .map_err(BoxError::from)
            .boxed()
        }, _conn => futures_util::stream::once(async { Err(lost()) }).boxed());
        Ok((total, rows))
    }
}

/// The rows of one query on one owned connection: a `'static` source for a streamer.
///
/// The query runs in a future that owns the connection and sends each row through a
/// one-slot channel; polling the stream polls that future, so no task is spawned and
/// dropping the stream drops the query and returns the connection to its pool at once.
pub struct OwnedRows<T> {
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    rows: mpsc::Receiver<Result<T, sqlx::Error>>,
}

impl<T: Send + 'static> OwnedRows<T> {
    /// Runs the stream that `query` builds on `conn` and `owned` (the SQL text, the values
    /// to bind, anything to hold until the query ends), which the stream owns.
    pub fn new<DB, O, F>(conn: PoolConnection<DB>, owned: O, query: F) -> OwnedRows<T>
    where
        DB: Database,
        O: Send + Sync + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection, &'c O) -> BoxStream<'c, Result<T, sqlx::Error>>
            + Send
            + 'static,
    {
        let (tx, rx) = mpsc::channel(1);
        let driver = async move {
            let (mut conn, owned) = (conn, owned);
            let mut rows = query(&mut *conn, &owned);
            while let Some(row) = rows.next().await {
                let failed = row.is_err();
                if tx.send(row).await.is_err() || failed {
                    break;
                }
            }
        };
        OwnedRows {
            driver: Some(Box::pin(driver)),
            rows: rx,
        }
    }
}

impl<T> futures_util::Stream for OwnedRows<T> {
    type Item = Result<T, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(driver) = this.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            // The query is done; its sender is gone, so the receiver ends after the rows
            // still queued.
            this.driver = None;
        }
        this.rows.poll_recv(cx)
    }
}

impl<T> std::fmt::Debug for OwnedRows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedRows")
            .field("running", &self.driver.is_some())
            .finish()
    }
}

/// A type the rows of a [`Selection`] decode into, by every driver: sqlx's SQLite and
/// PostgreSQL rows and rusqlite's.
pub trait TicketRows:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + crate::reader::FromSqliteRow
    + Send
    + Unpin
    + 'static
{
}

impl<T> TicketRows for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + crate::reader::FromSqliteRow
        + Send
        + Unpin
        + 'static
{
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters are numbered in the order they appear and are bound: status, after,
    /// limit, whichever are present.
    #[test]
    fn parameters_are_numbered_in_order_of_appearance() {
        let sql = |status: bool, after: bool, limit: bool| {
            let selection = Selection {
                status: status.then(|| "open".to_owned()),
                after: after.then_some(10),
                limit: limit.then_some(5),
            };
            let rows = selection.rows_sql();
            let tail = rows
                .split_once(" FROM tickets")
                .map_or("", |(_, t)| t)
                .to_owned();
            (tail, selection.count_sql())
        };
        assert_eq!(sql(false, false, false).0, " ORDER BY id LIMIT $1");
        assert_eq!(
            sql(true, false, true).0,
            " WHERE status = $1 ORDER BY id LIMIT $2"
        );
        assert_eq!(
            sql(false, true, true).0,
            " WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let (rows, count) = sql(true, true, true);
        assert_eq!(rows, " WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3");
        assert_eq!(
            count,
            "SELECT COUNT(*) FROM (SELECT id FROM tickets WHERE status = $1 AND id > $2 \
             LIMIT $3) AS page"
        );
        assert_eq!(
            sql(true, true, false).1,
            "SELECT COUNT(*) FROM tickets WHERE status = $1 AND id > $2"
        );
    }
}
