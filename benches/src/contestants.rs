//! The pool strategies and encoders under test: `chunkstream_fixtures::strategy`, the one
//! list the benches, the lab and the tickets service share, re-exported where the
//! benches and the lab name it.

pub use chunkstream_fixtures::strategy::*;

/// The chunkstream features the benches and the lab are built with (reports show it).
pub const FEATURES: &str = "full (every pool and encoder)";
