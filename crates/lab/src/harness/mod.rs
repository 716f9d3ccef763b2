//! The measuring machinery every command shares: paired blocks and their alternation
//! ([`paired`]), the matrix of contestants against their limits ([`matrix`]), paired
//! rows with targets ([`rows`]), the statistics ([`stats`]), the noise gate ([`noise`]),
//! the counting allocator ([`alloc_count`]) and where threads run ([`placement`]).

pub(crate) mod alloc_count;
pub(crate) mod matrix;
pub(crate) mod noise;
pub(crate) mod paired;
pub(crate) mod placement;
pub(crate) mod rows;
pub(crate) mod stats;

use chunkstream::ChunkConfig;
use chunkstream_benches::contestants::{EncoderKind, PoolKind};
use chunkstream_benches::peers;
use chunkstream_benches::scenario::{self, Built, Path};

/// chunkstream with `pool` and `encoder` at the default configuration, streaming
/// `items` from memory as a JSON array along `path`.
pub(crate) fn in_memory<T: serde::Serialize + Sync>(
    pool: PoolKind,
    encoder: EncoderKind,
    path: Path,
    items: &'static [T],
) -> Built {
    let (config, array) = (ChunkConfig::default(), chunkstream::format::Json::Array);
    scenario::chunkstream(pool, encoder, &config, array, path, move || {
        peers::memory(items)
    })
}
