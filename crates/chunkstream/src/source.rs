//! Sources: adapters that turn iterators, streams and channels into the
//! `Stream<Item = Result<T, E>>` the streamer reads, and batching.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::sync::mpsc;

pub use crate::run_ahead::{RunAhead, run_ahead};

/// Whether a [`limit`]ed source had more items than its limit: shared by the source,
/// which sets it, and whoever reports it (the `truncated` field of an
/// [`Envelope`](crate::format::Envelope)). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Cut(Arc<AtomicBool>);

impl Cut {
    /// Whether the limit cut the source (known once the source has ended).
    pub fn is_cut(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// At most `limit` items of `source`, and whether it had more: after the `limit`-th item
/// the source is polled once more, and an item there (dropped, not streamed) sets the
/// [`Cut`]. So a query for `limit + 1` rows pages exactly: the page holds `limit` items
/// and knows whether a next page exists. An error there still ends the stream with it.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use chunkstream::source;
///
/// let (page, cut) = source::limit(source::from_iter(1..=3), 2);
/// let items: Vec<_> = page.collect().await;
/// assert_eq!(items, vec![Ok(1), Ok(2)]);
/// assert!(cut.is_cut());
/// # });
/// ```
pub fn limit<S>(source: S, limit: u64) -> (Limit<S>, Cut) {
    let cut = Cut::default();
    let limited = Limit {
        source,
        left: limit,
        cut: cut.clone(),
        done: false,
    };
    (limited, cut)
}

pin_project_lite::pin_project! {
    /// The source made by [`limit`].
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Limit<S> {
        #[pin]
        source: S,
        left: u64,
        cut: Cut,
        done: bool,
    }
}

impl<S: Stream<Item = Result<T, E>>, T, E> Stream for Limit<S> {
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let end = match ready!(this.source.poll_next(cx)) {
            Some(Ok(item)) if *this.left > 0 => {
                *this.left -= 1;
                return Poll::Ready(Some(Ok(item)));
            }
            // One past the limit: there was more.
            Some(Ok(_)) => {
                this.cut.0.store(true, Ordering::Release);
                None
            }
            err_or_none => err_or_none,
        };
        *this.done = true;
        Poll::Ready(end)
    }
}

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

impl<S, T, E> Units for Batched<S, T, E>
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

/// A source over shared, immutable data: each element of `items` (an `Arc<[T]>` or an
/// `Arc<Vec<T>>`), in order, as a [`Shared`] handle that serializes exactly as the
/// element does. It never fails.
///
/// Sources must be `Send + 'static`, so a stream cannot borrow a slice that lives in
/// the handler or in the application state. Put the data behind an `Arc` once (in the
/// state, a cache, ...) and give each request a clone of the `Arc`: the source then owns
/// a reference count, not a copy, and no element is cloned (`T` need not be `Clone`), so
/// nobody needs `Box::leak` or a `'static` borrow. A [`Shared`] dereferences to its
/// element, so a transform reads it by reference.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use chunkstream::{ChunkConfig, Streamer, source};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { id: u32 } // not Clone
///
/// // Built once, shared by every request.
/// let tickets: Arc<[Ticket]> = (1..=3).map(|id| Ticket { id }).collect();
///
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let body = streamer.json(source::from_arc(Arc::clone(&tickets))).collect_bytes().await?;
/// assert_eq!(&body[..], br#"[{"id":1},{"id":2},{"id":3}]"#);
///
/// // `Arc<Vec<T>>` works the same, and a transform borrows each element.
/// let names = Arc::new(vec![String::from("a"), String::from("bc")]);
/// let lengths = streamer.stream(source::from_arc(names), |name: source::Shared<Vec<String>>| {
///     Ok::<_, std::convert::Infallible>(name.len())
/// });
/// assert_eq!(&lengths.collect_bytes().await?[..], b"[1,2]");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn from_arc<C: SharedSlice + ?Sized>(items: Arc<C>) -> ArcSource<C> {
    ArcSource { items, next: 0 }
}

/// The containers [`from_arc`] reads: `[T]` and `Vec<T>` (behind an `Arc`).
///
/// Sealed: a `Shared` handle indexes its container, so only containers whose length
/// cannot change behind a shared reference are allowed.
pub trait SharedSlice: Send + Sync + 'static + private::Sealed {
    /// The element type.
    type Item;

    /// The elements.
    fn as_items(&self) -> &[Self::Item];
}

impl<T: Send + Sync + 'static> SharedSlice for [T] {
    type Item = T;

    fn as_items(&self) -> &[T] {
        self
    }
}

impl<T: Send + Sync + 'static> SharedSlice for Vec<T> {
    type Item = T;

    fn as_items(&self) -> &[T] {
        self
    }
}

mod private {
    pub trait Sealed {}
    impl<T> Sealed for [T] {}
    impl<T> Sealed for Vec<T> {}
}

/// The source made by [`from_arc`].
#[must_use = "streams do nothing unless polled"]
pub struct ArcSource<C: ?Sized> {
    items: Arc<C>,
    next: usize,
}

impl<C: SharedSlice + ?Sized> Stream for ArcSource<C> {
    type Item = Result<Shared<C>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let index = self.next;
        if index >= self.items.as_items().len() {
            return Poll::Ready(None);
        }
        self.next += 1;
        Poll::Ready(Some(Ok(Shared {
            items: Arc::clone(&self.items),
            index,
        })))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.items.as_items().len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<C: SharedSlice + ?Sized> std::fmt::Debug for ArcSource<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArcSource")
            .field("len", &self.items.as_items().len())
            .field("next", &self.next)
            .finish()
    }
}

/// One element of a shared container, yielded by [`from_arc`]: a reference count and an
/// index. It dereferences to the element and serializes exactly as the element does.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let items: Arc<[u32]> = Arc::from([7, 8]);
/// let first = chunkstream::source::Shared::new(items, 0).unwrap();
/// assert_eq!(*first, 7);
/// assert_eq!(serde_json::to_string(&first).unwrap(), "7");
/// ```
pub struct Shared<C: ?Sized> {
    items: Arc<C>,
    index: usize,
}

impl<C: SharedSlice + ?Sized> Shared<C> {
    /// The element of `items` at `index`, or `None` when `index` is out of bounds.
    pub fn new(items: Arc<C>, index: usize) -> Option<Self> {
        (index < items.as_items().len()).then_some(Shared { items, index })
    }

    /// The element's index in its container.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<C: SharedSlice + ?Sized> std::ops::Deref for Shared<C> {
    type Target = C::Item;

    fn deref(&self) -> &C::Item {
        // The index was checked against the length when the handle was made, and a
        // sealed `SharedSlice` behind an `Arc` cannot change its length.
        &self.items.as_items()[self.index]
    }
}

impl<C> serde::Serialize for Shared<C>
where
    C: SharedSlice + ?Sized,
    C::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<C> std::fmt::Debug for Shared<C>
where
    C: SharedSlice + ?Sized,
    C::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<C: ?Sized> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Shared {
            items: Arc::clone(&self.items),
            index: self.index,
        }
    }
}

/// A source as the pipeline reads it: units (items, or batches of them).
///
/// A batching source can hand over the batch it is still gathering, so that the flush
/// deadline reaches items waiting in a partial batch as well as bytes waiting in a
/// partial buffer.
pub(crate) trait Units: Stream {
    /// Whether items wait in a unit not yet yielded.
    fn gathering(&self) -> bool {
        false
    }

    /// Yields the unit being gathered now, if any.
    fn take_gathered(self: Pin<&mut Self>) -> Option<Self::Item> {
        None
    }
}

pin_project_lite::pin_project! {
    /// A source of single items: nothing is ever gathered.
    pub(crate) struct Items<S> {
        #[pin]
        source: S,
    }
}

impl<S> Items<S> {
    pub(crate) fn new(source: S) -> Self {
        Items { source }
    }
}

impl<S: Stream> Stream for Items<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.project().source.poll_next(cx)
    }
}

impl<S: Stream> Units for Items<S> {}
