//! What `compare` measures beside its matrix: pool get + put, steady-state allocations,
//! the first byte from a slow source, and pools on a mixed workload.

pub(crate) mod first_byte;
pub(crate) mod mixed;
pub(crate) mod pool_ops;
pub(crate) mod steady_alloc;
