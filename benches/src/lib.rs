//! Workloads, contestants, peers and scenarios shared by the criterion benches and the
//! lab (`chunkstream-lab` depends on this library, so both measure the same things).
//!
//! - [`workload`]: the seeded items (tickets, small, large);
//! - [`contestants`]: the pool strategies and encoders under test, in one list;
//! - [`formats`]: CSV, a JSON envelope and SSE on the tickets, with their limits;
//! - [`peers`]: the naive path, `axum-streams`, the limit;
//! - [`scenario`]: one way of answering a request, drained and timed or checked.

pub mod contestants;
pub mod formats;
pub mod peers;
pub mod scenario;
pub mod workload;
