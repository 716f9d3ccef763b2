//! The database side of a request: connecting, the queries, and the rows of one query
//! over one connection that the response owns until it ends.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::AnyConnection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions};
use tokio::sync::mpsc;

/// Opens a pool of at most `connections` connections to `url`, waiting at most
/// `acquire_timeout` for a connection. sqlx's per-statement "slow statement" warnings are
/// off (streams here are slow by design, when their client reads slowly); statements are
/// logged at `DEBUG` under the `sqlx` target.
///
/// # Errors
///
/// sqlx's error when the URL is not understood or the first connection fails.
pub async fn connect(
    url: &str,
    connections: u32,
    acquire_timeout: Duration,
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(url)?
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::MAX)
        .log_statements(tracing::log::LevelFilter::Debug);
    AnyPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
}

/// Whether `url` names a SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The ticket columns, in [`Ticket`](crate::model::Ticket) order.
const COLUMNS: &str = "id, title, description, status, priority, assignee, reporter, tags, \
     project, component, sla_hours, estimate_hours, comments, created_at, updated_at, resolved_at";

/// Which SQL dialect a connection speaks, for the queries that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The dialect of `conn`: SQLite, or PostgreSQL for any other backend.
    pub fn of(conn: &AnyConnection) -> Dialect {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Only tickets with this status.
    pub status: Option<String>,
    /// At most this many tickets.
    pub limit: Option<u64>,
}

impl Selection {
    fn limit(&self) -> i64 {
        self.limit
            .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
    }

    fn filter(&self) -> &'static str {
        if self.status.is_some() {
            " WHERE status = $1"
        } else {
            ""
        }
    }

    fn limit_param(&self) -> &'static str {
        if self.status.is_some() { "$2" } else { "$1" }
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
    pub async fn count(&self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        let sql = self.count_sql();
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        if let Some(status) = &self.status {
            query = query.bind(status.clone());
        }
        if self.limit.is_some() {
            query = query.bind(self.limit());
        }
        let n = query.fetch_one(conn).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Streams the selected rows over `conn`, which the stream owns (with `guard`) until
    /// it ends or is dropped.
    pub fn rows<T, G>(self, conn: PoolConnection<Any>, guard: G) -> OwnedRows<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin + 'static,
        G: Send + Sync + 'static,
    {
        let limit = self.limit();
        let owned = (self.rows_sql(), self.status, guard);
        OwnedRows::new(conn, owned, move |conn, (sql, status, _guard)| {
            let mut query = sqlx::query_as::<_, T>(sql);
            if let Some(status) = status {
                query = query.bind(status.clone());
            }
            query.bind(limit).fetch(conn)
        })
    }

    /// Streams the selected rows as the JSON text the database makes of each (see
    /// [`Dialect::ticket_json`]) over `conn`, owned as in [`rows`](Selection::rows).
    pub fn json_rows<G>(self, conn: PoolConnection<Any>, guard: G) -> OwnedRows<String>
    where
        G: Send + Sync + 'static,
    {
        let limit = self.limit();
        let owned = (self.json_rows_sql(Dialect::of(&conn)), self.status, guard);
        OwnedRows::new(conn, owned, move |conn, (sql, status, _guard)| {
            let mut query = sqlx::query_scalar::<_, String>(sql);
            if let Some(status) = status {
                query = query.bind(status.clone());
            }
            query.bind(limit).fetch(conn)
        })
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
    pub fn new<O, F>(conn: PoolConnection<Any>, owned: O, query: F) -> OwnedRows<T>
    where
        O: Send + Sync + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection, &'c O) -> BoxStream<'c, Result<T, sqlx::Error>>
            + Send
            + 'static,
    {
        let (tx, rx) = mpsc::channel(1);
        let driver = async move {
            let (mut conn, owned) = (conn, owned);
            let mut rows = query(&mut conn, &owned);
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
