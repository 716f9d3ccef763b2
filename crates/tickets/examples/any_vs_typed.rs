//! Measures sqlx's `Any` driver against the typed pool (`SqlitePool` or `PgPool`) on the
//! service's query: every ticket decoded into [`Ticket`], in id order. Alternating rounds;
//! prints the median per driver. This is why the service runs on the typed pools
//! (`chunkstream_tickets::db::Db`) rather than on `AnyPool`.
//!
//! ```sh
//! cargo run --release -p chunkstream-tickets --example any_vs_typed -- 'sqlite://target/tickets.db'
//! cargo run --release -p chunkstream-tickets --example any_vs_typed -- "$DATABASE_URL"
//! ```
//!
//! The database must hold the tickets table (start the service on it once).

use std::time::{Duration, Instant};

use chunkstream_tickets::model::Ticket;
use futures_util::TryStreamExt;

const SQL: &str = "SELECT id, title, description, status, priority, assignee, reporter, tags, \
     project, component, sla_hours, estimate_hours, comments, created_at, updated_at, resolved_at \
     FROM tickets ORDER BY id";
const ROUNDS: usize = 7;

async fn rows<'e, E>(executor: E) -> (u64, Duration)
where
    E: sqlx::Executor<'e>,
    Ticket: for<'r> sqlx::FromRow<'r, <E::Database as sqlx::Database>::Row>,
    for<'q> <E::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, E::Database>,
{
    let started = Instant::now();
    let n = sqlx::query_as::<_, Ticket>(SQL)
        .fetch(executor)
        .try_fold(0_u64, |n, ticket| async move {
            std::hint::black_box(&ticket);
            Ok(n + 1)
        })
        .await
        .expect("query");
    (n, started.elapsed())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://target/tickets.db".to_owned());
    sqlx::any::install_default_drivers();
    let any = sqlx::AnyPool::connect(&url).await.expect("connect (Any)");
    let (mut any_times, mut typed_times) = (Vec::new(), Vec::new());
    let mut count = 0;
    let typed_name = if url.starts_with("sqlite") {
        "SqlitePool"
    } else {
        "PgPool"
    };
    if url.starts_with("sqlite") {
        let typed = sqlx::SqlitePool::connect(&url).await.expect("connect");
        for _ in 0..ROUNDS {
            let (n, t) = rows(&any).await;
            any_times.push(t);
            let (m, u) = rows(&typed).await;
            typed_times.push(u);
            assert_eq!(n, m);
            count = n;
        }
    } else {
        let typed = sqlx::PgPool::connect(&url).await.expect("connect");
        for _ in 0..ROUNDS {
            let (n, t) = rows(&any).await;
            any_times.push(t);
            let (m, u) = rows(&typed).await;
            typed_times.push(u);
            assert_eq!(n, m);
            count = n;
        }
    }
    let (any_median, typed_median) = (median(any_times), median(typed_times));
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("rows={count} rounds={ROUNDS} (medians, alternating rounds)");
    println!(
        "AnyPool        {:>8.1} ms  {:>10.0} rows/s",
        any_median.as_secs_f64() * 1e3,
        rate(any_median)
    );
    println!(
        "{typed_name:<14} {:>8.1} ms  {:>10.0} rows/s",
        typed_median.as_secs_f64() * 1e3,
        rate(typed_median)
    );
    println!(
        "typed / Any throughput: {:.2}x",
        any_median.as_secs_f64() / typed_median.as_secs_f64()
    );
}
