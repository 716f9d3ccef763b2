//! `loadtest`: a bounded load client for the tickets service, loopback only.
//!
//! It starts the `tickets` binary (the one built beside it, or `--server PATH`) on
//! 127.0.0.1 with a fresh SQLite database, or uses a running one (`--addr`, loopback
//! only), then:
//!
//! - `load` (the default): `--stalled` readers that request `/tickets` and stop reading,
//!   `--downloads` concurrent full downloads of `/tickets` and `--small` requests of
//!   `/tickets?limit=10`; every response must be complete and byte-identical to the
//!   reference taken before the load, or a clean `503` (JSON body, `Retry-After`). It
//!   reports counts, times and the server's peak RSS (`VmHWM` of its process), and exits
//!   non-zero if any response was neither.
//! - `small`: `/tickets?limit=10` from `--concurrency` clients for `--seconds`, and the
//!   rate.
//! - `slow`, `downloads`, `burst`, `keepalive` (and `fair`: the four, each on a fresh
//!   server): the fairness scenarios of issue 18, see the `fair` module. Each prints the
//!   server's peak RSS and the bound the service's documented sizes give.
//! - `download`: one client, full downloads of `/tickets` (JSON, no gzip) from one
//!   started server per `--drivers` entry (its `--sqlite-driver`), all on the same
//!   SQLite file, alternating round by round (`--repeats` rounds after a warm-up); each
//!   body must equal the first driver's. It reports each driver's MB/s (median, min,
//!   max) and the median of the per-round ratios to the last driver.
//!
//! Everything has a deadline (`--deadline`); it stops by itself.

use std::io::{BufRead as _, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[path = "loadtest/fair.rs"]
mod fair;

/// A bounded load client for the tickets service (loopback only; stops by itself).
#[derive(Clone, Debug, Parser)]
struct Args {
    /// What to run.
    #[arg(value_enum, default_value_t = Mode::Load)]
    mode: Mode,
    /// A running server on this loopback address instead of starting one.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Its process id, to read its peak RSS (with --addr).
    #[arg(long)]
    pid: Option<u32>,
    /// The `tickets` binary to start (default: the one beside this program).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The SQLite file the started server uses (default: a fresh one, removed after).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Tickets in the started server's table.
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// The started server's --stall-timeout, in seconds.
    #[arg(long, default_value_t = 2.0)]
    stall_timeout: f64,
    /// Extra flags for the started server (for instance `--server-arg=--pool=thread-local`).
    #[arg(long = "server-arg")]
    server_args: Vec<String>,
    /// Concurrent full downloads (`load`).
    #[arg(long, default_value_t = 64)]
    downloads: usize,
    /// Readers that stop reading (`load`).
    #[arg(long, default_value_t = 8)]
    stalled: usize,
    /// Small requests (`load`).
    #[arg(long, default_value_t = 500)]
    small: usize,
    /// Times a request retries after a 503, waiting its Retry-After (`load`).
    #[arg(long, default_value_t = 300)]
    retries: u32,
    /// Concurrent clients (`small`; also the small requests' concurrency in `load`).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds to run (`small`).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Clients reading at `--slow-rate` (`slow`).
    #[arg(long, default_value_t = 8)]
    slow: usize,
    /// Bytes per second the slow clients read (`slow`).
    #[arg(long, default_value_t = 1024)]
    slow_rate: usize,
    /// Seconds the slow readers get to be cut by the minimum rate (`slow`).
    #[arg(long, default_value_t = 180.0)]
    cut_within: f64,
    /// Concurrent clients (`slow`'s small requests, `keepalive`'s connections).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Full downloads each client makes in turn (`downloads`).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Connections opened at once (`burst`).
    #[arg(long, default_value_t = 500)]
    connections: usize,
    /// Small requests per connection (`burst`).
    #[arg(long, default_value_t = 4)]
    per_connection: usize,
    /// The servers' `--sqlite-driver`s to compare (`download`).
    #[arg(long, value_delimiter = ',', default_value = "rusqlite,sqlx")]
    drivers: Vec<String>,
    /// Timed rounds, each one download per driver (`download`).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Seconds after which everything stops and the run fails.
    #[arg(long, default_value_t = 300.0)]
    deadline: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Full downloads, stalled readers and small requests at once.
    Load,
    /// The rate of small requests.
    Small,
    /// Slow readers beside small requests; the minimum rate cuts them.
    Slow,
    /// Full downloads through the queue.
    Downloads,
    /// Many connections making a few small requests at once.
    Burst,
    /// Keep-alive connections asking `limit=100` as fast as they can.
    Keepalive,
    /// `slow`, `downloads`, `burst` and `keepalive`, each on a fresh server.
    Fair,
    /// One client's full downloads, per SQLite driver.
    Download,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let deadline = Duration::from_secs_f64(args.deadline);
    let result = runtime.block_on(async {
        match tokio::time::timeout(deadline, run(&args)).await {
            Ok(result) => result,
            Err(_) => Err(format!("deadline of {deadline:?} passed").into()),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadtest: FAILED: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), Error> {
    if args.mode == Mode::Download {
        return download(args).await;
    }
    let modes = match args.mode {
        Mode::Fair => vec![Mode::Slow, Mode::Downloads, Mode::Burst, Mode::Keepalive],
        mode => vec![mode],
    };
    for mode in modes {
        println!("scenario={mode:?}");
        run_one(args, mode).await?;
    }
    Ok(())
}

async fn run_one(args: &Args, mode: Mode) -> Result<(), Error> {
    let server = match args.addr {
        Some(addr) => {
            if !addr.ip().is_loopback() {
                return Err(format!("{addr} is not a loopback address").into());
            }
            Server {
                addr,
                pid: args.pid,
                child: None,
                _dir: None,
                cuts: Arc::default(),
            }
        }
        None => Server::start(args)?,
    };
    let baseline = server.rss_kib("VmRSS:").unwrap_or(0);
    let bound = rss_bound_kib(&server, baseline, mode, args).await;
    let result = match mode {
        Mode::Load => load(args, &server).await,
        Mode::Small => small(args, &server).await,
        Mode::Slow => fair::slow(args, &server).await,
        Mode::Downloads => fair::downloads(args, &server).await,
        Mode::Burst => fair::burst(args, &server).await,
        Mode::Keepalive => fair::keepalive(args, &server).await,
        Mode::Fair => unreachable!("split into its scenarios"),
        Mode::Download => unreachable!("download starts its own servers"),
    };
    let peak = server.rss_kib("VmHWM:").unwrap_or(0);
    println!("server_peak_rss_kib={peak} server_start_rss_kib={baseline}");
    if let Some(bound) = bound {
        println!(
            "server_rss_bound_kib={bound} rss_within_bound={}",
            peak <= bound
        );
    }
    drop(server);
    result
}

/// The most the server may hold in the scenario by its documented sizes (from
/// `/healthz`): its RSS at the start, its fixed memory (pooled buffers, database caches)
/// and the memory of one response for each slot and each small request in flight at
/// once. `None` for a server that does not report its sizes.
async fn rss_bound_kib(server: &Server, baseline: u64, mode: Mode, args: &Args) -> Option<u64> {
    let body = client()
        .ok()?
        .get(server.url("/healthz"))
        .send()
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let health: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let per_stream = health["memory"]["per_stream_bytes"].as_u64()?;
    let fixed = health["memory"]["fixed_bytes"].as_u64()?;
    let slots = health["streams"]["max"].as_u64()?;
    let small_at_once = match mode {
        Mode::Slow | Mode::Keepalive => args.clients,
        Mode::Burst => args.connections,
        Mode::Load => args.concurrency,
        _ => 0,
    } as u64;
    Some(baseline + (fixed + (slots + small_at_once) * per_stream) / 1024)
}

/// The server under test; a started one is stopped (SIGKILL) when dropped.
struct Server {
    addr: SocketAddr,
    pid: Option<u32>,
    child: Option<Child>,
    _dir: Option<tempfile_dir::TempDir>,
    /// Streams the server's log says it cut below the minimum data rate.
    cuts: Arc<AtomicU64>,
}

impl Server {
    fn start(args: &Args) -> Result<Server, Error> {
        let exe = match &args.server {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("tickets"),
        };
        let dir = tempfile_dir::TempDir::new()?;
        let db = args
            .db
            .clone()
            .unwrap_or_else(|| dir.path().join("tickets.db"));
        let mut child = Command::new(&exe)
            .arg("--db")
            .arg(&db)
            .args(["--tickets", &args.tickets.to_string()])
            .args(["--addr", "127.0.0.1:0"])
            .args(["--stall-timeout", &args.stall_timeout.to_string()])
            .args(["--shutdown-timeout", "1"])
            .args(&args.server_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", exe.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let cuts = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&cuts);
        // Reads the server's log to the end (a full pipe would block it), passing on the
        // address it listens on.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(
                            addr.split_whitespace()
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                } else if line.contains("WARN") || line.contains("ERROR") {
                    if line.contains("too_slow") {
                        counted.fetch_add(1, Relaxed);
                    }
                    eprintln!("server: {line}");
                }
            }
        });
        let started = Instant::now();
        let addr = rx
            .recv_timeout(Duration::from_secs(600))
            .map_err(|_| "the server did not start listening (see its log above)")?;
        eprintln!(
            "loadtest: server up on {addr} after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Server {
            addr: addr.parse()?,
            pid: Some(child.id()),
            child: Some(child),
            _dir: Some(dir),
            cuts,
        })
    }

    /// Streams cut below the minimum data rate so far (by the server's log).
    fn cuts(&self) -> u64 {
        self.cuts.load(Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A field of the server's `/proc/PID/status` in KiB (`VmHWM:` the peak RSS,
    /// `VmRSS:` the current).
    fn rss_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temporary directory, removed on drop (std only).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new() -> std::io::Result<TempDir> {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = std::env::temp_dir()
                .join(format!("tickets-loadtest-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What one request got.
#[derive(Debug)]
enum Outcome {
    /// Complete and identical to the reference.
    Complete,
    /// A clean 503: JSON error body and `Retry-After`.
    Busy(Duration),
    /// Anything else, described.
    Wrong(String),
}

/// GETs `url` and compares the whole body with `reference`.
async fn fetch(client: &reqwest::Client, url: &str, reference: &Bytes) -> Outcome {
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(err) => return Outcome::Wrong(format!("request failed: {err}")),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => return Outcome::Wrong(format!("{status}: body failed: {err}")),
    };
    if status == 503 {
        let problem: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let clean = problem
            .as_ref()
            .is_some_and(|p| p["error"].is_string() && p["request_id"].is_string());
        return match (clean, retry_after) {
            (true, Some(secs)) => Outcome::Busy(Duration::from_secs(secs)),
            _ => Outcome::Wrong(format!(
                "503 without a JSON error body and Retry-After: {:?}",
                String::from_utf8_lossy(&body)
            )),
        };
    }
    if status != 200 {
        return Outcome::Wrong(format!(
            "status {status}: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if body != *reference {
        return Outcome::Wrong(format!(
            "200 with {} bytes that differ from the reference's {}",
            body.len(),
            reference.len()
        ));
    }
    Outcome::Complete
}

/// GETs `url` with `client` and returns its body, which must be a `200`.
async fn reference(client: &reqwest::Client, url: &str) -> Result<Bytes, Error> {
    Ok(client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?)
}

/// `clients` clients (at least one) GETting `url` back to back until `until`, each
/// response compared with `reference`: their tally.
async fn small_requests(
    client: &reqwest::Client,
    url: &str,
    reference: &Bytes,
    clients: usize,
    until: Instant,
) -> Result<Arc<Tally>, Error> {
    let tally = Arc::new(Tally::default());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (client, url, reference) = (client.clone(), url.to_owned(), reference.clone());
        let tally = tally.clone();
        tasks.spawn(async move {
            while Instant::now() < until {
                let outcome = fetch(&client, &url, &reference).await;
                tally.record(&outcome, "small request");
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    Ok(tally)
}

/// Counts of outcomes, shared by the clients.
#[derive(Debug, Default)]
struct Tally {
    complete: AtomicU64,
    busy: AtomicU64,
    wrong: AtomicU64,
    gave_up: AtomicU64,
}

impl Tally {
    fn record(&self, outcome: &Outcome, what: &str) {
        match outcome {
            Outcome::Complete => self.complete.fetch_add(1, Relaxed),
            Outcome::Busy(_) => self.busy.fetch_add(1, Relaxed),
            Outcome::Wrong(why) => {
                eprintln!("loadtest: {what}: {why}");
                self.wrong.fetch_add(1, Relaxed)
            }
        };
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name}_complete={} {name}_503={} {name}_wrong={} {name}_gave_up={}",
            self.complete.load(Relaxed),
            self.busy.load(Relaxed),
            self.wrong.load(Relaxed),
            self.gave_up.load(Relaxed)
        )
    }
}

/// GETs `url` until it is not a 503 (at most `retries` more times, waiting each 503's
/// `Retry-After`, capped at 2 s), recording every outcome; the time of the complete
/// response, if one came.
async fn fetch_retrying(
    client: &reqwest::Client,
    url: &str,
    reference: &Bytes,
    tally: &Tally,
    retries: u32,
    what: &str,
) -> Option<Duration> {
    for attempt in 0..=retries {
        let began = Instant::now();
        let outcome = fetch(client, url, reference).await;
        tally.record(&outcome, what);
        match outcome {
            Outcome::Busy(wait) if attempt < retries => {
                tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
            }
            Outcome::Busy(_) => {
                tally.gave_up.fetch_add(1, Relaxed);
            }
            Outcome::Complete => return Some(began.elapsed()),
            Outcome::Wrong(_) => return None,
        }
    }
    None
}

/// A client that opens a connection per request.
fn client() -> Result<reqwest::Client, Error> {
    client_keeping(0)
}

/// A client that keeps at most `idle` connections open between requests.
fn client_keeping(idle: usize) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .no_gzip()
        .no_proxy()
        .pool_max_idle_per_host(idle)
        .build()?)
}

/// A reader that sends `GET path`, reads the start of the response, then stops reading
/// and keeps the connection open until dropped; and the response's status.
async fn stalled_reader(
    addr: SocketAddr,
    path: &str,
) -> Result<(tokio::net::TcpStream, u16), Error> {
    let (stream, status, _) = get_with_small_window(addr, path, &mut [0_u8; 1024]).await?;
    Ok((stream, status))
}

/// Sends `GET path` on a connection with a 4 KiB receive buffer and reads once into
/// `first`: the connection, the response's status and the bytes read.
async fn get_with_small_window(
    addr: SocketAddr,
    path: &str,
    first: &mut [u8],
) -> Result<(tokio::net::TcpStream, u16, usize), Error> {
    let socket = match addr.ip() {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_recv_buffer_size(4096)?;
    let mut stream = socket.connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let n = stream.read(first).await?;
    let status = first[..n]
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| std::str::from_utf8(rest.get(..3)?).ok())
        .and_then(|code| code.parse().ok())
        .ok_or("no HTTP response")?;
    Ok((stream, status, n))
}

async fn load(args: &Args, server: &Server) -> Result<(), Error> {
    let client = client()?;
    // The references, taken while the server is idle.
    let full_url = server.url("/tickets");
    let small_url = server.url("/tickets?limit=10");
    let expected = reference(&client, &full_url).await?;
    let small_expected = reference(&client, &small_url).await?;
    serde_json::from_slice::<serde_json::Value>(&expected)
        .map_err(|err| format!("the reference download is not JSON: {err}"))?;
    eprintln!(
        "loadtest: reference: {} bytes; {} stalled readers, {} downloads, {} small requests",
        expected.len(),
        args.stalled,
        args.downloads,
        args.small
    );

    let started = Instant::now();
    let mut stalled = Vec::new();
    let mut stalled_503 = 0;
    for _ in 0..args.stalled {
        let (reader, status) = stalled_reader(server.addr, "/tickets").await?;
        stalled_503 += usize::from(status == 503);
        stalled.push(reader);
    }

    let downloads = Arc::new(Tally::default());
    let small = Arc::new(Tally::default());
    let download_times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.downloads {
        let (client, url, expected) = (client.clone(), full_url.clone(), expected.clone());
        let (tally, times, retries) = (downloads.clone(), download_times.clone(), args.retries);
        tasks.spawn(async move {
            let what = format!("download {i}");
            if let Some(took) =
                fetch_retrying(&client, &url, &expected, &tally, retries, &what).await
            {
                times.lock().unwrap().push(took);
            }
        });
    }
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..args.concurrency.max(1) {
        let (client, url, expected) = (client.clone(), small_url.clone(), small_expected.clone());
        let (tally, next, total, retries) =
            (small.clone(), next.clone(), args.small as u64, args.retries);
        tasks.spawn(async move {
            while next.fetch_add(1, Relaxed) < total {
                fetch_retrying(&client, &url, &expected, &tally, retries, "small request").await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    let elapsed = started.elapsed();
    drop(stalled);

    let mut times = download_times.lock().unwrap().clone();
    times.sort();
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64())
    };
    println!("{}", downloads.line("downloads"));
    println!("{}", small.line("small"));
    println!(
        "stalled_readers={} stalled_refused_503={stalled_503}",
        args.stalled
    );
    println!(
        "download_secs_p50={:.3} download_secs_max={:.3} elapsed_secs={:.3} reference_bytes={}",
        pct(0.5),
        pct(1.0),
        elapsed.as_secs_f64(),
        expected.len()
    );

    // After the load, the service is normal again.
    let health: serde_json::Value = serde_json::from_slice(
        &client
            .get(server.url("/healthz"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    println!("healthz_after={health}");
    let after = fetch(&client, &full_url, &expected).await;
    let wrong = downloads.wrong.load(Relaxed) + small.wrong.load(Relaxed);
    if wrong > 0 {
        return Err(format!("{wrong} responses were neither complete nor a clean 503").into());
    }
    if downloads.complete.load(Relaxed) == 0 {
        return Err("no download completed".into());
    }
    if !matches!(after, Outcome::Complete) {
        return Err(format!("after the load, a download got {after:?}").into());
    }
    println!("result=ok");
    Ok(())
}

async fn small(args: &Args, server: &Server) -> Result<(), Error> {
    let client = client()?;
    let url = server.url("/tickets?limit=10");
    let expected = reference(&client, &url).await?;
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let tally = small_requests(&client, &url, &expected, args.concurrency, until).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let done = tally.complete.load(Relaxed);
    println!("{}", tally.line("small"));
    println!(
        "small_requests_per_sec={:.1} concurrency={} seconds={elapsed:.2}",
        done as f64 / elapsed,
        args.concurrency
    );
    if tally.wrong.load(Relaxed) > 0 {
        return Err("some responses were wrong".into());
    }
    Ok(())
}

/// `download`: one client's full downloads of `/tickets` from one server per driver, on
/// the same SQLite file, alternating round by round.
async fn download(args: &Args) -> Result<(), Error> {
    if args.addr.is_some() || args.drivers.is_empty() || args.repeats == 0 {
        return Err("download starts its own servers: no --addr, one or more --drivers, one or more --repeats".into());
    }
    let dir = tempfile_dir::TempDir::new()?;
    let mut servers = Vec::new();
    for driver in &args.drivers {
        let mut started = args.clone();
        // The first server seeds the file; the others find it seeded.
        started.db = Some(
            args.db
                .clone()
                .unwrap_or_else(|| dir.path().join("tickets.db")),
        );
        started
            .server_args
            .push(format!("--sqlite-driver={driver}"));
        servers.push((driver.as_str(), Server::start(&started)?));
    }
    let client = reqwest::Client::builder().no_gzip().build()?;
    let mut reference: Option<Bytes> = None;
    let mut rates = vec![Vec::new(); servers.len()];
    for round in 0..=args.repeats {
        for (i, (driver, server)) in servers.iter().enumerate() {
            let started = Instant::now();
            let response = client.get(server.url("/tickets")).send().await?;
            if response.status() != 200 {
                return Err(format!("{driver}: status {}", response.status()).into());
            }
            let body = response.bytes().await?;
            let seconds = started.elapsed().as_secs_f64();
            match &reference {
                None => reference = Some(body.clone()),
                Some(first) if *first != body => {
                    return Err(
                        format!("{driver}: the body differs from the first driver's").into(),
                    );
                }
                Some(_) => {}
            }
            // Round 0 warms up the servers' caches and pools.
            if round > 0 {
                rates[i].push(body.len() as f64 / seconds / 1e6);
            }
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let bytes = reference.map_or(0, |body| body.len());
    println!("download_bytes={bytes} rounds={}", args.repeats);
    for ((driver, _), rates) in servers.iter().zip(&rates) {
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!(
            "download_{driver}_mb_per_s median={:.1} min={lo:.1} max={hi:.1}",
            median(rates)
        );
    }
    let last = rates.len() - 1;
    for ((driver, _), rates_i) in servers.iter().zip(&rates).take(last) {
        let ratios: Vec<f64> = rates_i
            .iter()
            .zip(&rates[last])
            .map(|(a, b)| a / b)
            .collect();
        println!(
            "download_ratio_{driver}_to_{} median={:.2}",
            servers[last].0,
            median(&ratios)
        );
    }
    Ok(())
}
