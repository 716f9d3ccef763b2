use std::time::Duration;

use chunkstream::config::{DEFAULT_BUFFER_SIZE, MinDataRate};
use chunkstream::{ChunkConfig, ConfigError, PoolConfig, Streamer};

#[test]
fn streamer_refuses_contradictions() {
    let err = Streamer::new(ChunkConfig::with_sizes(1024, 2048)).unwrap_err();
    assert!(
        matches!(err, ConfigError::ThresholdAboveBuffer { .. }),
        "{err}"
    );

    let config = ChunkConfig::default().with_pool(PoolConfig::default().with_max_retained(10));
    let err = Streamer::new(config).unwrap_err();
    assert!(
        matches!(err, ConfigError::RetainedBelowBuffer { .. }),
        "{err}"
    );
}

#[test]
fn streamer_fills_zeros() {
    let zeros = ChunkConfig::default()
        .with_buffer_size(0)
        .with_chunk_threshold(0)
        .with_batch_size(0)
        .with_flush_interval(None)
        .with_pool(
            PoolConfig::default()
                .with_max_pooled(0)
                .with_max_retained(0),
        )
        .with_channel_capacity(0)
        .with_stall_timeout(None);
    let streamer = Streamer::new(zeros).unwrap();
    assert_eq!(streamer.config(), &ChunkConfig::default());
}

#[test]
fn key_types_are_send_and_sync_where_it_matters() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<chunkstream::ChunkStream>();
    send::<chunkstream::StreamResponse>();
    send_sync::<chunkstream::StreamError>();
    send_sync::<Streamer>();
    send_sync::<chunkstream::ChunkConfig>();
    send_sync::<chunkstream::pool::NoPool>();
}

#[test]
fn a_larger_buffer_alone_stays_valid_and_max_retained_follows() {
    let config = ChunkConfig::default().with_buffer_size(128 << 10);
    let valid = config
        .validate()
        .expect("one valid change keeps the config valid");
    assert!(valid.pool.max_retained >= 128 << 10, "{valid:?}");
    let pool = PoolConfig::default().with_buffer_size(128 << 10);
    assert!(pool.validate().is_ok());
    // A max_retained the user set and the new size allows is kept.
    let kept = ChunkConfig::default()
        .with_pool(PoolConfig::default().with_max_retained(1 << 20))
        .with_buffer_size(128 << 10);
    assert_eq!(kept.pool.max_retained, 1 << 20);
}

#[test]
fn a_pool_config_error_does_not_name_the_chunk_config() {
    let err = PoolConfig::default()
        .with_buffer_size(1024)
        .with_max_retained(512)
        .validate()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("max_retained (512)"), "{text}");
    assert!(!text.contains("chunk config"), "{text}");
}

#[test]
fn zeros_become_defaults() {
    let mut zero = ChunkConfig::default()
        .with_pool(
            PoolConfig::default()
                .with_buffer_size(0)
                .with_max_pooled(0)
                .with_max_retained(0),
        )
        .with_chunk_threshold(0)
        .with_batch_size(0)
        .with_flush_interval(Duration::ZERO)
        .with_channel_capacity(0)
        .with_stall_timeout(Duration::ZERO)
        .with_min_data_rate(MinDataRate::new(0, Duration::from_secs(5)));
    assert_eq!(zero.clone().validate().unwrap(), ChunkConfig::default());
    zero.pool = PoolConfig::default().with_max_pooled(0);
    assert_eq!(zero.validate().unwrap(), ChunkConfig::default());
}

#[test]
fn zero_threshold_follows_a_small_buffer() {
    let config = ChunkConfig::with_sizes(1024, 0).validate().unwrap();
    assert_eq!(config.chunk_threshold, 1024);
    assert_eq!(config.pool.max_retained, 2048);
}

#[test]
fn threshold_above_buffer_is_rejected_by_the_chunk_config() {
    let err = ChunkConfig::with_sizes(1024, 4096).validate().unwrap_err();
    assert_eq!(
        err,
        ConfigError::ThresholdAboveBuffer {
            chunk_threshold: 4096,
            buffer_size: 1024
        }
    );
    let message = err.to_string();
    assert!(message.contains("invalid chunk config"), "{message}");
    assert!(message.contains("chunk_threshold (4096)"), "{message}");
    assert!(message.contains("buffer_size (1024)"), "{message}");
}

#[test]
fn retained_below_buffer_is_rejected_by_the_pool_config() {
    let config = ChunkConfig::default().with_pool(PoolConfig::default().with_max_retained(100));
    let err = config.validate().unwrap_err();
    assert_eq!(
        err,
        ConfigError::RetainedBelowBuffer {
            max_retained: 100,
            buffer_size: DEFAULT_BUFFER_SIZE
        }
    );
    let message = err.to_string();
    assert!(message.contains("invalid pool config"), "{message}");
    assert!(message.contains("max_retained (100)"), "{message}");
}

#[test]
fn defaults_are_the_go_claims() {
    let config = ChunkConfig::default();
    assert_eq!(config.pool.buffer_size, 51_200);
    assert_eq!(config.chunk_threshold, 32_768);
    assert_eq!(config.batch_size, 1000);
    assert_eq!(config.validate(), Ok(ChunkConfig::default()));
}
