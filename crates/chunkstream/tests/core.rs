//! The core's integration tests, one binary (faster to link on a small machine).
//!
//! - `property`: random items x configs x formats x pools x paths against the reference.
//! - `zero_copy`: chunks are the pooled buffers themselves, and go back to the pool.
//! - `errors`: source, transform, panic and encode failures, before and after the
//!   first chunk.
//! - `cancel`: dropping the stream, a token and a timeout stop the source at once.
//! - `formats`: CSV, SSE, the JSON envelope and text lines, read back by parsers written
//!   by others (Python's `csv` and `json`, `eventsource-stream`), the same bytes on every
//!   path, and over HTTP.
//! - `flush`: `flush_interval` sends partial buffers from a slow source.
//! - `config`: invalid configurations are refused by the streamer.
//! - `config_range`: every accepted configuration works on every path (property test
//!   over the whole range of every field); the rest is a `ConfigError`.
//! - `end`: a stream whose last chunk is out is done (no late error), also over HTTP.
//! - `min_rate`: a reader below `min_data_rate` is cut on the spawned paths, also
//!   over HTTP; one at the rate is not; the direct paths are not affected.
//! - `markers`: errors a client can see: NDJSON's error marker line after the first
//!   chunk (every path, and over HTTP), the generic error body before it, a JSON array
//!   that still never looks complete.
//! - `negotiate`: picking a format from `Accept` and an override; 406 over HTTP.
//! - `parallel`: parallel encoding on the batch path: failures, drops, permits, memory.
//! - `run_ahead`: a source polled on its own task, bounded, stopped with the stream.
//! - `metrics`, `axum`, `sql`: an observed stream's report; `StreamResponse` in axum;
//!   the sqlx sources.

mod common;

#[path = "core/axum.rs"]
mod axum;
#[path = "core/cancel.rs"]
mod cancel;
#[path = "core/config.rs"]
mod config;
#[path = "core/config_range.rs"]
mod config_range;
#[path = "core/end.rs"]
mod end;
#[path = "core/errors.rs"]
mod errors;
#[path = "core/flush.rs"]
mod flush;
#[path = "core/formats.rs"]
mod formats;
#[path = "core/markers.rs"]
mod markers;
#[path = "core/matrix.rs"]
mod matrix;
#[path = "core/metrics.rs"]
mod metrics;
#[path = "core/min_rate.rs"]
mod min_rate;
#[path = "core/negotiate.rs"]
mod negotiate;
#[path = "core/parallel.rs"]
mod parallel;
#[path = "core/property.rs"]
mod property;
#[path = "core/run_ahead.rs"]
mod run_ahead;
#[path = "core/sql.rs"]
mod sql;
#[path = "core/zero_copy.rs"]
mod zero_copy;
