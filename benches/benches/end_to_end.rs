//! End to end on the tickets workload: every pool x encoder through the streamer (in
//! memory, drained as a body), and the peers and the limit in the same group.

mod common;

use chunkstream::ChunkConfig;
use chunkstream_benches::contestants::{ENCODERS, POOLS};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{self, Path, Scenario, Streaming, check, reference};
use chunkstream_benches::workload;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Tickets per request (~1 MB of JSON).
const TICKETS: usize = 2000;

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let items = workload::leak(workload::tickets(TICKETS));
    let expected = reference(items).expect("serializable");
    let size = serde_json::to_vec(items).expect("serializable").len();
    let config = ChunkConfig::default();

    let mut contestants: Vec<(String, Box<dyn Scenario>)> = Vec::new();
    for &pool in POOLS {
        for &encoder in ENCODERS {
            let built = scenario::chunkstream(
                pool,
                encoder,
                &config,
                chunkstream::format::Json::Array,
                Path::Item,
                move || peers::memory(items),
            );
            let name = format!("chunkstream {} {}", pool.name(), encoder.name());
            contestants.push((name, Box::new(Streaming(built.chunks))));
        }
    }
    for peer in peers::all(items) {
        contestants.push((peer.name().to_owned(), peer.scenario));
    }

    let mut group = c.benchmark_group("end_to_end/tickets");
    group.throughput(Throughput::Bytes(size as u64));
    for (name, mut scenario) in contestants {
        rt.block_on(check(
            &mut *scenario,
            chunkstream::format::Json::Array,
            &expected,
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| rt.block_on(scenario.run()).expect("the body streams"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = end_to_end
}
criterion_main!(benches);
