use chunkstream::{ChunkConfig, ConfigError, Streamer};

#[test]
fn streamer_refuses_contradictions() {
    let err = Streamer::new(ChunkConfig::with_sizes(1024, 2048)).unwrap_err();
    assert!(
        matches!(err, ConfigError::ThresholdAboveBuffer { .. }),
        "{err}"
    );

    let config = ChunkConfig::default().with_max_retained(10);
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
        .with_max_pooled(0)
        .with_max_retained(0)
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
    assert!(valid.max_retained >= 128 << 10, "{valid:?}");
    let pool = chunkstream::PoolConfig::default().with_buffer_size(128 << 10);
    assert!(pool.validate().is_ok());
    // A max_retained the user set and the new size allows is kept.
    let kept = ChunkConfig::default()
        .with_max_retained(1 << 20)
        .with_buffer_size(128 << 10);
    assert_eq!(kept.max_retained, 1 << 20);
}

#[test]
fn a_pool_config_error_does_not_name_the_chunk_config() {
    let err = chunkstream::PoolConfig::default()
        .with_buffer_size(1024)
        .with_max_retained(512)
        .validate()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("max_retained (512)"), "{text}");
    assert!(!text.contains("chunk config"), "{text}");
}
