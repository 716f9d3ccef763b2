//! `profile`: a pprof flamegraph (SVG) of one scenario, into `reports/flamegraphs/`.

use std::path::Path as FsPath;

use chunkstream::BoxError;
use chunkstream_benches::contestants::{EncoderKind, PoolKind};
use chunkstream_benches::scenario::{Path, Scenario, Streaming};
use chunkstream_benches::workload::{self, Workload};

use crate::sampling;

/// Options of `profile`.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct Options {
    /// tickets, small or large.
    #[arg(long, default_value = "tickets", value_parser = parse_workload)]
    pub(crate) workload: Workload,
    /// Pool strategy.
    #[arg(long, default_value = "freelist", value_parser = parse_pool)]
    pub(crate) pool: PoolKind,
    /// Encoder.
    #[arg(long, default_value = "serde_json", value_parser = parse_encoder)]
    pub(crate) encoder: EncoderKind,
    /// Seconds of sampling.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    Workload::from_name(s).ok_or_else(|| format!("unknown workload {s}"))
}

fn parse_pool(s: &str) -> Result<PoolKind, String> {
    PoolKind::from_name(s).ok_or_else(|| format!("unknown or disabled pool {s}"))
}

fn parse_encoder(s: &str) -> Result<EncoderKind, String> {
    EncoderKind::from_name(s).ok_or_else(|| format!("unknown or disabled encoder {s}"))
}

fn scenario_for(options: &Options) -> Box<dyn Scenario> {
    fn make<T: serde::Serialize + Send + Sync + 'static>(
        o: &Options,
        items: &'static [T],
    ) -> Box<dyn Scenario> {
        let built = crate::harness::in_memory(o.pool, o.encoder, Path::Item, items);
        Box::new(Streaming(built.chunks))
    }
    let n = options.workload.items_for_bytes(1 << 20);
    match options.workload {
        Workload::Tickets => make(options, workload::leak(workload::tickets(n))),
        Workload::Small => make(options, workload::leak(workload::small(n))),
        Workload::Large => make(options, workload::leak(workload::large(n))),
    }
}

/// Samples the scenario at 999 Hz for the given time; writes the flamegraph.
pub(crate) fn run(options: &Options, out: &FsPath) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let mut scenario = scenario_for(options);
    let file = out.join("flamegraphs").join(format!(
        "{}-{}-{}.svg",
        options.workload.name(),
        options.pool.name(),
        options.encoder.name()
    ));
    let sampled = sampling::sample(options.seconds, &file, || {
        Ok(rt.block_on(scenario.run())?.bytes)
    })?;
    println!(
        "{} requests profiled; flamegraph: {}",
        sampled.requests,
        file.display()
    );
    Ok(())
}
