//! The lab's subcommands, one module each.

pub(crate) mod alloc;
pub(crate) mod compare;
pub(crate) mod concurrency;
pub(crate) mod database;
pub(crate) mod parallel;
pub(crate) mod parallel_profile;
pub(crate) mod profile;
pub(crate) mod soak;
pub(crate) mod tune;

/// The options of `compare` and `tune`.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct Options {
    /// Small requests, short alternations (a smoke run: CI's).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Seconds of paired blocks for the whole run, split over the contestants (default:
    /// compare 130, tune 150; with --quick 3 and 2).
    #[arg(long)]
    pub(crate) budget: Option<f64>,
    /// Milliseconds per timed block (default 3, quick 1).
    #[arg(long)]
    pub(crate) block_ms: Option<f64>,
    /// Your own items (NDJSON, one item per line) instead of the built-in workloads:
    /// the same matrix (compare: memory, channel, HTTP) or sweep on them, into
    /// reports/items by default.
    #[arg(long)]
    pub(crate) items: Option<std::path::PathBuf>,
}
