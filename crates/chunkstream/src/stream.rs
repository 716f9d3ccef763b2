//! [`ChunkStream`]: the stream of chunks a [`Streamer`](crate::Streamer) makes, which is
//! also an HTTP body.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame};
use tokio_util::sync::CancellationToken;

use crate::error::StreamError;
use crate::format::Format;

type BoxChunks = Pin<Box<dyn Stream<Item = Result<Bytes, StreamError>> + Send>>;

/// A stream of encoded JSON chunks: `Stream<Item = Result<Bytes, StreamError>>`, and an
/// [`http_body::Body`] with the same chunks as data frames.
///
/// Concatenated, the chunks of a successful stream are the whole body. An error is always
/// the last item: first and alone if nothing was sent yet, else after the chunks, and a
/// `JsonArray` body that fails never gets its closing `]`.
///
/// Dropping a `ChunkStream` stops its source at once: nothing more is pulled, and every
/// buffer goes back to its pool once the chunks already handed out are dropped.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use chunkstream::{ChunkConfig, Streamer, source, transform};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let mut chunks = streamer.stream(source::from_iter(1..=3), transform::passthrough());
/// let mut body = Vec::new();
/// while let Some(chunk) = chunks.next().await {
///     body.extend_from_slice(&chunk.unwrap());
/// }
/// assert_eq!(body, b"[1,2,3]");
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ChunkStream {
    inner: BoxChunks,
    format: Format,
}

impl ChunkStream {
    /// Wraps any stream of chunks as a `ChunkStream` of the given format.
    pub fn from_stream<S>(format: Format, stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, StreamError>> + Send + 'static,
    {
        ChunkStream {
            inner: Box::pin(stream),
            format,
        }
    }

    /// A stream whose only item is `err`.
    pub fn from_error(format: Format, err: StreamError) -> Self {
        ChunkStream::from_stream(
            format,
            futures_util::stream::once(std::future::ready(Err(err))),
        )
    }

    /// The format of the body.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }

    /// Stops the stream when `token` is cancelled: the source is dropped at once and
    /// [`StreamError::Cancelled`] is the last item.
    pub fn cancel_on(self, token: CancellationToken) -> Self {
        self.stop_on(async move {
            token.cancelled_owned().await;
            StreamError::Cancelled
        })
    }

    /// Stops the stream `after` this long (counted from the first poll): the source is
    /// dropped at once and [`StreamError::TimedOut`] is the last item. Needs a tokio
    /// runtime with timers; without one the stream fails with [`StreamError::NoRuntime`].
    pub fn timeout(self, after: Duration) -> Self {
        self.stop_on(async move {
            tokio::time::sleep(after).await;
            StreamError::TimedOut(after)
        })
    }

    /// Stops the stream when `stop` completes, with the error it returns.
    pub fn stop_on<F>(self, stop: F) -> Self
    where
        F: Future<Output = StreamError> + Send + 'static,
    {
        let format = self.format;
        ChunkStream::from_stream(
            format,
            Stoppable {
                inner: Some(self.inner),
                stop: Box::pin(stop),
            },
        )
    }
}

impl fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkStream")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Body for ChunkStream {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        self.poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

/// A stream that ends with an error as soon as `stop` completes.
struct Stoppable {
    inner: Option<BoxChunks>,
    stop: Pin<Box<dyn Future<Output = StreamError> + Send>>,
}

impl Stream for Stoppable {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
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
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}
