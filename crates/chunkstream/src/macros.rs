//! Feature gates that also badge the docs, as tokio's `cfg_*!` macros do.

/// Items compiled with the feature named first, badged in the docs with it.
macro_rules! cfg_feature {
    ($feature:literal, $($item:item)*) => {
        $(
            #[cfg(feature = $feature)]
            #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
            $item
        )*
    };
}
