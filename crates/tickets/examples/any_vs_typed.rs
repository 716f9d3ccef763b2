//! Measures sqlx's `Any` driver against the typed pool (`SqlitePool` or `PgPool`) on the
//! service's query: every ticket decoded into [`Ticket`], in id order. This is why the
//! service runs on the typed pools (`chunkstream_tickets::db::Db`) rather than on
//! `AnyPool`.
//!
//! Each round reads the table once through each pool, in alternating order; it prints the
//! median time per pool and the paired ratio (Any's time over the typed pool's, per
//! round): its median and its middle half (25th to 75th percentile), since a shared
//! machine's noise moves single rounds a lot.
//!
//! ```sh
//! cargo run --release -p chunkstream-tickets --example any_vs_typed -- 'sqlite://target/tickets.db'
//! cargo run --release -p chunkstream-tickets --example any_vs_typed -- "$DATABASE_URL" 15
//! ```
//!
//! The arguments are the database URL and the rounds (default 15). The database must
//! hold the tickets table (start the service on it once).

use std::time::{Duration, Instant};

use chunkstream_tickets::model::Ticket;
use futures_util::TryStreamExt;

const SQL: &str = "SELECT id, title, description, status, priority, assignee, reporter, tags, \
     project, component, sla_hours, estimate_hours, comments, created_at, updated_at, resolved_at \
     FROM tickets ORDER BY id";

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

/// The `q` quantile (0 to 1) of `values`, by nearest rank.
fn quantile<T: Copy + PartialOrd>(values: &[T], q: f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://target/tickets.db".to_owned());
    let rounds: usize = args
        .next()
        .map_or(15, |r| r.parse().expect("rounds: a number"))
        .max(1);
    sqlx::any::install_default_drivers();
    let any = sqlx::AnyPool::connect(&url).await.expect("connect (Any)");
    let (mut any_times, mut typed_times) = (Vec::new(), Vec::new());
    let mut count = 0;
    let sqlite = url.starts_with("sqlite");
    let typed_name = if sqlite { "SqlitePool" } else { "PgPool" };
    let (sqlite_pool, pg_pool) = if sqlite {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        (Some(pool), None)
    } else {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        (None, Some(pool))
    };
    for round in 0..rounds {
        let typed = async {
            match (&sqlite_pool, &pg_pool) {
                (Some(pool), _) => rows(pool).await,
                (_, Some(pool)) => rows(pool).await,
                _ => unreachable!("one pool is open"),
            }
        };
        let ((n, t), (m, u)) = if round % 2 == 0 {
            let any = rows(&any).await;
            (any, typed.await)
        } else {
            let typed = typed.await;
            (rows(&any).await, typed)
        };
        assert_eq!(n, m, "both pools read the same rows");
        any_times.push(t);
        typed_times.push(u);
        count = n;
    }
    let ratios: Vec<f64> = any_times
        .iter()
        .zip(&typed_times)
        .map(|(any, typed)| any.as_secs_f64() / typed.as_secs_f64())
        .collect();
    let (any_median, typed_median) = (quantile(&any_times, 0.5), quantile(&typed_times, 0.5));
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("rows={count} rounds={rounds} (medians; alternating order)");
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
        "typed / Any throughput, paired per round: median {:.2}x, middle half {:.2}x to {:.2}x",
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75)
    );
}
