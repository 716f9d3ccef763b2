//! Every pool x encoder (as compiled in) x format x path, on random items and random valid configs, gives
//! exactly what the reference gives (`NoPool` + one `serde_json::to_writer` of the whole
//! `Vec`), in chunks of at least the threshold (but the last) cut on item boundaries.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use chunkstream::encode::SerdeJson;
use chunkstream::pool::NoPool;
use chunkstream::{BufferPool, ChunkConfig, ChunkStream, Encoder, Format, Streamer, transform};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::{concat, drain, parse_body, reference};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

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
        .prop_map(|(buffer, threshold, batch, capacity)| ChunkConfig {
            batch_size: batch,
            channel_capacity: capacity,
            ..ChunkConfig::with_sizes(buffer, threshold)
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
                let big = Value::from("x".repeat(config.buffer_size + extra));
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
}

fn run<P: BufferPool, E: Encoder>(
    case: &Case,
    pool: Arc<P>,
    encoder: E,
    format: Format,
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
            runtime().block_on(async { streamer.spawn(source, transform::passthrough()) })
        }
    };
    let (chunks, err) = runtime().block_on(drain(chunks));
    assert!(err.is_none(), "{err:?}");
    chunks
}

fn check(
    case: &Case,
    expected: &[Value],
    format: Format,
    chunks: &[Bytes],
    what: &str,
) -> Result<(), TestCaseError> {
    let body = concat(chunks);
    let parsed = parse_body(format, &body)
        .map_err(|e| TestCaseError::fail(format!("{what}: body does not parse: {e}")))?;
    prop_assert_eq!(parsed.as_slice(), expected, "{}", what);
    let threshold = case.config.clone().validate().unwrap().chunk_threshold;
    let Some((_last, all_but_last)) = chunks.split_last() else {
        prop_assert!(
            format == Format::Ndjson && expected.is_empty(),
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
            Format::JsonArray => {
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
    mut f: impl FnMut(&str, &mut dyn FnMut(Format, Path) -> Vec<Bytes>),
) {
    let pool_config = case.config.clone().validate().unwrap().pool_config();
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
    fn chunks_match_the_reference(case in case()) {
        let expected = reference(&case.items);
        let mut result = Ok(());
        for_each_pool_and_encoder(&case, |name, run| {
            for format in [Format::JsonArray, Format::Ndjson] {
                for path in [Path::Stream, Path::Batch, Path::Spawn] {
                    if result.is_ok() {
                        let chunks = run(format, path);
                        result = check(&case, &expected, format, &chunks, &format!("{name} {format:?} {path:?}"));
                    }
                }
            }
        });
        result?;
    }
}
