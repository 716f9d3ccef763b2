//! Stream large results (database rows, collections, channels) to HTTP clients as
//! chunked JSON, fast and in bounded memory.
//!
//! Each item is encoded straight into a pooled buffer; once the buffer reaches the chunk
//! threshold (32 KiB by default) it is handed to the HTTP stack as a [`bytes::Bytes`]
//! without a copy, and it returns to its pool when the socket is done with it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use futures_util::TryStreamExt;
//! use chunkstream::{ChunkConfig, Streamer, source};
//!
//! #[derive(serde::Serialize)]
//! struct Ticket { id: u32, title: String }
//!
//! let streamer = Streamer::new(ChunkConfig::default())?;
//! let rows = source::from_iter((1..=2).map(|id| (id, format!("ticket {id}"))));
//! let chunks = streamer.stream(rows, |(id, title)| {
//!     Ok::<_, std::convert::Infallible>(Ticket { id, title })
//! });
//! let body: Vec<u8> = chunks.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
//! assert_eq!(body, br#"[{"id":1,"title":"ticket 1"},{"id":2,"title":"ticket 2"}]"#);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The flow of one item
//!
//! source → (batch) → transform → [`Item`] (encoded by the [`Encoder`], or pre-encoded
//! [`RawJson`]) → [`Format`] framing → pooled `Vec<u8>` → at the threshold, a zero-copy
//! `Bytes` chunk → [`ChunkStream`] (or [`ChunkStream::spawn`]) → HTTP body; the buffer
//! goes back to its [`BufferPool`] when the last `Bytes` is dropped. The modules follow
//! this flow, each using only those before it.
//!
//! # One API, every combination
//!
//! [`Streamer::stream`] (per item), [`Streamer::stream_batch`] (per batch),
//! [`Streamer::stream_batch_concurrent`] (the batch transform on the encoding workers)
//! and [`Streamer::json`] (no transform) make a stream. The item kind, spawning, the
//! encoding workers and the [`Format`] are each chosen on their own (the table at
//! [`Streamer`]), and every combination works. [`Format`] is open: the built-in
//! formats of [`format`](mod@format) are built on it, and a service can define its own.
//!
//! # Semantics
//!
//! - The concatenated chunks of a successful stream are exactly the transformed items, in
//!   order, framed by the format; an empty source gives `[]` (JSON array) or an empty body
//!   (NDJSON).
//! - An error is the stream's last item: first and alone before the first chunk (a server
//!   can still answer with an error status); after it, a JSON array never gets its `]`,
//!   so a truncated array never looks complete (see [`ChunkStream`]).
//! - A panic in a transform, a source or a `Serialize` impl becomes a
//!   [`StreamError::Panicked`], not a crashed task or a hung response.
//! - Dropping the [`ChunkStream`] stops the source at once; so do
//!   [`ChunkStream::cancel_on`] and [`ChunkStream::timeout`].
//! - Memory is bounded by [`ChunkConfig`], not by the size of the result.
//!
//! # What a client sees on failure
//!
//! Before the first chunk, a failed stream is answered with an error status and a JSON
//! body carrying the error's kind, a generic message and an id, never the source's own
//! message; the detail is logged under the same id ([`StreamResponse`], [`ErrorPolicy`]).
//! After the first chunk the transfer is aborted; [`Streamer::with_error_markers`] opts
//! in to a last error marker. [`negotiate`] picks a format from `Accept` and an explicit
//! override, or answers `406`. The README's "When a stream fails" has the table per
//! format.
//!
//! # From the database, and in parallel
//!
//! Database-made JSON (SQLite's `json_object(...)`, PostgreSQL's `row_to_json(t)::text`)
//! streams as [`RawJson`] with no decoding or encoding: `sql::json_rows` (feature `sqlx`),
//! `sqlite::json_rows` (feature `rusqlite`); see [`raw`] for what [`Validated`] checks.
//! [`Streamer::with_encode_workers`] lets the batch path encode several batches at once,
//! in source order, within shared [`EncodePermits`]; [`source::run_ahead`] runs a costly
//! source on a task of its own. The README's "Parallel encoding" gives the memory bound.
//!
//! # Examples
//!
//! The shortest correct axum handler (features `axum` and `sqlx`): a source of
//! `Serialize` items in, a started [`StreamResponse`] out. [`Streamer::json`] needs no
//! transform, and [`ChunkStream::respond`] awaits the first chunk: a query failing before
//! its first row is answered `500` with a JSON body, never `200` and a broken stream.
//!
//! ```
//! # #[cfg(all(feature = "axum", feature = "sqlx"))] {
//! use axum::{Router, extract::State, routing::get};
//! use chunkstream::{ChunkConfig, StreamResponse, Streamer, sql};
//!
//! #[derive(serde::Serialize, sqlx::FromRow)]
//! struct Ticket {
//!     id: i64,
//!     title: String,
//! }
//!
//! async fn tickets(State((pool, streamer)): State<(sqlx::SqlitePool, Streamer)>) -> StreamResponse {
//!     let rows = sql::rows(pool, |pool| {
//!         sqlx::query_as::<_, Ticket>("SELECT id, title FROM tickets ORDER BY id").fetch(pool)
//!     });
//!     streamer.json(rows).respond().await
//! }
//!
//! fn app(pool: sqlx::SqlitePool) -> Router {
//!     let streamer = Streamer::new(ChunkConfig::default()).expect("a valid config");
//!     Router::new().route("/tickets", get(tickets)).with_state((pool, streamer))
//! }
//! # let _ = app;
//! # }
//! ```
//!
//! # Serving over HTTP: set `TCP_NODELAY`
//!
//! `axum::serve` leaves Nagle's algorithm on, so a chunk that is not followed at once
//! by the next (a spawned stream, a slow source, a flush deadline) can wait for the
//! client's delayed ACK. The library cannot reach the socket; the server sets the option
//! on every connection it accepts:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # async fn serve(app: axum::Router) -> std::io::Result<()> {
//! use axum::serve::ListenerExt as _;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
//!     .await?
//!     .tap_io(|tcp| {
//!         if let Err(err) = tcp.set_nodelay(true) {
//!             tracing::warn!(%err, "cannot set TCP_NODELAY");
//!         }
//!     });
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The lab measures every path with and without it: `reports/compare.md`, the `http`
//! rows against the `http (Nagle on)` rows.
//!
//! Shared in-memory data needs no `Box::leak`: see [`source::from_arc`]. To read a
//! whole body (in a test, say), use [`ChunkStream::collect_bytes`].
//!
//! Runnable examples (`cargo run -p chunkstream --all-features --example NAME`), one per
//! example of the Go package this crate succeeds, are listed in the README and run by CI.
//!
//! # Crate features
//!
//! Features are additive: a service picks its strategies in its own `Cargo.toml`, and
//! [`pool::DefaultPool`] and [`encode::DefaultEncoder`] (what [`Streamer::new`] uses)
//! name the ones the enabled features select (their docs give the order of precedence).
//!
//! - `pool-freelist` (default): `pool::FreelistPool`, a bounded lock-free queue.
//! - `pool-object-pool`: `pool::ObjectPool`, on the `object-pool` crate, with the bounds
//!   that crate lacks.
//! - `pool-thread-local`: `pool::ThreadLocalPool`, small per-thread stacks spilling to and
//!   refilling from a shared depot, several buffers at a time.
//! - `encoder-simd-json`: `encode::SimdJson`, the simd-json serializer.
//! - `encoder-sonic-rs` (default): `encode::SonicRs`, byte for byte serde_json's output
//!   (a property test checks) and faster on every workload the lab measures
//!   (`reports/compare.md`).
//! - `tracing`: [`metrics`] runs each observed stream in a `tracing` span and ends it
//!   with a `DEBUG` event carrying the stream's metrics.
//! - `axum`: [`StreamResponse`] implements axum's `IntoResponse` (`Content-Type`,
//!   `X-Total-Count`, chunked body, error statuses; see its docs) and logs its failures;
//!   enables `tracing`.
//! - `sqlx`: `sql`, sources from sqlx pools and queries that a handler can return
//!   (`sql::rows`, `sql::row_batches`, `sql::json_rows`, `sql::count`).
//! - `rusqlite`: `sqlite`, the SQLite source to pick: rusqlite (bundled SQLite) on a
//!   blocking thread, rows in bounded batches, a pool of read-only WAL connections.
//! - `full`: all of the above.
//!
//! Always available, whatever the features: [`encode::SerdeJson`] (the reference
//! encoder: the crate uses serde_json itself, so it has no feature), [`pool::NoPool`], the
//! [`pool::Calibrated`] wrapper (learns buffer sizes from the chunks it sees), and the
//! process-wide [`pool::global`] pool with [`pool::get_buffer`] and [`pool::put_buffer`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

// In the order of the flow: each module uses only those above it (the `module_order`
// test checks it).
pub mod config;
pub mod encode;
mod error;
pub mod pool;
pub mod raw;
mod run_ahead;
pub mod source;
mod sync;
mod trace;
// Modules are gated by attributes rather than `cfg_feature!`: rustfmt does not format
// a module declared inside a macro.
mod chunk;
pub mod format;
mod item;
pub mod metrics;
mod pace;
mod parallel;
mod pipeline;
pub mod response;
mod spawned;
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub mod sql;
#[cfg(feature = "rusqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
pub mod sqlite;
mod stream;
mod streamer;
pub mod transform;
// After the flow: it picks a format for a request and uses none of the modules above.
pub mod negotiate;

pub use config::{ChunkConfig, ConfigError, MinDataRate, PoolConfig};
pub use encode::{EncodeError, Encoder};
pub use error::{BoxError, ErrorKind, StreamError};
pub use format::Format;
pub use item::Item;
pub use parallel::EncodePermits;
pub use pool::{BufferPool, FromPoolConfig, PoolStats};
pub use raw::{RawJson, Validated};
pub use response::{ErrorPolicy, StreamResponse, StreamResponseBuilder};
pub use stream::ChunkStream;
pub use streamer::Streamer;

/// Re-exported so users can cancel streams without naming tokio-util themselves.
pub use tokio_util::sync::CancellationToken;

// The README's examples are compiled and run as doctests, so they stay true.
#[cfg(all(doctest, feature = "axum", feature = "sqlx", feature = "rusqlite"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
