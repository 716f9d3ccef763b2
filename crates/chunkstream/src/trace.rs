//! Where the crate reports: `tracing` with the `tracing` feature, else nowhere (no-ops).

#[cfg(feature = "tracing")]
mod imp {
    pub(crate) type Span = tracing::Span;

    pub(crate) fn span() -> Span {
        tracing::debug_span!("chunkstream")
    }

    pub(crate) fn enter(span: &Span) -> tracing::span::Entered<'_> {
        span.enter()
    }

    /// A spawned stream cut its reader (stalled or too slow), logged when it happens:
    /// the reader learns it only once it reads again.
    pub(crate) fn cut(err: &crate::StreamError) {
        tracing::warn!(
            kind = err.kind().as_str(),
            "{err}; source and buffers released"
        );
    }

    /// A failure a client is told about (by `id`, with a generic message): its whole
    /// detail goes here, with the same id.
    pub(crate) fn reported(id: &str, err: &crate::StreamError, what: &'static str) {
        tracing::warn!(
            error_id = id,
            kind = err.kind().as_str(),
            detail = %crate::error::chain(err),
            "{what}"
        );
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    pub(crate) type Span = ();

    pub(crate) fn span() -> Span {}

    /// Stands for `tracing`'s entered-span guard.
    pub(crate) struct Entered;

    pub(crate) fn enter(_span: &Span) -> Entered {
        Entered
    }

    pub(crate) fn cut(_err: &crate::StreamError) {}

    pub(crate) fn reported(_id: &str, _err: &crate::StreamError, _what: &'static str) {}
}

pub(crate) use imp::*;
