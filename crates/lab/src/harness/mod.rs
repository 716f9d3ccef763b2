//! The measuring machinery every command shares: paired blocks and their alternation
//! ([`paired`]), the matrix of contestants against their limits ([`matrix`]), paired
//! rows with targets ([`rows`]), the statistics ([`stats`]), the noise gate ([`noise`])
//! and the counting allocator ([`alloc_count`]).

pub(crate) mod alloc_count;
pub(crate) mod matrix;
pub(crate) mod noise;
pub(crate) mod paired;
pub(crate) mod rows;
pub(crate) mod stats;
