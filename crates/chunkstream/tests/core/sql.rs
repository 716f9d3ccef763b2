//! `sql` sources over a real SQLite database: errors end the stream, a dropped stream
//! frees its connection, batches and counts.
#![cfg(feature = "sqlx")]

use std::time::Duration;

use futures_util::StreamExt;
use sqlx::sqlite::SqlitePoolOptions;

use chunkstream::sql::{count, row_batches, rows};

const MANY: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c \
                    WHERE n < 1000000) SELECT n FROM c";

async fn one_connection() -> sqlx::SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect("sqlite::memory:")
        .await
        .unwrap()
}

fn assert_static_send<T: Send + 'static>(_: &T) {}

#[tokio::test]
async fn an_error_ends_the_stream() {
    let pool = one_connection().await;
    let mut rows = rows(pool, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT n FROM nowhere").fetch(pool)
    });
    assert_static_send(&rows);
    assert!(rows.next().await.unwrap().is_err());
    assert!(rows.next().await.is_none());
    assert!(rows.next().await.is_none());
}

#[tokio::test]
async fn dropping_the_stream_returns_the_connection() {
    let pool = one_connection().await;
    let mut many = rows(pool.clone(), |pool| {
        sqlx::query_scalar::<_, i64>(MANY).fetch(pool)
    });
    for expected in 1..=3 {
        assert_eq!(many.next().await.unwrap().unwrap(), expected);
    }
    drop(many);
    // The only connection is free again: the query has let go of it.
    let n: i64 = sqlx::query_scalar("SELECT 7")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 7);
}

#[tokio::test]
async fn batches_and_count() {
    let pool = one_connection().await;
    let sizes: Vec<usize> = row_batches(pool.clone(), 400_000, |pool| {
        sqlx::query_scalar::<_, i64>(MANY).fetch(pool)
    })
    .map(|batch| batch.unwrap().len())
    .collect()
    .await;
    assert_eq!(sizes, [400_000, 400_000, 200_000]);
    let n = count(&pool, "SELECT COUNT(*) FROM (SELECT 1 UNION ALL SELECT 2)").await;
    assert_eq!(n.unwrap(), 2);
    assert!(count(&pool, "SELECT -1").await.is_err());
}
