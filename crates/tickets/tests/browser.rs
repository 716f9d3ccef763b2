//! A real browser against the tickets service: headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs) loads a test page from the service's own server that
//!
//! - reads `/tickets/events` with `EventSource`: every ticket arrives once, in order,
//!   although the server ends each response after a few hundred events
//!   (`events_per_connection`), so the browser reconnects with `Last-Event-ID` by itself;
//!   then the `end` event;
//! - reads `/tickets.ndjson` with `fetch`, incrementally (rows parsed before the body,
//!   which the test paces like a slow network, has ended);
//! - opens the demo page at `/` in a frame and reads the counts it shows when done.
//!
//! The page posts what it saw to `/__report`; the test judges it. Without Chromium the
//! test says so on stderr and passes, unless `CHUNKSTREAM_REQUIRE_BROWSER=1` (set by
//! `.ci/run`) makes a missing browser a failure.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use chunkstream_tickets::{App, Settings, shutdown};
use futures_util::StreamExt;
use serde_json::Value;

/// Tickets in the database: several SSE connections' worth.
const TICKETS: u64 = 2_000;
/// Events the server sends on one SSE response before it ends it without `end`.
const EVENTS_PER_CONNECTION: u64 = 700;
/// The pause before each frame of `/tickets.ndjson` on its way to the browser: a slow
/// network, so that the body is still arriving when the page reads its first rows. On
/// loopback the whole megabyte can be in the browser before its first `read()`, which
/// then returns every row at once: the test could not tell incremental reading from a
/// buffered body. The bytes are the service's own, only later.
const NDJSON_FRAME_PAUSE: Duration = Duration::from_millis(30);
/// How long the browser may take for everything.
const DEADLINE: Duration = Duration::from_secs(120);

/// The test page: runs the three readers and posts what each saw.
const HARNESS: &str = r#"<!doctype html>
<html><body><script>
"use strict";
const report = {};

function events() {
  const seen = { ids: [], mismatched_ids: 0, opens: 0, end: null };
  report.events = seen;
  return new Promise((resolve, reject) => {
    const source = new EventSource("/tickets/events");
    source.onopen = () => { seen.opens += 1; };
    source.addEventListener("ticket", (e) => {
      const ticket = JSON.parse(e.data);
      seen.ids.push(ticket.id);
      if (e.lastEventId !== String(ticket.id)) seen.mismatched_ids += 1;
    });
    source.addEventListener("end", (e) => {
      seen.end = JSON.parse(e.data);
      source.close();
      resolve();
    });
    source.addEventListener("error", (e) => {
      if (e.data !== undefined) {
        source.close();
        reject(new Error("event: error " + e.data));
      }
    });
  });
}

async function ndjson() {
  const seen = { ids: [], total: null, reads: [], status: null };
  report.ndjson = seen;
  const response = await fetch("/tickets.ndjson");
  seen.status = response.status;
  seen.total = Number(response.headers.get("x-total-count"));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) if (line) seen.ids.push(JSON.parse(line).id);
    // Rows parsed so far at each read: growing over many reads is incremental.
    seen.reads.push(seen.ids.length);
  }
  seen.trailing = pending;
}

async function page() {
  const frame = document.createElement("iframe");
  frame.src = "/";
  document.body.appendChild(frame);
  await new Promise((resolve) => { frame.onload = resolve; });
  const doc = frame.contentDocument;
  const state = (name) => doc.getElementById(name).dataset.state;
  while (![state("events"), state("ndjson")].every((s) => s === "done" || s.startsWith("failed"))) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  report.page = {
    events_state: state("events"),
    ndjson_state: state("ndjson"),
    events_count: doc.getElementById("events-count").textContent,
    ndjson_count: doc.getElementById("ndjson-count").textContent,
    ndjson_total: doc.getElementById("ndjson-total").textContent,
  };
}

Promise.allSettled([events(), ndjson(), page()]).then((outcomes) => {
  report.failures = outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason));
  return fetch("/__report", { method: "POST", body: JSON.stringify(report) });
});
</script></body></html>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_every_stream_and_the_page_shows_the_count() {
    let Some(chromium) = chromium() else {
        let required = std::env::var("CHUNKSTREAM_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CHUNKSTREAM_REQUIRE_BROWSER=1 but no Chromium: install Debian's `chromium` \
             or set CHROMIUM to the browser's path"
        );
        // Straight to stderr, past the harness's capture, so the skip is always seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED chromium_reads_every_stream_and_the_page_shows_the_count: no \
             Chromium (apt-get install chromium, or set CHROMIUM)"
        );
        return;
    };

    let dir = tempfile::Builder::new()
        .prefix("chunkstream-browser-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tickets.db").display()
    );
    let settings = Settings {
        events_per_connection: Some(EVENTS_PER_CONNECTION),
        ..Settings::default()
    };
    let app = App::open(&url, TICKETS, settings)
        .await
        .expect("the service");

    let (reported, mut report) = tokio::sync::mpsc::channel::<String>(1);
    let router = Router::new()
        .route("/__test", get(|| async { Html(HARNESS) }))
        .route(
            "/__report",
            post(move |body: String| async move {
                let _ = reported.send(body).await;
            }),
        )
        .merge(app.router())
        .layer(middleware::from_fn(paced_ndjson));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shutdown::serve(
        listener,
        router,
        async move {
            let _ = stopped.await;
            "the test's end"
        },
        Duration::from_secs(5),
    ));

    let profile = dir.path().join("chromium-profile");
    let log = dir.path().join("chromium.log");
    let browser = std::process::Command::new(&chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{addr}/__test"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("the browser's log"))
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", chromium.display()));
    let browser = Browser(browser);

    let body = match tokio::time::timeout(DEADLINE, report.recv()).await {
        Ok(Some(body)) => body,
        outcome => {
            drop(browser);
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            panic!(
                "no report from the browser within {DEADLINE:?} ({outcome:?}); its \
                 stderr ends with:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    };
    drop(browser);
    let _ = stop.send(());
    server.await.unwrap().expect("the server stops");

    let report: Value = serde_json::from_str(&body).expect("the report is JSON");
    assert_eq!(report["failures"], serde_json::json!([]), "{report:#}");
    let every_id: Vec<Value> = (1..=TICKETS).map(Value::from).collect();

    // EventSource: every row once, in order, over several connections resumed by id.
    let events = &report["events"];
    assert_eq!(
        events["ids"].as_array().unwrap(),
        &every_id,
        "SSE ids, opens {}",
        events["opens"]
    );
    assert_eq!(
        events["mismatched_ids"], 0,
        "each event's id is its ticket's id"
    );
    let connections = TICKETS.div_ceil(EVENTS_PER_CONNECTION);
    assert!(
        events["opens"].as_u64().unwrap() >= connections,
        "the server ended {connections} responses, the browser opened {}",
        events["opens"]
    );
    let last = events["end"]["count"]
        .as_u64()
        .expect("the end event's count");
    assert!(
        last > 0 && last <= EVENTS_PER_CONNECTION,
        "the last connection sent {last} rows"
    );

    // fetch: every row, read in pieces that arrived while the body was still streaming.
    let ndjson = &report["ndjson"];
    assert_eq!(ndjson["status"], 200);
    assert_eq!(ndjson["total"], TICKETS);
    assert_eq!(ndjson["ids"].as_array().unwrap(), &every_id);
    assert_eq!(ndjson["trailing"], "");
    let reads: Vec<u64> = ndjson["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert!(
        reads.iter().any(|&rows| rows > 0 && rows < TICKETS),
        "rows were parsed before the body ended (rows after each read: {reads:?})"
    );

    // The demo page shows the final counts.
    let page = &report["page"];
    assert_eq!(page["events_state"], "done", "{page}");
    assert_eq!(page["ndjson_state"], "done", "{page}");
    assert_eq!(page["events_count"], TICKETS.to_string());
    assert_eq!(page["ndjson_count"], TICKETS.to_string());
    assert_eq!(page["ndjson_total"], TICKETS.to_string());
}

/// Delays each frame of `/tickets.ndjson` by [`NDJSON_FRAME_PAUSE`]; other responses
/// pass as they are.
async fn paced_ndjson(request: Request, next: Next) -> Response {
    let paced = request.uri().path() == "/tickets.ndjson";
    let response = next.run(request).await;
    if !paced {
        return response;
    }
    let (parts, body) = response.into_parts();
    let frames = body.into_data_stream().then(|frame| async move {
        tokio::time::sleep(NDJSON_FRAME_PAUSE).await;
        frame
    });
    Response::from_parts(parts, Body::from_stream(frames))
}

/// The browser's process, killed and reaped when dropped (a failed assertion included).
struct Browser(std::process::Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The browser: `CHROMIUM` if set, else the first of Debian's and others' names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}
