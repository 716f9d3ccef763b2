//! Transforms: per-item `FnMut(T) -> Result<U, E>` and batch
//! `FnMut(Vec<T>) -> Result<Vec<U>, E>`, with pass-through helpers.
//!
//! Any closure of those shapes is a transform; a transform that panics ends the stream
//! with [`StreamError::Panicked`] instead of unwinding into the runtime.

use std::convert::Infallible;

use crate::error::{BoxError, StreamError};

/// The per-item transform that passes items through unchanged.
///
/// # Examples
///
/// ```
/// let mut t = chunkstream::transform::passthrough::<u32>();
/// assert_eq!(t(7), Ok(7));
/// ```
pub fn passthrough<T>() -> impl FnMut(T) -> Result<T, Infallible> + Send + Clone {
    Ok
}

/// The batch transform that passes batches through unchanged.
///
/// # Examples
///
/// ```
/// let mut t = chunkstream::transform::batch_passthrough::<u32>();
/// assert_eq!(t(vec![1, 2]), Ok(vec![1, 2]));
/// ```
pub fn batch_passthrough<T>() -> impl FnMut(Vec<T>) -> Result<Vec<T>, Infallible> + Send + Clone {
    Ok
}

/// Makes a per-item transform out of an infallible function.
///
/// # Examples
///
/// ```
/// let mut t = chunkstream::transform::infallible(|x: u32| x * 2);
/// assert_eq!(t(4), Ok(8));
/// ```
pub fn infallible<T, U>(
    mut f: impl FnMut(T) -> U + Send + 'static,
) -> impl FnMut(T) -> Result<U, Infallible> + Send {
    move |item| Ok(f(item))
}

/// Makes a batch transform out of a per-item function, applied to each item in order.
///
/// # Errors
///
/// The returned transform fails with the first error `f` returns.
///
/// # Examples
///
/// ```
/// let mut t = chunkstream::transform::per_item(|x: u32| Ok::<_, std::convert::Infallible>(x + 1));
/// assert_eq!(t(vec![1, 2]), Ok(vec![2, 3]));
/// ```
pub fn per_item<T, U, E>(
    mut f: impl FnMut(T) -> Result<U, E> + Send + 'static,
) -> impl FnMut(Vec<T>) -> Result<Vec<U>, E> + Send {
    move |batch: Vec<T>| batch.into_iter().map(&mut f).collect()
}

/// A transform and the index of the next item it sees: the one place that numbers items
/// for [`StreamError::Transform`], on every path.
pub(crate) struct Counted<F> {
    transform: F,
    next: u64,
}

impl<F> Counted<F> {
    pub(crate) fn new(transform: F) -> Self {
        Counted { transform, next: 0 }
    }

    /// Reserves the indices of a batch of `len` items and returns its first.
    pub(crate) fn reserve(&mut self, len: usize) -> u64 {
        let first = self.next;
        self.next += len as u64;
        first
    }

    pub(crate) fn item<T, U, TE>(&mut self, item: T) -> Result<U, StreamError>
    where
        F: FnMut(T) -> Result<U, TE>,
        TE: Into<BoxError>,
    {
        let index = self.reserve(1);
        (self.transform)(item).map_err(|err| failed(index, err))
    }

    /// Transforms one batch; an error names the batch's first item.
    pub(crate) fn batch<T, U, TE>(&mut self, batch: Vec<T>) -> Result<Vec<U>, StreamError>
    where
        F: FnMut(Vec<T>) -> Result<Vec<U>, TE>,
        TE: Into<BoxError>,
    {
        let first = self.reserve(batch.len());
        (self.transform)(batch).map_err(|err| failed(first, err))
    }
}

/// The error of a transform that refused the item (or batch) starting at `index`.
pub(crate) fn failed(index: u64, err: impl Into<BoxError>) -> StreamError {
    StreamError::Transform {
        index,
        source: err.into(),
    }
}
