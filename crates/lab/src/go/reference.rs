//! The Go package chunkstream succeeds, reconstructed in `reference/go` and run with the
//! `go` on `PATH`. [`GoBlocks`] keeps its block server (`reference/go/cmd/blocks`, whose
//! protocol its `main.go` documents) running so the lab alternates its blocks with Go's
//! under the same noise; Go times each block itself, so the pipe is not counted.
//! [`request_figures`] runs Go's benchmarks of one 100-ticket request. Every error is the
//! text of the report's Go column, `not run (...)`.

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use chunkstream_benches::workload::{self, Ticket};

/// Why the Go reference was not measured, as the report shows it: `not run (...)`.
pub(crate) type GoUnavailable = String;

fn unavailable(what: impl fmt::Display) -> GoUnavailable {
    format!("not run ({what})")
}

/// The environment variable the Go benchmarks read the tickets file from.
const ENV_TICKETS: &str = "CHUNKSTREAM_GO_TICKETS";

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/go")
}

/// The workspace's `target/go-ref/`, where the block server is built.
fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("go-ref")
}

/// `go` in the module: the local toolchain, no module downloads (the module has no
/// dependencies), and a build cache under `target/` when the environment gives none.
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

/// A run in `dir` that could not start: a missing `dir` fails with the same `NotFound`
/// as a missing `go`, and is named instead.
fn spawn_error(dir: &Path, what: &str, err: std::io::Error) -> GoUnavailable {
    if err.kind() != std::io::ErrorKind::NotFound {
        unavailable(format_args!("{what} could not start: {err}"))
    } else if !dir.is_dir() {
        unavailable(format_args!(
            "the Go module is not at {}: this lab binary was built from a checkout \
             that has moved",
            dir.display()
        ))
    } else {
        unavailable("go not installed")
    }
}

/// The first three non-empty lines of `text`, on one line.
fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = (text.lines().map(str::trim))
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    match lines.is_empty() {
        true => "no output".to_owned(),
        false => lines.join("; "),
    }
}

/// `go <args>` in the module: its stdout, or the first lines of its output.
fn run_go(go: &OsStr, args: &[&OsStr], env: &[(&str, &Path)]) -> Result<String, GoUnavailable> {
    let mut command = go_command(go);
    command.args(args).envs(env.iter().copied());
    let output = command
        .output()
        .map_err(|e| spawn_error(&reference_dir(), "go", e))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sub = args.first().map_or("".into(), |a| a.to_string_lossy());
    let lines = first_lines(&format!("{stderr}\n{stdout}"));
    Err(unavailable(format_args!("go {sub} failed: {lines}")))
}

/// A running Go block server, killed on drop.
#[derive(Debug)]
pub(crate) struct GoBlocks {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    version: String,
    /// The built server and the tickets file it loads, for a fresh process.
    binary: PathBuf,
    tickets: PathBuf,
}

impl GoBlocks {
    /// Builds the block server into `target/go-ref/` (Go's build cache makes an unchanged
    /// rebuild quick) and starts it on `tickets_json`, the lab's tickets as a JSON array.
    pub(crate) fn start(tickets_json: &Path) -> Result<GoBlocks, GoUnavailable> {
        Self::start_with(OsStr::new("go"), tickets_json)
    }

    fn start_with(go: &OsStr, tickets_json: &Path) -> Result<GoBlocks, GoUnavailable> {
        let tickets = std::fs::canonicalize(tickets_json).map_err(|e| {
            unavailable(format_args!("tickets file {}: {e}", tickets_json.display()))
        })?;
        let binary = build_dir().join("chunkstream-go-blocks");
        let args: [&OsStr; 4] = [
            "build".as_ref(),
            "-o".as_ref(),
            binary.as_ref(),
            "./cmd/blocks".as_ref(),
        ];
        run_go(go, &args, &[])?;
        GoBlocks::spawn(binary, tickets, None)
    }

    /// Starts the built server on `procs` cores (`GOMAXPROCS`; None: Go's default, every
    /// core) and loads the tickets.
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
        let mut child = (command.stdin(Stdio::piped()).stdout(Stdio::piped()))
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&reference_dir(), "the go block server", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(unavailable("the go block server has no pipes"));
        };
        let stdout = BufReader::new(stdout);
        let version = String::new();
        let mut blocks = GoBlocks {
            child,
            stdin,
            stdout,
            version,
            binary,
            tickets,
        };
        blocks.version = blocks.request("version")?.join(" ");
        blocks.request(&format!("load {}", blocks.tickets.to_string_lossy()))?;
        Ok(blocks)
    }

    /// Replaces the process with a fresh one on `procs` cores (as [`spawn`]), so a series
    /// of slices samples several Go processes (heap layout, GC pacing, goroutine
    /// placement), not only the noise within one.
    ///
    /// [`spawn`]: GoBlocks::spawn
    pub(crate) fn restart(&mut self, procs: Option<usize>) -> Result<(), GoUnavailable> {
        *self = GoBlocks::spawn(self.binary.clone(), self.tickets.clone(), procs)?;
        Ok(())
    }

    /// Streams the tickets, unmeasured, for `at_least` of Go's own time: a fresh Go
    /// process streams 10-40% slower for its first few hundred milliseconds (its heap
    /// and GC pacing grow to the workload), by an amount that differs between processes.
    pub(crate) fn warm_up(&mut self, at_least: Duration) -> Result<(), GoUnavailable> {
        let mut spent = 0.0;
        while spent < at_least.as_secs_f64() {
            // A block that takes no time would never end the loop.
            spent += self.bulk_block(1)?.1.max(1e-4);
        }
        Ok(())
    }

    /// The Go toolchain the server was built with, e.g. `go1.19.8`.
    pub(crate) fn go_version(&self) -> &str {
        &self.version
    }

    /// The Go streamer over the tickets `repeats` times (chunks drained): bytes and
    /// seconds, timed inside Go.
    pub(crate) fn bulk_block(&mut self, repeats: usize) -> Result<(u64, f64), GoUnavailable> {
        let [bytes, seconds] = self.numbers(&format!("bulk {repeats}"))?;
        Ok((bytes as u64, seconds))
    }

    /// Go's limit, `json.Marshal` of the whole slice `repeats` times: bytes and seconds.
    pub(crate) fn limit_block(&mut self, repeats: usize) -> Result<(u64, f64), GoUnavailable> {
        let [bytes, seconds] = self.numbers(&format!("limit {repeats}"))?;
        Ok((bytes as u64, seconds))
    }

    /// Get + Put on the Go package's `sync.Pool` of 50 KB buffers, ns per pair.
    pub(crate) fn pool_block(&mut self, iterations: u64) -> Result<f64, GoUnavailable> {
        Ok(self.numbers::<1>(&format!("pool {iterations}"))?[0])
    }

    /// A fresh 50 KB buffer escaping to Go's heap, what the pool replaces: ns each.
    pub(crate) fn alloc_block(&mut self, iterations: u64) -> Result<f64, GoUnavailable> {
        Ok(self.numbers::<1>(&format!("alloc {iterations}"))?[0])
    }

    /// The `N` numbers of the answer to `line`.
    fn numbers<const N: usize>(&mut self, line: &str) -> Result<[f64; N], GoUnavailable> {
        let answer = self.request(line)?;
        let numbers: Option<Vec<f64>> = answer.iter().map(|n| n.parse().ok()).collect();
        numbers.and_then(|n| n.try_into().ok()).ok_or_else(|| {
            let answer = answer.join(" ");
            unavailable(format_args!("unexpected go block answer `ok {answer}`"))
        })
    }

    /// Sends one command; the fields of its `ok` answer.
    fn request(&mut self, line: &str) -> Result<Vec<String>, GoUnavailable> {
        let mut answer = String::new();
        let read = writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .and_then(|()| self.stdout.read_line(&mut answer));
        if !matches!(read, Ok(n) if n > 0) {
            return Err(self.exited());
        }
        let answer = answer.trim_end();
        match answer.strip_prefix("ok ") {
            Some(rest) => Ok(rest.split_whitespace().map(str::to_owned).collect()),
            None => {
                let command = line.split_whitespace().next().unwrap_or(line);
                let message = answer.strip_prefix("err ").unwrap_or(answer);
                Err(unavailable(format_args!(
                    "go block `{command}` failed: {message}"
                )))
            }
        }
    }

    /// A server that stopped answering, with the first lines it wrote.
    fn exited(&mut self) -> GoUnavailable {
        let _ = self.child.kill();
        let status = self.child.wait();
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        let lines = first_lines(&stderr);
        unavailable(format_args!("go block server exited ({status}): {lines}"))
    }
}

impl Drop for GoBlocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Go's `-benchmem` figures per 100-ticket request (the lab's first 100 tickets): bytes
/// and allocations with the pool, then bytes and allocations with a fresh buffer.
pub(crate) fn request_figures() -> Result<[f64; 4], GoUnavailable> {
    request_figures_with(OsStr::new("go"))
}

fn request_figures_with(go: &OsStr) -> Result<[f64; 4], GoUnavailable> {
    let file = write_tickets(&workload::tickets(100))?;
    // 2000 iterations: steady averages, short enough for a default run.
    let args = "test -run ^$ -bench ^BenchmarkRequest$ -benchmem -benchtime=2000x -count=1 \
                ./internal/stream";
    let args: Vec<&OsStr> = args.split_whitespace().map(OsStr::new).collect();
    let output = run_go(go, &args, &[(ENV_TICKETS, file.path())])?;
    parse_request_figures(&output).ok_or_else(|| {
        unavailable(format_args!(
            "no request figures in: {}",
            first_lines(&output)
        ))
    })
}

/// `tickets` as a JSON array in a temporary file.
pub(crate) fn write_tickets(tickets: &[Ticket]) -> Result<tempfile::NamedTempFile, GoUnavailable> {
    let fail = |e: &dyn fmt::Display| unavailable(format_args!("tickets file: {e}"));
    let mut file = (tempfile::Builder::new()
        .prefix("go-tickets-")
        .suffix(".json"))
    .tempfile()
    .map_err(|e| fail(&e))?;
    serde_json::to_writer(&mut file, tickets).map_err(|e| fail(&e))?;
    file.flush().map_err(|e| fail(&e))?;
    Ok(file)
}

/// The figures of `BenchmarkRequest/pooled` and `/unpooled` in `go test -benchmem`
/// output (lines of `name[-procs] iterations value unit value unit ...`).
fn parse_request_figures(output: &str) -> Option<[f64; 4]> {
    let mut figures = [0.0; 4];
    let wanted = ["pooled", "unpooled"].map(|case| ["B/op", "allocs/op"].map(|u| (case, u)));
    for (figure, (case, unit)) in figures.iter_mut().zip(wanted.into_iter().flatten()) {
        let name = format!("BenchmarkRequest/{case}");
        let line = (output.lines())
            .find(|line| line.split_whitespace().next().map(strip_procs) == Some(name.as_str()))?;
        let fields: Vec<&str> = line.split_whitespace().skip(2).collect();
        *figure = fields.chunks_exact(2).find(|p| p[1] == unit)?[0]
            .parse()
            .ok()?;
    }
    Some(figures)
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

    /// Whether `go` runs; otherwise says so, so a test that did nothing shows as such.
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
        let figures = [68612.0, 213.0, 182812.0, 217.0];
        assert_eq!(parse_request_figures(SAMPLE), Some(figures));
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
        assert_eq!(err, "not run (go not installed)");
        let err = request_figures_with(missing).unwrap_err();
        assert_eq!(err, "not run (go not installed)");
        // A missing module directory is named, not taken for a missing go.
        let gone = tempfile::tempdir().unwrap().path().join("reference/go");
        let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = spawn_error(&gone, "go", not_found());
        assert!(err.contains("the Go module is not at"), "{err}");
        assert!(err.contains(&gone.display().to_string()), "{err}");
        let here = tempfile::tempdir().unwrap();
        let err = spawn_error(here.path(), "go", not_found());
        assert_eq!(err, "not run (go not installed)");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let err = spawn_error(here.path(), "go", denied);
        assert!(err.starts_with("not run (go could not start: "), "{err}");
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
        assert!(bytes == 3 * per_repeat && seconds > 0.0);
        let (bytes, seconds) = go.limit_block(2).unwrap();
        assert!(bytes == 2 * per_repeat && seconds > 0.0);
        assert!(go.pool_block(10_000).unwrap() > 0.0);
        assert!(go.alloc_block(100).unwrap() > 0.0);

        let err = go.bulk_block(0).unwrap_err();
        assert!(err.contains("`bulk` failed"), "{err}");
        assert!(go.bulk_block(1).is_ok(), "serves on after an error");

        // A restart replaces the process: the old one is gone, the new one serves.
        let old = go.child.id();
        go.restart(Some(1)).unwrap();
        assert_ne!(go.child.id(), old);
        let gone = |pid: u32| !Path::new(&format!("/proc/{pid}")).exists();
        assert!(gone(old), "the old go process lives on");
        assert_eq!(go.bulk_block(1).unwrap().0, per_repeat);
        // A warm-up streams until its time is spent, then the process serves on.
        go.warm_up(Duration::from_millis(20)).unwrap();
        assert_eq!(go.bulk_block(1).unwrap().0, per_repeat);

        let pid = go.child.id();
        drop(go);
        assert!(gone(pid), "the go process outlived its GoBlocks");
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
        let args: [&OsStr; 4] = [
            "build".as_ref(),
            "-o".as_ref(),
            out.as_ref(),
            source.as_ref(),
        ];
        let err = run_go(OsStr::new("go"), &args, &[]).unwrap_err();
        assert!(err.starts_with("not run (go build failed: "), "{err}");
        assert!(err.contains("undefined: notDefined"), "{err}");
        assert!(!err.contains('\n'), "{err:?}");
        // Tickets that do not load are named.
        let err = GoBlocks::start(Path::new("/nonexistent/tickets.json")).unwrap_err();
        assert!(err.starts_with("not run (tickets file"), "{err}");
        let mut bad = tempfile::NamedTempFile::new().unwrap();
        bad.write_all(br#"[{"id": 1, "severity": "high"}]"#)
            .unwrap();
        let err = GoBlocks::start(bad.path()).unwrap_err();
        assert!(
            err.contains("`load` failed") && err.contains("severity"),
            "{err}"
        );
        // A server that died is an error, not a hang.
        let file = write_tickets(&workload::tickets(10)).unwrap();
        let mut go = GoBlocks::start(file.path()).unwrap();
        go.child.kill().unwrap();
        go.child.wait().unwrap();
        let err = go.bulk_block(1).unwrap_err();
        assert!(err.starts_with("not run (go block server exited"), "{err}");
    }

    #[test]
    fn go_generator_and_ticket_mirror_the_labs() {
        if !go_installed("go_generator_and_ticket_mirror_the_labs") {
            return;
        }
        let file = write_tickets(&workload::tickets(500)).unwrap();
        let args = "test -count=1 -run ^TestGenerateMatchesLabFile$ -v ./internal/workload";
        let args: Vec<&OsStr> = args.split(' ').map(OsStr::new).collect();
        let env = [(ENV_TICKETS, file.path())];
        let output = run_go(OsStr::new("go"), &args, &env).unwrap();
        let passed = output.contains("--- PASS: TestGenerateMatchesLabFile");
        assert!(passed, "{output}");
    }

    #[test]
    fn request_figures_show_what_the_pool_saves() {
        if !go_installed("request_figures_show_what_the_pool_saves") {
            return;
        }
        let [pooled_bytes, pooled_allocs, unpooled_bytes, unpooled_allocs] =
            request_figures().unwrap();
        assert!(pooled_allocs > 0.0 && unpooled_allocs > 0.0);
        // Without the pool every request allocates at least one more 50 KB buffer.
        assert!(unpooled_bytes >= pooled_bytes + 50.0 * 1024.0);
    }
}
