//! Every pool x encoder (as compiled in) x format x path, on random items and random valid configs, gives
//! exactly what the reference gives (`NoPool` + one `serde_json::to_writer` of the whole
//! `Vec`), in chunks of at least the threshold (but the last) cut on item boundaries.

use std::sync::Arc;

use bytes::Bytes;
use chunkstream::encode::SerdeJson;
use chunkstream::pool::NoPool;
use chunkstream::{
    BufferPool, ChunkConfig, ChunkStream, Encoder, StreamError, Streamer, format::Json, transform,
};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::{concat, describe, drain, parse_body, reference, runtime};

/// Strings heavy in what JSON must escape: quotes, backslashes, control characters,
/// line separators, and non-ASCII.
fn json_string() -> impl Strategy<Value = String> {
    let tricky = prop_oneof![
        Just('"'),
        Just('\\'),
        Just('\n'),
        Just('\t'),
        Just('\u{0}'),
        Just('\u{1f}'),
        Just('\u{7f}'),
        Just('\u{2028}'),
        Just('é'),
        Just('日'),
        Just('😀'),
        any::<char>(),
        proptest::char::range('a', 'z'),
    ];
    prop_oneof![
        "[a-z ]{0,12}",
        prop::collection::vec(tricky, 0..24).prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        json_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(json_string(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Buffers from 64 B to 256 KiB (log-uniform, so small buffers and many chunks are
/// common), any threshold up to the buffer, batches of 1 to 64.
fn config() -> impl Strategy<Value = ChunkConfig> {
    (6_u32..18)
        .prop_flat_map(|exp| (1_usize << exp)..=(1_usize << (exp + 1)))
        .prop_flat_map(|buffer| (Just(buffer), 1..=buffer, 1_usize..=64, 1_usize..=4))
        .prop_map(|(buffer, threshold, batch, capacity)| {
            ChunkConfig::with_sizes(buffer, threshold)
                .with_batch_size(batch)
                .with_channel_capacity(capacity)
        })
}

#[derive(Debug, Clone)]
struct Case {
    config: ChunkConfig,
    items: Vec<Value>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        config(),
        prop::collection::vec(json_value(), 0..40),
        any::<prop::sample::Index>(),
        0_usize..3,
        0_usize..300,
    )
        .prop_map(|(config, mut items, at, bigs, extra)| {
            // Single items larger than the whole buffer.
            for _ in 0..bigs.min(items.len()) {
                let big = Value::from("x".repeat(config.pool.buffer_size + extra));
                items.insert(at.index(items.len() + 1), big);
            }
            Case { config, items }
        })
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Stream,
    Batch,
    Spawn,
    /// The batch path with this many encode workers: `stream_batch` (4),
    /// `stream_batch_concurrent` (1, 3) or `spawn_batch` (2).
    Parallel(usize),
}

fn run<P: BufferPool, E: Encoder>(
    case: &Case,
    pool: Arc<P>,
    encoder: E,
    format: Json,
    path: Path,
) -> Vec<Bytes> {
    let streamer = Streamer::with_parts(case.config.clone(), pool, encoder)
        .unwrap()
        .with_format(format);
    let source = chunkstream::source::from_iter(case.items.clone());
    let chunks: ChunkStream = match path {
        Path::Stream => streamer.stream(source, transform::passthrough()),
        Path::Batch => streamer.stream_batch(source, transform::batch_passthrough()),
        Path::Spawn => {
            runtime().block_on(async { streamer.stream(source, transform::passthrough()).spawn() })
        }
        Path::Parallel(workers) => {
            let streamer = streamer.with_encode_workers(workers);
            match workers % 4 {
                0 => streamer.stream_batch(source, transform::batch_passthrough()),
                2 => runtime().block_on(async {
                    streamer
                        .stream_batch(source, transform::batch_passthrough())
                        .spawn()
                }),
                _ => streamer.stream_batch_concurrent(source, |batch: Vec<Value>| {
                    Ok::<_, std::convert::Infallible>(batch)
                }),
            }
        }
    };
    let (chunks, err) = runtime().block_on(drain(chunks));
    assert!(err.is_none(), "{err:?}");
    chunks
}

fn check(
    case: &Case,
    expected: &[Value],
    format: Json,
    chunks: &[Bytes],
    what: &str,
) -> Result<(), TestCaseError> {
    let body = concat(chunks);
    // Byte for byte what serde_json writes, for every encoder but simd-json (which
    // writes some floats otherwise, as documented): compared by value below.
    if !what.contains("simd-json") {
        let mut want = Vec::new();
        match format {
            chunkstream::format::Json::Array => {
                serde_json::to_writer(&mut want, &case.items).unwrap()
            }
            _ => {
                for value in &case.items {
                    serde_json::to_writer(&mut want, value).unwrap();
                    want.push(b'\n');
                }
            }
        }
        prop_assert!(body == want, "{}: not serde_json's bytes", what);
    }
    let parsed = parse_body(format, &body)
        .map_err(|e| TestCaseError::fail(format!("{what}: body does not parse: {e}")))?;
    prop_assert_eq!(parsed.as_slice(), expected, "{}", what);
    let threshold = case.config.clone().validate().unwrap().chunk_threshold;
    let Some((_last, all_but_last)) = chunks.split_last() else {
        prop_assert!(
            format == chunkstream::format::Json::Ndjson && expected.is_empty(),
            "{}: no chunks",
            what
        );
        return Ok(());
    };
    let mut prefix = Vec::new();
    for chunk in all_but_last {
        prop_assert!(
            chunk.len() >= threshold,
            "{}: chunk of {} < threshold {}",
            what,
            chunk.len(),
            threshold
        );
        prefix.extend_from_slice(chunk);
        // Cut on an item boundary: what was sent so far is a whole number of items.
        let whole = match format {
            chunkstream::format::Json::Array => {
                let mut closed = prefix.clone();
                closed.push(b']');
                serde_json::from_slice::<Vec<Value>>(&closed).is_ok()
            }
            _ => prefix.ends_with(b"\n") && parse_body(format, &prefix).is_ok(),
        };
        prop_assert!(whole, "{}: a chunk ends inside an item", what);
    }
    Ok(())
}

/// Every pool strategy and encoder compiled in, each built for the case's config.
fn for_each_pool_and_encoder(
    case: &Case,
    mut f: impl FnMut(&str, &mut dyn FnMut(Json, Path) -> Vec<Bytes>),
) {
    let pool_config = case.config.clone().validate().unwrap().pool;
    macro_rules! with {
        ($name:expr, $pool:expr, $encoder:expr) => {{
            let pool = Arc::new($pool);
            f($name, &mut |format, path| {
                run(case, Arc::clone(&pool), $encoder, format, path)
            });
            let stats = pool.stats();
            assert_eq!(
                stats.outstanding, 0,
                "{}: buffers not returned: {stats:?}",
                $name
            );
        }};
    }
    macro_rules! with_every_encoder {
        ($name:expr, $pool:expr) => {{
            with!(concat!($name, "/serde_json"), $pool, SerdeJson);
            #[cfg(feature = "encoder-simd-json")]
            with!(
                concat!($name, "/simd-json"),
                $pool,
                chunkstream::encode::SimdJson
            );
            #[cfg(feature = "encoder-sonic-rs")]
            with!(
                concat!($name, "/sonic-rs"),
                $pool,
                chunkstream::encode::SonicRs
            );
        }};
    }
    with_every_encoder!("no-pool", NoPool::new(pool_config));
    #[cfg(feature = "pool-freelist")]
    with_every_encoder!(
        "freelist",
        chunkstream::pool::FreelistPool::new(pool_config)
    );
    #[cfg(feature = "pool-object-pool")]
    with_every_encoder!(
        "object-pool",
        chunkstream::pool::ObjectPool::new(pool_config)
    );
    #[cfg(feature = "pool-thread-local")]
    with_every_encoder!(
        "thread-local",
        chunkstream::pool::ThreadLocalPool::new(pool_config)
    );
    #[cfg(feature = "pool-freelist")]
    with_every_encoder!(
        "calibrated-freelist",
        chunkstream::pool::Calibrated::new(chunkstream::pool::FreelistPool::new(pool_config))
    );
}

proptest! {
    // 1000 cases in CI (`.ci/run` sets PROPTEST_CASES=1000); a quicker 100 by default.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(100),
        ..ProptestConfig::default()
    })]

    #[test]
    fn chunks_match_the_reference(case in case(), workers in 1_usize..=4) {
        let expected = reference(&case.items);
        let mut result = Ok(());
        for_each_pool_and_encoder(&case, |name, run| {
            for format in [chunkstream::format::Json::Array, chunkstream::format::Json::Ndjson] {
                let mut sequential = Vec::new();
                for path in [Path::Stream, Path::Batch, Path::Spawn, Path::Parallel(workers)] {
                    if result.is_ok() {
                        let chunks = run(format, path);
                        let what = format!("{name} {format:?} {path:?}");
                        result = check(&case, &expected, format, &chunks, &what);
                        // The parallel path writes the sequential batch path's very bytes.
                        match path {
                            Path::Batch => sequential = concat(&chunks),
                            Path::Parallel(_) if result.is_ok() && concat(&chunks) != sequential => {
                                result = Err(TestCaseError::fail(format!("{what}: not the sequential bytes")));
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        result?;
    }
}

// The parallel path against the sequential one on failing and cancelled streams.

/// An item of a failing case: a plain value, or one its encoder refuses or panics on.
#[derive(Clone, Debug)]
enum Item {
    Plain(Value),
    Nan,
    Bomb,
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Plain(value) => value.serialize(serializer),
            Item::Nan => f64::NAN.serialize(serializer),
            Item::Bomb => panic!("serialize exploded"),
        }
    }
}

/// Where a stream fails: the source yields an error, the transform refuses the batch
/// holding an item, an item cannot be encoded, or its `Serialize` panics.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Source,
    Transform,
    Encode,
    Panic,
}

#[derive(Clone, Debug)]
struct FailCase {
    case: Case,
    /// The failure and the item index it happens at.
    failure: Option<(Failure, usize)>,
    /// Drop the parallel stream after this many chunks.
    cancel_after: Option<usize>,
    workers: usize,
    /// Whether the parallel stream transforms on the workers (`stream_batch_concurrent`).
    concurrent: bool,
}

fn fail_case() -> impl Strategy<Value = FailCase> {
    let failure = prop_oneof![
        Just(Failure::Source),
        Just(Failure::Transform),
        Just(Failure::Encode),
        Just(Failure::Panic),
    ];
    (
        case(),
        prop::option::of((failure, any::<prop::sample::Index>())),
        prop::option::of(0_usize..6),
        1_usize..=4,
        any::<bool>(),
    )
        .prop_map(|(case, failure, cancel_after, workers, concurrent)| {
            let at = |index: prop::sample::Index| index.index(case.items.len() + 1);
            let failure = failure.map(|(kind, index)| (kind, at(index)));
            FailCase {
                case,
                failure,
                cancel_after,
                workers,
                concurrent,
            }
        })
}

type FailingSource =
    futures_util::stream::Iter<std::vec::IntoIter<Result<(usize, Item), std::io::Error>>>;

/// The case's items as a source, with the case's source, encode or panic failure.
fn failing_source(fail: &FailCase) -> FailingSource {
    let mut items: Vec<Result<Item, std::io::Error>> = fail
        .case
        .items
        .iter()
        .cloned()
        .map(Item::Plain)
        .map(Ok)
        .collect();
    match fail.failure {
        Some((Failure::Source, at)) => {
            items.insert(at, Err(std::io::Error::other("source failed")))
        }
        Some((Failure::Encode, at)) => items.insert(at, Ok(Item::Nan)),
        Some((Failure::Panic, at)) => items.insert(at, Ok(Item::Bomb)),
        Some((Failure::Transform, _)) | None => {}
    }
    let indexed = items.into_iter().enumerate();
    futures_util::stream::iter(
        indexed
            .map(|(i, item)| item.map(|item| (i, item)))
            .collect::<Vec<_>>(),
    )
}

/// A batch transform that drops the indices, and refuses the batch holding item `at`
/// when the case fails there.
fn failing_transform(
    fail: &FailCase,
) -> impl Fn(Vec<(usize, Item)>) -> Result<Vec<Item>, std::io::Error> + Send + Sync + 'static {
    let at = match fail.failure {
        Some((Failure::Transform, at)) => Some(at),
        _ => None,
    };
    move |batch: Vec<(usize, Item)>| {
        if batch.iter().any(|(i, _)| Some(*i) == at) {
            return Err(std::io::Error::other("transform failed"));
        }
        Ok(batch.into_iter().map(|(_, item)| item).collect())
    }
}

/// Reads at most `limit` chunks (all when `None`), then drops the stream.
async fn read(
    mut chunks: ChunkStream,
    limit: Option<usize>,
) -> (Vec<Bytes>, Option<StreamError>, bool) {
    use futures_util::StreamExt;
    let mut got = Vec::new();
    while limit.is_none_or(|limit| got.len() < limit) {
        match chunks.next().await {
            Some(Ok(chunk)) => got.push(chunk),
            Some(Err(err)) => {
                assert!(
                    chunks.next().await.is_none(),
                    "an error must be the last item"
                );
                return (got, Some(err), true);
            }
            None => return (got, None, true),
        }
    }
    (got, None, false)
}

/// Waits (bounded) until every buffer is back in `pool`.
async fn all_returned<P: BufferPool>(pool: &P) -> bool {
    for _ in 0..2000 {
        if pool.stats().outstanding == 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    false
}

fn parallel_matches_sequential<P: BufferPool, E: Encoder>(
    fail: &FailCase,
    pool: Arc<P>,
    encoder: E,
    what: &str,
) -> Result<(), TestCaseError> {
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let what = format!(
            "{what} {format:?} {} workers, concurrent {}",
            fail.workers, fail.concurrent
        );
        let streamer =
            Streamer::with_parts(fail.case.config.clone(), Arc::clone(&pool), encoder.clone())
                .unwrap()
                .with_format(format);
        let sequential = streamer.stream_batch(failing_source(fail), failing_transform(fail));
        let (chunks, seq_err, _) = runtime().block_on(read(sequential, None));
        let seq_body = concat(&chunks);
        drop(chunks);
        let streamer = streamer.with_encode_workers(fail.workers);
        let parallel = if fail.concurrent {
            streamer.stream_batch_concurrent(failing_source(fail), failing_transform(fail))
        } else {
            streamer.stream_batch(failing_source(fail), failing_transform(fail))
        };
        let (chunks, par_err, ended) = runtime().block_on(read(parallel, fail.cancel_after));
        let par_body = concat(&chunks);
        drop(chunks);
        if ended {
            prop_assert_eq!(&par_body, &seq_body, "{}: bodies differ", what);
            prop_assert_eq!(
                describe(&par_err),
                describe(&seq_err),
                "{}: errors differ",
                what
            );
            if par_err.is_some() && format == chunkstream::format::Json::Array {
                prop_assert!(
                    serde_json::from_slice::<Value>(&par_body).is_err(),
                    "{}: a failed array parses",
                    what
                );
            }
        } else {
            prop_assert!(
                seq_body.starts_with(&par_body),
                "{}: cancelled body is not a prefix",
                what
            );
        }
        // Workers still in flight at a drop stop at their next item.
        prop_assert!(
            runtime().block_on(all_returned(&*pool)),
            "{}: buffers not returned: {:?}",
            what,
            pool.stats()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parallel_failures_and_cancellations_match_the_sequential_path(fail in fail_case()) {
        let pool_config = fail.case.config.clone().validate().unwrap().pool;
        parallel_matches_sequential(&fail, Arc::new(NoPool::new(pool_config)), SerdeJson, "no-pool/serde_json")?;
        #[cfg(all(feature = "pool-freelist", feature = "encoder-sonic-rs"))]
        parallel_matches_sequential(
            &fail,
            Arc::new(chunkstream::pool::FreelistPool::new(pool_config)),
            chunkstream::encode::SonicRs,
            "freelist/sonic-rs",
        )?;
        #[cfg(all(feature = "pool-thread-local", feature = "encoder-simd-json"))]
        parallel_matches_sequential(
            &fail,
            Arc::new(chunkstream::pool::ThreadLocalPool::new(pool_config)),
            chunkstream::encode::SimdJson,
            "thread-local/simd-json",
        )?;
        #[cfg(all(feature = "pool-object-pool", feature = "pool-freelist"))]
        parallel_matches_sequential(
            &fail,
            Arc::new(chunkstream::pool::Calibrated::new(chunkstream::pool::ObjectPool::new(pool_config))),
            SerdeJson,
            "calibrated-object-pool/serde_json",
        )?;
    }
}
