//! [`ChunkStream`]: the stream of chunks a [`Streamer`](crate::Streamer) makes, which is
//! also an HTTP body.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use futures_util::StreamExt;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::StreamError;
use crate::sync::FAR_FUTURE;

type BoxChunks = Pin<Box<dyn FusedStream<Item = Result<Bytes, StreamError>> + Send>>;

/// A future that stops a stream with the error it returns.
pub(crate) type StopFuture = Pin<Box<dyn Future<Output = StreamError> + Send>>;

/// Where the stops of a spawned stream go: to its task, which watches them itself.
pub(crate) type StopSender = mpsc::UnboundedSender<StopFuture>;

/// A stream of encoded JSON chunks: `Stream<Item = Result<Bytes, StreamError>>`, and an
/// [`http_body::Body`] with the same chunks as data frames.
///
/// Concatenated, the chunks of a successful stream are the whole body. An error is always
/// the last item: first and alone if nothing was sent yet (so a server can still answer
/// with an error status: [`StreamResponse`](crate::StreamResponse)), else after the chunks
/// and what the format writes on failure ([`Format::fail`](crate::Format::fail): nothing
/// for the JSON array, which never gets its closing `]`, so a truncated array never looks
/// complete).
///
/// Dropping a `ChunkStream` stops its source at once: nothing more is pulled, and every
/// buffer goes back to its pool once the chunks already handed out are dropped.
///
/// Once the last chunk is out the stream is done: it yields `None` from then on (never a
/// late error such as a timeout that passes afterwards), and says so through
/// [`FusedStream::is_terminated`] and [`Body::is_end_stream`]. A panic that escapes the
/// stream's work becomes [`StreamError::Panicked`], its last item.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use chunkstream::{ChunkConfig, Streamer, source, transform};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let chunks = streamer.stream(source::from_iter(1..=3), transform::passthrough());
/// let body: Vec<u8> = chunks.map(|chunk| chunk.unwrap().to_vec()).concat().await;
/// assert_eq!(body, b"[1,2,3]");
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ChunkStream {
    /// `None` once the stream has ended.
    inner: Option<BoxChunks>,
    content_type: &'static str,
    /// For a spawned stream, while its task runs: where stops go.
    stops: Option<StopSender>,
    /// The channel capacity and stall limit [`spawn`](ChunkStream::spawn) uses.
    pub(crate) spawn_with: crate::ChunkConfig,
    /// As an HTTP body: whether a chunk has gone out, and an error held back one poll
    /// (see [`poll_frame`](Body::poll_frame)).
    sent_data: bool,
    held_error: Option<StreamError>,
}

impl ChunkStream {
    /// Wraps any stream of chunks as a `ChunkStream` with the given `Content-Type` (a
    /// [`Format`](crate::Format)'s, say). It is done once `stream` yields `None`.
    pub fn from_stream<S>(content_type: &'static str, stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, StreamError>> + Send + 'static,
    {
        ChunkStream::from_fused(content_type, stream.fuse())
    }

    /// Wraps a stream that knows when it is done (after its last item, not only after
    /// its `None`).
    pub(crate) fn from_fused<S>(content_type: &'static str, stream: S) -> Self
    where
        S: FusedStream<Item = Result<Bytes, StreamError>> + Send + 'static,
    {
        ChunkStream {
            inner: Some(Box::pin(stream)),
            content_type,
            stops: None,
            spawn_with: crate::ChunkConfig::default(),
            sent_data: false,
            held_error: None,
        }
    }

    /// A spawned stream: `stop_on` hands its stops to the task through `stops`.
    pub(crate) fn spawned<S>(
        content_type: &'static str,
        spawn_with: crate::ChunkConfig,
        stream: S,
        stops: StopSender,
    ) -> Self
    where
        S: FusedStream<Item = Result<Bytes, StreamError>> + Send + 'static,
    {
        ChunkStream {
            stops: Some(stops),
            spawn_with,
            ..ChunkStream::from_fused(content_type, stream)
        }
    }

    /// A stream whose only item is `err`.
    pub fn from_error(content_type: &'static str, err: StreamError) -> Self {
        let once = futures_util::stream::once(std::future::ready(Err(err)));
        ChunkStream::from_fused(content_type, once)
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Reads the whole stream and returns its chunks concatenated: the complete body.
    ///
    /// A body of one chunk is returned as that chunk, without a copy (its buffer goes back
    /// to the pool when the `Bytes` is dropped); the chunks of a longer body are copied
    /// into one growing buffer, each going back to its pool once copied.
    ///
    /// A `ChunkStream` is both a `futures::Stream` and an `http_body::Body`, so with
    /// `futures_util::StreamExt` and `http_body_util::BodyExt` both in scope,
    /// `chunks.collect()` does not compile (two traits offer `collect`). Call this method
    /// instead, or name the trait: `StreamExt::collect::<Vec<_>>(chunks)` for the chunks
    /// one by one, `BodyExt::collect(chunks)` for http-body's `Collected`.
    ///
    /// # Errors
    ///
    /// The [`StreamError`] that ended the stream, if any; the chunks read before it are
    /// dropped (a partial body is never returned as if it were whole).
    ///
    /// # Examples
    ///
    /// With both extension traits in scope:
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// #[allow(unused_imports)]
    /// use futures_util::StreamExt;
    /// #[allow(unused_imports)]
    /// use http_body_util::BodyExt;
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let body = streamer.json(source::from_iter(1..=3)).collect_bytes().await?;
    /// assert_eq!(&body[..], b"[1,2,3]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn collect_bytes(mut self) -> Result<Bytes, StreamError> {
        let Some(first) = self.next().await.transpose()? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.next().await.transpose()? else {
            return Ok(first);
        };
        let mut body = BytesMut::with_capacity(first.len() + second.len());
        body.extend_from_slice(&first);
        body.extend_from_slice(&second);
        drop((first, second));
        while let Some(chunk) = self.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(body.freeze())
    }

    /// Stops the stream when `token` is cancelled, with [`StreamError::Cancelled`] as the
    /// last item; [`stop_on`](ChunkStream::stop_on) tells when and where a stop acts.
    pub fn cancel_on(self, token: CancellationToken) -> Self {
        self.stop_with(move || {
            let token = token.clone();
            Box::pin(async move {
                token.cancelled_owned().await;
                StreamError::Cancelled
            })
        })
    }

    /// Stops the stream `after` this long, with [`StreamError::TimedOut`] as the last
    /// item; [`stop_on`](ChunkStream::stop_on) tells when and where a stop acts. The time
    /// counts from the first poll of a direct stream, from this call for a spawned one (its
    /// task starts at once). Needs a tokio runtime with timers; without one the stream
    /// fails with [`StreamError::NoRuntime`].
    pub fn timeout(self, after: Duration) -> Self {
        let deadline = self
            .stops
            .as_ref()
            .map(|_| tokio::time::Instant::now() + after.min(FAR_FUTURE));
        self.stop_with(move || {
            Box::pin(async move {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => tokio::time::sleep(after).await,
                }
                StreamError::TimedOut(after)
            })
        })
    }

    /// Stops the stream with the stops `make` makes: one for a spawned stream's task, and
    /// one for the reader, checked before each item.
    fn stop_with(self, make: impl Fn() -> StopFuture) -> Self {
        let this = match &self.stops {
            Some(_) => self.stop_on(make()),
            None => self,
        };
        this.stop_reader(make())
    }

    /// Stops the stream when `stop` completes, with the error it returns as the last item.
    ///
    /// Where the stop acts depends on the path:
    ///
    /// - a spawned stream ([`ChunkStream::spawn`]) hands `stop` to its task, which
    ///   watches it even while nobody polls the stream (a stalled client): when it
    ///   completes, the task drops the source at once and releases the chunks queued for
    ///   the reader; the reader gets the error on its next poll. A stop applied once the
    ///   task has finished (every chunk queued) is watched by the reader instead, as
    ///   below; one that reaches the task just as it finishes goes with it (the work is
    ///   done, and the queued chunks are the whole body).
    /// - a direct stream (one not spawned) runs only inside `poll_next`, so
    ///   the stop is checked only when the stream is polled: while nobody polls it,
    ///   nothing runs and the source stays held; the next poll after `stop` completed
    ///   drops the source and returns the error. Dropping the stream releases everything
    ///   at once, whenever it happens.
    ///
    /// A stream that has already yielded its last chunk is done: a stop completing later
    /// changes nothing.
    pub fn stop_on<F>(self, stop: F) -> Self
    where
        F: Future<Output = StreamError> + Send + 'static,
    {
        let mut stop: StopFuture = Box::pin(stop);
        if let Some(stops) = &self.stops {
            match stops.send(stop) {
                Ok(()) => return self,
                // The task has finished: the reader watches the stop.
                Err(mpsc::error::SendError(unsent)) => stop = unsent,
            }
        }
        self.stop_reader(stop)
    }

    /// Makes the reader end with `stop`'s error as soon as it completes.
    fn stop_reader(mut self, stop: StopFuture) -> Self {
        let Some(inner) = self.inner.take() else {
            return self; // already done
        };
        self.inner = Some(Box::pin(Stoppable {
            inner: Some(inner),
            stop,
        }));
        self
    }

    /// Drops what is left of the work (a panic in a `Drop` is contained), once done.
    fn end(&mut self) {
        self.stops = None;
        if let Some(inner) = self.inner.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(inner)));
        }
    }
}

impl fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkStream")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        // The pipeline catches the panics of user code; this catches the rest (a pool, a
        // source's `Drop`), so that no panic escapes into the HTTP stack.
        let polled = match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll_next(cx))) {
            Ok(polled) => polled,
            Err(payload) => {
                this.end();
                return Poll::Ready(Some(Err(StreamError::panicked(None, payload))));
            }
        };
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(_)) => inner.is_terminated(),
            Poll::Pending => false,
        };
        if done {
            this.end();
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => (0, Some(0)),
        }
    }
}

impl FusedStream for ChunkStream {
    fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }
}

impl Body for ChunkStream {
    type Data = Bytes;
    type Error = StreamError;

    /// The chunks as data frames, then the error. An error after a chunk is held back
    /// one poll (waking at once): hyper drops what it has not flushed when a body fails
    /// in the same write pass, which could lose the status line and the chunks before.
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        if let Some(err) = self.held_error.take() {
            return Poll::Ready(Some(Err(err)));
        }
        match self.as_mut().poll_next(cx) {
            Poll::Ready(Some(Err(err))) if self.sent_data => {
                self.held_error = Some(err);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Ok(chunk))) => {
                self.sent_data = true;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            polled => polled.map(|item| item.map(|chunk| chunk.map(Frame::data))),
        }
    }

    /// True once the last chunk is out (or the stream failed).
    fn is_end_stream(&self) -> bool {
        self.inner.is_none() && self.held_error.is_none()
    }

    /// Exactly zero once the stream is done; unknown before (chunks are made as the
    /// source delivers items).
    fn size_hint(&self) -> SizeHint {
        if self.inner.is_none() {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// A stream that ends with an error as soon as `stop` completes, unless it is done.
struct Stoppable {
    inner: Option<BoxChunks>,
    stop: StopFuture,
}

impl FusedStream for Stoppable {
    fn is_terminated(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_terminated())
    }
}

impl Stream for Stoppable {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut().filter(|inner| !inner.is_terminated()) else {
            this.inner = None;
            return Poll::Ready(None);
        };
        // A timer outside a runtime panics; report it as an error instead.
        let stopped = match catch_unwind(AssertUnwindSafe(|| this.stop.as_mut().poll(cx))) {
            Ok(Poll::Ready(err)) => Some(err),
            Ok(Poll::Pending) => None,
            Err(_) => Some(StreamError::NoRuntime),
        };
        if let Some(err) = stopped {
            this.inner = None; // drops the source now
            return Poll::Ready(Some(Err(err)));
        }
        let polled = inner.as_mut().poll_next(cx);
        if inner.is_terminated() {
            this.inner = None;
        }
        polled
    }
}
