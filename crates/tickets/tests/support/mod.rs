//! What the tickets service's test files share: databases of their own (SQLite files under
//! the target directory, PostgreSQL schemas beside the shared one), setup on a runtime
//! of its own, and clients that stall or wait.
//!
//! Each test file takes what it needs (`mod support;`), so some go unused in each.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Runs `f` to its end on a runtime of its own, on a thread of its own (each test has its
/// own runtime; a pool made for a shared database must not outlive the one that made it).
pub(crate) fn run_blocking<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
    .join()
    .expect("setup thread");
}

/// Opens (seeding it with `tickets` tickets if empty) the database at `url` and closes
/// it, on a runtime of its own.
pub(crate) fn seed(url: &str, tickets: u64) {
    let url = url.to_owned();
    run_blocking(async move {
        let app = chunkstream_tickets::App::open(&url, tickets, Default::default())
            .await
            .expect("seed");
        app.db().close().await;
    });
}

/// A directory of its own under the target directory's scratch space (named
/// `prefix`...), kept for the process's life (the processes using it may outlive a test's
/// panic); earlier runs' directories (older than an hour) are removed first.
pub(crate) fn scratch_dir(prefix: &str) -> PathBuf {
    remove_stale_dirs(prefix);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
        .keep()
}

/// The URL of a new SQLite file `name`.db in a [`scratch_dir`].
pub(crate) fn sqlite_url(prefix: &str, name: &str) -> String {
    let path = scratch_dir(prefix).join(format!("{name}.db"));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Removes the directories prefixed `prefix` that runs older than an hour left behind.
fn remove_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if stale && entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The URL of `schema`, made empty (dropped if it was there) in the PostgreSQL database
/// at `DATABASE_URL`; `None` without `DATABASE_URL`.
pub(crate) fn postgres_url(schema: &str) -> Option<String> {
    let base = std::env::var("DATABASE_URL").ok()?;
    let (admin, fresh) = (base.clone(), schema.to_owned());
    run_blocking(async move {
        let pool = sqlx::PgPool::connect(&admin).await.expect("connect");
        for sql in [
            format!("DROP SCHEMA IF EXISTS {fresh} CASCADE"),
            format!("CREATE SCHEMA {fresh}"),
        ] {
            sqlx::query(&sql).execute(&pool).await.expect(&sql);
        }
        pool.close().await;
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Says, past the test harness's capture, that the PostgreSQL test `name` did not run
/// (CI fails on its own when PostgreSQL was meant to run and `DATABASE_URL` is unset).
pub(crate) fn skip(name: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED postgres::{name}: DATABASE_URL is not set (run scripts/ci-postgres.sh and eval its output)"
    );
}

/// A client that sends `GET path`, reads the start of the response and then stops
/// reading, with a small receive buffer, keeping the connection open until dropped.
/// Returns the connection and the response's status.
pub(crate) async fn stalled_reader(addr: SocketAddr, path: &str) -> (tokio::net::TcpStream, u16) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0_u8; 512];
    let n = stream.read(&mut head).await.unwrap();
    let status = std::str::from_utf8(&head[9..12.min(n)])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response: {:?}",
                String::from_utf8_lossy(&head[..n])
            )
        });
    (stream, status)
}

/// Polls `check` every 20 ms for up to 10 s; returns its last answer.
pub(crate) async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// One test module per backend: `backend_tests!(module, db, name, ...)` makes a test
/// `module::name` for each `name`, which runs `super::name(db)` when `db` (an `Option`
/// of the test file's database) is `Some`, and says it skipped when it is `None`.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($module:ident, $db:expr, $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $db {
                        Some(db) => super::$name(db).await,
                        None => super::support::skip(stringify!($name)),
                    }
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use backend_tests;
