//! Items that are already JSON: `RawJson`, `Streamer::{stream_raw, stream_raw_validated,
//! spawn_raw, spawn_raw_validated}` and `sql::json_rows`.
//!
//! - `memory`: framing of every kind of raw item, independence from the encoder (raw
//!   bytes bypass it), validation and the errors that name the item's index.
//! - `sqlite` / `postgres` (with the `sqlx` feature): rows the database makes into JSON
//!   stream to the same values as the typed rows of the same table, through every raw
//!   entry point, and invalid JSON from the database is refused with its index. The
//!   PostgreSQL tests run against `DATABASE_URL`; without it they print why on stderr
//!   and return (they then check nothing).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use chunkstream::encode::{DefaultEncoder, SerdeJson};
use chunkstream::pool::{DefaultPool, NoPool};
use chunkstream::raw::InvalidJson;
use chunkstream::{
    BufferPool, ChunkConfig, ChunkStream, EncodeError, Encoder, RawJson, StreamError, Streamer,
    format::Json, source, transform,
};
use futures_util::StreamExt;
use serde_json::Value;

use common::{body, chunks, tickets};

const FORMATS: [Json; 2] = [
    chunkstream::format::Json::Array,
    chunkstream::format::Json::Ndjson,
];

/// A streamer with `encoder`, a pool of type `P`, and small chunks (so bodies span many).
fn streamer<P, E>(
    pool: impl FnOnce(chunkstream::PoolConfig) -> P,
    encoder: E,
    format: Json,
) -> Streamer<P, E, Json>
where
    P: BufferPool,
    E: Encoder,
{
    let config = ChunkConfig::with_sizes(1024, 512);
    let pool = Arc::new(pool(config.pool));
    Streamer::with_parts(config, pool, encoder)
        .unwrap()
        .with_format(format)
}

/// The four raw entry points, by name.
#[derive(Clone, Copy, Debug)]
enum Path {
    Stream,
    StreamValidated,
    Spawn,
    SpawnValidated,
}

const PATHS: [Path; 4] = [
    Path::Stream,
    Path::StreamValidated,
    Path::Spawn,
    Path::SpawnValidated,
];
const VALIDATING: [Path; 2] = [Path::StreamValidated, Path::SpawnValidated];

fn run<P, E, S, T, SE>(streamer: &Streamer<P, E, Json>, path: Path, source: S) -> ChunkStream
where
    P: BufferPool,
    E: Encoder,
    S: futures_util::Stream<Item = Result<T, SE>> + Send + 'static,
    T: Into<RawJson> + 'static,
    SE: Into<chunkstream::BoxError> + 'static,
{
    match path {
        Path::Stream => streamer.json(chunkstream::raw::trusted(source)),
        Path::StreamValidated => streamer.json(chunkstream::raw::validated(source)),
        Path::Spawn => streamer.json(chunkstream::raw::trusted(source)).spawn(),
        Path::SpawnValidated => streamer.json(chunkstream::raw::validated(source)).spawn(),
    }
}

/// The body `items` must make in `format`: the framing around the bytes as they are.
fn framed(format: Json, items: &[&[u8]]) -> Vec<u8> {
    match format {
        chunkstream::format::Json::Array => {
            [b"[".as_slice(), &items.join(b",".as_slice()), b"]"].concat()
        }
        _ => items
            .iter()
            .flat_map(|item| [*item, b"\n"].concat())
            .collect(),
    }
}

/// The values of a body: the array's elements, or one value per NDJSON line.
fn values(format: Json, body: &[u8]) -> Vec<Value> {
    match format {
        chunkstream::format::Json::Array => {
            match serde_json::from_slice(body).expect("body is JSON") {
                Value::Array(items) => items,
                other => panic!("not an array: {other}"),
            }
        }
        _ => body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("line is JSON"))
            .collect(),
    }
}

/// How exactly floats must agree.
#[derive(Clone, Copy, Debug)]
enum Floats {
    /// The same `f64`.
    Exact,
    /// The same to 15 significant digits (a relative difference of at most 1e-14): what
    /// SQLite's JSON functions write.
    #[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
    Digits15,
}

/// Values compared as a client reads them: numbers by numeric value (PostgreSQL writes a
/// `float8` 1.0 as `1`, serde_json as `1.0`; both are the number one), floats as
/// `floats` says.
fn same_value(a: &Value, b: &Value, floats: Floats) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), floats) {
            (Some(x), Some(y), _) => x == y,
            (_, _, Floats::Exact) => x.as_f64() == y.as_f64(),
            (_, _, Floats::Digits15) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-14 * x.abs().max(y.abs())
            }
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y, floats))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_value(x, y, floats)))
        }
        _ => a == b,
    }
}

fn assert_same_values(what: &str, raw: &[Value], typed: &[Value], floats: Floats) {
    assert_eq!(raw.len(), typed.len(), "{what}: item count");
    for (i, (raw, typed)) in raw.iter().zip(typed).enumerate() {
        assert!(
            same_value(raw, typed, floats),
            "{what}: item {i}:\n raw   {raw}\n typed {typed}"
        );
    }
}

/// The `InvalidJson` inside an error from a validating path, with the item's index.
fn invalid(err: &StreamError) -> (u64, &InvalidJson) {
    let StreamError::Encode {
        index,
        source: EncodeError::InvalidJson(invalid),
    } = err
    else {
        panic!("not a refused raw item: {err:?}");
    };
    (*index, invalid)
}

/// Reads a stream that must fail: the chunks before the error, and the error.
async fn failing(mut stream: ChunkStream) -> (Vec<Bytes>, StreamError) {
    let mut sent = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => sent.push(chunk),
            Err(err) => {
                assert!(stream.next().await.is_none(), "nothing after the error");
                return (sent, err);
            }
        }
    }
    panic!("the stream did not fail");
}

/// Checks what a body that failed at item `index` may hold: complete items only, all
/// before `index`, and (JSON array) no closing `]`.
fn assert_truncated_cleanly(format: Json, sent: &[Bytes], items: &[Vec<u8>], index: usize) {
    let body = sent.concat();
    let whole = framed(
        format,
        &items[..index].iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    match format {
        chunkstream::format::Json::Array => {
            // A prefix of the successful body of the items before the invalid one,
            // without the `]`.
            assert!(
                !body.ends_with(b"]"),
                "a failed array got its closing bracket"
            );
            assert!(
                whole.starts_with(&body),
                "sent bytes are not a prefix of the valid items"
            );
        }
        _ => {
            assert!(
                body.is_empty() || body.ends_with(b"\n"),
                "a partial NDJSON line"
            );
            assert!(
                whole.starts_with(&body),
                "sent bytes are not a prefix of the valid items"
            );
        }
    }
}

mod memory {
    use super::*;

    /// Raw items of every kind and size: all `From` conversions, whitespace kept, and
    /// tickets big enough to span several chunks.
    fn items() -> Vec<RawJson> {
        let mut items = vec![
            RawJson::from(r#"{"a":1}"#),
            RawJson::from(String::from(" [1, 2.50, 1e21] ")),
            RawJson::from(b"\"caf\xc3\xa9 \\u00e9\"".to_vec()),
            RawJson::from(Bytes::from_static(b"null")),
            RawJson::from(Box::<str>::from("-0.0")),
            RawJson::from(
                serde_json::value::RawValue::from_string("{\"b\" : [true]}".into()).unwrap(),
            ),
        ];
        items.extend(
            tickets(200)
                .iter()
                .map(|t| RawJson::from(serde_json::to_string(t).unwrap())),
        );
        items
    }

    fn bytes_of(items: &[RawJson]) -> Vec<&[u8]> {
        items.iter().map(RawJson::as_bytes).collect()
    }

    /// Every raw entry point frames the bytes as they are (not re-encoded: `2.50` and
    /// `1e21` and the spaces survive), in both formats, cut into chunks only between
    /// items.
    #[tokio::test]
    async fn items_are_framed_as_they_are() {
        let items = items();
        for format in FORMATS {
            let expected = framed(format, &bytes_of(&items));
            for path in PATHS {
                let streamer = streamer(NoPool::new, SerdeJson, format);
                let got = chunks(run(&streamer, path, source::from_iter(items.clone())))
                    .await
                    .unwrap();
                assert!(got.len() > 10, "{format:?} {path:?}: expected many chunks");
                assert_eq!(got.concat(), expected, "{format:?} {path:?}");
                if format == chunkstream::format::Json::Ndjson {
                    assert!(
                        got.iter().all(|c| c.ends_with(b"\n")),
                        "an item split across chunks"
                    );
                }
            }
        }
    }

    /// An empty source gives `[]` or an empty body, as on the typed path.
    #[tokio::test]
    async fn an_empty_source_gives_an_empty_body() {
        for format in FORMATS {
            for path in PATHS {
                let streamer = streamer(NoPool::new, SerdeJson, format);
                let got = body(run(
                    &streamer,
                    path,
                    source::from_iter(Vec::<RawJson>::new()),
                ))
                .await
                .unwrap();
                let empty: &[u8] = if format == chunkstream::format::Json::Array {
                    b"[]"
                } else {
                    b""
                };
                assert_eq!(got, empty, "{format:?} {path:?}");
            }
        }
    }

    /// The bytes of a raw body do not depend on the encoder: each enabled encoder (and the
    /// feature-selected default) writes the same body, byte for byte, while the typed
    /// path of the same values differs between encoders only in spelling.
    #[tokio::test]
    async fn raw_items_bypass_every_encoder() {
        let items = items();
        for format in FORMATS {
            let expected = framed(format, &bytes_of(&items));
            let mut bodies = vec![(
                "default",
                body(
                    streamer(DefaultPool::new, DefaultEncoder::default(), format)
                        .json(chunkstream::raw::trusted(source::from_iter(items.clone()))),
                )
                .await
                .unwrap(),
            )];
            bodies.push((
                "serde_json",
                body(
                    streamer(NoPool::new, SerdeJson, format)
                        .json(chunkstream::raw::trusted(source::from_iter(items.clone()))),
                )
                .await
                .unwrap(),
            ));
            #[cfg(feature = "encoder-simd-json")]
            bodies.push((
                "simd-json",
                body(
                    streamer(NoPool::new, chunkstream::encode::SimdJson, format)
                        .json(chunkstream::raw::trusted(source::from_iter(items.clone()))),
                )
                .await
                .unwrap(),
            ));
            #[cfg(feature = "encoder-sonic-rs")]
            bodies.push((
                "sonic-rs",
                body(
                    streamer(NoPool::new, chunkstream::encode::SonicRs, format)
                        .json(chunkstream::raw::trusted(source::from_iter(items.clone()))),
                )
                .await
                .unwrap(),
            ));
            for (name, got) in &bodies {
                assert_eq!(got, &expected, "{format:?} with {name}");
            }
            // And the same values as the typed path of the parsed items.
            let parsed: Vec<Value> = items
                .iter()
                .map(|item| serde_json::from_slice(item.as_bytes()).unwrap())
                .collect();
            let typed = body(
                Streamer::new(ChunkConfig::default())
                    .unwrap()
                    .with_format(format)
                    .stream(source::from_iter(parsed), transform::passthrough()),
            )
            .await
            .unwrap();
            assert_same_values(
                "raw vs typed",
                &values(format, &expected),
                &values(format, &typed),
                Floats::Exact,
            );
        }
    }

    /// Text that is not exactly one JSON value, each with the reason it must be refused.
    fn invalid_items() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("empty", b"".to_vec()),
            ("blank", b"  ".to_vec()),
            ("unclosed object", br#"{"a":1"#.to_vec()),
            ("two values", b"1 2".to_vec()),
            ("trailing comma", b"[1,]".to_vec()),
            ("unterminated string", br#""abc"#.to_vec()),
            ("raw newline in a string", b"\"a\nb\"".to_vec()),
            ("bare word", b"nul".to_vec()),
            ("NaN", b"NaN".to_vec()),
            ("single quotes", b"{'a':1}".to_vec()),
            ("not UTF-8", b"\"\xff\"".to_vec()),
            ("two items glued", br#"{"a":1},{"b":2}"#.to_vec()),
        ]
    }

    /// Every validating path refuses every kind of invalid text with the item's index,
    /// whether it comes first or after many chunks, and never streams it.
    #[tokio::test]
    async fn invalid_text_is_refused_with_its_index() {
        let valid: Vec<Vec<u8>> = tickets(100)
            .iter()
            .map(|t| serde_json::to_vec(t).unwrap())
            .collect();
        for (what, bad) in invalid_items() {
            for at in [0, 1, 57] {
                let mut items = valid.clone();
                items.insert(at, bad.clone());
                for format in FORMATS {
                    for path in VALIDATING {
                        let streamer = streamer(NoPool::new, SerdeJson, format);
                        let (sent, err) =
                            failing(run(&streamer, path, source::from_iter(items.clone()))).await;
                        let ctx = format!("{what} at {at}, {format:?} {path:?}");
                        let (index, reason) = invalid(&err);
                        assert_eq!(index, at as u64, "{ctx}: {err}");
                        assert!(
                            err.to_string().contains(&format!("item {at}")),
                            "{ctx}: {err}"
                        );
                        let utf8 = matches!(reason, InvalidJson::Utf8(_));
                        assert_eq!(utf8, what == "not UTF-8", "{ctx}: {reason}");
                        if at == 0 {
                            assert!(sent.is_empty(), "{ctx}: an error first must come alone");
                        }
                        if at == 57 {
                            assert!(!sent.is_empty(), "{ctx}: expected chunks before the error");
                        }
                        assert_truncated_cleanly(format, &sent, &items, at);
                    }
                }
            }
        }
    }

    /// A pretty-printed item is one valid JSON value, fine in an array; NDJSON cannot
    /// frame its line breaks, so the validating paths refuse it there, and the unchecked
    /// paths copy it as they are (they trust the caller).
    #[tokio::test]
    async fn ndjson_refuses_line_breaks_when_validating() {
        let pretty: &[u8] = b"{\n  \"id\": 2\r\n}";
        let items = vec![
            b"{\"id\":1}".to_vec(),
            pretty.to_vec(),
            b"{\"id\":3}".to_vec(),
        ];
        for path in VALIDATING {
            let array = streamer(NoPool::new, SerdeJson, chunkstream::format::Json::Array);
            let got = body(run(&array, path, source::from_iter(items.clone())))
                .await
                .unwrap();
            assert_eq!(values(chunkstream::format::Json::Array, &got).len(), 3);

            let ndjson = streamer(NoPool::new, SerdeJson, chunkstream::format::Json::Ndjson);
            let (sent, err) = failing(run(&ndjson, path, source::from_iter(items.clone()))).await;
            let (index, reason) = invalid(&err);
            assert_eq!(index, 1);
            assert!(
                matches!(reason, InvalidJson::LineBreak { offset: 1 }),
                "{reason}"
            );
            assert!(sent.is_empty());
        }
        let ndjson = streamer(NoPool::new, SerdeJson, chunkstream::format::Json::Ndjson);
        let trusted =
            body(ndjson.json(chunkstream::raw::trusted(source::from_iter(items.clone()))))
                .await
                .unwrap();
        let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        assert_eq!(trusted, framed(chunkstream::format::Json::Ndjson, &slices));
    }

    /// A source error still ends a raw stream as it ends a typed one.
    #[tokio::test]
    async fn a_source_error_ends_the_stream() {
        for path in PATHS {
            let streamer = streamer(NoPool::new, SerdeJson, chunkstream::format::Json::Array);
            let items = vec![Ok("1"), Err(std::io::Error::other("disk on fire")), Ok("3")];
            let (sent, err) =
                failing(run(&streamer, path, futures_util::stream::iter(items))).await;
            assert!(sent.is_empty(), "{path:?}");
            assert!(matches!(err, StreamError::Source(_)), "{path:?}: {err:?}");
        }
    }
}

#[cfg(feature = "sqlx")]
mod database {
    //! The same table in SQLite and PostgreSQL, streamed typed and as JSON the database
    //! makes.

    use std::io::Write as _;

    use chunkstream::sql;
    use sqlx::{Database, Pool};

    use super::*;

    /// Rows in each test's table: enough for many chunks.
    const ROWS: i64 = 1500;

    /// A row of the test table, typed.
    #[derive(Debug, serde::Serialize, sqlx::FromRow)]
    struct Ticket {
        id: i64,
        title: String,
        description: String,
        status: String,
        priority: i64,
        assignee: Option<String>,
        estimate_hours: f64,
        comments: i64,
    }

    const COLUMNS: &str =
        "id, title, description, status, priority, assignee, estimate_hours, comments";

    /// Deterministic rows with the text a JSON writer must escape (quotes, backslashes,
    /// newlines, tabs, control characters, non-ASCII, U+2028) and floats that print
    /// differently in each database (integral, tiny, huge).
    fn ticket(id: i64) -> Ticket {
        let n = id as usize;
        const FLOATS: [f64; 7] = [1.0, 0.25, 1e21, 1e-7, -2.5, 12.75, 0.1];
        Ticket {
            id,
            title: format!("Ticket #{id}: \"export\" stalls at C:\\tmp\\{id} — naïve café ☕"),
            description: format!(
                "line one\nline two\tend\u{1}\u{1f}; sep\u{2028}para\u{2029} </script> {}",
                "x".repeat(n % 50)
            ),
            status: ["open", "in_progress", "blocked", "closed"][n % 4].to_owned(),
            priority: (id % 5) - 1,
            assignee: (id % 7 != 0).then(|| ["alice", "bob", "chloé"][n % 3].to_owned()),
            estimate_hours: FLOATS[n % FLOATS.len()] * (1 + id % 9) as f64,
            comments: id * 1_000_003,
        }
    }

    /// Creates `$table` afresh in `$pool` (of database `$db`) and fills it with [`ROWS`]
    /// tickets. A macro: sqlx's `QueryBuilder` does not execute under generic bounds.
    macro_rules! seed {
        ($db:ty, $pool:expr, $table:expr, $create:expr) => {{
            let (pool, table, create) = ($pool, $table, $create);
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(pool)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE TABLE {table} ({create})"))
                .execute(pool)
                .await
                .unwrap();
            let ids: Vec<i64> = (1..=ROWS).collect();
            for chunk in ids.chunks(500) {
                let mut insert =
                    sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO {table} ({COLUMNS}) "));
                insert.push_values(chunk, |mut row, &id| {
                    let t = ticket(id);
                    row.push_bind(t.id)
                        .push_bind(t.title)
                        .push_bind(t.description)
                        .push_bind(t.status)
                        .push_bind(t.priority)
                        .push_bind(t.assignee)
                        .push_bind(t.estimate_hours)
                        .push_bind(t.comments);
                });
                insert.build().execute(pool).await.unwrap();
            }
        }};
    }

    /// The body of the typed path: rows decoded into `Ticket` and encoded by serde_json.
    async fn typed_body<DB>(pool: Pool<DB>, table: &str, format: Json) -> Vec<u8>
    where
        DB: Database,
        for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        Ticket: for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        let sql = format!("SELECT {COLUMNS} FROM {table} ORDER BY id");
        let rows = sql::rows_with(pool, sql, |pool, sql| {
            sqlx::query_as::<_, Ticket>(sql).fetch(pool)
        });
        let streamer = Streamer::new(ChunkConfig::default())
            .unwrap()
            .with_format(format);
        body(streamer.stream(rows, transform::passthrough()))
            .await
            .unwrap()
    }

    /// The rows of `sql` (one JSON text column) through `json_rows_with`.
    fn json_source<DB>(pool: Pool<DB>, sql: String) -> sql::Rows<RawJson>
    where
        DB: Database,
        for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        sql::json_rows_with(pool, sql, |pool, sql| {
            sqlx::query_scalar::<_, String>(sql).fetch(pool)
        })
    }

    /// Each raw path over `json_sql` gives the same values as the typed path, in both
    /// formats.
    async fn assert_raw_matches_typed<DB>(
        what: &str,
        pool: &Pool<DB>,
        table: &str,
        json_sql: &str,
        floats: Floats,
    ) where
        DB: Database,
        for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        Ticket: for<'r> sqlx::FromRow<'r, DB::Row>,
        (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        for format in FORMATS {
            let typed = values(format, &typed_body(pool.clone(), table, format).await);
            assert_eq!(typed.len(), ROWS as usize);
            for path in PATHS {
                let streamer = streamer(DefaultPool::new, DefaultEncoder::default(), format);
                let source = json_source(pool.clone(), json_sql.to_owned());
                let raw = body(run(&streamer, path, source)).await.unwrap();
                let ctx = format!("{what}, {format:?} {path:?}");
                assert_same_values(&ctx, &values(format, &raw), &typed, floats);
            }
        }
    }

    /// The validating paths refuse the row at 0-based index `at`, which `bad_sql` makes
    /// invalid, and the unchecked path streams it through (it trusts the database).
    async fn assert_invalid_row_refused<DB>(what: &str, pool: &Pool<DB>, bad_sql: &str, at: u64)
    where
        DB: Database,
        for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        for format in FORMATS {
            for path in VALIDATING {
                let streamer = streamer(DefaultPool::new, DefaultEncoder::default(), format);
                let source = json_source(pool.clone(), bad_sql.to_owned());
                let (sent, err) = failing(run(&streamer, path, source)).await;
                let ctx = format!("{what}, {format:?} {path:?}");
                let (index, reason) = invalid(&err);
                assert_eq!(index, at, "{ctx}: {err}");
                assert!(matches!(reason, InvalidJson::Syntax(_)), "{ctx}: {reason}");
                assert!(!sent.is_empty(), "{ctx}: expected chunks before the error");
                let body = sent.concat();
                assert!(!body.ends_with(b"]"), "{ctx}: a failed array got its `]`");
                // Only whole items before the bad one were sent.
                let sent_values = match format {
                    chunkstream::format::Json::Array => {
                        let mut closed = body.clone();
                        closed.push(b']');
                        values(format, &closed)
                    }
                    _ => values(format, &body),
                };
                assert!(sent_values.len() as u64 <= at, "{ctx}");
            }
        }
        // The unchecked path trusts the text: the bad row goes out as it is.
        let streamer = streamer(
            DefaultPool::new,
            DefaultEncoder::default(),
            chunkstream::format::Json::Ndjson,
        );
        let trusted = body(streamer.json(chunkstream::raw::trusted(json_source(
            pool.clone(),
            bad_sql.to_owned(),
        ))))
        .await
        .unwrap();
        let line = trusted.split(|&b| b == b'\n').nth(at as usize).unwrap();
        assert!(
            serde_json::from_slice::<Value>(line).is_err(),
            "{what}: the bad row"
        );
    }

    mod sqlite {
        use sqlx::sqlite::SqlitePoolOptions;

        use super::*;

        const CREATE: &str = "id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT \
                              NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL, \
                              assignee TEXT, estimate_hours REAL NOT NULL, comments INTEGER \
                              NOT NULL";

        /// The rows as JSON. SQLite's `json_object` writes a REAL with 15 significant
        /// digits (0.30000000000000004 becomes 0.3; `printf('%!.17g')` is no cure: its
        /// 17th digit is not always right), so floats are compared to 15 digits here.
        fn json_sql(table: &str) -> String {
            format!(
                "SELECT json_object('id', id, 'title', title, 'description', description, \
                 'status', status, 'priority', priority, 'assignee', assignee, \
                 'estimate_hours', estimate_hours, 'comments', comments) \
                 FROM {table} ORDER BY id"
            )
        }

        /// A file database in a temporary directory, seeded; the directory lives as
        /// long as the returned guard.
        async fn database() -> (sqlx::SqlitePool, tempfile::TempDir) {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("raw.db").display());
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect(&url)
                .await
                .unwrap();
            seed!(sqlx::Sqlite, &pool, "tickets", CREATE);
            (pool, dir)
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn json_rows_match_the_typed_rows() {
            let (pool, _dir) = database().await;
            let sql = json_sql("tickets");
            assert_raw_matches_typed(
                "sqlite json_object",
                &pool,
                "tickets",
                &sql,
                Floats::Digits15,
            )
            .await;
        }

        /// The same through sqlx's `Any` driver, as the tickets service opens it.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn json_rows_match_through_the_any_driver() {
            let (pool, dir) = database().await;
            pool.close().await;
            sqlx::any::install_default_drivers();
            let url = format!("sqlite://{}", dir.path().join("raw.db").display());
            let any = sqlx::AnyPool::connect(&url).await.unwrap();
            let sql = json_sql("tickets");
            for format in FORMATS {
                let raw = body(
                    streamer(DefaultPool::new, DefaultEncoder::default(), format).json(
                        chunkstream::raw::trusted(json_source(any.clone(), sql.clone())),
                    ),
                )
                .await
                .unwrap();
                let sqlite = sqlx::SqlitePool::connect(&url).await.unwrap();
                let typed = typed_body(sqlite, "tickets", format).await;
                assert_same_values(
                    "sqlite via Any",
                    &values(format, &raw),
                    &values(format, &typed),
                    Floats::Digits15,
                );
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn invalid_json_from_the_database_is_refused_with_its_index() {
            let (pool, _dir) = database().await;
            let bad = "SELECT CASE WHEN id = 1001 THEN '{\"id\": ' || id ELSE \
                       json_object('id', id, 'title', title) END FROM tickets ORDER BY id";
            assert_invalid_row_refused("sqlite", &pool, bad, 1000).await;
        }
    }

    mod postgres {
        use super::*;

        const CREATE: &str = "id BIGINT PRIMARY KEY, title TEXT NOT NULL, description TEXT \
                              NOT NULL, status TEXT NOT NULL, priority BIGINT NOT NULL, \
                              assignee TEXT, estimate_hours DOUBLE PRECISION NOT NULL, \
                              comments BIGINT NOT NULL";

        /// A pool on `DATABASE_URL` and `test`'s own table, seeded; `None` (after saying
        /// so on stderr) without `DATABASE_URL`.
        async fn database(test: &str) -> Option<(sqlx::PgPool, String)> {
            let Ok(url) = std::env::var("DATABASE_URL") else {
                // Straight to stderr, past the harness's capture, so the skip is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED database::postgres::{test}: DATABASE_URL is not set; \
                     nothing was checked against PostgreSQL"
                );
                return None;
            };
            let pool = sqlx::PgPool::connect(&url)
                .await
                .expect("connect to DATABASE_URL");
            let table = format!("chunkstream_raw_json_{test}");
            seed!(sqlx::Postgres, &pool, &table, CREATE);
            Some((pool, table))
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn row_to_json_matches_the_typed_rows() {
            let Some((pool, table)) = database("row_to_json").await else {
                return;
            };
            let sql = format!(
                "SELECT row_to_json(t)::text FROM (SELECT {COLUMNS} FROM {table}) t ORDER BY t.id"
            );
            assert_raw_matches_typed("postgres row_to_json", &pool, &table, &sql, Floats::Exact)
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn json_build_object_matches_the_typed_rows() {
            let Some((pool, table)) = database("json_build_object").await else {
                return;
            };
            let sql = format!(
                "SELECT json_build_object('id', id, 'title', title, 'description', \
                 description, 'status', status, 'priority', priority, 'assignee', assignee, \
                 'estimate_hours', estimate_hours, 'comments', comments)::text \
                 FROM {table} ORDER BY id"
            );
            assert_raw_matches_typed(
                "postgres json_build_object",
                &pool,
                &table,
                &sql,
                Floats::Exact,
            )
            .await;
        }

        /// The same through sqlx's `Any` driver, as the tickets service opens it.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn row_to_json_matches_through_the_any_driver() {
            let Some((pool, table)) = database("any_driver").await else {
                return;
            };
            sqlx::any::install_default_drivers();
            let url = std::env::var("DATABASE_URL").unwrap();
            let any = sqlx::AnyPool::connect(&url).await.unwrap();
            let sql = format!(
                "SELECT row_to_json(t)::text FROM (SELECT {COLUMNS} FROM {table}) t ORDER BY t.id"
            );
            for format in FORMATS {
                let raw = body(
                    streamer(DefaultPool::new, DefaultEncoder::default(), format).json(
                        chunkstream::raw::trusted(json_source(any.clone(), sql.clone())),
                    ),
                )
                .await
                .unwrap();
                let typed = typed_body(pool.clone(), &table, format).await;
                assert_same_values(
                    "postgres via Any",
                    &values(format, &raw),
                    &values(format, &typed),
                    Floats::Exact,
                );
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn invalid_json_from_the_database_is_refused_with_its_index() {
            let Some((pool, table)) = database("invalid").await else {
                return;
            };
            let bad = format!(
                "SELECT CASE WHEN id = 1001 THEN '{{\"id\": ' || id ELSE \
                 json_build_object('id', id, 'title', title)::text END FROM {table} ORDER BY id"
            );
            assert_invalid_row_refused("postgres", &pool, &bad, 1000).await;
        }
    }
}
