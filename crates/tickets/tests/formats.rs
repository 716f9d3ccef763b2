//! The formats of `/tickets` over real HTTP on 127.0.0.1, served by the service's own
//! server loop ([`shutdown::serve`]), each over HTTP/1.1 and over HTTP/2 with prior
//! knowledge: content negotiation (406 included), CSV read back by Python's `csv`
//! module, Server-Sent Events read by the `eventsource-stream` crate (resuming with
//! `Last-Event-ID`, and a server that cuts its streams), pages walked through their
//! `next` cursor (with both SQLite readers), failures before and after the first chunk
//! in every format, and an event stream left uncompressed.
//!
//! The tests assert behaviour, never speed.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use chunkstream_fixtures::python;
use chunkstream_tickets::model::Ticket;
use chunkstream_tickets::reader::SqliteDriver;
use chunkstream_tickets::{App, Settings, seed, shutdown};
use eventsource_stream::{Event, Eventsource};
use futures_util::StreamExt;
use reqwest::Version;
use serde_json::{Value, json};

mod support;

/// Tickets in the shared database: enough for many chunks and several pages.
const TICKETS: u64 = 3_000;

/// The media types `/tickets` offers, as its `406` lists them.
const OFFERED: [&str; 4] = [
    "application/json",
    "application/x-ndjson",
    "text/csv; charset=utf-8",
    "text/event-stream",
];

// ---------------------------------------------------------------------------------------
// The database, the server and the clients.

/// A new SQLite file under the target's scratch space.
fn scratch_url(name: &str) -> String {
    support::sqlite_url("chunkstream-formats-", name)
}

/// The shared database of [`TICKETS`] seeded tickets, seeded once per process on a
/// runtime of its own (a pool must not outlive the runtime that made it).
fn shared_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = scratch_url("tickets");
        support::seed(&url, TICKETS);
        url
    })
    .clone()
}

/// The service on the shared database.
async fn app(settings: Settings) -> App {
    App::open(&shared_url(), TICKETS, settings)
        .await
        .expect("open the service")
}

/// Serves `app`'s routes (with compression) through the service's own server loop.
async fn serve(app: &App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    tokio::spawn(shutdown::serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    addr
}

/// An HTTP/1.1 client and an HTTP/2 client (cleartext, prior knowledge), with the HTTP
/// version each must be answered in. Neither decompresses (the tests see the bytes sent).
fn clients() -> [(Version, reqwest::Client); 2] {
    let builder = || reqwest::Client::builder().no_gzip();
    [
        (Version::HTTP_11, builder().http1_only().build().unwrap()),
        (
            Version::HTTP_2,
            builder().http2_prior_knowledge().build().unwrap(),
        ),
    ]
}

/// `GET url` with `headers`, checked to be answered in `version`.
async fn get(
    client: &reqwest::Client,
    version: Version,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.version(), version, "{url}");
    response
}

/// The body as far as it came, and whether the transfer failed.
async fn read(response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(_) => return (body, true),
        }
    }
    (body, false)
}

/// The whole body of a response that must complete.
async fn whole(response: reqwest::Response) -> Vec<u8> {
    let (body, failed) = read(response).await;
    assert!(!failed, "the transfer failed");
    body
}

fn content_type(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("content-type")
        .map_or("", |value| value.to_str().unwrap())
}

// ---------------------------------------------------------------------------------------
// Readers written by others, and what they must read.

/// The CSV rows of tickets `ids` (after the header): text as stored (`tags` as one
/// comma-separated field), numbers as JSON writes them, no value as an empty field.
fn expected_csv(ids: impl Iterator<Item = i64>) -> Vec<Vec<String>> {
    let header: Vec<String> = seed::COLUMNS.split(", ").map(String::from).collect();
    let row = |t: Ticket| {
        vec![
            t.id.to_string(),
            t.title,
            t.description,
            t.status,
            t.priority,
            t.assignee.unwrap_or_default(),
            t.reporter,
            t.tags,
            t.project,
            t.component,
            t.sla_hours.to_string(),
            serde_json::to_string(&t.estimate_hours).unwrap(),
            t.comments.to_string(),
            t.created_at,
            t.updated_at,
            t.resolved_at.unwrap_or_default(),
        ]
    };
    std::iter::once(header)
        .chain(ids.map(|id| row(seed::ticket(id))))
        .collect()
}

/// Tickets `ids` as the JSON the service writes.
fn expected_json(ids: impl Iterator<Item = i64>) -> Vec<Value> {
    ids.map(|id| serde_json::to_value(seed::ticket(id)).unwrap())
        .collect()
}

/// The events of an SSE body as `eventsource-stream` reads them (comments and the
/// `retry:` block dispatch none).
async fn events_of(body: &[u8]) -> Vec<Event> {
    futures_util::stream::iter([Ok::<_, std::io::Error>(body.to_vec())])
        .eventsource()
        .map(|event| event.expect("a well-formed event stream"))
        .collect()
        .await
}

/// The tickets of `ticket` events, checking each event's id is its ticket's; and the
/// data of the `end` event, if one came (it must be last).
fn tickets_and_end(events: &[Event]) -> (Vec<Value>, Option<Value>) {
    let mut tickets = Vec::new();
    let mut end = None;
    for event in events {
        assert!(end.is_none(), "an event after `end`: {event:?}");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        match event.event.as_str() {
            "ticket" => {
                assert_eq!(
                    event.id,
                    data["id"].to_string(),
                    "the event id is the ticket's"
                );
                tickets.push(data);
            }
            "end" => end = Some(data),
            other => panic!("unexpected event {other:?}: {event:?}"),
        }
    }
    (tickets, end)
}

/// What a body parses to for its content type: the tickets of a JSON array, NDJSON, CSV
/// (as JSON again, for comparison) or an event stream.
async fn parsed(content_type: &str, body: &[u8]) -> Vec<Value> {
    match content_type {
        "application/json" => serde_json::from_slice(body).unwrap(),
        "application/x-ndjson" => body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect(),
        "text/csv; charset=utf-8" => {
            let rows = python::csv_rows(body, "");
            let ids: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
            assert_eq!(
                rows,
                expected_csv(ids.iter().copied()),
                "CSV as Python reads it"
            );
            expected_json(ids.into_iter())
        }
        "text/event-stream" => {
            let events = events_of(body).await;
            let (tickets, end) = tickets_and_end(&events);
            assert_eq!(end, Some(json!({"count": tickets.len()})));
            tickets
        }
        other => panic!("unexpected content type {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

/// Every way of asking for every format, over both HTTP versions: the content type
/// negotiated, and the body read back by its parser to exactly the tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_by_negotiation_and_by_route_over_both_versions() {
    let app = app(Settings::default()).await;
    let addr = serve(&app).await;
    let [json, ndjson, csv, sse] = OFFERED;
    // (path and query, Accept, the content type it must get)
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("/tickets?limit=40", None, json),
        ("/tickets?limit=40", Some("*/*"), json),
        ("/tickets?limit=40", Some("application/json"), json),
        ("/tickets?limit=40", Some("application/x-ndjson"), ndjson),
        ("/tickets?limit=40", Some("text/csv"), csv),
        ("/tickets?limit=40", Some("text/event-stream"), sse),
        ("/tickets?limit=40", Some("text/*"), csv),
        // q-values: the highest wins, whatever the order.
        (
            "/tickets?limit=40",
            Some("application/json;q=0.5, text/csv;q=0.8, application/x-ndjson;q=0.2"),
            csv,
        ),
        (
            "/tickets?limit=40",
            Some("text/event-stream;q=0.9, application/json;q=0.1"),
            sse,
        ),
        (
            "/tickets?limit=40",
            Some("*/*, application/json;q=0"),
            ndjson,
        ),
        // A browser's Accept.
        (
            "/tickets?limit=40",
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            json,
        ),
        // The override wins over Accept.
        (
            "/tickets?limit=40&format=csv",
            Some("application/json"),
            csv,
        ),
        ("/tickets?limit=40&format=ndjson", Some("text/csv"), ndjson),
        ("/tickets?limit=40&format=sse", None, sse),
        (
            "/tickets?limit=40&format=application/json",
            Some("text/csv"),
            json,
        ),
        // The routes of one format.
        ("/tickets.ndjson?limit=40", None, ndjson),
        ("/tickets.csv?limit=40", None, csv),
        ("/tickets/events?limit=40", None, sse),
        (
            "/tickets.csv?limit=40&status=open",
            Some("application/json"),
            csv,
        ),
    ];
    for (version, client) in clients() {
        for &(path, accept, wanted) in cases {
            let url = format!("http://{addr}{path}");
            let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
            let response = get(&client, version, &url, &headers).await;
            let case = format!("{version:?} {path} Accept: {accept:?}");
            assert_eq!(response.status(), 200, "{case}");
            assert_eq!(content_type(&response), wanted, "{case}");
            let tickets = parsed(wanted, &whole(response).await).await;
            let expected: Vec<Value> = if path.contains("status=open") {
                assert!(tickets.iter().all(|t| t["status"] == "open"), "{case}");
                tickets.clone()
            } else {
                expected_json(1..=40)
            };
            assert_eq!(tickets.len(), 40, "{case}");
            assert_eq!(tickets, expected, "{case}");
        }
        // The whole table, CSV, read back by Python.
        let url = format!("http://{addr}/tickets.csv");
        let body = whole(get(&client, version, &url, &[]).await).await;
        assert_eq!(
            python::csv_rows(&body, ""),
            expected_csv(1..=TICKETS as i64),
            "{version:?}"
        );
    }
}

/// What cannot be served: a `406` in the service's error shape listing the offered media
/// types, for an `Accept` nothing matches and for an override naming no format; and the
/// `400`s of parameters a format does not take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unservable_requests_are_refused_with_json() {
    let app = app(Settings::default()).await;
    let addr = serve(&app).await;
    for (version, client) in clients() {
        for (path, accept) in [
            ("/tickets", Some("image/png")),
            (
                "/tickets",
                Some("application/json;q=0, text/*;q=0, */*;q=0"),
            ),
            ("/tickets?format=xml", None),
            ("/tickets?format=xml", Some("application/json")),
        ] {
            let url = format!("http://{addr}{path}");
            let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
            let response = get(&client, version, &url, &headers).await;
            assert_eq!(response.status(), 406, "{version:?} {path} {accept:?}");
            assert_eq!(content_type(&response), "application/json");
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let problem: Value = serde_json::from_slice(&whole(response).await).unwrap();
            assert_eq!(problem["error"], "not_acceptable", "{problem}");
            assert_eq!(problem["offered"], json!(OFFERED), "{problem}");
            assert_eq!(problem["request_id"], id.as_str(), "{problem}");
        }
        for path in [
            "/tickets?format=csv&json=db",
            "/tickets?format=sse&json=db",
            "/tickets?format=envelope&json=db",
            "/tickets.csv?format=json",
            "/tickets/events?json=db",
        ] {
            let url = format!("http://{addr}{path}");
            let response = get(&client, version, &url, &[]).await;
            assert_eq!(response.status(), 400, "{version:?} {path}");
            let problem: Value = serde_json::from_slice(&whole(response).await).unwrap();
            assert!(problem["message"].is_string(), "{problem}");
        }
        let url = format!("http://{addr}/tickets/events");
        let response = get(&client, version, &url, &[("last-event-id", "seven")]).await;
        assert_eq!(response.status(), 400, "{version:?}");
    }
}

/// An event stream from the start: `retry:` first, every ticket an event named `ticket`
/// with its id, then `end` with the count. Resumed after an id (the header, or the query
/// parameter for clients without headers): the rest of the selection and no more, the
/// limit counted from the stream's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_resume_after_the_last_event_id() {
    let app = app(Settings::default()).await;
    let addr = serve(&app).await;
    for (version, client) in clients() {
        let url = format!("http://{addr}/tickets/events?limit=300");
        let body = whole(get(&client, version, &url, &[]).await).await;
        assert!(body.starts_with(b"retry: 500\n\n"), "{version:?}");
        let (tickets, end) = tickets_and_end(&events_of(&body).await);
        assert_eq!(tickets, expected_json(1..=300), "{version:?}");
        assert_eq!(end, Some(json!({"count": 300})));

        for (url, headers) in [
            (url.clone(), vec![("last-event-id", "120")]),
            (format!("{url}&last_event_id=120"), vec![]),
            // The header wins over the parameter (the browser's own id is the latest).
            (
                format!("{url}&last_event_id=7"),
                vec![("last-event-id", "120")],
            ),
        ] {
            let body = whole(get(&client, version, &url, &headers).await).await;
            let (tickets, end) = tickets_and_end(&events_of(&body).await);
            assert_eq!(tickets, expected_json(121..=300), "{version:?} {url}");
            assert_eq!(end, Some(json!({"count": 180})), "{version:?} {url}");
        }
        // With `after`, the stream starts there, and a resumption continues it.
        let url = format!("http://{addr}/tickets?format=sse&after=1000&limit=50");
        let (tickets, _) =
            tickets_and_end(&events_of(&whole(get(&client, version, &url, &[]).await).await).await);
        assert_eq!(tickets, expected_json(1001..=1050), "{version:?}");
        let resumed = get(&client, version, &url, &[("last-event-id", "1030")]).await;
        let (tickets, end) = tickets_and_end(&events_of(&whole(resumed).await).await);
        assert_eq!(tickets, expected_json(1031..=1050), "{version:?}");
        assert_eq!(end, Some(json!({"count": 20})));
    }
}

/// A server that ends each event stream after N tickets (`events_per_connection`): no
/// `end` event on a cut response, and a client that resumes from its last id, as an
/// `EventSource` does, gets every ticket exactly once and then `end`: with a limit and
/// without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_event_streams_resume_to_the_end() {
    const PER_CONNECTION: u64 = 70;
    let app = app(Settings {
        events_per_connection: Some(PER_CONNECTION),
        ..Settings::default()
    })
    .await;
    let addr = serve(&app).await;
    for (version, client) in clients() {
        for (path, total) in [
            ("/tickets/events?limit=250", 250),
            ("/tickets/events", TICKETS),
            ("/tickets?format=sse&status=open", 0),
        ] {
            let url = format!("http://{addr}{path}");
            let mut seen: Vec<Value> = Vec::new();
            let mut responses = 0;
            let end = loop {
                let last = seen.last().map(|t| t["id"].to_string());
                let headers: Vec<(&str, &str)> = last
                    .as_deref()
                    .map(|id| ("last-event-id", id))
                    .into_iter()
                    .collect();
                let body = whole(get(&client, version, &url, &headers).await).await;
                let (tickets, end) = tickets_and_end(&events_of(&body).await);
                responses += 1;
                assert!(responses <= TICKETS / PER_CONNECTION + 2, "no end: {path}");
                match end {
                    None => assert_eq!(tickets.len() as u64, PER_CONNECTION, "{path}"),
                    Some(ref end) => assert_eq!(end, &json!({"count": tickets.len()})),
                }
                seen.extend(tickets);
                if let Some(end) = end {
                    break end;
                }
            };
            let ids: Vec<i64> = seen.iter().map(|t| t["id"].as_i64().unwrap()).collect();
            let mut unique = ids.clone();
            unique.dedup();
            assert_eq!(unique, ids, "{version:?} {path}: a ticket repeated");
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{path}: out of order");
            if total > 0 {
                assert_eq!(seen, expected_json(1..=total as i64), "{version:?} {path}");
            } else {
                assert!(!seen.is_empty() && seen.iter().all(|t| t["status"] == "open"));
            }
            assert!(responses > 1, "{path}: the server cut no stream");
            assert!(end["count"].as_u64().unwrap() <= PER_CONNECTION);
        }
    }
}

/// Pages walked through their `next` cursor, with both SQLite readers: the first page
/// asked with `format=envelope`, the others with `after` alone; every ticket exactly once,
/// each page's `count` its length, `truncated` until the last page, whose `next` is null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_the_whole_table() {
    for driver in [SqliteDriver::Rusqlite, SqliteDriver::Sqlx] {
        let app = app(Settings {
            sqlite_driver: driver,
            ..Settings::default()
        })
        .await;
        let addr = serve(&app).await;
        for (version, client) in clients() {
            for page_size in [700_u64, 1_000, TICKETS] {
                let mut url = format!("http://{addr}/tickets?format=envelope&limit={page_size}");
                let mut seen = Vec::new();
                let mut pages = 0;
                loop {
                    let response = get(&client, version, &url, &[]).await;
                    assert_eq!(content_type(&response), "application/json");
                    let page: Value = serde_json::from_slice(&whole(response).await).unwrap();
                    pages += 1;
                    let data = page["data"].as_array().unwrap();
                    assert_eq!(page["count"], data.len(), "{page}");
                    assert!(data.len() as u64 <= page_size);
                    seen.extend(data.iter().cloned());
                    let more = seen.len() < TICKETS as usize;
                    assert_eq!(page["truncated"], more, "{driver:?} {url}");
                    match page["next"].as_str() {
                        Some(next) => {
                            assert!(more);
                            assert_eq!(next, data.last().unwrap()["id"].to_string());
                            url = format!("http://{addr}/tickets?after={next}&limit={page_size}");
                        }
                        None => {
                            assert!(page["next"].is_null() && !more, "{page}");
                            break;
                        }
                    }
                }
                assert_eq!(pages, TICKETS.div_ceil(page_size), "{driver:?} {page_size}");
                assert_eq!(
                    seen,
                    expected_json(1..=TICKETS as i64),
                    "{driver:?} {version:?}"
                );
            }
            // Past the end: an empty page.
            let url = format!("http://{addr}/tickets?after={TICKETS}&limit=5");
            let page: Value =
                serde_json::from_slice(&whole(get(&client, version, &url, &[]).await).await)
                    .unwrap();
            assert_eq!(
                page,
                json!({"data": [], "count": 0, "next": null, "truncated": false})
            );
        }
    }
}

/// A ticket whose title is not UTF-8 fails to decode (with either reader). As the first
/// row: every format answers `500` with the JSON error and no body of its own. After the
/// first chunk: `200`, then the transfer fails; the JSON array and CSV never look
/// complete, NDJSON holds only whole tickets, the event stream ends with `event: error`
/// (no `end`), and the page closes with an `"error"` field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_and_after_the_first_chunk_in_every_format() {
    const BROKEN_LATE: i64 = 2_000;
    let url = scratch_url("broken");
    let app = App::open(&url, TICKETS, Settings::default()).await.unwrap();
    let break_row =
        |id: i64| format!("UPDATE tickets SET title = CAST(X'FFFE' AS TEXT) WHERE id = {id}");
    app.db().execute(&break_row(1)).await.unwrap();
    app.db().execute(&break_row(BROKEN_LATE)).await.unwrap();
    let addr = serve(&app).await;
    let paths = [
        "/tickets?format=json",
        "/tickets?format=ndjson",
        "/tickets?format=csv",
        "/tickets?format=sse",
        "/tickets?format=envelope",
        "/tickets.ndjson",
        "/tickets.csv",
        "/tickets/events",
    ];
    for (version, client) in clients() {
        for path in paths {
            let url = format!("http://{addr}{path}");
            let response = get(&client, version, &url, &[]).await;
            assert_eq!(response.status(), 500, "{version:?} {path}");
            assert_eq!(content_type(&response), "application/json");
            let problem: Value = serde_json::from_slice(&whole(response).await).unwrap();
            assert_eq!(problem["error"], "internal", "{problem}");
        }
        for path in paths {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("http://{addr}{path}{sep}after=1");
            let response = get(&client, version, &url, &[]).await;
            let case = format!("{version:?} {path} after=1");
            assert_eq!(response.status(), 200, "{case}");
            let kind = content_type(&response).to_owned();
            let (body, failed) = read(response).await;
            assert!(failed, "{case}: the transfer must fail");
            assert!(!body.is_empty(), "{case}: chunks came before the failure");
            // Over HTTP/2 the abort is a RST_STREAM, and h2 drops the DATA frames it
            // still holds for the stream, the marker among them: there the marker is
            // checked when it arrives, and the body must not look complete either way.
            let marker_sure = version == Version::HTTP_11;
            match kind.as_str() {
                "application/json" if path.contains("envelope") => {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(page) => {
                            assert_eq!(page["error"]["kind"], "source", "{case}: {page}");
                            let data = page["data"].as_array().unwrap();
                            assert_eq!(page["count"], data.len());
                            assert_eq!(data, &expected_json(2..BROKEN_LATE), "{case}");
                            assert!(page.get("next").is_none(), "{case}: no cursor");
                        }
                        Err(err) => assert!(!marker_sure, "{case}: no error field: {err}"),
                    }
                }
                "application/json" => {
                    assert!(serde_json::from_slice::<Value>(&body).is_err(), "{case}");
                    assert!(!body.ends_with(b"]"), "{case}");
                }
                "application/x-ndjson" => {
                    let complete = body.rsplit_once_line();
                    let tickets: Vec<Value> = complete
                        .split(|&b| b == b'\n')
                        .filter(|line| !line.is_empty())
                        .map(|line| serde_json::from_slice(line).unwrap())
                        .collect();
                    assert_eq!(
                        tickets,
                        expected_json(2..2 + tickets.len() as i64),
                        "{case}"
                    );
                    assert!(tickets.len() < (BROKEN_LATE - 1) as usize + 1, "{case}");
                }
                "text/csv; charset=utf-8" => {
                    let text = String::from_utf8_lossy(&body);
                    assert!(text.starts_with("id,title,"), "{case}");
                    assert!(!text.contains(&format!("\r\n{BROKEN_LATE},")), "{case}");
                }
                "text/event-stream" => {
                    let mut events = events_of(&body).await;
                    match events.last().filter(|last| last.event == "error") {
                        Some(last) => {
                            let marker: Value = serde_json::from_str(&last.data).unwrap();
                            assert_eq!(marker["kind"], "source", "{case}: {marker}");
                            assert!(!last.data.contains("utf"), "{case}: no detail");
                            events.pop();
                            let (tickets, _) = tickets_and_end(&events);
                            assert_eq!(tickets, expected_json(2..BROKEN_LATE), "{case}");
                        }
                        None => assert!(!marker_sure, "{case}: no error event"),
                    }
                    let (tickets, end) = tickets_and_end(&events);
                    assert_eq!(end, None, "{case}");
                    assert_eq!(
                        tickets,
                        expected_json(2..2 + tickets.len() as i64),
                        "{case}"
                    );
                }
                other => panic!("{case}: unexpected content type {other}"),
            }
        }
    }
}

/// What NDJSON holds before its last line break (the rest is a partial line).
trait CompleteLines {
    fn rsplit_once_line(&self) -> &[u8];
}

impl CompleteLines for Vec<u8> {
    fn rsplit_once_line(&self) -> &[u8] {
        match self.iter().rposition(|&b| b == b'\n') {
            Some(end) => &self[..end],
            None => &[],
        }
    }
}

/// A client that accepts gzip: the JSON array is compressed (the layer is on), the event
/// stream is not (tower-http's default predicate leaves `text/event-stream` alone), so
/// events are not held in a compressor; on both routes to it and both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_never_compressed() {
    let app = app(Settings::default()).await;
    let addr = serve(&app).await;
    let gzip = [("accept-encoding", "gzip")];
    for (version, client) in clients() {
        let url = format!("http://{addr}/tickets?limit=100");
        let response = get(&client, version, &url, &gzip).await;
        assert_eq!(
            response.headers()["content-encoding"],
            "gzip",
            "{version:?}"
        );
        for path in ["/tickets/events?limit=100", "/tickets?limit=100&format=sse"] {
            let url = format!("http://{addr}{path}");
            let response = get(&client, version, &url, &gzip).await;
            assert_eq!(content_type(&response), "text/event-stream");
            assert!(
                response.headers().get("content-encoding").is_none(),
                "{version:?} {path}: {:?}",
                response.headers()
            );
            let body = whole(response).await;
            assert!(
                body.starts_with(b"retry: 500\n\nevent: ticket\nid: 1\n"),
                "{path}"
            );
            let (tickets, _) = tickets_and_end(&events_of(&body).await);
            assert_eq!(tickets.len(), 100);
        }
    }
}

/// `/` is the demo page, as HTML, over both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_html() {
    let app = app(Settings::default()).await;
    let addr = serve(&app).await;
    for (version, client) in clients() {
        let response = get(&client, version, &format!("http://{addr}/"), &[]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), "text/html; charset=utf-8");
        let page = String::from_utf8(whole(response).await).unwrap();
        // The counts the browser test reads (tests/browser.rs).
        for id in [r#"id="events-count""#, r#"id="ndjson-count""#] {
            assert!(page.contains(id), "{id} in {page}");
        }
    }
}

/// Admission covers every route and format: while a download holds the only stream slot
/// (its client not reading) and no queue is allowed, a download in any format is a
/// `503` with `Retry-After`, and a small request in any format is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_goes_through_admission() {
    // A table whose body cannot fit in the buffers between server and client.
    const LARGE: u64 = 50_000;
    let settings = Settings {
        max_streams: Some(1),
        queue_max: Some(0),
        min_data_rate: None,
        stall_timeout: Duration::from_secs(600),
        ..Settings::default()
    };
    let app = App::open(&scratch_url("admission"), LARGE, settings)
        .await
        .unwrap();
    let addr = serve(&app).await;
    let [(_, holder), _] = clients();
    let held = holder
        .get(format!("http://{addr}/tickets/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    assert_eq!(app.streams(), (1, 1), "the event stream holds the slot");
    for (version, client) in clients() {
        for path in [
            "/tickets",
            "/tickets?format=ndjson",
            "/tickets?format=csv",
            "/tickets?format=sse",
            "/tickets?format=envelope",
            "/tickets?after=10",
            "/tickets.csv",
            "/tickets/events",
        ] {
            let url = format!("http://{addr}{path}");
            let response = get(&client, version, &url, &[]).await;
            assert_eq!(response.status(), 503, "{version:?} {path}");
            assert!(response.headers().contains_key("retry-after"), "{path}");
            let sep = if path.contains('?') { '&' } else { '?' };
            let small = format!("http://{addr}{path}{sep}limit=3");
            let response = get(&client, version, &small, &[]).await;
            assert_eq!(response.status(), 200, "{version:?} {path} limit=3");
            let kind = content_type(&response).to_owned();
            let body = whole(response).await;
            if kind == "text/csv; charset=utf-8" {
                assert_eq!(
                    python::csv_rows(&body, "").len(),
                    4,
                    "{path}: a header and 3 rows"
                );
            } else if path.contains("envelope") || path.contains("after") {
                let page: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(page["count"], 3, "{path}");
            } else {
                assert_eq!(parsed(&kind, &body).await.len(), 3, "{path}");
            }
        }
    }
    drop(held);
}
