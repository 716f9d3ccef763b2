//! The process-wide default pool and its `get_buffer` / `put_buffer` helpers.

use std::sync::{Arc, OnceLock};

use super::{BufferPool, DefaultPool, FromPoolConfig};
use crate::config::PoolConfig;

static GLOBAL: OnceLock<Arc<DefaultPool>> = OnceLock::new();

/// The process-wide [`DefaultPool`], built with the default [`PoolConfig`] on first use.
///
/// It is an `Arc`, so a [`Streamer`](crate::Streamer) can draw from it too.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use chunkstream::{BufferPool, ChunkConfig, Streamer, encode::DefaultEncoder, pool};
///
/// assert_eq!(pool::global().initial_size(), 51_200);
/// let streamer = Streamer::with_parts(
///     ChunkConfig::default(),
///     Arc::clone(pool::global()),
///     DefaultEncoder::default(),
/// )?;
/// # Ok::<_, chunkstream::ConfigError>(())
/// ```
pub fn global() -> &'static Arc<DefaultPool> {
    GLOBAL.get_or_init(|| Arc::new(DefaultPool::from_pool_config(PoolConfig::default())))
}

/// Takes an empty buffer from the [`global`] pool, or allocates one.
///
/// # Examples
///
/// ```
/// use chunkstream::{BufferPool, pool};
///
/// let mut buf = pool::get_buffer();
/// buf.extend_from_slice(b"{}");
/// pool::put_buffer(buf);
/// assert!(pool::global().stats().given_back() >= 1);
/// ```
pub fn get_buffer() -> Vec<u8> {
    global().get()
}

/// Gives a buffer back to the [`global`] pool, which clears it (or drops it when full or
/// when the buffer grew past the retention bound).
pub fn put_buffer(buf: Vec<u8>) {
    global().put(buf)
}
