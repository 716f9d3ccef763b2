//! The poll loop that pulls a source, transforms, encodes and cuts chunks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use tokio::time::{Instant, Sleep};

use crate::chunk::ChunkWriter;
use crate::encode::Encoder;
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::item::Item;
use crate::pool::BufferPool;
use crate::source::Units;
use crate::sync::FAR_FUTURE;

pin_project_lite::pin_project! {
    /// Pulls units (an item, or a batch) from `source`, turns each into values with
    /// `step`, and writes the values through `writer`, yielding a chunk whenever the
    /// buffer reaches the threshold, the flush deadline passes, or the source ends.
    ///
    /// The flush deadline runs from the moment the first item is waiting, in the buffer
    /// or in a partial batch; when it passes, the partial batch is transformed and
    /// written, and the buffer is sent.
    ///
    /// Nothing is pulled from the source except inside `poll_next`, so dropping the
    /// pipeline stops the source at once; the source is also dropped as soon as the
    /// pipeline fails or finishes.
    pub(crate) struct Pipeline<S, F, It, P: BufferPool, E, Fm> {
        source: Option<Pin<Box<S>>>,
        step: F,
        pending: Option<It>,
        writer: ChunkWriter<P, E, Fm>,
        flush: Option<FlushTimer>,
        // The format's keep-alive: a timer armed when the source goes idle after a
        // chunk, whose expiry sends the format's keep-alive bytes.
        keep_alive: Option<FlushTimer>,
        // The deadline passed: send the buffer once the pending values are written.
        flush_due: bool,
        // The error to yield after the last chunk of a body that failed mid-way.
        error: Option<StreamError>,
    }
}

impl<S, F, It, P: BufferPool, E: Encoder, Fm: Format> Pipeline<S, F, It, P, E, Fm> {
    /// A pipeline over a [`Units`] source: single [`Items`](crate::source::Items), or a
    /// batching one.
    pub(crate) fn new(
        source: S,
        step: F,
        writer: ChunkWriter<P, E, Fm>,
        flush_interval: Option<Duration>,
    ) -> Self {
        Pipeline {
            source: Some(Box::pin(source)),
            step,
            pending: None,
            keep_alive: writer.format().keep_alive().map(FlushTimer::new),
            writer,
            flush: flush_interval.map(FlushTimer::new),
            flush_due: false,
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
            interval: interval.min(FAR_FUTURE),
            sleep: None,
            armed: false,
        }
    }

    /// Starts the deadline for the first item now waiting (in the buffer or a batch).
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

/// The pipeline's poll loop, with the bounds it runs under written once (the `Stream`
/// impl asks for this trait).
trait Advance {
    /// Runs the pipeline until it has a chunk (`Ok(Some)`), the source ends (`Ok(None)`),
    /// something fails, or the source is not ready and no flush is due. The source must
    /// still be there.
    fn advance(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamError>>;
}

impl<S, I, SE, F, It, P, E, Fm> Advance for Pipeline<S, F, It, P, E, Fm>
where
    S: Units<Item = Result<I, SE>>,
    SE: Into<BoxError>,
    F: FnMut(I) -> Result<It, StreamError>,
    It: Iterator,
    It::Item: Item,
    P: BufferPool,
    E: Encoder,
    Fm: Format,
{
    fn advance(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamError>> {
        let this = self.project();
        let (step, pending, writer, flush, flush_due, keep_alive) = (
            this.step,
            this.pending,
            this.writer,
            this.flush,
            this.flush_due,
            this.keep_alive,
        );
        let Some(source) = this.source.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        loop {
            // Values already transformed but not yet written (the rest of a batch).
            if let Some(values) = pending {
                // A panic is at the item that was being written.
                let written = catch_unwind(AssertUnwindSafe(|| writer.write_until_full(values)));
                let more = written
                    .map_err(|payload| StreamError::panicked(Some(writer.written()), payload))??;
                if !more {
                    *pending = None;
                }
                if writer.is_full() {
                    disarm(flush);
                    return Poll::Ready(Ok(writer.take_chunk()));
                }
                if let Some(flush) = flush.as_mut().filter(|f| !f.armed && writer.pending() > 0) {
                    flush.arm()?;
                }
            }
            // The deadline passed and every value waiting has been written: send them.
            if std::mem::take(flush_due) {
                disarm(flush);
                if let Some(chunk) = writer.take_chunk() {
                    return Poll::Ready(Ok(Some(chunk)));
                }
            }

            let mut polled = match catch_unwind(AssertUnwindSafe(|| source.as_mut().poll_next(cx)))
            {
                Ok(polled) => polled,
                Err(payload) => return Poll::Ready(Err(StreamError::panicked(None, payload))),
            };
            if polled.is_pending()
                && let Some(timer) = flush.as_mut()
            {
                if !timer.armed && source.gathering() {
                    timer.arm()?;
                }
                if timer.expired(cx) {
                    // Send what waits: a partial batch goes through the transform first.
                    *flush_due = true;
                    match source.as_mut().take_gathered() {
                        Some(unit) => polled = Poll::Ready(Some(unit)),
                        None => continue,
                    }
                }
            }
            match polled {
                Poll::Ready(Some(Ok(unit))) => {
                    let index = writer.written();
                    let values = catch_unwind(AssertUnwindSafe(|| step(unit)))
                        .map_err(|payload| StreamError::panicked(Some(index), payload))??;
                    *pending = Some(values);
                }
                Poll::Ready(Some(Err(err))) => {
                    return Poll::Ready(Err(StreamError::Source(err.into())));
                }
                Poll::Ready(None) => {
                    disarm(flush);
                    return Poll::Ready(Ok(None));
                }
                Poll::Pending => {
                    // Idle: once the format's keep-alive interval has passed since the
                    // source went idle, send its keep-alive bytes (with what waits).
                    if let Some(timer) = keep_alive.as_mut() {
                        if !timer.armed {
                            timer.arm()?;
                        }
                        if timer.expired(cx) {
                            // The flush deadline stays as it is: a partial batch still
                            // goes out on time.
                            timer.armed = false;
                            writer.keep_alive();
                            return Poll::Ready(Ok(writer.take_chunk()));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

fn disarm(flush: &mut Option<FlushTimer>) {
    if let Some(flush) = flush {
        flush.armed = false;
    }
}

impl<S, F, It, P, E, Fm> Stream for Pipeline<S, F, It, P, E, Fm>
where
    Self: Advance,
    P: BufferPool,
    E: Encoder,
    Fm: Format,
{
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.source.is_none() {
            return Poll::Ready(self.project().error.take().map(Err));
        }
        let advanced = self.as_mut().advance(cx);
        let this = self.project();
        let err = match advanced {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(Some(chunk))) => {
                // Something went out: the keep-alive interval counts from the next idle.
                disarm(this.keep_alive);
                return Poll::Ready(Some(Ok(chunk)));
            }
            // The source is done: drop it, close the body and send what is left.
            Poll::Ready(Ok(None)) => {
                match drop_source(this.source).and_then(|()| this.writer.finish()) {
                    Ok(last) => return Poll::Ready(last.map(Ok)),
                    Err(err) => err,
                }
            }
            Poll::Ready(Err(err)) => {
                // Stop the source at once (a panic in its `Drop` changes nothing: the
                // stream already fails with `err`).
                let _ = drop_source(this.source);
                err
            }
        };
        // Items already encoded still go out when the body has started (an NDJSON client
        // keeps every complete line), then the error; before the first chunk, the error
        // comes first and alone.
        *this.pending = None;
        if let Some(chunk) = this.writer.fail(&err) {
            *this.error = Some(err);
            return Poll::Ready(Some(Ok(chunk)));
        }
        Poll::Ready(Some(Err(err)))
    }
}

impl<S, F, It, P, E, Fm> FusedStream for Pipeline<S, F, It, P, E, Fm>
where
    Self: Stream,
    P: BufferPool,
{
    /// Done once the source is gone and no error waits: the last chunk is out.
    fn is_terminated(&self) -> bool {
        self.source.is_none() && self.error.is_none()
    }
}

/// Drops the source; a panic in its `Drop` becomes [`StreamError::Panicked`].
fn drop_source<S>(source: &mut Option<Pin<Box<S>>>) -> Result<(), StreamError> {
    let source = source.take();
    catch_unwind(AssertUnwindSafe(move || drop(source)))
        .map_err(|payload| StreamError::panicked(None, payload))
}
