//! A downstream crate that depends on chunkstream with
//! `default-features = false, features = ["pool-thread-local", "encoder-sonic-rs"]`; its
//! test checks that `DefaultPool` and `DefaultEncoder` are those strategies.
//!
//! Run it alone (`cargo test -p chunkstream-feature-check`): building it together with
//! other workspace members unifies chunkstream's features.

/// The streamer this crate gets from `Streamer::new`: the feature-selected defaults.
pub type DefaultStreamer = chunkstream::Streamer;
