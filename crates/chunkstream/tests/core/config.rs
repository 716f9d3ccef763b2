use chunkstream::{ChunkConfig, ConfigError, Streamer};

#[test]
fn streamer_refuses_contradictions() {
    let err = Streamer::new(ChunkConfig::with_sizes(1024, 2048)).unwrap_err();
    assert!(
        matches!(err, ConfigError::ThresholdAboveBuffer { .. }),
        "{err}"
    );

    let config = ChunkConfig {
        max_retained: 10,
        ..ChunkConfig::default()
    };
    let err = Streamer::new(config).unwrap_err();
    assert!(
        matches!(err, ConfigError::RetainedBelowBuffer { .. }),
        "{err}"
    );
}

#[test]
fn streamer_fills_zeros() {
    let zeros = ChunkConfig {
        buffer_size: 0,
        chunk_threshold: 0,
        batch_size: 0,
        flush_interval: None,
        max_pooled: 0,
        max_retained: 0,
        channel_capacity: 0,
    };
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
