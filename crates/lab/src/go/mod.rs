//! The Go package measured beside chunkstream: building and driving it ([`reference`](mod@reference))
//! and the paired comparisons with it ([`bench`](mod@bench)), kept where Go ran at its
//! best ([`best`]).

pub(crate) mod bench;
pub(crate) mod best;
pub(crate) mod reference;
