//! What `compare` measures beside its matrix: pool get + put, steady-state allocations,
//! the first byte from a slow source, pools on a mixed workload, and the one-download
//! rows combined over their processes.

pub(crate) mod first_byte;
pub(crate) mod mixed;
pub(crate) mod one_download;
pub(crate) mod pool_ops;
pub(crate) mod steady_alloc;
