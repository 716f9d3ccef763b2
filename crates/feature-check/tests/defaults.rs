//! `DefaultPool` and `DefaultEncoder` follow this crate's feature choice.
//!
//! Run alone: `cargo test -p chunkstream-feature-check` (see Cargo.toml).

use std::any::{TypeId, type_name};

use chunkstream::encode::{DefaultEncoder, SonicRs};
use chunkstream::pool::{DefaultPool, ThreadLocalPool};
use chunkstream::{BufferPool, ChunkConfig};

#[test]
fn default_pool_is_thread_local() {
    assert_eq!(
        TypeId::of::<DefaultPool>(),
        TypeId::of::<ThreadLocalPool>(),
        "DefaultPool is {}",
        type_name::<DefaultPool>()
    );
}

#[test]
fn default_encoder_is_sonic_rs() {
    assert_eq!(
        TypeId::of::<DefaultEncoder>(),
        TypeId::of::<SonicRs>(),
        "DefaultEncoder is {}",
        type_name::<DefaultEncoder>()
    );
}

#[test]
fn streamer_new_uses_them() {
    let streamer: chunkstream_feature_check::DefaultStreamer =
        chunkstream::Streamer::new(ChunkConfig::default()).unwrap();
    let _: &SonicRs = streamer.encoder();
    let buf = streamer.pool().get();
    streamer.pool().put(buf);
    assert_eq!(streamer.pool().stats().returned, 1);
}
