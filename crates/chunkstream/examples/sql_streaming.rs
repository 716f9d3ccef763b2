//! Streaming an SQL query: SQLite (embedded, in memory) through sqlx.
//!
//! ```sh
//! cargo run -p chunkstream --features sqlx --example sql_streaming
//! ```
//!
//! `sql::rows` owns its pool handle, so the stream it makes is `'static` and can leave a
//! handler inside a response. Prints the rows as a JSON array, then a transformed view,
//! and the count a response would announce in `X-Total-Count`.

use chunkstream::{ChunkConfig, Streamer, sql};

#[derive(serde::Serialize, sqlx::FromRow)]
struct Ticket {
    id: i64,
    subject: String,
    status: String,
}

#[derive(serde::Serialize)]
struct Summary {
    id: i64,
    open: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One connection, so every query sees the same in-memory database.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    sqlx::query("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, status TEXT)")
        .execute(&pool)
        .await?;
    for (id, status) in [(1, "open"), (2, "closed"), (3, "open")] {
        sqlx::query("INSERT INTO tickets VALUES (?, ?, ?)")
            .bind(id)
            .bind(format!("ticket {id}"))
            .bind(status)
            .execute(&pool)
            .await?;
    }
    let streamer = Streamer::new(ChunkConfig::default())?;

    // The rows as they are.
    let rows = sql::rows(pool.clone(), |pool| {
        sqlx::query_as::<_, Ticket>("SELECT id, subject, status FROM tickets ORDER BY id")
            .fetch(pool)
    });
    let body = streamer.json(rows).collect_bytes().await?;
    println!("rows: {}", std::str::from_utf8(&body)?);

    // A transform per row, and a bound parameter (owned, so the stream stays 'static).
    let status = String::from("open");
    let rows = sql::rows(pool.clone(), move |pool| {
        sqlx::query_as::<_, Ticket>(
            "SELECT id, subject, status FROM tickets WHERE status = ? ORDER BY id",
        )
        .bind(status)
        .fetch(pool)
    });
    let summaries = streamer.stream(rows, |t: Ticket| {
        Ok::<_, std::convert::Infallible>(Summary {
            id: t.id,
            open: t.status == "open",
        })
    });
    println!(
        "open: {}",
        std::str::from_utf8(&summaries.collect_bytes().await?)?
    );

    println!(
        "total: {}",
        sql::count(&pool, "SELECT COUNT(*) FROM tickets").await?
    );
    Ok(())
}
