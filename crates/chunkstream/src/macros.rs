//! Feature gates that also badge the docs, as tokio's `cfg_*!` macros do.
#![allow(unused_macros)] // each is used once its feature has code

/// Items compiled with the `pool-freelist` feature, badged in the docs.
macro_rules! cfg_pool_freelist {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "pool-freelist")]
            #[cfg_attr(docsrs, doc(cfg(feature = "pool-freelist")))]
            $item
        )*
    };
}

/// Items compiled with the `pool-object-pool` feature, badged in the docs.
macro_rules! cfg_pool_object_pool {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "pool-object-pool")]
            #[cfg_attr(docsrs, doc(cfg(feature = "pool-object-pool")))]
            $item
        )*
    };
}

/// Items compiled with the `pool-thread-local` feature, badged in the docs.
macro_rules! cfg_pool_thread_local {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "pool-thread-local")]
            #[cfg_attr(docsrs, doc(cfg(feature = "pool-thread-local")))]
            $item
        )*
    };
}

/// Items compiled with the `encoder-simd-json` feature, badged in the docs.
macro_rules! cfg_encoder_simd_json {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "encoder-simd-json")]
            #[cfg_attr(docsrs, doc(cfg(feature = "encoder-simd-json")))]
            $item
        )*
    };
}

/// Items compiled with the `encoder-sonic-rs` feature, badged in the docs.
macro_rules! cfg_encoder_sonic_rs {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "encoder-sonic-rs")]
            #[cfg_attr(docsrs, doc(cfg(feature = "encoder-sonic-rs")))]
            $item
        )*
    };
}

/// Items compiled with the `axum` feature, badged in the docs.
macro_rules! cfg_axum {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "axum")]
            #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
            $item
        )*
    };
}

/// Items compiled with the `sqlx` feature, badged in the docs.
macro_rules! cfg_sqlx {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "sqlx")]
            #[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
            $item
        )*
    };
}

/// Items compiled with the `rusqlite` feature, badged in the docs.
macro_rules! cfg_rusqlite {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "rusqlite")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
            $item
        )*
    };
}
