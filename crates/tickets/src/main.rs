//! `tickets`: the chunkstream demo service. See the library docs for the endpoints.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chunkstream::MinDataRate;
use chunkstream_tickets::reader::SqliteDriver;
use chunkstream_tickets::shutdown::{self, Stopped};
use chunkstream_tickets::strategy::{EncoderKind, PoolKind, flag};
use chunkstream_tickets::{App, BoxError, DEFAULT_MIN_DATA_RATE, Settings};
use clap::Parser;

const AFTER_HELP: &str = "\
Endpoints (HTTP/1.1, and HTTP/2 with prior knowledge, on the same port):
  GET /                  the demo page
  GET /tickets           the tickets (?limit=N, ?status=S, ?after=ID), X-Total-Count, as a
                         JSON array, NDJSON, CSV or SSE by Accept or ?format=json|ndjson|
                         csv|sse; 406 for an Accept it cannot serve. A page (JSON envelope
                         with count and next): ?format=envelope, or ?after=ID as JSON
  GET /tickets.ndjson    one ticket per line
                         ?json=db on these two: the database writes each ticket's JSON
                         (same fields and values; numbers in the database's notation)
  GET /tickets.csv       CSV with a header row
  GET /tickets/events    Server-Sent Events: `ticket` events (id: the ticket's), then
                         `end` {\"count\":N}; resumes after Last-Event-ID (or
                         ?last_event_id=ID)
  GET /tickets/summary   derived fields per ticket (?limit=N, ?status=S, ?as_of=UNIX_SECONDS)
  GET /healthz           200: streams in progress, the download queue, the database pool
  GET /readyz            the same; 503 while every stream slot is taken and the queue is full

Admission: a request with ?limit=N of at most --small-rows rows is served at once,
without a stream slot. A larger one (a download) takes a slot, waiting up to
--queue-wait in a first-come-first-served queue of --queue-max; then 503.

Errors are JSON: {\"error\", \"message\", \"request_id\"}; a 503 carries Retry-After.

Environment:
  RUST_LOG               log filter, default \"info\" (for instance RUST_LOG=debug, or
                         RUST_LOG=info,sqlx=debug to log every SQL statement)
  NO_COLOR               no colours in the log (there are none when stderr is not a terminal)
  TICKETS_EXPOSE_ERRORS  =true: like --expose-errors";

/// Streams a table of tickets as chunked JSON (chunkstream's demo service).
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// The SQLite file; created and seeded on first start.
    #[arg(long, default_value = "tickets.db")]
    db: PathBuf,
    /// A database URL instead of `--db` (for instance `postgres://user:pw@host/db`).
    #[arg(long)]
    database_url: Option<String>,
    /// Tickets to seed an empty database with (a table with rows is left as it is).
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Buffer pool strategy.
    #[arg(long, value_enum, default_value_t = PoolKind::Freelist)]
    pool: PoolKind,
    /// JSON encoder.
    #[arg(long, value_enum, default_value_t = EncoderKind::SonicRs)]
    encoder: EncoderKind,
    /// Database connections at most (2 of them kept for small requests).
    #[arg(long, default_value_t = 10)]
    db_connections: u32,
    /// Downloads in progress at most [default: what --stream-memory holds, at most
    /// --db-connections minus the 2 kept for small requests].
    #[arg(long)]
    max_streams: Option<usize>,
    /// Memory the downloads in progress may hold between them, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    stream_memory: usize,
    /// Requests with ?limit= at most this are small: served without a slot [default:
    /// the rows of 1 KiB that fit in the chunks a stream queues ahead of its client].
    #[arg(long, value_name = "ROWS")]
    small_rows: Option<u64>,
    /// Downloads that may wait for a slot at once [default: 8 per slot].
    #[arg(long)]
    queue_max: Option<usize>,
    /// Seconds a download waits for a slot before a 503.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    queue_wait: Duration,
    /// Bytes per second a client must read a stream at (after --min-rate-grace) before
    /// it is cut; 0: no minimum.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MIN_DATA_RATE.bytes_per_second)]
    min_rate: u64,
    /// Seconds of grace before --min-rate applies.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    min_rate_grace: Duration,
    /// Seconds a download waits for a client that stopped reading before it is cut.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    stall_timeout: Duration,
    /// Seconds open responses get to finish after Ctrl-C or SIGTERM before they are cut.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    shutdown_timeout: Duration,
    /// Which driver reads SQLite downloads: rusqlite (a blocking thread, rows in
    /// batches), or sqlx's driver, to compare the two. PostgreSQL is always read by sqlx.
    #[arg(long, value_enum, default_value_t = SqliteDriver::Rusqlite)]
    sqlite_driver: SqliteDriver,
    /// Put internal error details in error responses (for development only).
    #[arg(long, env = "TICKETS_EXPOSE_ERRORS")]
    expose_errors: bool,
    /// End each event stream (/tickets/events) after N ticket events without its `end`
    /// event, as a restarting server would, so the browser reconnects with
    /// Last-Event-ID (to see resuming) [default: no limit]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    events_per_connection: Option<u64>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| *d <= Duration::from_secs(86_400 * 365))
        .ok_or_else(|| format!("{text:?} is not a number of seconds from 0 to 31536000"))
}

/// Caps glibc's malloc arenas at one per core (at least 2), unless `MALLOC_ARENA_MAX` says
/// otherwise. glibc gives each thread that allocates under contention an arena of its own,
/// up to 8 per core, and keeps what each one freed: the blocking threads that run SQLite
/// statements then hold memory no download uses. With 64 queued downloads on 2 cores the
/// peak RSS went past the bound `/healthz` documents (`loadtest downloads`:
/// `reports/tickets-fair.txt`); capped, it stays within it.
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let arenas = libc::c_int::try_from(cores)
            .unwrap_or(libc::c_int::MAX)
            .max(2);
        // SAFETY: `mallopt` only tunes the allocator; it runs before any other thread
        // exists, and a value it refuses leaves glibc's default in place.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    }
}

fn main() -> ExitCode {
    cap_malloc_arenas();
    let args = Args::parse();
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tickets: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Responses still open after the grace period are cut here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tickets: error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    // From here on Ctrl-C and SIGTERM stop the process (during seeding too).
    let stop = futures_util::FutureExt::shared(shutdown::signal());
    let url = args
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", args.db.display()));
    let settings = Settings {
        pool: args.pool,
        encoder: args.encoder,
        db_connections: args.db_connections,
        max_streams: args.max_streams,
        stream_memory_budget: args.stream_memory.saturating_mul(1 << 20),
        small_rows: args.small_rows,
        queue_max: args.queue_max,
        queue_wait: args.queue_wait,
        min_data_rate: Some(MinDataRate::new(args.min_rate, args.min_rate_grace)),
        stall_timeout: args.stall_timeout,
        expose_errors: args.expose_errors,
        sqlite_driver: args.sqlite_driver,
        events_per_connection: args.events_per_connection,
        ..Settings::default()
    };
    let app = tokio::select! {
        app = App::open(&url, args.tickets, settings) => app?,
        name = stop.clone() => {
            tracing::info!(signal = name, "stopped before serving");
            return Ok(());
        }
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        pool = flag(args.pool),
        encoder = flag(args.encoder),
        sqlite_driver = args.sqlite_driver.name(),
        "listening on http://{addr}"
    );
    let stopped = shutdown::serve(listener, app.router(), stop, args.shutdown_timeout)
        .await
        .map_err(|err| format!("serving on {addr} failed: {err}"))?;
    if stopped == Stopped::Drained {
        tracing::info!("every response finished; stopped");
    }
    Ok(())
}
