//! The load test's short form: the `loadtest` client against the real `tickets` binary
//! on 127.0.0.1 with a small table. 64 concurrent full downloads, 8 readers that stop
//! reading and 500 small requests at once: every response is complete and
//! byte-identical to the reference, or a clean `503` (JSON body, `Retry-After`); every
//! request, retried after its `503`s, ends with the whole body; afterwards service is
//! normal. The full form is
//! `cargo run --release -p chunkstream-tickets --bin loadtest` (100,000 tickets).

use std::process::Command;

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
    let value = |key: &str| -> u64 {
        stdout
            .split_whitespace()
            .find_map(|field| field.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in the report:\n{stdout}"))
    };
    assert_eq!(value("downloads_wrong"), 0);
    assert_eq!(value("small_wrong"), 0);
    // Each request retries its 503s (after Retry-After) until it gets the whole body.
    assert_eq!(value("downloads_complete"), 64);
    assert_eq!(value("small_complete"), 500);
    assert_eq!(value("downloads_gave_up") + value("small_gave_up"), 0);
    assert!(value("server_peak_rss_kib") > 0);
    assert!(stdout.contains("result=ok"));
}
