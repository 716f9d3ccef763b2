//! Encoding per encoder: each item of a request encoded into one reused buffer, as the
//! streamer does, beside the limit (one `serde_json::to_writer` of the whole slice).

mod common;

use std::hint::black_box;

use chunkstream::Encoder;
use chunkstream_benches::contestants::{ENCODERS, EncoderKind, WithEncoder};
use chunkstream_benches::scenario::{parse_body, reference};
use chunkstream_benches::workload::{self, Workload};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;

/// Bytes of JSON per timed request.
const REQUEST_BYTES: usize = 256 * 1024;

fn encode_all<E: Encoder, T: Serialize>(encoder: &E, items: &[T], out: &mut Vec<u8>) {
    out.clear();
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encoder
            .encode(item, out)
            .expect("the workloads are encodable");
    }
    out.push(b']');
}

struct Bench<'a, 'g, T> {
    group: &'a mut BenchmarkGroup<'g, WallTime>,
    items: &'a [T],
    expected: &'a serde_json::Value,
}

impl<T: Serialize> WithEncoder for Bench<'_, '_, T> {
    type Output = ();
    fn run<E: Encoder>(self, encoder: E) {
        let name = EncoderKind::of(&encoder).map_or(std::any::type_name::<E>(), EncoderKind::name);
        let mut out = Vec::with_capacity(2 * REQUEST_BYTES);
        encode_all(&encoder, self.items, &mut out);
        let got = parse_body(chunkstream::format::Json::Array, &out).expect("valid JSON");
        assert_eq!(&got, self.expected, "{name} differs from serde_json");
        let items = self.items;
        self.group.bench_function(name, |b| {
            b.iter(|| encode_all(&encoder, black_box(items), &mut out))
        });
    }
}

fn bench_workload<T: Serialize>(c: &mut Criterion, workload: Workload, items: &[T]) {
    let expected = reference(items).expect("serializable");
    let size = serde_json::to_vec(items).expect("serializable").len();
    let mut group = c.benchmark_group(format!("encode/{}", workload.name()));
    group.throughput(Throughput::Bytes(size as u64));
    for &encoder in ENCODERS {
        encoder.with(Bench {
            group: &mut group,
            items,
            expected: &expected,
        });
    }
    let mut out = Vec::with_capacity(2 * size);
    group.bench_function("limit", |b| {
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(items)).expect("serializable");
        })
    });
    group.finish();
}

fn encoders(c: &mut Criterion) {
    let n = |w: Workload| w.items_for_bytes(REQUEST_BYTES);
    bench_workload(
        c,
        Workload::Tickets,
        &workload::tickets(n(Workload::Tickets)),
    );
    bench_workload(c, Workload::Small, &workload::small(n(Workload::Small)));
    bench_workload(c, Workload::Large, &workload::large(n(Workload::Large)));
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = encoders
}
criterion_main!(benches);
