//! The load test's short form: the `loadtest` client against the real `tickets` binary
//! on 127.0.0.1 with a small table.
//!
//! - 64 concurrent full downloads, 8 readers that stop reading and 500 small requests at
//!   once: every response is complete and byte-identical to the reference, or a clean
//!   `503` (JSON body, `Retry-After`); every request, retried after its `503`s, ends with
//!   the whole body; afterwards service is normal.
//! - The fairness scenarios (`loadtest slow`, `downloads`, `burst`, `keepalive`), with the service's default admission
//!   settings: beside 8 clients reading at 1 KiB/s, every small request of 64 clients is
//!   a complete `200`, and the 8 are then cut by the minimum data rate (the server's log
//!   says so) with every slot free; 64 clients downloading the table 3 times each get
//!   complete bodies or a `503` only after the queue wait; 500 connections x 4 small
//!   requests and 64 keep-alive connections asking `limit=100` get only complete `200`s.
//!
//! The full forms are `cargo run --release -p chunkstream-tickets --bin loadtest` and
//! `... --bin loadtest fair` (100,000 tickets).

use std::process::Command;

/// The value of `key=` in the report, the first after `after`.
fn value(stdout: &str, after: &str, key: &str) -> u64 {
    stdout
        .split_once(after)
        .map_or(stdout, |(_, rest)| rest)
        .split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} after {after:?} in the report:\n{stdout}"))
}

#[test]
fn downloads_stalled_readers_and_small_requests_get_complete_bodies_or_clean_503s() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--server", env!("CARGO_BIN_EXE_tickets")])
        .args([
            "--tickets",
            "2000",
            "--stall-timeout",
            "1",
            "--deadline",
            "240",
        ])
        .args(["--downloads", "64", "--stalled", "8", "--small", "500"])
        .output()
        .expect("run loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The report, past the test harness's capture.
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "loadtest failed:\n{stdout}\n{stderr}"
    );
    let value = |key: &str| value(&stdout, "scenario=Load", key);
    assert_eq!(value("downloads_wrong"), 0);
    assert_eq!(value("small_wrong"), 0);
    // Each request retries its 503s (after Retry-After) until it gets the whole body.
    assert_eq!(value("downloads_complete"), 64);
    assert_eq!(value("small_complete"), 500);
    assert_eq!(value("downloads_gave_up") + value("small_gave_up"), 0);
    assert!(stdout.contains("result=ok"));
    assert_rss_within_bound(&stdout);
}

/// The server's peak RSS was measured and stayed within the bound its `/healthz` sizes
/// give (RSS at start, fixed memory, one response per slot and small request in flight).
fn assert_rss_within_bound(stdout: &str) {
    let peak = value(stdout, "", "server_peak_rss_kib");
    let bound = value(stdout, "", "server_rss_bound_kib");
    assert!(
        peak > 0 && peak <= bound,
        "peak RSS {peak} KiB over its bound {bound} KiB"
    );
}

/// Runs `loadtest` with `args` against the real binary; its report.
fn loadtest(args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .args(["--server", env!("CARGO_BIN_EXE_tickets")])
        .args(["--stall-timeout", "60", "--deadline", "300"])
        .output()
        .expect("run loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "loadtest failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("result=ok"));
    assert_rss_within_bound(&stdout);
    (stdout, stderr)
}

/// Slow readers beside small requests, then cut by the minimum rate, not the stall limit
/// (60 s is past the run). The table is larger than what the buffers between the
/// service and a reader hold, so the slow streams do wait for their readers.
#[test]
fn beside_slow_readers_small_requests_pass_and_the_minimum_rate_cuts_them() {
    let (stdout, stderr) = loadtest(&["slow", "--tickets", "20000", "--seconds", "3"]);
    let slow = |key: &str| value(&stdout, "", key);
    assert!(slow("small_complete") > 0);
    assert_eq!(slow("small_503") + slow("small_wrong"), 0);
    assert_eq!(slow("slots_active_while_small"), 8);
    assert_eq!(slow("slow_cut_by_min_rate"), 8);
    assert_eq!(slow("slots_active_after"), 0);
    assert!(stderr.contains("below the minimum of"), "{stderr}");
}

/// 64 clients downloading the table 3 times each: complete bodies, or a 503 only after
/// the queue wait.
#[test]
fn queued_downloads_complete_or_get_a_503_after_the_wait() {
    let (stdout, _) = loadtest(&["downloads", "--tickets", "2000"]);
    let downloads = |key: &str| value(&stdout, "", key);
    assert_eq!(downloads("downloads"), 192);
    assert_eq!(
        downloads("downloads_complete") + downloads("downloads_503_after_queue_wait"),
        192
    );
    assert_eq!(
        downloads("downloads_503_early") + downloads("downloads_wrong"),
        0
    );
}

/// 500 connections x 4 small requests at once, and 64 keep-alive connections asking
/// `limit=100` for 3 s: only complete 200s.
#[test]
fn small_requests_in_a_burst_and_over_keep_alive_are_all_200() {
    let (stdout, _) = loadtest(&["burst", "--tickets", "2000"]);
    assert_eq!(value(&stdout, "", "burst_200"), 2000);
    assert_eq!(value(&stdout, "", "burst_other"), 0);
    let (stdout, _) = loadtest(&["keepalive", "--tickets", "2000", "--seconds", "3"]);
    assert!(value(&stdout, "", "keepalive_200") > 0);
    assert_eq!(value(&stdout, "", "keepalive_other"), 0);
}
