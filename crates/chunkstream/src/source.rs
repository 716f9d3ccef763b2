//! Sources: adapters that turn iterators, streams and channels into the
//! `Stream<Item = Result<T, E>>` the streamer reads, and batching.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::sync::mpsc;

pub use crate::run_ahead::{RunAhead, run_ahead};

/// A source over a plain iterator; it never fails.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
///
/// let items: Vec<Result<i32, _>> = chunkstream::source::from_iter(1..=3).collect().await;
/// assert_eq!(items, vec![Ok(1), Ok(2), Ok(3)]);
/// # });
/// ```
pub fn from_iter<I: IntoIterator>(items: I) -> IterSource<I::IntoIter> {
    futures_util::stream::iter(items.into_iter().map(Ok as OkFn<I::Item>))
}

/// `Ok` as a function pointer, so [`IterSource`] can be named.
type OkFn<T> = fn(T) -> Result<T, Infallible>;

/// The source made by [`from_iter`]: every item of the iterator `I`, wrapped in `Ok`.
pub type IterSource<I> = futures_util::stream::Iter<std::iter::Map<I, OkFn<<I as Iterator>::Item>>>;

/// A source over a stream that cannot fail.
pub fn from_stream<S: Stream>(stream: S) -> Infallibly<S> {
    Infallibly { stream }
}

pin_project_lite::pin_project! {
    /// The source made by [`from_stream`]: every item wrapped in `Ok`.
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Infallibly<S> {
        #[pin]
        stream: S,
    }
}

impl<S: Stream> Stream for Infallibly<S> {
    type Item = Result<S::Item, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project().stream.poll_next(cx).map(|item| item.map(Ok))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

/// A Go-style source: items from one channel, errors from another (the Go package's
/// fetcher signature).
///
/// The error channel is checked first, so an error sent before an item wins. The source
/// ends when the item channel is closed and drained; an error that was already sent by
/// then still ends the source with that error. Items after an error are not read.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use tokio::sync::mpsc;
///
/// let (items_tx, items) = mpsc::channel(8);
/// let (errors_tx, errors) = mpsc::channel::<std::io::Error>(1);
/// items_tx.send(1).await.unwrap();
/// drop((items_tx, errors_tx));
/// let got: Vec<_> = chunkstream::source::from_channels(items, errors).collect().await;
/// assert_eq!(got.len(), 1);
/// # });
/// ```
pub fn from_channels<T, E>(
    items: mpsc::Receiver<T>,
    errors: mpsc::Receiver<E>,
) -> ChannelSource<T, E> {
    ChannelSource {
        items,
        errors: Some(errors),
        done: false,
    }
}

/// The source made by [`from_channels`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ChannelSource<T, E> {
    items: mpsc::Receiver<T>,
    /// `None` once the error channel is closed with nothing in it.
    errors: Option<mpsc::Receiver<E>>,
    done: bool,
}

impl<T, E> Stream for ChannelSource<T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(errors) = &mut this.errors {
            match errors.poll_recv(cx) {
                Poll::Ready(Some(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => this.errors = None,
                Poll::Pending => {}
            }
        }
        match ready!(this.items.poll_recv(cx)) {
            Some(item) => Poll::Ready(Some(Ok(item))),
            None => {
                this.done = true;
                // An error sent just before the item channel closed still counts.
                match this.errors.as_mut().map(|errors| errors.try_recv()) {
                    Some(Ok(err)) => Poll::Ready(Some(Err(err))),
                    _ => Poll::Ready(None),
                }
            }
        }
    }
}

/// Groups a source's items into batches of `size` (at least 1).
///
/// Every batch is full except perhaps the last: a source that is not ready keeps the
/// partial batch waiting (on [`Streamer::stream_batch`](crate::Streamer::stream_batch),
/// the flush deadline of [`ChunkConfig::flush_interval`](crate::ChunkConfig::flush_interval)
/// sends such a batch on when it passes). When the source fails, the items read before
/// the error come out first as a (short) batch, then the error, then nothing.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use chunkstream::source::{batched, from_iter};
///
/// let batches: Vec<_> = batched(from_iter(1..=5), 2).collect().await;
/// assert_eq!(batches, vec![Ok(vec![1, 2]), Ok(vec![3, 4]), Ok(vec![5])]);
/// # });
/// ```
pub fn batched<S, T, E>(source: S, size: usize) -> Batched<S, T, E>
where
    S: Stream<Item = Result<T, E>>,
{
    Batched {
        source,
        size: size.max(1),
        batch: Vec::new(),
        pending_error: None,
        done: false,
    }
}

/// The most items a batch reserves room for before they come.
const MAX_BATCH_RESERVE: usize = 1024;

pin_project_lite::pin_project! {
    /// The source made by [`batched`].
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Batched<S, T, E> {
        #[pin]
        source: S,
        size: usize,
        batch: Vec<T>,
        pending_error: Option<E>,
        done: bool,
    }
}

impl<S, T, E> crate::pipeline::Units for Batched<S, T, E>
where
    S: Stream<Item = Result<T, E>>,
{
    fn gathering(&self) -> bool {
        !self.batch.is_empty()
    }

    fn take_gathered(self: Pin<&mut Self>) -> Option<Self::Item> {
        let batch = self.project().batch;
        (!batch.is_empty()).then(|| Ok(std::mem::take(batch)))
    }
}

impl<S, T, E> Stream for Batched<S, T, E>
where
    S: Stream<Item = Result<T, E>>,
{
    type Item = Result<Vec<T>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if let Some(err) = this.pending_error.take() {
            *this.done = true;
            return Poll::Ready(Some(Err(err)));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            match ready!(this.source.as_mut().poll_next(cx)) {
                Some(Ok(item)) => {
                    if this.batch.is_empty() {
                        // Up front, room for a typical batch, not for any `size` (which
                        // may be as large as `usize::MAX`); a larger one grows as needed.
                        this.batch
                            .reserve_exact((*this.size).min(MAX_BATCH_RESERVE));
                    }
                    this.batch.push(item);
                    if this.batch.len() == *this.size {
                        return Poll::Ready(Some(Ok(std::mem::take(this.batch))));
                    }
                }
                Some(Err(err)) if this.batch.is_empty() => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Some(Err(err)) => {
                    *this.pending_error = Some(err);
                    return Poll::Ready(Some(Ok(std::mem::take(this.batch))));
                }
                None => {
                    *this.done = true;
                    let last = std::mem::take(this.batch);
                    return Poll::Ready((!last.is_empty()).then_some(Ok(last)));
                }
            }
        }
    }
}
