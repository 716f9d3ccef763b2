//! The lab's subcommands, one module each.

pub(crate) mod alloc;
pub(crate) mod compare;
pub(crate) mod concurrency;
pub(crate) mod database;
pub(crate) mod parallel;
pub(crate) mod parallel_profile;
pub(crate) mod profile;
pub(crate) mod soak;
pub(crate) mod tune;
