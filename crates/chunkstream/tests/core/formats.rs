//! The formats beyond JSON: CSV, SSE, the JSON envelope and text lines. Each body is
//! judged by a parser written by someone else (Python's `csv` and `json` modules as a
//! subprocess, the `eventsource-stream` crate), on every path (per item, batch, spawned,
//! parallel) with the same bytes, and over real HTTP on 127.0.0.1.
#![cfg(feature = "axum")]

use std::future::Future;
use std::time::Duration;

use crate::common::serve;
use chunkstream::format::{Csv, Envelope, Line, QuoteStyle, Sse, Terminator, TextLines};
use chunkstream::{
    ChunkConfig, ChunkStream, Format, RawJson, StreamError, StreamResponse, Streamer, source,
    transform,
};
use chunkstream_fixtures::python;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Text with what breaks naive writers: quotes, delimiters, CR, LF, CRLF, Unicode, and the
/// empty string.
const TEXTS: [&str; 14] = [
    "",
    "plain",
    "a,b",
    "say \"hi\"",
    "line\nbreak",
    "cr\ronly",
    "crlf\r\nend",
    "ünïcödé ✓ 日本 🦀",
    " spaces ",
    "\"",
    ",",
    "\r\n",
    "semi;colon\ttab",
    "'single', \"double\"\n",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    id: u64,
    name: String,
    note: String,
    city: Option<String>,
    score: f64,
    ok: bool,
}

/// Every text in every text field, across `n` rows.
fn corpus(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            id: 1000 + i as u64,
            name: TEXTS[i % TEXTS.len()].to_owned(),
            note: TEXTS[(i * 5 + 3) % TEXTS.len()].to_owned(),
            city: (i % 6 != 5).then(|| TEXTS[(i * 3 + 7) % TEXTS.len()].to_owned()),
            score: i as f64 * 0.25 - 3.0,
            ok: i % 2 == 0,
        })
        .collect()
}

/// The streamer every path test uses: small buffers and batches, so a body is many
/// chunks and many batches.
fn streamer<F: Format>(
    format: F,
) -> Streamer<chunkstream::pool::DefaultPool, chunkstream::encode::DefaultEncoder, F> {
    Streamer::new(ChunkConfig::with_sizes(256, 128).with_batch_size(7))
        .unwrap()
        .with_format(format)
}

/// The body of `items` on every path, checked to be the same bytes on each; the body.
async fn on_every_path<F: Format, T>(
    streamer: &Streamer<chunkstream::pool::DefaultPool, chunkstream::encode::DefaultEncoder, F>,
    items: &[T],
) -> Result<Vec<u8>, StreamError>
where
    T: Serialize + Clone + Send + Sync + 'static,
{
    let src = || source::from_iter(items.to_vec());
    let parallel = streamer.clone().with_encode_workers(2);
    let paths: Vec<(&str, ChunkStream)> = vec![
        ("item", streamer.json(src())),
        ("item, spawned", streamer.json(src()).spawn()),
        (
            "batch",
            streamer.stream_batch(src(), transform::batch_passthrough()),
        ),
        (
            "batch, spawned",
            streamer
                .stream_batch(src(), transform::batch_passthrough())
                .spawn(),
        ),
        (
            "parallel",
            parallel.stream_batch(src(), transform::batch_passthrough()),
        ),
        (
            "parallel, transform on the workers",
            parallel.stream_batch_concurrent(src(), |batch: Vec<T>| {
                Ok::<_, std::convert::Infallible>(batch)
            }),
        ),
        (
            "parallel, spawned",
            parallel
                .stream_batch(src(), transform::batch_passthrough())
                .spawn(),
        ),
    ];
    let mut first: Option<Result<Vec<u8>, String>> = None;
    let mut result = None;
    for (path, chunks) in paths {
        let body = chunks.collect_bytes().await.map(|b| b.to_vec());
        let seen = body.as_ref().map(Clone::clone).map_err(ToString::to_string);
        match &first {
            None => first = Some(seen),
            Some(first) => assert_eq!(&seen, first, "path `{path}` differs from `item`"),
        }
        result.get_or_insert(body);
    }
    result.unwrap()
}

/// The rows a CSV reader must give back for `rows` (text as it is, numbers as JSON
/// writes them, `None` as an empty field), after the header.
fn expected_csv(rows: &[Row]) -> Vec<Vec<String>> {
    let header = ["id", "name", "note", "city", "score", "ok"]
        .map(String::from)
        .to_vec();
    std::iter::once(header)
        .chain(rows.iter().map(|r| {
            vec![
                r.id.to_string(),
                r.name.clone(),
                r.note.clone(),
                r.city.clone().unwrap_or_default(),
                serde_json::to_string(&r.score).unwrap(),
                r.ok.to_string(),
            ]
        }))
        .collect()
}

/// The body a client reads before the transfer ends, and whether it ended aborted.
async fn read_to_end(response: reqwest::Response) -> (Vec<u8>, bool) {
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

/// Items then, at `fail_at`, a source error.
fn failing_rows(
    n: usize,
    fail_at: usize,
) -> impl futures_util::Stream<Item = Result<Row, std::io::Error>> {
    let rows = corpus(n);
    futures_util::stream::iter(rows.into_iter().enumerate().map(move |(i, row)| {
        if i == fail_at {
            Err(std::io::Error::other("no such table: secret_table"))
        } else {
            Ok(row)
        }
    }))
}

// ---- CSV ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_round_trips_through_python_on_every_path() {
    let rows = corpus(200);
    let body = on_every_path(&streamer(Csv::new()), &rows).await.unwrap();
    assert!(body.starts_with(b"id,name,note,city,score,ok\r\n"));
    assert_eq!(python::csv_rows(&body, ""), expected_csv(&rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_dialects_round_trip_through_python() {
    let rows = corpus(60);
    let dialects = [
        (
            Csv::new()
                .with_delimiter(b';')
                .unwrap()
                .with_terminator(Terminator::Lf),
            "delimiter=';', lineterminator='\\n'",
        ),
        (
            Csv::new().with_quote_style(QuoteStyle::Always),
            "quoting=csv.QUOTE_ALL",
        ),
        (Csv::new().with_delimiter(b'\t').unwrap(), "delimiter='\\t'"),
    ];
    for (csv, args) in dialects {
        let body = on_every_path(&streamer(csv.clone()), &rows).await.unwrap();
        assert_eq!(
            python::csv_rows(&body, args),
            expected_csv(&rows),
            "{csv:?}"
        );
    }
    let body = on_every_path(&streamer(Csv::new().with_header(false)), &rows)
        .await
        .unwrap();
    assert_eq!(
        python::csv_rows(&body, ""),
        expected_csv(&rows)[1..].to_vec()
    );

    // Non-numeric quoting: Python reads the unquoted fields back as numbers.
    let csv = Csv::new().with_quote_style(QuoteStyle::NonNumeric);
    let body = on_every_path(&streamer(csv), &rows).await.unwrap();
    let script = "import csv, io, json, sys\n\
                  text = sys.stdin.buffer.read().decode('utf-8')\n\
                  r = csv.reader(io.StringIO(text, newline=''), quoting=csv.QUOTE_NONNUMERIC)\n\
                  print(json.dumps(list(r)))";
    let expected: Vec<Value> =
        std::iter::once(json!(["id", "name", "note", "city", "score", "ok"]))
            .chain(rows.iter().map(|r| {
                json!([
                    r.id as f64,
                    r.name,
                    r.note,
                    r.city.clone().unwrap_or_default(),
                    r.score,
                    r.ok.to_string()
                ])
            }))
            .collect();
    assert_eq!(python::run(script, &body), Value::Array(expected));
    assert!(Csv::new().with_delimiter(b'"').is_err());
    assert!(Csv::new().with_delimiter(b'\n').is_err());
}

#[tokio::test]
async fn csv_edge_records() {
    // A record of one empty field is `""`, not an empty line a reader would skip.
    let body = streamer(Csv::new().with_header(false))
        .json(source::from_iter(["", "x", ""]))
        .collect_bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"\"\"\r\nx\r\n\"\"\r\n");
    assert_eq!(
        python::csv_rows(&body, ""),
        vec![vec![""], vec!["x"], vec![""]]
    );
    // Tuples without a header; an empty body is empty.
    let body = streamer(Csv::new().with_header(false))
        .json(source::from_iter([(1, "a,b"), (2, "c")]))
        .collect_bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"1,\"a,b\"\r\n2,c\r\n");
    let empty = streamer(Csv::new())
        .json(source::from_iter(Vec::<Row>::new()))
        .collect_bytes()
        .await
        .unwrap();
    assert!(empty.is_empty());
    // A field skipped by `skip_serializing_if` keeps its column.
    #[derive(Clone, Serialize)]
    struct Sparse {
        a: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<u8>,
        c: u8,
    }
    let rows = [
        Sparse {
            a: 1,
            b: None,
            c: 3,
        },
        Sparse {
            a: 4,
            b: Some(5),
            c: 6,
        },
    ];
    let body = on_every_path(&streamer(Csv::new()), &rows).await.unwrap();
    assert_eq!(&body[..], b"a,b,c\r\n1,,3\r\n4,5,6\r\n");
}

/// Fields of every length up to three vector blocks, with a byte that needs quoting at
/// every position (or none): each is quoted exactly when it holds one, its quotes are
/// doubled, and Python's reader gives back the text. The writer looks at a field in
/// blocks, words and bytes by length; this walks each block's edges.
#[tokio::test]
async fn csv_quotes_a_field_exactly_when_any_byte_needs_it() {
    for delimiter in [b',', b';', b'\t'] {
        let mut texts = Vec::new();
        for len in 0..=48 {
            texts.push("a".repeat(len));
            for special in [delimiter, b'"', b'\r', b'\n'] {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    texts.push(String::from_utf8(text).unwrap());
                }
            }
        }
        // The other delimiters are plain bytes in this dialect.
        texts.push(",;\t".replace(char::from(delimiter), ""));
        let csv = Csv::new()
            .with_header(false)
            .with_delimiter(delimiter)
            .unwrap();
        let body = streamer(csv)
            .json(source::from_iter(
                texts.clone().into_iter().map(|t| ("x", t)),
            ))
            .collect_bytes()
            .await
            .unwrap();
        let mut expected = Vec::new();
        for text in &texts {
            let special = text
                .bytes()
                .any(|b| [delimiter, b'"', b'\r', b'\n'].contains(&b));
            expected.extend_from_slice(&[b'x', delimiter]);
            match special {
                true => expected
                    .extend_from_slice(format!("\"{}\"", text.replace('"', "\"\"")).as_bytes()),
                false => expected.extend_from_slice(text.as_bytes()),
            }
            expected.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&expected),
            "delimiter {delimiter:#04x}"
        );
        let args = format!("delimiter={:?}", char::from(delimiter).to_string());
        let rows: Vec<Vec<String>> = texts.iter().map(|t| vec!["x".into(), t.clone()]).collect();
        assert_eq!(
            python::csv_rows(&body, &args),
            rows,
            "delimiter {delimiter:#04x}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_refuses_items_without_a_flat_form_naming_index_and_field() {
    #[derive(Clone, Serialize)]
    struct Inner {
        x: u8,
    }
    #[derive(Clone, Serialize)]
    struct Nested {
        id: u8,
        inner: Option<Inner>,
    }
    #[derive(Clone, Serialize)]
    struct WithMap {
        id: u8,
        attrs: std::collections::BTreeMap<String, u8>,
    }
    #[derive(Clone, Serialize)]
    struct WithSeq {
        id: u8,
        tags: Vec<String>,
    }
    fn check(err: StreamError, index: u64, words: &[&str]) {
        let StreamError::Encode { index: at, .. } = &err else {
            panic!("expected an encode error, got {err}");
        };
        assert_eq!(*at, index, "{err}");
        let text = err.to_string();
        for word in words {
            assert!(text.contains(word), "`{text}` does not say {word}");
        }
    }
    let nested: Vec<Nested> = (0..20)
        .map(|id| Nested {
            id,
            inner: (id == 13).then_some(Inner { x: 1 }),
        })
        .collect();
    check(
        on_every_path(&streamer(Csv::new()), &nested)
            .await
            .unwrap_err(),
        13,
        &["`inner`", "a struct"],
    );
    let maps = vec![WithMap {
        id: 0,
        attrs: [("k".to_owned(), 1)].into(),
    }];
    check(
        on_every_path(&streamer(Csv::new()), &maps)
            .await
            .unwrap_err(),
        0,
        &["`attrs`", "a map"],
    );
    let seqs: Vec<WithSeq> = (0..3).map(|id| WithSeq { id, tags: vec![] }).collect();
    check(
        on_every_path(&streamer(Csv::new()), &seqs)
            .await
            .unwrap_err(),
        0,
        &["`tags`", "a sequence"],
    );
    check(
        on_every_path(&streamer(Csv::new()), &[vec![1, 2]])
            .await
            .unwrap_err(),
        0,
        &["a sequence"],
    );
    // A tuple has no field names for a header.
    check(
        on_every_path(&streamer(Csv::new()), &[(1, 2)])
            .await
            .unwrap_err(),
        0,
        &["header", "with_header(false)"],
    );
    // Pre-encoded JSON cannot be CSV.
    let err = streamer(Csv::new())
        .json(source::from_iter([RawJson::from(r#"{"a":1}"#)]))
        .collect_bytes()
        .await
        .unwrap_err();
    check(err, 0, &["pre-encoded JSON", "CSV"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_over_http_parses_and_a_late_failure_never_looks_complete() {
    async fn rows() -> StreamResponse {
        streamer(Csv::new())
            .json(source::from_iter(corpus(300)))
            .respond()
            .await
    }
    async fn broken() -> StreamResponse {
        streamer(Csv::new())
            .json(failing_rows(300, 250))
            .respond()
            .await
    }
    let app = axum::Router::new()
        .route("/rows.csv", axum::routing::get(rows))
        .route("/broken.csv", axum::routing::get(broken));
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/rows.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(python::csv_rows(&body, ""), expected_csv(&corpus(300)));

    for _ in 0..10 {
        let response = client
            .get(format!("http://{addr}/broken.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.bytes().await.is_err(),
            "a CSV body cut by a failure must not look complete"
        );
    }
}

// ---- SSE ----

#[derive(Debug, PartialEq)]
struct Seen {
    event: String,
    id: String,
    data: Value,
}

/// The events of an SSE body, as `eventsource-stream` reads them.
async fn events_of(body: &[u8]) -> Vec<Seen> {
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(body.to_vec())]);
    chunks
        .eventsource()
        .map(|event| {
            let event = event.expect("a well-formed event stream");
            Seen {
                event: event.event,
                id: event.id,
                data: serde_json::from_str(&event.data).expect("data is JSON"),
            }
        })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_parse_on_every_path() {
    let rows = corpus(100);
    let sse = Sse::new()
        .with_event("row")
        .unwrap()
        .with_id(|r: &Row| r.id);
    let body = on_every_path(&streamer(sse), &rows).await.unwrap();
    let seen = events_of(&body).await;
    let expected: Vec<Seen> = rows
        .iter()
        .map(|r| Seen {
            event: "row".into(),
            id: r.id.to_string(),
            data: serde_json::to_value(r).unwrap(),
        })
        .collect();
    assert_eq!(seen, expected);
    // Without a name or an id: `message` events, and the last id stays empty.
    let body = on_every_path(&streamer(Sse::new()), &[1, 2]).await.unwrap();
    let seen = events_of(&body).await;
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|e| e.event == "message" && e.id.is_empty()));
    // Pre-encoded JSON with line breaks is several `data:` lines, joined back.
    let raw = RawJson::from("{\n  \"a\": 1,\r\n  \"b\": \"x\"\r}");
    let body = streamer(Sse::new())
        .json(source::from_iter([raw]))
        .collect_bytes()
        .await
        .unwrap();
    assert_eq!(events_of(&body).await[0].data, json!({"a": 1, "b": "x"}));
}

#[tokio::test]
async fn sse_refuses_bad_names_ids_and_item_types() {
    assert!(Sse::new().with_event("a\nb").is_err());
    assert!(Sse::new().with_event("").is_err());
    let err = streamer(Sse::new().with_id(|s: &String| s.clone()))
        .json(source::from_iter(["ok".to_owned(), "bad\nid".to_owned()]))
        .collect_bytes()
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Encode { index: 1, .. }), "{err}");
    let err = streamer(Sse::new().with_id(|r: &Row| r.id))
        .json(source::from_iter([1, 2]))
        .collect_bytes()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Row"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_over_http_with_keep_alive_and_an_error_event() {
    async fn live() -> StreamResponse {
        // A slow source: keep-alive comments go out while it is idle.
        let rows = futures_util::stream::iter(corpus(3)).then(|row| async move {
            tokio::time::sleep(Duration::from_millis(120)).await;
            Ok::<_, std::io::Error>(row)
        });
        let sse = Sse::new()
            .with_id(|r: &Row| r.id)
            .with_keep_alive(Duration::from_millis(20));
        streamer(sse)
            .with_encode_workers(2)
            .stream_batch(rows, transform::batch_passthrough())
            .respond()
            .await
    }
    async fn broken() -> StreamResponse {
        let sse = Sse::new()
            .with_event("row")
            .unwrap()
            .with_id(|r: &Row| r.id);
        streamer(sse)
            .with_error_markers(true)
            .json(failing_rows(40, 30))
            .respond()
            .await
    }
    let app = axum::Router::new()
        .route("/live", axum::routing::get(live))
        .route("/broken", axum::routing::get(broken));
    let addr = serve(app).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("http://{addr}/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.bytes().await.unwrap();
    assert!(
        body.windows(14).any(|w| w == b": keep-alive\n\n"),
        "no keep-alive comment while the source was idle"
    );
    let seen = events_of(&body).await;
    let ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1000", "1001", "1002"]);
    assert_eq!(seen[2].data, serde_json::to_value(&corpus(3)[2]).unwrap());

    let response = client
        .get(format!("http://{addr}/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The error event is the last thing sent; the transfer is then aborted, so an
    // `EventSource` reconnects with the last id it saw.
    let (body, aborted) = read_to_end(response).await;
    assert!(aborted);
    let seen = events_of(&body).await;
    assert_eq!(seen.len(), 31);
    assert!(seen[..30].iter().all(|e| e.event == "row"));
    let last = &seen[30];
    assert_eq!(last.event, "error");
    assert_eq!(last.data["kind"], "source");
    assert!(
        !last.data.to_string().contains("secret_table"),
        "no details: {}",
        last.data
    );
}

// ---- JSON envelope ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_round_trips_through_python_on_every_path() {
    /// A page of at most `limit` of `rows` (a query for `limit + 1`, cut by
    /// `source::limit`), on every path, the same bytes on each; the body.
    async fn page(rows: &[Row], limit: u64) -> Vec<u8> {
        let mut first: Option<Vec<u8>> = None;
        for path in [
            "item",
            "item, spawned",
            "batch",
            "parallel",
            "parallel, spawned",
        ] {
            let (src, cut) = source::limit(source::from_iter(rows.to_vec()), limit);
            let envelope = Envelope::new("data")
                .with_fields(&json!({"query": {"q": "a,\"b\"\n", "limit": limit}}))
                .unwrap()
                .with_count("count")
                .with_cursor("next", |r: &Row| r.id)
                .with_truncated("truncated", cut);
            let streamer = streamer(envelope);
            let parallel = streamer.clone().with_encode_workers(2);
            let batches = transform::batch_passthrough();
            let chunks = match path {
                "item" => streamer.json(src),
                "item, spawned" => streamer.json(src).spawn(),
                "batch" => streamer.stream_batch(src, batches),
                "parallel" => parallel.stream_batch(src, batches),
                _ => parallel.stream_batch(src, batches).spawn(),
            };
            let body = chunks.collect_bytes().await.unwrap().to_vec();
            match &first {
                None => first = Some(body),
                Some(first) => assert_eq!(&body, first, "path `{path}` differs"),
            }
        }
        first.unwrap()
    }
    let rows = corpus(151);
    let body = page(&rows, 150).await;
    let expected = json!({
        "query": {"q": "a,\"b\"\n", "limit": 150},
        "data": serde_json::to_value(&rows[..150]).unwrap(),
        "count": 150,
        "next": 1149,
        "truncated": true,
    });
    assert_eq!(python::json(&body), expected);
    // The last page: the source ends within the limit, no cursor; even when it holds
    // exactly `limit` items.
    for n in [40, 150] {
        let page = python::json(&page(&rows[..n], 150).await);
        assert_eq!(page["data"], serde_json::to_value(&rows[..n]).unwrap());
        assert_eq!(page["count"], n);
        assert_eq!(page["next"], Value::Null);
        assert_eq!(page["truncated"], false);
    }
    // Empty, and the array's name is the user's.
    let envelope = Envelope::new("items")
        .with_count("n")
        .with_cursor("after", |r: &Row| r.id);
    let body = on_every_path(&streamer(envelope), &rows[..0])
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"items":[],"n":0,"after":null}"#);
    assert!(Envelope::new("data").with_fields(&[1, 2]).is_err());
}

/// The cursor closure takes one item type: an item of another type, or pre-encoded
/// JSON, is an encode error at the first item on every path, naming the type the
/// closure takes, and nothing that looks like a complete envelope is produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_cursor_refuses_items_of_another_type() {
    let envelope = Envelope::new("data").with_cursor("next", |id: &u64| *id);
    let err = on_every_path(&streamer(envelope), &corpus(20))
        .await
        .unwrap_err();
    let StreamError::Encode { index, .. } = &err else {
        panic!("expected an encode error, got {err}");
    };
    assert_eq!(*index, 0, "{err}");
    assert!(err.to_string().contains("`u64`"), "{err}");

    let envelope = Envelope::new("data").with_cursor("next", |r: &Row| r.id);
    let err = streamer(envelope)
        .json(source::from_iter([RawJson::from(r#"{"id":1}"#)]))
        .collect_bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Encode { index: 0, .. })
            && err.to_string().contains("pre-encoded"),
        "{err}"
    );
    // Without a cursor, pre-encoded items go in as they are.
    let body = streamer(Envelope::new("data").with_count("n"))
        .json(source::from_iter([RawJson::from(r#"{"id":1}"#)]))
        .collect_bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"data":[{"id":1}],"n":1}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_over_http_and_its_error_field() {
    async fn page() -> StreamResponse {
        let envelope = Envelope::new("data")
            .with_count("count")
            .with_cursor("next", |r: &Row| r.id);
        streamer(envelope)
            .json(source::from_iter(corpus(120)))
            .respond()
            .await
    }
    async fn broken(marked: bool) -> StreamResponse {
        let envelope = Envelope::new("data").with_count("count");
        streamer(envelope)
            .with_error_markers(marked)
            .json(failing_rows(120, 100))
            .respond()
            .await
    }
    let app = axum::Router::new().route("/page", axum::routing::get(page));
    let addr = serve(app).await;
    let response = reqwest::get(format!("http://{addr}/page")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let page = python::json(&response.bytes().await.unwrap());
    assert_eq!(page["data"], serde_json::to_value(corpus(120)).unwrap());
    assert_eq!(
        (page["count"].clone(), page["next"].clone()),
        (json!(120), json!(1119))
    );

    let body = failed_over_http(broken).await;
    assert_eq!(body["count"], 100);
    assert_eq!(body["data"].as_array().unwrap().len(), 100);
    assert_eq!(body["error"]["kind"], "source");
    assert!(!body.to_string().contains("secret_table"));
}

/// Serves a JSON body that fails after its first chunk, made by `respond(markers)`,
/// over HTTP: without error markers it must not look complete; with them the body read
/// up to the abort is parsed by Python's `json` and returned.
async fn failed_over_http<F, Fut>(respond: F) -> Value
where
    F: Fn(bool) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = StreamResponse> + Send + 'static,
{
    let unmarked = respond.clone();
    let app = axum::Router::new()
        .route("/aborted", axum::routing::get(move || unmarked(false)))
        .route("/marked", axum::routing::get(move || respond(true)));
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
    let response = get("/aborted").await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a failed body must not look complete"
    );
    // The body ends with its error marker, then the transfer is aborted.
    let (body, aborted) = read_to_end(get("/marked").await.unwrap()).await;
    assert!(aborted, "the transfer is aborted after the marker");
    python::json(&body)
}

/// A cursor that serde_json cannot write when it is odd.
struct EvenCursor(u64);

impl Serialize for EvenCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 % 2 {
            0 => serializer.serialize_u64(self.0),
            _ => Err(serde::ser::Error::custom("an odd cursor")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_cursor_is_written_once_and_its_failure_fails_the_stream() {
    let envelope = || {
        Envelope::new("data")
            .with_count("count")
            .with_cursor("next", |r: &Row| EvenCursor(r.id))
    };
    // Only the last item's cursor is serialized: odd ids before it are no failure.
    let body = on_every_path(&streamer(envelope()), &corpus(121))
        .await
        .unwrap();
    assert_eq!(python::json(&body)["next"], 1120);
    // The last cursor cannot be: the stream fails after its items, with that item's
    // index, the same on every path, and the object never closes.
    let err = on_every_path(&streamer(envelope()), &corpus(120))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StreamError::Encode { index: 119, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("an odd cursor"), "{err}");
    // Before the first chunk: the error comes first and alone.
    let alone = Streamer::new(ChunkConfig::default())
        .unwrap()
        .with_format(envelope());
    let err = crate::common::drain(alone.json(source::from_iter(corpus(2)))).await;
    assert!(err.0.is_empty(), "nothing goes out before the error");
    assert!(matches!(err.1, Some(StreamError::Encode { index: 1, .. })));

    // Over HTTP: aborted, or with markers the object ends with the error field.
    async fn page(marked: bool) -> StreamResponse {
        let envelope = Envelope::new("data")
            .with_count("count")
            .with_cursor("next", |r: &Row| EvenCursor(r.id));
        streamer(envelope)
            .with_error_markers(marked)
            .json(source::from_iter(corpus(120)))
            .respond()
            .await
    }
    let body = failed_over_http(page).await;
    assert_eq!(body["count"], 120);
    assert_eq!(body["data"].as_array().unwrap().len(), 120);
    assert_eq!(body["error"]["kind"], "encode");
    assert_eq!(body.get("next"), None);
}

// ---- text lines ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_lines_on_every_path_and_over_http() {
    let lines: Vec<Line<String>> = TEXTS
        .iter()
        .filter(|t| !t.contains(['\r', '\n']))
        .map(|t| Line(t.to_string()))
        .collect();
    let body = on_every_path(&streamer(TextLines), &lines).await.unwrap();
    let expected: String = lines.iter().map(|l| format!("{}\n", l.0)).collect();
    assert_eq!(String::from_utf8(body).unwrap(), expected);
    let body = on_every_path(&streamer(TextLines), &[1.5, -2.0])
        .await
        .unwrap();
    assert_eq!(&body[..], b"1.5\n-2\n");

    let err = on_every_path(&streamer(TextLines), &[Line("ok"), Line("two\nlines")])
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Encode { index: 1, .. }), "{err}");
    let err = on_every_path(&streamer(TextLines), &[corpus(1)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("a sequence"), "{err}");

    async fn hosts() -> StreamResponse {
        let hosts = (0..500u32).map(|i| Line(std::net::Ipv4Addr::from(i)));
        streamer(TextLines)
            .json(source::from_iter(hosts))
            .respond()
            .await
    }
    let addr = serve(axum::Router::new().route("/", axum::routing::get(hosts))).await;
    let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 500);
    assert_eq!(text.lines().nth(258), Some("0.0.1.2"));
}

/// Behind tower-http's `CompressionLayer` with its default predicate, an SSE body is not
/// compressed (events are not held back in a compressor); a CSV body is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_skips_sse_by_default() {
    async fn events() -> StreamResponse {
        let sse = Sse::new().with_id(|r: &Row| r.id);
        streamer(sse)
            .json(source::from_iter(corpus(50)))
            .respond()
            .await
    }
    async fn table() -> StreamResponse {
        streamer(Csv::new())
            .json(source::from_iter(corpus(50)))
            .respond()
            .await
    }
    let app = axum::Router::new()
        .route("/events", axum::routing::get(events))
        .route("/rows.csv", axum::routing::get(table))
        .layer(tower_http::compression::CompressionLayer::new());
    let addr = serve(app).await;
    // No automatic decompression: the client sees the encoding the server chose.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let get = |path: &str| {
        client
            .get(format!("http://{addr}{path}"))
            .header("accept-encoding", "gzip")
            .send()
    };
    let response = get("/rows.csv").await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let response = get("/events").await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(events_of(&response.bytes().await.unwrap()).await.len(), 50);
}

/// A slow source with SSE keep-alive and a flush interval longer than it, on every
/// sequential path: keep-alive comments go out while the source is idle, and each item
/// still goes out on its flush deadline (a keep-alive does not push it back), before the
/// next item is made.
#[tokio::test(start_paused = true)]
async fn sse_keep_alive_while_idle_and_items_still_flushed_on_every_path() {
    let config = ChunkConfig::with_sizes(4096, 2048)
        .with_batch_size(7)
        .with_flush_interval(Duration::from_millis(50));
    let sse = Sse::new()
        .with_id(|r: &Row| r.id)
        .with_keep_alive(Duration::from_millis(20));
    let streamer = Streamer::new(config)
        .unwrap()
        .with_format(sse)
        .with_encode_workers(2); // a keep-alive keeps the batch path sequential
    let slow = || {
        futures_util::stream::iter(corpus(3)).then(|row| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, std::io::Error>(row)
        })
    };
    let paths: Vec<(&str, ChunkStream)> = vec![
        ("item", streamer.json(slow())),
        ("item, spawned", streamer.json(slow()).spawn()),
        (
            "batch",
            streamer.stream_batch(slow(), transform::batch_passthrough()),
        ),
        (
            "batch, spawned",
            streamer
                .stream_batch(slow(), transform::batch_passthrough())
                .spawn(),
        ),
    ];
    for (path, chunks) in paths {
        let chunks: Vec<bytes::Bytes> = chunks.map(Result::unwrap).collect().await;
        // Each chunk as what it holds: `k` a keep-alive, else the ids of its events.
        let labels: Vec<String> = chunks
            .iter()
            .map(|chunk| match &chunk[..] {
                b": keep-alive\n\n" => "k".to_owned(),
                _ => {
                    let text = String::from_utf8_lossy(chunk);
                    let ids: Vec<&str> = text
                        .lines()
                        .filter_map(|line| line.strip_prefix("id: "))
                        .collect();
                    ids.join("+")
                }
            })
            .collect();
        let events: Vec<&String> = labels.iter().filter(|l| *l != "k").collect();
        assert_eq!(events, ["1000", "1001", "1002"], "{path}: {labels:?}");
        assert_eq!(labels[0], "k", "{path}: a keep-alive first: {labels:?}");
        for pair in labels.split(|l| l == "k") {
            assert!(
                pair.len() <= 1,
                "{path}: items wait for the next: {labels:?}"
            );
        }
        assert_eq!(events_of(&chunks.concat()).await.len(), 3, "{path}");
    }
}

/// `body` with each error marker's id (`"id":"` and 16 hex digits, new per failure)
/// replaced by zeros, so that bodies from different failures compare.
fn without_marker_ids(body: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"id\":\"";
    let mut out = body.to_vec();
    let mut at = 0;
    while let Some(found) = out[at..].windows(KEY.len()).position(|w| w == KEY) {
        let start = at + found + KEY.len();
        let end = (start + 16).min(out.len());
        if out[start..end].iter().all(u8::is_ascii_hexdigit) {
            out[start..end].fill(b'0');
        }
        at = end;
    }
    out
}

/// A failure after the first chunks, on every path: the same bytes (the error event, the
/// closed envelope with its error field, or nothing more) and the same error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_failure_is_the_same_on_every_path_for_every_format() {
    async fn check<F: Format>(format: F) -> Vec<u8> {
        let streamer = streamer(format).with_error_markers(true);
        let parallel = streamer.clone().with_encode_workers(2);
        let src = || failing_rows(100, 80);
        let paths: Vec<(&str, ChunkStream)> = vec![
            ("item", streamer.json(src())),
            ("item, spawned", streamer.json(src()).spawn()),
            (
                "batch",
                streamer.stream_batch(src(), transform::batch_passthrough()),
            ),
            (
                "parallel",
                parallel.stream_batch(src(), transform::batch_passthrough()),
            ),
            (
                "parallel, spawned",
                parallel
                    .stream_batch(src(), transform::batch_passthrough())
                    .spawn(),
            ),
        ];
        let mut seen: Option<(Vec<u8>, String)> = None;
        for (path, chunks) in paths {
            let (chunks, err) = crate::common::drain(chunks).await;
            let body = without_marker_ids(&chunks.concat());
            let got = (body, err.expect("the stream fails").to_string());
            match &seen {
                None => seen = Some(got),
                Some(first) => assert_eq!(&got, first, "path `{path}` differs"),
            }
        }
        seen.unwrap().0
    }
    let csv = check(Csv::new()).await;
    assert!(csv.ends_with(b"\r\n") && !csv.is_empty());
    let sse = check(Sse::new().with_id(|r: &Row| r.id)).await;
    assert!(sse.ends_with(b"\n\n") && sse.windows(13).any(|w| w == b"event: error\n"));
    let marked = Envelope::new("data")
        .with_count("count")
        .with_cursor("next", |r: &Row| r.id);
    let envelope = python::json(&check(marked).await);
    assert_eq!(envelope["count"], 80);
    assert_eq!(envelope["error"]["kind"], "source");
    // A struct is not a line of text: that error comes first and alone, on every path.
    assert!(check(TextLines).await.is_empty());
}
