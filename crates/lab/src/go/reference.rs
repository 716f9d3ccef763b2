//! The Go package chunkstream succeeds, measured on this machine: the reconstruction in
//! `reference/go` (built and run with the `go` on `PATH`).
//!
//! [`GoBlocks`] keeps the Go block server (`reference/go/cmd/blocks`) running so the
//! lab can alternate its own blocks with Go's under the same noise; the Go side times
//! each block itself, so the pipe is not counted. [`request_figures`] runs the Go
//! benchmarks of one 100-ticket request for bytes and allocations per request.
//! Without `go` every entry point returns [`GoUnavailable`], whose text goes in the
//! report's Go column.

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use chunkstream_benches::workload::{self, Ticket};

/// The environment variable the Go benchmarks read the tickets file from.
const ENV_TICKETS: &str = "CHUNKSTREAM_GO_TICKETS";

/// Tickets in one request, as the lab's 100-ticket request.
const REQUEST_TICKETS: usize = 100;

/// Iterations of each request benchmark: enough for stable bytes and allocations per
/// request (both are averages over the iterations), short enough for a default run.
const REQUEST_BENCHTIME: &str = "-benchtime=2000x";

/// Why the Go reference was not measured; its text is what the report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoUnavailable {
    /// One line, e.g. `not run (go not installed)`.
    pub(crate) reason: String,
}

impl GoUnavailable {
    fn new(what: impl fmt::Display) -> Self {
        GoUnavailable {
            reason: format!("not run ({what})"),
        }
    }
}

impl fmt::Display for GoUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for GoUnavailable {}

/// The Go module, located from this crate's manifest.
fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/go")
}

/// Where the block server binary is built: the workspace's `target/go-ref/`.
fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("go-ref")
}

/// A `go` command in the Go module: the local toolchain only, no module downloads
/// (the module has no dependencies), and a build cache under `target/` when the
/// environment gives `go` none.
fn go_command(go: &OsStr) -> Command {
    let mut command = Command::new(go);
    command
        .current_dir(reference_dir())
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod");
    let has_cache = ["GOCACHE", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
    if !has_cache {
        command.env("GOCACHE", build_dir().join("cache"));
    }
    command
}

/// The error for a `go` (or Go binary) run in `dir` that could not be started: a
/// missing `dir` fails the spawn with the same `NotFound` as a missing `go`, and is
/// named instead.
fn spawn_error(dir: &Path, what: &str, err: std::io::Error) -> GoUnavailable {
    if err.kind() != std::io::ErrorKind::NotFound {
        GoUnavailable::new(format_args!("{what} could not start: {err}"))
    } else if !dir.is_dir() {
        GoUnavailable::new(format_args!(
            "the Go module is not at {}: this lab binary was built from a checkout \
             that has moved",
            dir.display()
        ))
    } else {
        GoUnavailable::new("go not installed")
    }
}

/// The first few non-empty lines of `text`, on one line.
fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    if lines.is_empty() {
        "no output".to_owned()
    } else {
        lines.join("; ")
    }
}

/// Runs `go <args>` in the module; its stdout on success, the first lines of its
/// output as the reason otherwise.
fn run_go(go: &OsStr, args: &[&OsStr], env: &[(&str, &Path)]) -> Result<String, GoUnavailable> {
    let mut command = go_command(go);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .map_err(|e| spawn_error(&reference_dir(), "go", e))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sub = args.first().map_or("".into(), |a| a.to_string_lossy());
    Err(GoUnavailable::new(format_args!(
        "go {sub} failed: {}",
        first_lines(&format!("{stderr}\n{stdout}"))
    )))
}

/// A long-running Go process serving timed blocks over stdin/stdout (the protocol is
/// documented in `reference/go/cmd/blocks/main.go`). The process is killed on drop.
#[derive(Debug)]
pub(crate) struct GoBlocks {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    version: String,
    /// The built server, to start a fresh process.
    binary: PathBuf,
    /// The tickets file it loads.
    tickets: PathBuf,
}

impl GoBlocks {
    /// Builds (`go build` into `target/go-ref/`; Go's build cache makes a rebuild of
    /// unchanged sources quick) and starts the Go block server, loading `tickets_json`
    /// (the lab's exact tickets, written as a JSON array file by the caller).
    ///
    /// # Errors
    ///
    /// `not run (go not installed)` without `go` on `PATH`; the compiler's first lines
    /// when the build fails; the server's answer when the tickets do not load.
    pub(crate) fn start(tickets_json: &Path) -> Result<GoBlocks, GoUnavailable> {
        Self::start_with(OsStr::new("go"), tickets_json)
    }

    fn start_with(go: &OsStr, tickets_json: &Path) -> Result<GoBlocks, GoUnavailable> {
        let tickets = std::fs::canonicalize(tickets_json).map_err(|e| {
            GoUnavailable::new(format_args!("tickets file {}: {e}", tickets_json.display()))
        })?;
        let binary = build_dir().join("chunkstream-go-blocks");
        run_go(
            go,
            &[
                OsStr::new("build"),
                OsStr::new("-o"),
                binary.as_os_str(),
                OsStr::new("./cmd/blocks"),
            ],
            &[],
        )?;
        GoBlocks::spawn(binary, tickets, None)
    }

    /// Starts the built server and loads the tickets; `procs` sets `GOMAXPROCS` (None:
    /// Go's default, every core).
    fn spawn(
        binary: PathBuf,
        tickets: PathBuf,
        procs: Option<usize>,
    ) -> Result<GoBlocks, GoUnavailable> {
        let mut command = Command::new(&binary);
        match procs {
            Some(n) => command.env("GOMAXPROCS", n.to_string()),
            None => command.env_remove("GOMAXPROCS"),
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&reference_dir(), "the go block server", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(GoUnavailable::new("the go block server has no pipes"));
        };
        let mut blocks = GoBlocks {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            version: String::new(),
            binary,
            tickets,
        };
        blocks.version = blocks.request("version")?.join(" ");
        let mut load = String::from("load ");
        load.push_str(&blocks.tickets.to_string_lossy());
        blocks.request(&load)?;
        Ok(blocks)
    }

    /// Replaces the process with a fresh one (same binary, same tickets) running on
    /// `procs` cores (`GOMAXPROCS`; None: Go's default, every core), so a series of
    /// slices samples the state of several Go processes (heap layout, GC pacing,
    /// goroutine placement), not only the noise within one.
    ///
    /// # Errors
    ///
    /// When the new process does not start or does not load the tickets.
    pub(crate) fn restart(&mut self, procs: Option<usize>) -> Result<(), GoUnavailable> {
        *self = GoBlocks::spawn(self.binary.clone(), self.tickets.clone(), procs)?;
        Ok(())
    }

    /// Streams the loaded tickets, unmeasured, until `at_least` of Go's own time has
    /// passed. A fresh Go process streams 10-40% slower for its first few hundred
    /// milliseconds (its heap and GC pacing grow to the workload), by an amount that
    /// differs from process to process: timing it cold measures the start-up, not the
    /// streamer.
    pub(crate) fn warm_up(&mut self, at_least: Duration) -> Result<(), GoUnavailable> {
        let mut spent = 0.0;
        while spent < at_least.as_secs_f64() {
            let (_, seconds) = self.bulk_block(1)?;
            // A block that takes no time would never end the loop.
            spent += seconds.max(1e-4);
        }
        Ok(())
    }

    /// The Go toolchain the server was built with, e.g. `go1.19.8`.
    pub(crate) fn go_version(&self) -> &str {
        &self.version
    }

    /// Streams the loaded tickets `repeats` times through the Go streamer (chunks
    /// drained and discarded): bytes streamed and seconds, timed inside Go.
    ///
    /// # Errors
    ///
    /// When the server fails or answers an error (`repeats` must be positive); so do
    /// `warm_up` and the other blocks.
    pub(crate) fn bulk_block(&mut self, repeats: usize) -> Result<(u64, f64), GoUnavailable> {
        bytes_and_seconds(&self.request(&format!("bulk {repeats}"))?)
    }

    /// Go's limit: `json.Marshal` of the whole slice, `repeats` times: bytes and
    /// seconds, timed inside Go.
    pub(crate) fn limit_block(&mut self, repeats: usize) -> Result<(u64, f64), GoUnavailable> {
        bytes_and_seconds(&self.request(&format!("limit {repeats}"))?)
    }

    /// Get + Put on the Go package's `sync.Pool` of 50 KB buffers, ns per pair.
    pub(crate) fn pool_block(&mut self, iterations: u64) -> Result<f64, GoUnavailable> {
        one_number(&self.request(&format!("pool {iterations}"))?)
    }

    /// A fresh 50 KB buffer in Go (`make([]byte, 0, 50*1024)`, escaping to the heap),
    /// what the pool replaces: ns per buffer.
    pub(crate) fn alloc_block(&mut self, iterations: u64) -> Result<f64, GoUnavailable> {
        one_number(&self.request(&format!("alloc {iterations}"))?)
    }

    /// Sends one command and returns the fields of its `ok` answer.
    fn request(&mut self, line: &str) -> Result<Vec<String>, GoUnavailable> {
        let sent = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush());
        let mut answer = String::new();
        let read = match sent {
            Ok(()) => self.stdout.read_line(&mut answer),
            Err(e) => Err(e),
        };
        match read {
            Ok(n) if n > 0 => {}
            Ok(_) | Err(_) => return Err(self.exited()),
        }
        let answer = answer.trim_end();
        if let Some(rest) = answer.strip_prefix("ok ") {
            Ok(rest.split_whitespace().map(str::to_owned).collect())
        } else {
            let command = line.split_whitespace().next().unwrap_or(line);
            let message = answer.strip_prefix("err ").unwrap_or(answer);
            Err(GoUnavailable::new(format_args!(
                "go block `{command}` failed: {message}"
            )))
        }
    }

    /// The error for a server that stopped answering, with the first lines it wrote.
    fn exited(&mut self) -> GoUnavailable {
        let _ = self.child.kill();
        let status = self.child.wait();
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        GoUnavailable::new(format_args!(
            "go block server exited ({status}): {}",
            first_lines(&stderr)
        ))
    }
}

impl Drop for GoBlocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `<bytes> <seconds>`.
fn bytes_and_seconds(answer: &[String]) -> Result<(u64, f64), GoUnavailable> {
    match answer {
        [bytes, seconds] => match (bytes.parse(), seconds.parse()) {
            (Ok(b), Ok(s)) => Ok((b, s)),
            _ => Err(bad_answer(answer)),
        },
        _ => Err(bad_answer(answer)),
    }
}

/// Parses `<number>`.
fn one_number(answer: &[String]) -> Result<f64, GoUnavailable> {
    match answer {
        [n] => n.parse().map_err(|_| bad_answer(answer)),
        _ => Err(bad_answer(answer)),
    }
}

fn bad_answer(answer: &[String]) -> GoUnavailable {
    GoUnavailable::new(format_args!(
        "unexpected go block answer `ok {}`",
        answer.join(" ")
    ))
}

/// Bytes and allocations per 100-ticket request in the Go package, with its pool and
/// with a fresh buffer each time (Go's `-benchmem`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GoRequestFigures {
    /// Bytes allocated per request with the pool.
    pub(crate) pooled_bytes: f64,
    /// Allocations per request with the pool.
    pub(crate) pooled_allocs: f64,
    /// Bytes allocated per request without it.
    pub(crate) unpooled_bytes: f64,
    /// Allocations per request without it.
    pub(crate) unpooled_allocs: f64,
}

/// Runs `go test -bench Request -benchmem` (short benchtime) and parses it.
///
/// The request is the lab's first 100 tickets, written to a temporary file the Go
/// benchmark loads.
///
/// # Errors
///
/// `not run (go not installed)` without `go`; the first lines of `go test`'s output
/// when it fails or prints no figures.
pub(crate) fn request_figures() -> Result<GoRequestFigures, GoUnavailable> {
    request_figures_with(OsStr::new("go"))
}

fn request_figures_with(go: &OsStr) -> Result<GoRequestFigures, GoUnavailable> {
    let file = write_tickets(&workload::tickets(REQUEST_TICKETS))?;
    let output = run_go(
        go,
        &[
            "test",
            "-run",
            "^$",
            "-bench",
            "^BenchmarkRequest$",
            "-benchmem",
            REQUEST_BENCHTIME,
            "-count=1",
            "./internal/stream",
        ]
        .map(OsStr::new),
        &[(ENV_TICKETS, file.path())],
    )?;
    parse_request_figures(&output).ok_or_else(|| {
        GoUnavailable::new(format_args!(
            "no request figures in: {}",
            first_lines(&output)
        ))
    })
}

/// `tickets` as a JSON array in a temporary file.
pub(crate) fn write_tickets(tickets: &[Ticket]) -> Result<tempfile::NamedTempFile, GoUnavailable> {
    let fail = |e: &dyn fmt::Display| GoUnavailable::new(format_args!("tickets file: {e}"));
    let mut file = tempfile::Builder::new()
        .prefix("go-tickets-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| fail(&e))?;
    serde_json::to_writer(&mut file, tickets).map_err(|e| fail(&e))?;
    file.flush().map_err(|e| fail(&e))?;
    Ok(file)
}

/// The figures of `BenchmarkRequest/pooled` and `/unpooled` in `go test -benchmem`
/// output (lines of `name iterations value unit value unit ...`).
fn parse_request_figures(output: &str) -> Option<GoRequestFigures> {
    let figures = |case: &str| -> Option<(f64, f64)> {
        let line = output.lines().find(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|name| strip_procs(name) == format!("BenchmarkRequest/{case}"))
        })?;
        let fields: Vec<&str> = line.split_whitespace().skip(2).collect();
        let unit = |unit: &str| -> Option<f64> {
            fields
                .chunks_exact(2)
                .find(|pair| pair[1] == unit)
                .and_then(|pair| pair[0].parse().ok())
        };
        Some((unit("B/op")?, unit("allocs/op")?))
    };
    let (pooled_bytes, pooled_allocs) = figures("pooled")?;
    let (unpooled_bytes, unpooled_allocs) = figures("unpooled")?;
    Some(GoRequestFigures {
        pooled_bytes,
        pooled_allocs,
        unpooled_bytes,
        unpooled_allocs,
    })
}

/// A benchmark name without its `-GOMAXPROCS` suffix.
fn strip_procs(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, procs)) if !procs.is_empty() && procs.bytes().all(|b| b.is_ascii_digit()) => {
            base
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `go` runs; otherwise says so on stderr, so a test that did nothing is
    /// visible as such.
    fn go_installed(test: &str) -> bool {
        let found = Command::new("go").arg("version").output().is_ok();
        if !found {
            eprintln!("{test}: NOT RUN: `go` is not on PATH (apt-get install golang-go)");
        }
        found
    }

    const SAMPLE: &str = "goos: linux\ngoarch: amd64\npkg: stream/internal/stream\n\
        BenchmarkRequest/pooled-2   \t    2000\t    206250 ns/op\t 231.37 MB/s\t   68612 B/op\t     213 allocs/op\n\
        BenchmarkRequest/unpooled-2 \t    2000\t    380064 ns/op\t 125.56 MB/s\t  182812 B/op\t     217 allocs/op\n\
        PASS\nok  \tstream/internal/stream\t1.9s\n";

    #[test]
    fn parses_benchmem_output() {
        let figures = parse_request_figures(SAMPLE).expect("figures");
        assert_eq!(
            figures,
            GoRequestFigures {
                pooled_bytes: 68612.0,
                pooled_allocs: 213.0,
                unpooled_bytes: 182812.0,
                unpooled_allocs: 217.0,
            }
        );
        let single_proc = SAMPLE.replace("pooled-2 ", "pooled ");
        assert_eq!(parse_request_figures(&single_proc), Some(figures));
        assert_eq!(parse_request_figures("PASS\n"), None);
        let no_benchmem = "BenchmarkRequest/pooled-2 2000 206250 ns/op\nBenchmarkRequest/unpooled-2 2000 380064 ns/op\n";
        assert_eq!(parse_request_figures(no_benchmem), None);
    }

    #[test]
    fn a_missing_go_says_not_installed_and_a_missing_module_is_named() {
        let missing = OsStr::new("go-that-is-not-installed-anywhere");
        let file = write_tickets(&workload::tickets(3)).unwrap();
        let err = GoBlocks::start_with(missing, file.path()).unwrap_err();
        assert_eq!(err.reason, "not run (go not installed)");
        assert_eq!(err.to_string(), "not run (go not installed)");
        let err = request_figures_with(missing).unwrap_err();
        assert_eq!(err.to_string(), "not run (go not installed)");
        // A missing module directory is named, not taken for a missing go.
        let gone = tempfile::tempdir().unwrap().path().join("reference/go");
        let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = spawn_error(&gone, "go", not_found());
        assert!(err.reason.contains("the Go module is not at"), "{err}");
        assert!(err.reason.contains(&gone.display().to_string()), "{err}");
        let here = tempfile::tempdir().unwrap();
        let err = spawn_error(here.path(), "go", not_found());
        assert_eq!(err.reason, "not run (go not installed)");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let err = spawn_error(here.path(), "go", denied);
        assert!(
            err.reason.starts_with("not run (go could not start: "),
            "{err}"
        );
    }

    #[test]
    fn blocks_encode_the_labs_tickets_and_time_them() {
        if !go_installed("blocks_encode_the_labs_tickets_and_time_them") {
            return;
        }
        let tickets = workload::tickets(300);
        let file = write_tickets(&tickets).unwrap();
        let mut go = GoBlocks::start(file.path()).unwrap();
        assert!(go.go_version().starts_with("go"), "{}", go.go_version());

        // Go writes the same items; it differs from serde_json only in printing a
        // float with an integral value without its ".0".
        let integral = tickets
            .iter()
            .filter(|t| t.estimate_hours.fract() == 0.0)
            .count();
        let serde_bytes = serde_json::to_vec(&tickets).unwrap().len();
        let per_repeat = (serde_bytes - 2 * integral) as u64;

        let (bytes, seconds) = go.bulk_block(3).unwrap();
        assert_eq!(bytes, 3 * per_repeat);
        assert!(seconds > 0.0);
        let (bytes, seconds) = go.limit_block(2).unwrap();
        assert_eq!(bytes, 2 * per_repeat);
        assert!(seconds > 0.0);
        assert!(go.pool_block(10_000).unwrap() > 0.0);
        assert!(go.alloc_block(100).unwrap() > 0.0);

        let err = go.bulk_block(0).unwrap_err();
        assert!(err.reason.contains("`bulk` failed"), "{err}");
        assert!(
            go.bulk_block(1).is_ok(),
            "the server serves on after an error"
        );

        // A restart replaces the process: the old one is gone, the new one serves.
        let old = go.child.id();
        go.restart(Some(1)).unwrap();
        assert_ne!(go.child.id(), old);
        assert!(
            !Path::new(&format!("/proc/{old}")).exists(),
            "the old go process lives on"
        );
        assert_eq!(go.bulk_block(1).unwrap().0, per_repeat);
        // A warm-up streams until its time is spent, then the process serves on.
        go.warm_up(Duration::from_millis(20)).unwrap();
        assert_eq!(go.bulk_block(1).unwrap().0, per_repeat);

        let pid = go.child.id();
        drop(go);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the go process outlived its GoBlocks"
        );
    }

    /// A failed build, tickets that do not load and a server that died are errors in
    /// words, not hangs.
    #[test]
    fn go_failures_are_clear_errors() {
        if !go_installed("go_failures_are_clear_errors") {
            return;
        }
        // A build failure gives the compiler's first lines.
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("broken.go");
        std::fs::write(&source, "package main\n\nfunc main() { notDefined() }\n").unwrap();
        let out = dir.path().join("broken");
        let args = [
            OsStr::new("build"),
            OsStr::new("-o"),
            out.as_os_str(),
            source.as_os_str(),
        ];
        let err = run_go(OsStr::new("go"), &args, &[]).unwrap_err();
        assert!(
            err.reason.starts_with("not run (go build failed: "),
            "{err}"
        );
        assert!(err.reason.contains("undefined: notDefined"), "{err}");
        assert!(!err.reason.contains('\n'), "{err:?}");
        // Tickets that do not load are named.
        let err = GoBlocks::start(Path::new("/nonexistent/tickets.json")).unwrap_err();
        assert!(err.reason.starts_with("not run (tickets file"), "{err}");
        let mut bad = tempfile::NamedTempFile::new().unwrap();
        bad.write_all(br#"[{"id": 1, "severity": "high"}]"#)
            .unwrap();
        let err = GoBlocks::start(bad.path()).unwrap_err();
        assert!(err.reason.contains("`load` failed"), "{err}");
        assert!(err.reason.contains("severity"), "{err}");
        // A server that died is an error, not a hang.
        let file = write_tickets(&workload::tickets(10)).unwrap();
        let mut go = GoBlocks::start(file.path()).unwrap();
        go.child.kill().unwrap();
        go.child.wait().unwrap();
        let err = go.bulk_block(1).unwrap_err();
        assert!(
            err.reason.starts_with("not run (go block server exited"),
            "{err}"
        );
    }

    #[test]
    fn go_generator_and_ticket_mirror_the_labs() {
        if !go_installed("go_generator_and_ticket_mirror_the_labs") {
            return;
        }
        let file = write_tickets(&workload::tickets(500)).unwrap();
        let args = [
            "test",
            "-count=1",
            "-run",
            "^TestGenerateMatchesLabFile$",
            "-v",
            "./internal/workload",
        ];
        let output = run_go(
            OsStr::new("go"),
            &args.map(OsStr::new),
            &[(ENV_TICKETS, file.path())],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            output.contains("--- PASS: TestGenerateMatchesLabFile"),
            "{output}"
        );
    }

    #[test]
    fn request_figures_show_what_the_pool_saves() {
        if !go_installed("request_figures_show_what_the_pool_saves") {
            return;
        }
        let figures = request_figures().unwrap_or_else(|e| panic!("{e}"));
        assert!(figures.pooled_allocs > 0.0 && figures.unpooled_allocs > 0.0);
        // Without the pool every request allocates at least one more 50 KB buffer.
        assert!(
            figures.unpooled_bytes >= figures.pooled_bytes + 50.0 * 1024.0,
            "{figures:?}"
        );
    }
}
