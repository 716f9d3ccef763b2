//! The Go package measured beside chunkstream: building and driving it ([`reference`])
//! and the paired comparisons with it ([`bench`]).

pub(crate) mod bench;
pub(crate) mod reference;
