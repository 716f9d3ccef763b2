//! Every configuration `validate` accepts works on every path; the rest is a
//! `ConfigError` that names the field and the accepted range. Checked for the extremes
//! the issue found, then by a property test over the whole range of every field.

use std::time::Duration;

use crate::common::{PATHS, Path};
use chunkstream::config::{MAX_BUFFER_SIZE, MAX_POOLED};
use chunkstream::{
    ChunkConfig, ChunkStream, ConfigError, PoolConfig, Streamer, format::Json, source, transform,
};
use futures_util::StreamExt;
use proptest::prelude::*;

const FIELDS: [&str; 8] = [
    "buffer_size",
    "chunk_threshold",
    "batch_size",
    "flush_interval",
    "max_pooled",
    "max_retained",
    "channel_capacity",
    "stall_timeout",
];

fn run<P: chunkstream::BufferPool, E: chunkstream::Encoder, F: chunkstream::Format>(
    streamer: &Streamer<P, E, F>,
    path: Path,
    items: Vec<u32>,
) -> ChunkStream {
    let items = source::from_iter(items);
    match path {
        Path::Stream => streamer.stream(items, transform::passthrough()),
        Path::StreamBatch => streamer.stream_batch(items, transform::batch_passthrough()),
        Path::Spawn => streamer.stream(items, transform::passthrough()).spawn(),
        Path::SpawnBatch => streamer
            .stream_batch(items, transform::batch_passthrough())
            .spawn(),
    }
}

fn expected(format: Json, items: &[u32]) -> Vec<u8> {
    match format {
        chunkstream::format::Json::Array => serde_json::to_vec(items).unwrap(),
        _ => items
            .iter()
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect(),
    }
}

/// A runtime whose clock moves only when every task waits: an eager reader never looks
/// stalled, however short the stall limit.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// `config` is refused with an error naming a field and its range, or streams `items`
/// exactly like the reference on every path and in both formats.
fn check(config: &ChunkConfig, items: &[u32]) -> Result<(), TestCaseError> {
    let streamer = match Streamer::new(config.clone()) {
        Ok(streamer) => streamer,
        Err(err) => {
            let message = err.to_string();
            prop_assert!(
                FIELDS.iter().any(|field| message.contains(field)),
                "{message}"
            );
            return Ok(());
        }
    };
    let rt = runtime();
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = streamer.clone().with_format(format);
        for path in PATHS {
            let mut chunks = rt.block_on(async { run(&streamer, path, items.to_vec()) });
            let body = rt.block_on(async {
                let mut body = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    body.extend_from_slice(&chunk?);
                }
                Ok::<_, chunkstream::StreamError>(body)
            });
            let body = body.map_err(|err| {
                TestCaseError::fail(format!("{format:?} {path:?}: {err} with {config:?}"))
            })?;
            prop_assert_eq!(
                body,
                expected(format, items),
                "{:?} {:?} {:?}",
                format,
                path,
                config
            );
        }
    }
    Ok(())
}

#[test]
fn the_extremes_found_in_the_issue_work_or_are_refused() {
    let base = ChunkConfig::with_sizes(4096, 2048);
    let cases = [
        base.clone().with_flush_interval(Duration::MAX),
        base.clone().with_stall_timeout(Duration::MAX),
        base.clone()
            .with_pool(base.pool.with_max_pooled(usize::MAX)),
        base.clone().with_channel_capacity(usize::MAX),
        base.clone().with_batch_size(usize::MAX),
        base.clone()
            .with_pool(base.pool.with_max_retained(usize::MAX)),
        ChunkConfig::default().with_buffer_size(usize::MAX),
        ChunkConfig::default()
            .with_pool(
                PoolConfig::default()
                    .with_buffer_size(usize::MAX)
                    .with_max_retained(usize::MAX),
            )
            .with_chunk_threshold(1),
    ];
    for config in cases {
        for items in [vec![], vec![1, 2, 3]] {
            check(&config, &items).unwrap();
        }
    }
}

#[test]
fn out_of_range_errors_name_the_field_and_the_range() {
    let err = ChunkConfig::default()
        .with_pool(PoolConfig::default().with_max_pooled(usize::MAX))
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "max_pooled",
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("max_pooled"), "{message}");
    assert!(message.contains("1..="), "{message}");

    let err = ChunkConfig::default()
        .with_buffer_size(usize::MAX)
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "buffer_size",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn one_zero_rule_for_chunk_and_pool_configs() {
    let zeros = PoolConfig::default()
        .with_buffer_size(0)
        .with_max_pooled(0)
        .with_max_retained(0);
    assert_eq!(zeros.validate(), Ok(PoolConfig::default()));
    let chunk = ChunkConfig::default().with_pool(zeros).validate().unwrap();
    assert_eq!(chunk.pool, PoolConfig::default());
    // A pool built from bounds that contradict each other is refused, not built to drop
    // every buffer it hands out.
    let contradiction = PoolConfig::default()
        .with_buffer_size(4096)
        .with_max_retained(100);
    assert!(matches!(
        contradiction.validate(),
        Err(ConfigError::RetainedBelowBuffer {
            max_retained: 100,
            buffer_size: 4096
        })
    ));
    use chunkstream::pool::{DefaultPool, FromPoolConfig, NoPool};
    assert!(DefaultPool::try_from_pool_config(contradiction).is_err());
    assert!(NoPool::try_from_pool_config(contradiction).is_err());
    let pool = DefaultPool::try_from_pool_config(zeros).unwrap();
    assert_eq!(
        chunkstream::BufferPool::initial_size(&pool),
        PoolConfig::default().buffer_size
    );
}

/// 0, 1, the type's maximum, and values around the limits and in between.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0_usize),
        Just(1),
        Just(usize::MAX),
        Just(usize::MAX >> 3),
        Just((usize::MAX >> 3) + 1),
        Just(1 << 16),
        Just((1 << 16) + 1),
        Just(1 << 30),
        Just((1 << 30) + 1),
        1_usize..=64,
        1_usize..=70_000,
        any::<usize>(),
    ]
}

fn duration() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::from_nanos(1))),
        Just(Some(Duration::MAX)),
        (0_u64..=10_000).prop_map(|ms| Some(Duration::from_millis(ms))),
        (any::<u64>(), 0_u32..1_000_000_000).prop_map(|(s, n)| Some(Duration::new(s, n))),
    ]
}

prop_compose! {
    fn config()(
        buffer_size in size(),
        chunk_threshold in size(),
        batch_size in size(),
        flush_interval in duration(),
        max_pooled in size(),
        max_retained in size(),
        channel_capacity in size(),
        stall_timeout in duration(),
    ) -> ChunkConfig {
        ChunkConfig::default()
            .with_pool(PoolConfig::default().with_buffer_size(buffer_size).with_max_pooled(max_pooled).with_max_retained(max_retained))
            .with_chunk_threshold(chunk_threshold)
            .with_batch_size(batch_size)
            .with_flush_interval(flush_interval)
            .with_channel_capacity(channel_capacity)
            .with_stall_timeout(stall_timeout)
    }
}

prop_compose! {
    /// Configurations inside the accepted ranges (with the extremes of each range), so
    /// that every case streams rather than being refused.
    fn accepted_config()(
        buffer_size in prop_oneof![Just(1_usize), Just(MAX_BUFFER_SIZE), 1_usize..=4096, 1_usize..=(1 << 20)],
        threshold_part in 0.0_f64..=1.0,
        batch_size in size(),
        flush_interval in duration(),
        max_pooled in prop_oneof![Just(0_usize), Just(1), Just(MAX_POOLED), 1_usize..=MAX_POOLED],
        retained_extra in prop_oneof![Just(0_usize), Just(usize::MAX), any::<usize>()],
        channel_capacity in size(),
        stall_timeout in duration(),
    ) -> ChunkConfig {
        let threshold = ((buffer_size as f64 * threshold_part) as usize).clamp(1, buffer_size);
        let pool = PoolConfig::default()
            .with_buffer_size(buffer_size)
            .with_max_pooled(max_pooled)
            .with_max_retained(buffer_size.saturating_add(retained_extra));
        ChunkConfig::default()
            .with_pool(pool)
            .with_chunk_threshold(threshold)
            .with_batch_size(batch_size)
            .with_flush_interval(flush_interval)
            .with_channel_capacity(channel_capacity)
            .with_stall_timeout(stall_timeout)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The whole range of every field: refused with a named field, or streamed exactly.
    #[test]
    fn every_config_streams_on_every_path_or_is_refused(
        config in config(),
        items in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        check(&config, &items)?;
    }

    /// Inside the accepted ranges: always accepted, always streamed exactly.
    #[test]
    fn every_accepted_config_streams_on_every_path(
        config in accepted_config(),
        items in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        prop_assert!(config.clone().validate().is_ok(), "{:?}", config);
        check(&config, &items)?;
    }
}
