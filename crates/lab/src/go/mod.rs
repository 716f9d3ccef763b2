//! The Go package measured beside chunkstream: building and driving it ([`reference`](mod@reference))
//! and the paired comparisons with it ([`bench`](mod@bench)).

pub(crate) mod bench;
pub(crate) mod reference;
