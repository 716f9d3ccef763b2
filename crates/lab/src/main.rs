//! The chunkstream lab: measures pool strategies, encoders, formats, sources and
//! settings side by side (peers and the limit included) and regenerates `reports/`.
//!
//! `cargo run --release -p chunkstream-lab` runs `compare`; see `--help` for the other
//! subcommands. The lab measures; it asserts nothing.

mod cmd;
mod env_info;
mod frames;
mod go;
mod harness;
mod items;
mod measure;
mod record;
mod report;
mod sampling;
mod service;
mod sources;

use std::path::PathBuf;

use chunkstream::BoxError;
use clap::{Parser, Subcommand};

use crate::env_info::Environment;

#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static ALLOC: harness::alloc_count::Counting = harness::alloc_count::Counting;

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Measures chunkstream's strategies and settings and writes reports/.
#[derive(Debug, Parser)]
#[command(name = "chunkstream-lab", version)]
struct Cli {
    /// Where reports are written (default: the workspace's reports/; reports/quick with
    /// --quick, so a smoke run never overwrites a real one).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pools x encoders x formats x sources on three workloads, with peers and the
    /// limit, as ratios (the default).
    Compare(cmd::Options),
    /// Sweep buffer size x chunk threshold x batch size; optimum per workload; plots.
    Tune(cmd::Options),
    /// Bytes and blocks allocated per request, each strategy in its own process (build
    /// with `--features dhat-heap` for dhat).
    Alloc {
        /// Requests measured per strategy.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
    },
    /// A pprof flamegraph of one scenario into reports/flamegraphs/.
    Profile(cmd::profile::Options),
    /// 1, 2, 8 and 64 concurrent requests on a two-worker runtime, per strategy.
    Concurrency {
        /// Fewer, smaller requests.
        #[arg(long)]
        quick: bool,
    },
    /// Ten million tickets through the streamer, resident memory sampled.
    Soak {
        /// Tickets streamed.
        #[arg(long, default_value_t = 10_000_000)]
        items: u64,
    },
    /// Parallel encoding (1, 2, 4 workers) and run-ahead sources against the limit;
    /// 64 concurrent requests with parallel encoding on and off.
    Parallel {
        /// Small requests, short alternations (a smoke run).
        #[arg(long)]
        quick: bool,
        /// Instead of the ratios: pprof flamegraphs of the parallel path and the
        /// run-ahead sources into flamegraphs/parallel-*.svg, with a summary.
        #[arg(long)]
        profile: bool,
    },
    /// From the database to the body: SQLite, and PostgreSQL when DATABASE_URL points
    /// to one; typed decode, naive, axum-streams and database-made JSON; on SQLite the
    /// rusqlite source against the sqlx source and the limit; flamegraphs.
    Database {
        /// Small requests, short alternations, no flamegraphs (a smoke run).
        #[arg(long)]
        quick: bool,
    },
    /// Regenerates the markdown (and plots) from the CSVs in reports/.
    Report,
    /// The one-download rows alone, run by `compare` in fresh processes.
    #[command(hide = true)]
    OneDownloadChild {
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        block_ms: Option<f64>,
        /// The client and the server's thread where the scheduler puts them, rather
        /// than on a CPU each (to measure what that placement changes).
        #[arg(long)]
        free_threads: bool,
    },
    /// One strategy's allocations, run by `alloc` in a child process.
    #[command(hide = true)]
    AllocChild {
        #[arg(long)]
        pool: String,
        #[arg(long)]
        requests: u64,
    },
}

impl Command {
    /// Where it writes by default, below the workspace's reports/: the user's items in
    /// items/, a smoke run in quick/ (so that it never overwrites a real one).
    fn default_out(&self) -> PathBuf {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../reports"));
        let dir = dir.canonicalize().unwrap_or(dir);
        match self {
            Command::Compare(o) | Command::Tune(o) if o.items.is_some() => dir.join("items"),
            Command::Compare(cmd::Options { quick: true, .. })
            | Command::Tune(cmd::Options { quick: true, .. })
            | Command::Concurrency { quick: true }
            | Command::Parallel { quick: true, .. }
            | Command::Database { quick: true } => dir.join("quick"),
            _ => dir,
        }
    }
}

fn main() -> Result<(), BoxError> {
    let cli = Cli::parse();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args.push("compare".to_owned());
    }
    let env = Environment::capture(&args);
    let command = cli.command.unwrap_or(Command::Compare(Default::default()));
    let out = cli.out.unwrap_or_else(|| command.default_out());
    let started = std::time::Instant::now();
    match command {
        Command::Compare(options) => cmd::compare::run(&options, &env, &out)?,
        Command::Tune(options) => cmd::tune::run(&options, &env, &out)?,
        Command::Alloc { requests } => cmd::alloc::run(requests, &env, &out)?,
        Command::Profile(options) => cmd::profile::run(&options, &out)?,
        Command::Concurrency { quick } => cmd::concurrency::run(quick, &env, &out)?,
        Command::Parallel {
            quick,
            profile: true,
        } => {
            cmd::parallel_profile::run(if quick { 1.0 } else { 4.0 }, &env, &out)?;
        }
        Command::Parallel { quick, .. } => cmd::parallel::run(quick, &env, &out)?,
        Command::Database { quick } => cmd::database::run(quick, &env, &out)?,
        Command::Soak { items } => cmd::soak::run(items, &env, &out)?,
        Command::Report => {
            report::regenerate(&out)?;
            println!("regenerated the reports in {}", out.display());
        }
        Command::AllocChild { pool, requests } => return cmd::alloc::child(&pool, requests),
        Command::OneDownloadChild {
            quick,
            block_ms,
            free_threads,
        } => {
            return cmd::compare::one_download_child(quick, block_ms, free_threads, &env, &out);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("done in {seconds:.1} s; reports in {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// `--budget`'s help names the defaults compare and tune use.
    #[test]
    fn budget_help_names_the_defaults_used() {
        let [compare, tune] = [cmd::compare::BUDGET, cmd::tune::BUDGET];
        let defaults = format!(
            "compare {}, tune {}; with --quick {} and {}",
            compare[0], tune[0], compare[1], tune[1]
        );
        let cli = Cli::command();
        let budget = (cli.find_subcommand("compare").into_iter())
            .flat_map(|c| c.get_arguments())
            .find(|a| a.get_id() == "budget");
        let help = budget.and_then(|a| a.get_help()).map(ToString::to_string);
        assert!(help.unwrap_or_default().contains(&defaults), "{defaults}");
    }
}
