//! The `tickets` binary as a person runs it: start-up errors, `--help`, seeding logs,
//! and shutdown on Ctrl-C (SIGINT) and SIGTERM with a client that stopped reading.
//! Real processes, a real SQLite file, real TCP on 127.0.0.1.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

mod support;

/// Tickets in the database the shutdown tests use: enough (about 9 MB of JSON) that a
/// client that stops reading leaves the server with a response it cannot finish.
const TICKETS: u64 = 20_000;

fn tickets() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickets"));
    command
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("TICKETS_EXPOSE_ERRORS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` to its end, expecting it to refuse to start (exit 1): its stderr.
fn refused(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

/// A directory of its own for this file's databases ([`support::scratch_dir`]).
fn scratch_dir() -> PathBuf {
    support::scratch_dir("chunkstream-cli-")
}

/// A copy of a database seeded once per test process with [`TICKETS`] tickets.
fn seeded_copy() -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let path = scratch_dir().join("template.db");
        let mut server = Server::start(&path, TICKETS, &[]);
        server.signal("TERM");
        let status = server.wait(Duration::from_secs(60));
        assert_eq!(status.code(), Some(0), "seeding run: {}", server.log());
        path
    });
    let copy = scratch_dir().join("tickets.db");
    std::fs::copy(template, &copy).expect("copy the seeded database");
    copy
}

/// A running `tickets` process and the log it wrote to stderr so far.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    addr: SocketAddr,
}

impl Server {
    /// Starts `tickets` on a free port and waits (up to 5 min) until it listens.
    fn start(db: &Path, tickets_n: u64, extra: &[&str]) -> Server {
        let mut child = tickets()
            .arg("--db")
            .arg(db)
            .args(["--tickets", &tickets_n.to_string(), "--addr", "127.0.0.1:0"])
            .args(extra)
            .spawn()
            .expect("start tickets");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(
                        addr.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("tickets did not listen: {}", log.lock().unwrap().join("\n"));
            }
        };
        Server { child, log, addr }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends `SIGname` (with the `kill` command).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit (killing it after that, and failing).
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the log reader reach the end.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("tickets still running after {limit:?}: {}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` while a client holds a response it stopped reading: the process says it
/// is shutting down, cuts the response after the grace period and exits with status 0.
async fn signal_with_a_stalled_client_exits(signal: &str, name: &str) {
    let db = seeded_copy();
    let mut server = Server::start(
        &db,
        TICKETS,
        &["--shutdown-timeout", "1", "--stall-timeout", "600"],
    );
    let (client, status) = support::stalled_reader(server.addr, "/tickets").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal(signal);
    let status = server.wait(Duration::from_secs(30));
    let log = server.log();
    assert_eq!(status.code(), Some(0), "{status:?}: {log}");
    assert!(log.contains(name), "{log}");
    assert!(log.contains("grace period over"), "{log}");
    drop(client);
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_exits_after_the_grace_period() {
    signal_with_a_stalled_client_exits("TERM", "SIGTERM").await;
}

#[tokio::test]
async fn ctrl_c_with_a_stalled_client_exits_after_the_grace_period() {
    signal_with_a_stalled_client_exits("INT", "SIGINT").await;
}

/// With no open response, a signal stops the process at once, cleanly.
#[test]
fn sigterm_when_idle_stops_at_once() {
    let db = seeded_copy();
    let mut server = Server::start(&db, TICKETS, &["--shutdown-timeout", "30"]);
    server.signal("TERM");
    let status = server.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("every response finished"));
}

/// A database path that cannot be opened and an address already in use: one readable
/// line naming the path or the address, no debug dump, a non-zero exit.
#[test]
fn startup_errors_name_what_failed() {
    let dir = scratch_dir();
    let missing = dir.join("missing-dir").join("t.db");
    let stderr = refused(
        tickets()
            .arg("--db")
            .arg(&missing)
            .args(["--addr", "127.0.0.1:0"]),
    );
    assert!(
        stderr.contains(&missing.display().to_string()),
        "the path is not named: {stderr}"
    );
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    for debug in ["SqliteError {", "Database(", " { code:", "Os {"] {
        assert!(!stderr.contains(debug), "debug output {debug:?}: {stderr}");
    }

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let stderr = refused(
        tickets()
            .arg("--db")
            .arg(seeded_copy())
            .args(["--addr", &addr]),
    );
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(!stderr.contains("Os {"), "{stderr}");
}

/// A `--database-url` of neither SQLite nor PostgreSQL: one readable line naming the URL
/// (password hidden) and the schemes the service speaks, a non-zero exit.
#[test]
fn an_unsupported_database_url_is_refused_by_name() {
    let stderr = refused(
        tickets()
            .args(["--database-url", "mysql://rita:secret@127.0.0.1/tickets"])
            .args(["--addr", "127.0.0.1:0"]),
    );
    assert!(
        stderr.contains("cannot open the database mysql://rita:***@127.0.0.1/tickets"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unsupported database URL scheme \"mysql\""),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

/// `--help` lists the endpoints, `RUST_LOG` and the defaults the README gives.
#[test]
fn help_lists_endpoints_environment_and_defaults() {
    let output = tickets().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "GET /tickets ",
        "GET /tickets.ndjson",
        "GET /tickets/summary",
        "GET /healthz",
        "GET /readyz",
        "RUST_LOG",
        "[default: tickets.db]",
        "[default: 100000]",
        "[default: 127.0.0.1:3000]",
        "[default: freelist]",
        "[default: sonic-rs]",
    ] {
        assert!(
            help.contains(needle),
            "{needle:?} missing from --help:\n{help}"
        );
    }
}

/// Seeding says what it does; a table that has rows is left alone, and the ignored
/// `--tickets` is noted. Logs go to stderr without ANSI colours when it is not a
/// terminal.
#[test]
fn seeding_is_logged_and_an_ignored_count_is_noted() {
    let db = scratch_dir().join("tickets.db");
    let mut server = Server::start(&db, 1200, &[]);
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
    let log = server.log();
    assert!(log.contains("seeding an empty tickets table"), "{log}");
    assert!(log.contains("seeded 1200 tickets"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a piped log: {log:?}"
    );

    let mut server = Server::start(&db, 50, &[]);
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
    let log = server.log();
    assert!(!log.contains("seeding an empty"), "{log}");
    assert!(
        log.contains("already has 1200 rows") && log.contains("50 tickets asked for are ignored"),
        "{log}"
    );
}
