//! The poll loop that pulls a source, transforms, encodes and cuts chunks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use crate::chunk::ChunkWriter;
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::pool::BufferPool;
use crate::raw::WriteItem;

pin_project_lite::pin_project! {
    /// Pulls units (an item, or a batch) from `source`, turns each into values with
    /// `step`, and writes the values through `writer`, yielding a chunk whenever the
    /// buffer reaches the threshold, the flush deadline passes, or the source ends.
    ///
    /// Nothing is pulled from the source except inside `poll_next`, so dropping the
    /// pipeline stops the source at once; the source is also dropped as soon as the
    /// pipeline fails or finishes.
    pub(crate) struct Pipeline<S, F, It, P: BufferPool, E> {
        source: Option<Pin<Box<S>>>,
        step: F,
        pending: Option<It>,
        writer: ChunkWriter<P, E>,
        flush: Option<FlushTimer>,
        // The error to yield after the last chunk of a body that failed mid-way.
        error: Option<StreamError>,
    }
}

impl<S, F, It, P: BufferPool, E> Pipeline<S, F, It, P, E> {
    pub(crate) fn new(
        source: S,
        step: F,
        writer: ChunkWriter<P, E>,
        flush_interval: Option<Duration>,
    ) -> Self {
        Pipeline {
            source: Some(Box::pin(source)),
            step,
            pending: None,
            writer,
            flush: flush_interval.map(FlushTimer::new),
            error: None,
        }
    }
}

/// The flush deadline of a partly filled buffer. The `Sleep` is made on first use, inside
/// the runtime, and reused for every buffer.
struct FlushTimer {
    interval: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl FlushTimer {
    fn new(interval: Duration) -> Self {
        FlushTimer {
            interval,
            sleep: None,
            armed: false,
        }
    }

    /// Starts the deadline for a buffer that just received its first byte.
    fn arm(&mut self) -> Result<(), StreamError> {
        let deadline = Instant::now() + self.interval;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => {
                // `sleep_until` panics outside a runtime with timers; report it instead.
                let sleep = catch_unwind(|| tokio::time::sleep_until(deadline))
                    .map_err(|_| StreamError::NoRuntime)?;
                self.sleep = Some(Box::pin(sleep));
            }
        }
        self.armed = true;
        Ok(())
    }

    /// Whether the armed deadline has passed (registering the waker if not).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        match (&mut self.sleep, self.armed) {
            (Some(sleep), true) => sleep.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }
}

/// Runs the pipeline until it has a chunk (`Ok(Some)`), the source ends (`Ok(None)`),
/// something fails, or the source is not ready and no flush is due.
fn advance<S, I, SE, F, It, P, E>(
    source: &mut Pin<Box<S>>,
    step: &mut F,
    pending: &mut Option<It>,
    writer: &mut ChunkWriter<P, E>,
    flush: &mut Option<FlushTimer>,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Bytes>, StreamError>>
where
    S: Stream<Item = Result<I, SE>>,
    SE: Into<BoxError>,
    F: FnMut(I) -> Result<It, StreamError>,
    It: Iterator,
    It::Item: WriteItem,
    P: BufferPool,
    E: Encoder,
{
    loop {
        // Values already transformed but not yet written (the rest of a batch).
        if let Some(values) = pending {
            let was_empty = writer.pending() == 0;
            let more = match catch_unwind(AssertUnwindSafe(|| write_until_full(values, writer))) {
                Ok(Ok(more)) => more,
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(payload) => {
                    return Poll::Ready(Err(StreamError::panicked(
                        Some(writer.written()),
                        payload,
                    )));
                }
            };
            if !more {
                *pending = None;
            }
            if writer.is_full() {
                disarm(flush);
                return Poll::Ready(Ok(writer.take_chunk()));
            }
            if let Some(flush) = flush.as_mut().filter(|_| was_empty && writer.pending() > 0)
                && let Err(err) = flush.arm()
            {
                return Poll::Ready(Err(err));
            }
        }

        let polled = match catch_unwind(AssertUnwindSafe(|| source.as_mut().poll_next(cx))) {
            Ok(polled) => polled,
            Err(payload) => return Poll::Ready(Err(StreamError::panicked(None, payload))),
        };
        match polled {
            Poll::Ready(Some(Ok(unit))) => {
                let index = writer.written();
                match catch_unwind(AssertUnwindSafe(|| step(unit))) {
                    Ok(Ok(values)) => *pending = Some(values),
                    Ok(Err(err)) => return Poll::Ready(Err(err)),
                    Err(payload) => {
                        return Poll::Ready(Err(StreamError::panicked(Some(index), payload)));
                    }
                }
            }
            Poll::Ready(Some(Err(err))) => {
                return Poll::Ready(Err(StreamError::Source(err.into())));
            }
            Poll::Ready(None) => {
                disarm(flush);
                return Poll::Ready(Ok(None));
            }
            Poll::Pending => {
                if flush.as_mut().is_some_and(|flush| flush.expired(cx)) {
                    disarm(flush);
                    return Poll::Ready(Ok(writer.take_chunk()));
                }
                return Poll::Pending;
            }
        }
    }
}

/// Writes values until the buffer is full (`Ok(true)`: more may remain) or the values
/// run out (`Ok(false)`).
fn write_until_full<It, P, E>(
    values: &mut It,
    writer: &mut ChunkWriter<P, E>,
) -> Result<bool, StreamError>
where
    It: Iterator,
    It::Item: WriteItem,
    P: BufferPool,
    E: Encoder,
{
    while !writer.is_full() {
        match values.next() {
            Some(value) => value.write_to(writer)?,
            None => return Ok(false),
        }
    }
    Ok(true)
}

fn disarm(flush: &mut Option<FlushTimer>) {
    if let Some(flush) = flush {
        flush.armed = false;
    }
}

impl<S, I, SE, F, It, P, E> Stream for Pipeline<S, F, It, P, E>
where
    S: Stream<Item = Result<I, SE>>,
    SE: Into<BoxError>,
    F: FnMut(I) -> Result<It, StreamError>,
    It: Iterator,
    It::Item: WriteItem,
    P: BufferPool,
    E: Encoder,
{
    type Item = Result<Bytes, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let Some(source) = this.source.as_mut() else {
            return Poll::Ready(this.error.take().map(Err));
        };
        let advanced = advance(source, this.step, this.pending, this.writer, this.flush, cx);
        match advanced {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(chunk))) => Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(Ok(None)) => {
                // The source is done: close the body and send what is left.
                *this.source = None;
                Poll::Ready(this.writer.finish().map(Ok))
            }
            Poll::Ready(Err(err)) => {
                // Stop the source at once. Items already encoded still go out when the
                // body has started (an NDJSON client keeps every complete line), then the
                // error; before the first chunk, the error comes first and alone.
                *this.source = None;
                *this.pending = None;
                if this.writer.chunks() > 0
                    && let Some(chunk) = this.writer.take_chunk()
                {
                    *this.error = Some(err);
                    return Poll::Ready(Some(Ok(chunk)));
                }
                this.writer.release();
                Poll::Ready(Some(Err(err)))
            }
        }
    }
}
