//! `tickets`: the chunkstream demo service. See the library docs for the endpoints.

use std::net::SocketAddr;
use std::path::PathBuf;

use chunkstream::ChunkConfig;
use chunkstream_tickets::App;
use clap::Parser;

/// Streams a table of tickets as chunked JSON (chunkstream's demo service).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The SQLite file; created and seeded on first start.
    #[arg(long, default_value = "tickets.db")]
    db: PathBuf,
    /// A database URL instead of `--db` (for instance `postgres://...`).
    #[arg(long)]
    database_url: Option<String>,
    /// Tickets to seed an empty database with.
    #[arg(long, default_value_t = 10_000)]
    tickets: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), chunkstream_tickets::BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let url = args
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", args.db.display()));
    let app = App::open(&url, args.tickets, ChunkConfig::default()).await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "tickets: listening");
    axum::serve(listener, app.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
