//! `?json=db`: the tickets with the JSON written by the database, over real HTTP (a real
//! axum server on 127.0.0.1 and reqwest), against real SQLite always and PostgreSQL when
//! `DATABASE_URL` is set (skipped, with a message on stderr, when it is not).
//!
//! Each check asks for the same parameters with and without `json=db` and compares the
//! parsed bodies value by value: the same field names, the same JSON types, integers
//! equal, floats equal (to 15 significant digits on SQLite, which writes no more).

use std::net::SocketAddr;
use std::sync::OnceLock;

use chunkstream_tickets::model::Ticket;
use chunkstream_tickets::{App, Settings, seed};
use serde_json::Value;

mod support;

/// Seeded tickets (about 9 MB of JSON: more than a stalled client's socket buffers take);
/// a few hand-made ones are added after them (see [`ODD_TICKETS`]).
const TICKETS: u64 = 20_000;

/// Tickets whose values stress the database's JSON: empty tags and empty tag segments,
/// quotes, backslashes, line breaks and non-ASCII text, a float that needs 17 digits,
/// nulls. Columns: id, title, description, status, assignee, tags, estimate_hours,
/// resolved_at.
#[allow(clippy::type_complexity)]
const ODD_TICKETS: &[(i64, &str, &str, &str, Option<&str>, &str, f64, Option<&str>)] = &[
    (
        30_001,
        "quote \" and backslash \\",
        "line\nbreak\ttab é ✓ 😀",
        "odd",
        None,
        "",
        0.1 + 0.2,
        None,
    ),
    (
        30_002,
        "commas, in, title",
        "",
        "odd",
        Some("zoë"),
        "a,,b,",
        1e-7,
        Some("2024-01-02T03:04:05Z"),
    ),
    (
        30_003,
        "one tag",
        "{\"not\":\"json\"}",
        "odd",
        Some(""),
        "tag \"quoted\"",
        12345.0,
        None,
    ),
];

#[derive(Clone, Debug)]
struct Db {
    url: String,
    sqlite: bool,
}

impl Db {
    fn sqlite() -> Db {
        static URL: OnceLock<String> = OnceLock::new();
        let url = URL.get_or_init(|| {
            let url = support::sqlite_url("chunkstream-dbjson-", "tickets");
            prepare(&url);
            url
        });
        Db {
            url: url.clone(),
            sqlite: true,
        }
    }

    fn postgres() -> Option<Db> {
        static URL: OnceLock<Option<String>> = OnceLock::new();
        URL.get_or_init(|| {
            let url = support::postgres_url("chunkstream_dbjson_tests")?;
            prepare(&url);
            Some(url)
        })
        .clone()
        .map(|url| Db { url, sqlite: false })
    }

    async fn app(&self, settings: Settings) -> App {
        App::open(&self.url, TICKETS, settings)
            .await
            .expect("open app")
    }
}

/// Seeds the database and adds [`ODD_TICKETS`], on a runtime of its own.
fn prepare(url: &str) {
    let url = url.to_owned();
    support::run_blocking(async move {
        let app = App::open(&url, TICKETS, Settings::default())
            .await
            .expect("seed");
        let odd: Vec<Ticket> = ODD_TICKETS
            .iter()
            .map(
                |&(id, title, description, status, assignee, tags, estimate_hours, resolved)| {
                    Ticket {
                        id,
                        title: title.to_owned(),
                        description: description.to_owned(),
                        status: status.to_owned(),
                        priority: "low".to_owned(),
                        assignee: assignee.map(str::to_owned),
                        reporter: "rita".to_owned(),
                        tags: tags.to_owned(),
                        project: "p".to_owned(),
                        component: "c".to_owned(),
                        sla_hours: 24,
                        estimate_hours,
                        comments: 0,
                        created_at: "2024-01-01T00:00:00Z".to_owned(),
                        updated_at: "2024-01-01T00:00:00Z".to_owned(),
                        resolved_at: resolved.map(str::to_owned),
                    }
                },
            )
            .collect();
        seed::insert(app.db(), odd)
            .await
            .expect("insert the odd tickets");
        app.db().close().await;
    });
}

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        support::backend_tests!(sqlite, Some(super::Db::sqlite()), $($name),*);
        support::backend_tests!(postgres, super::Db::postgres(), $($name),*);
    };
}

backends!(
    db_json_has_the_same_values_as_the_service_json,
    db_json_ndjson_has_the_same_values,
    db_json_empty_result_is_an_empty_body,
    db_json_rows_are_counted_and_release_their_slot,
    db_json_bad_value_is_a_400,
    db_json_stalled_reader_holds_its_slot_until_cut,
);

// ---------------------------------------------------------------------------------------
// Helpers.

async fn serve(app: &App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The status, the `X-Total-Count` and the body of `GET http://addr/path`.
async fn get(addr: SocketAddr, path: &str) -> (u16, Option<String>, String) {
    let response = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let total = response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, total, response.text().await.unwrap())
}

/// Whether two JSON values are the same: the same types and keys, integers equal,
/// floats equal (to 15 significant digits when `digits15`). A float the service wrote
/// may come back from the database as an integer literal of the same value
/// (PostgreSQL writes a float8 1.0 as `1`), but an integer must stay an integer.
fn same(service: &Value, db: &Value, digits15: bool) -> Result<(), String> {
    match (service, db) {
        (Value::Number(a), Value::Number(b)) => {
            if a.is_f64() {
                let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                let equal = if digits15 {
                    format!("{x:.14e}") == format!("{y:.14e}")
                } else {
                    x == y
                };
                return equal.then_some(()).ok_or(format!("float {a} != {b}"));
            }
            (a.as_i64().is_some() && a.as_i64() == b.as_i64())
                .then_some(())
                .ok_or(format!("integer {a} != {b}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "array lengths {} != {}: {service} vs {db}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, digits15).map_err(|e| format!("[{i}]: {e}"))?;
            }
            Ok(())
        }
        (Value::Object(a), Value::Object(b)) => {
            let (keys_a, keys_b): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
            if keys_a != keys_b {
                return Err(format!("keys {keys_a:?} != {keys_b:?}"));
            }
            for (key, x) in a {
                same(x, &b[key], digits15).map_err(|e| format!(".{key}: {e}"))?;
            }
            Ok(())
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{a} != {b}")),
    }
}

/// For each query (without `json=`), `path?query` and `path?query&json=db` answer with
/// the same status and `X-Total-Count`, and bodies that `parse` into the same values.
/// Returns the number of tickets compared.
async fn compare(
    db: &Db,
    addr: SocketAddr,
    path: &str,
    queries: &[&str],
    parse: fn(&str) -> Vec<Value>,
) -> usize {
    let mut compared = 0;
    for query in queries {
        let plain = format!("{path}?{query}");
        let by_db = if query.is_empty() {
            format!("{path}?json=db")
        } else {
            format!("{path}?{query}&json=db")
        };
        let (status, total, body) = get(addr, &plain).await;
        let (db_status, db_total, db_body) = get(addr, &by_db).await;
        assert_eq!(status, 200, "{plain}: {body}");
        assert_eq!(db_status, 200, "{by_db}: {db_body}");
        assert_eq!(total, db_total, "{by_db}: X-Total-Count");
        let (service, by_db_values) = (parse(&body), parse(&db_body));
        assert_eq!(
            total.as_deref().map(|t| t.parse::<usize>().unwrap()),
            Some(service.len()),
            "{plain}"
        );
        same(
            &Value::Array(service.clone()),
            &Value::Array(by_db_values),
            db.sqlite,
        )
        .unwrap_or_else(|err| panic!("{by_db}: {err}"));
        compared += service.len();
    }
    compared
}

fn db_in_use(app: &App) -> u32 {
    app.connections_in_use()
}

fn parse_array(body: &str) -> Vec<Value> {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("not a JSON array ({err}): {body}"))
}

fn parse_lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Tests.

/// Every ticket, a page, a status filter (with and without a limit) and the odd tickets
/// have the same values with `json=db` as without.
async fn db_json_has_the_same_values_as_the_service_json(db: Db) {
    let app = db.app(Settings::default()).await;
    let addr = serve(&app).await;
    let queries = [
        "",
        "limit=5",
        "status=blocked",
        "status=open&limit=40",
        "status=odd",
    ];
    let compared = compare(&db, addr, "/tickets", &queries, parse_array).await;
    let all = TICKETS as usize + ODD_TICKETS.len();
    assert!(compared > all, "{compared} tickets compared");

    // The odd tickets themselves, so the comparison above is known to have covered them.
    let (_, _, body) = get(addr, "/tickets?status=odd&json=db").await;
    let odd = parse_array(&body);
    assert_eq!(odd.len(), ODD_TICKETS.len());
    assert_eq!(odd[0]["tags"], serde_json::json!([]));
    assert_eq!(odd[1]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(odd[2]["tags"], serde_json::json!(["tag \"quoted\""]));
    assert_eq!(odd[0]["assignee"], Value::Null);
    assert_eq!(odd[0]["description"], "line\nbreak\ttab é ✓ 😀");
}

/// The same over `/tickets.ndjson`: one ticket per line, the same values.
async fn db_json_ndjson_has_the_same_values(db: Db) {
    let app = db.app(Settings::default()).await;
    let addr = serve(&app).await;
    let queries = ["", "limit=7", "status=resolved&limit=100", "status=odd"];
    let compared = compare(&db, addr, "/tickets.ndjson", &queries, parse_lines).await;
    assert!(compared > TICKETS as usize, "{compared} tickets compared");
}

/// No ticket matches: `[]` (and an empty NDJSON body) with `X-Total-Count: 0`, as
/// without `json=db`.
async fn db_json_empty_result_is_an_empty_body(db: Db) {
    let app = db.app(Settings::default()).await;
    let addr = serve(&app).await;
    for (path, empty) in [("/tickets", "[]"), ("/tickets.ndjson", "")] {
        for query in ["status=nonesuch", "limit=0"] {
            for json in ["", "&json=db"] {
                let url = format!("{path}?{query}{json}");
                let (status, total, body) = get(addr, &url).await;
                assert_eq!(status, 200, "{url}");
                assert_eq!(total.as_deref(), Some("0"), "{url}");
                assert_eq!(body, empty, "{url}");
            }
        }
    }
}

/// The database's rows go through the service's machinery: they are counted in
/// `rows_read`, and each download (larger than a small request) holds a stream slot
/// that it gives back, so with one slot, one download after another all succeed, each
/// admitted at once, and no slot is left taken.
async fn db_json_rows_are_counted_and_release_their_slot(db: Db) {
    let app = db
        .app(Settings {
            max_streams: Some(1),
            small_rows: Some(10),
            ..Settings::default()
        })
        .await;
    let addr = serve(&app).await;
    let before = app.rows_read();
    for _ in 0..3 {
        let (status, total, body) = get(addr, "/tickets?limit=25&json=db").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(total.as_deref(), Some("25"));
        assert_eq!(parse_array(&body).len(), 25);
        // The slot goes back when the response's stream is dropped, just after the
        // client has read its end: the next request, sent before that, would wait for
        // it (admitted, but not at once).
        assert!(
            support::eventually(|| app.streams() == (0, 1)).await,
            "{:?}",
            app.streams()
        );
    }
    assert_eq!(app.rows_read() - before, 75);
    assert_eq!(app.admission().admitted_at_once, 3);
}

/// `json=` takes `service` or `db`; anything else is a 400 that names the parameter.
async fn db_json_bad_value_is_a_400(db: Db) {
    let app = db.app(Settings::default()).await;
    let addr = serve(&app).await;
    let (status, _, body) = get(addr, "/tickets?json=xml").await;
    assert_eq!(status, 400, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["error"], "invalid_query", "{problem}");
    assert!(
        problem["message"].as_str().unwrap().contains("json"),
        "{problem}"
    );
    let (status, _, body) = get(addr, "/tickets?limit=3&json=service").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse_array(&body).len(), 3);
}

/// A client that stops reading a `json=db` download holds its stream slot and database
/// connection: with one slot and no queue wait, the next download (either kind) is a
/// `503` at once. After the stall limit the stream is cut, the slot and connection come
/// back while the client is still connected, and downloads work again.
async fn db_json_stalled_reader_holds_its_slot_until_cut(db: Db) {
    let app = db
        .app(Settings {
            max_streams: Some(1),
            small_rows: Some(1),
            queue_wait: std::time::Duration::ZERO,
            db_connections: 1,
            stall_timeout: std::time::Duration::from_millis(1500),
            ..Settings::default()
        })
        .await;
    let addr = serve(&app).await;
    let (stalled, status) = support::stalled_reader(addr, "/tickets?json=db").await;
    assert_eq!(status, 200);
    assert_eq!(app.streams(), (1, 1));
    for path in ["/tickets?limit=5&json=db", "/tickets?limit=5"] {
        let (status, _, body) = get(addr, path).await;
        if status == 200 {
            // Only possible once the stall limit has passed; then the slot must be free
            // (once this download's own stream is dropped, just after its end).
            let free = support::eventually(|| app.streams().0 == 0).await;
            assert!(free, "{path} got a slot that was taken");
            continue;
        }
        assert_eq!(status, 503, "{path}: {body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["error"], "overloaded", "{problem}");
    }
    let freed = support::eventually(|| app.streams().0 == 0 && db_in_use(&app) == 0).await;
    assert!(
        freed,
        "the stalled stream still holds {} slots and {} connections",
        app.streams().0,
        db_in_use(&app)
    );
    let (status, total, body) = get(addr, "/tickets?limit=5&json=db").await;
    assert_eq!((status, total.as_deref()), (200, Some("5")), "{body}");
    assert_eq!(parse_array(&body).len(), 5);
    drop(stalled);
}
