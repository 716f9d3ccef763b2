//! Reading SQLite through rusqlite (`chunkstream::sqlite`), the service's default for
//! SQLite downloads: which driver reads SQLite, the read-only pool beside sqlx's, and the
//! count and rows of a selection on one of its connections.
//!
//! sqlx keeps everything else: PostgreSQL, the seeding and other writes, and SQLite
//! downloads when `--sqlite-driver sqlx` asks for them (to compare the two).

use chunkstream::BoxError;
use chunkstream::sqlite::rusqlite::types::Value;
use chunkstream::sqlite::rusqlite::{self, ParamsFromIter, Row, params_from_iter};
use chunkstream::sqlite::{self, Connection, Pool};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use crate::db::{Db, Selection};
use crate::model::Ticket;

/// Which driver reads the rows of SQLite downloads (`--sqlite-driver`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteDriver {
    /// rusqlite (`chunkstream::sqlite`): the statement runs on a blocking thread and
    /// hands rows over in batches (the default; `loadtest download` compares the two).
    #[default]
    Rusqlite,
    /// sqlx's SQLite driver, as PostgreSQL is read.
    Sqlx,
}

impl SqliteDriver {
    /// Its name, as `--sqlite-driver` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SqliteDriver::Rusqlite => "rusqlite",
            SqliteDriver::Sqlx => "sqlx",
        }
    }
}

/// The read-only rusqlite pool for `db`'s downloads: on the same file as its sqlx pool,
/// as many connections, the same wait for one. `None` when `driver` is sqlx, the
/// database is PostgreSQL, or SQLite in memory (a private database of each connection).
///
/// # Errors
///
/// When the file cannot be opened read-only.
pub fn open(db: &Db, driver: SqliteDriver) -> Result<Option<Pool>, BoxError> {
    let Db::Sqlite(pool) = db else {
        return Ok(None);
    };
    let path = pool.connect_options().get_filename().to_owned();
    if driver == SqliteDriver::Sqlx || path.as_os_str().is_empty() || path == *":memory:" {
        return Ok(None);
    }
    let options = pool.options();
    let reader = Pool::read_only(
        &path,
        options.get_max_connections(),
        options.get_acquire_timeout(),
    )
    .map_err(|err| format!("cannot open {} read-only: {err}", path.display()))?;
    Ok(Some(reader))
}

/// A row decoded by rusqlite, in the column order of the selection's queries.
pub trait FromSqliteRow: Sized {
    /// What the rows of one statement share while they are read, on its thread (for
    /// instance the buffer their text is copied into); `()` for nothing.
    type Reader: Default + Send + 'static;

    /// The value of `row`, read with the statement's `reader`.
    ///
    /// # Errors
    ///
    /// A column missing or of another type.
    fn from_sqlite_row(row: &Row<'_>, reader: &mut Self::Reader) -> rusqlite::Result<Self>;
}

impl FromSqliteRow for Ticket {
    type Reader = ();

    fn from_sqlite_row(row: &Row<'_>, (): &mut ()) -> rusqlite::Result<Ticket> {
        Ok(Ticket {
            id: row.get(0)?,
            title: row.get(1)?,
            description: row.get(2)?,
            status: row.get(3)?,
            priority: row.get(4)?,
            assignee: row.get(5)?,
            reporter: row.get(6)?,
            tags: row.get(7)?,
            project: row.get(8)?,
            component: row.get(9)?,
            sla_hours: row.get(10)?,
            estimate_hours: row.get(11)?,
            comments: row.get(12)?,
            created_at: row.get(13)?,
            updated_at: row.get(14)?,
            resolved_at: row.get(15)?,
        })
    }
}

/// The values of `selection`'s `$1`, `$2`, ... in order: the status if any, the cursor
/// (`after`) if any, then the limit if `limit` (SQLite numbers `$N` parameters by first
/// appearance).
fn params(selection: &Selection, limit: bool) -> ParamsFromIter<Vec<Value>> {
    let mut values = Vec::with_capacity(3);
    if let Some(status) = &selection.status {
        values.push(Value::Text(status.clone()));
    }
    if let Some(after) = selection.after {
        values.push(Value::Integer(after));
    }
    if limit {
        values.push(Value::Integer(selection.limit_value()));
    }
    params_from_iter(values)
}

/// Counts the selected rows on `conn`, on a blocking thread; gives the connection back.
pub(crate) async fn count(
    selection: &Selection,
    conn: Connection,
) -> (Option<Connection>, Result<u64, BoxError>) {
    let (sql, params) = (
        selection.count_sql(),
        params(selection, selection.limit.is_some()),
    );
    let counted = tokio::task::spawn_blocking(move || {
        let n = sqlite::count(&conn, &sql, params);
        (conn, n)
    })
    .await;
    match counted {
        Ok((conn, n)) => (Some(conn), n.map_err(BoxError::from)),
        Err(err) => (None, Err(err.into())),
    }
}

/// The selected rows on `conn`, decoded on the statement's thread; `guard` is held
/// until the statement has let go of the connection.
pub(crate) fn rows<T, G>(
    selection: &Selection,
    conn: Connection,
    guard: G,
) -> BoxStream<'static, Result<T, BoxError>>
where
    T: FromSqliteRow + Send + 'static,
    G: Send + 'static,
{
    decoded(selection, conn, guard)
        .map_err(BoxError::from)
        .boxed()
}

/// The selected rows on `conn` as `T`s, with the statement's reader.
fn decoded<T, G>(selection: &Selection, conn: Connection, guard: G) -> sqlite::Rows<T>
where
    T: FromSqliteRow + Send + 'static,
    G: Send + 'static,
{
    let params = params(selection, true);
    let mut reader = T::Reader::default();
    sqlite::rows(conn, selection.rows_sql(), params, move |row| {
        let _held = &guard;
        T::from_sqlite_row(row, &mut reader)
    })
}

/// The count of `selection` and its rows on `conn`, decoded on the statement's thread:
/// both read on that thread in one read transaction (the count is of the rows that
/// follow), the rows read ahead while the response is made; `guard` is held until the
/// statement has let go of the connection.
pub(crate) async fn counted_rows<T, G>(
    selection: &Selection,
    conn: Connection,
    guard: G,
) -> Result<(u64, BoxStream<'static, Result<T, BoxError>>), BoxError>
where
    T: FromSqliteRow + Send + 'static,
    G: Send + 'static,
{
    counted(selection, decoded(selection, conn, guard)).await
}

/// The count of `selection` and its rows as SQLite's JSON text, on `conn`; as
/// [`counted_rows`].
pub(crate) async fn counted_json_rows<G>(
    selection: &Selection,
    conn: Connection,
    guard: G,
) -> Result<
    (
        u64,
        BoxStream<'static, Result<chunkstream::RawJson, BoxError>>,
    ),
    BoxError,
>
where
    G: Send + 'static,
{
    let params = params(selection, true);
    let sql = selection.json_rows_sql(crate::db::Dialect::Sqlite);
    let rows = sqlite::rows(conn, sql, params, move |row| {
        let _held = &guard;
        row.get::<_, String>(0).map(chunkstream::RawJson::from)
    });
    counted(selection, rows).await
}

/// `rows` counted first with `selection`'s count, on the statement's thread.
async fn counted<T: Send + 'static>(
    selection: &Selection,
    rows: sqlite::Rows<T>,
) -> Result<(u64, BoxStream<'static, Result<T, BoxError>>), BoxError> {
    let count_params = params(selection, selection.limit.is_some());
    let (count, rows) = rows.counted(selection.count_sql(), count_params);
    let total = count.await?;
    Ok((total, rows.map_err(BoxError::from).boxed()))
}
