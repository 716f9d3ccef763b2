//! The spawned path ([`ChunkStream::spawn`], whose doc tells how it ends): a tokio task
//! that feeds a bounded channel, and the reading end of that channel. The reader learns
//! how the task ended: the last item sent is marked as such; a stopped task empties the
//! channel and returns the error, and a panic escaping it is reported, both through the
//! task's `JoinHandle`, which the reader reads once the channel is empty and closed.

use std::future::Future;
use std::panic::catch_unwind;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, Sleep};

use crate::error::StreamError;
use crate::pace::Pace;
use crate::stream::{ChunkStream, StopFuture};
use crate::sync::{FAR_FUTURE, lock};
use crate::trace;

type Item = Result<Bytes, StreamError>;

/// One item through the channel, and whether it is the stream's last.
struct Sent {
    item: Item,
    last: bool,
}

/// The channel's receiving end, shared so that the task can empty it when it stops.
type SharedReceiver = Arc<Mutex<mpsc::Receiver<Sent>>>;

impl ChunkStream {
    /// Runs the stream's work on a tokio task that feeds a bounded channel of
    /// [`channel_capacity`](crate::ChunkConfig::channel_capacity) chunks (the Go
    /// package's `ChunkChan`): the encoder works ahead of a slow client by at most that
    /// many chunks. Any stream spawns: per item or batch, any item kind, any format, any
    /// number of encoding workers.
    ///
    /// Dropping the returned stream ends the task at once (the source is dropped with
    /// it). A reader that stalls past
    /// [`stall_timeout`](crate::ChunkConfig::stall_timeout) or falls below
    /// [`min_data_rate`](crate::ChunkConfig::min_data_rate) stops the task without being
    /// polled (the source and every queued buffer are released); its next item is
    /// [`StreamError::Stalled`] or [`StreamError::TooSlow`]. A panic that escapes the task
    /// is [`StreamError::Panicked`], never a normal end. Outside a tokio runtime the
    /// stream's only item is [`StreamError::NoRuntime`]. Serve it with `TCP_NODELAY` set
    /// (see the crate docs, "Serving over HTTP").
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let body = streamer.json(source::from_iter([1, 2])).spawn().collect_bytes().await?;
    /// assert_eq!(&body[..], b"[1,2]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn spawn(self) -> ChunkStream {
        let config = self.spawn_with.clone();
        let (capacity, stall) = (config.channel_capacity, config.stall_timeout);
        let content_type = self.content_type();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return ChunkStream::from_error(content_type, StreamError::NoRuntime);
        };
        // Both limits need timers; without them `sleep` panics: report it instead.
        let timed = stall.is_some() || config.min_data_rate.is_some();
        if timed && catch_unwind(|| tokio::time::sleep(Duration::ZERO)).is_err() {
            return ChunkStream::from_error(content_type, StreamError::NoRuntime);
        }
        // tokio's bounded channel takes at most `Semaphore::MAX_PERMITS`; more is unbounded
        // in practice anyway.
        let (tx, rx) = mpsc::channel(capacity.clamp(1, Semaphore::MAX_PERMITS));
        let rx: SharedReceiver = Arc::new(Mutex::new(rx));
        let (stops_tx, stops) = mpsc::unbounded_channel();
        let watch = Watch {
            stops,
            armed: FuturesUnordered::new(),
            stall: stall.map(|limit| (limit, None)),
            pace: config
                .min_data_rate
                .map(|min| (Pace::new(min, capacity), None)),
        };
        let task = runtime.spawn(run(self, tx, watch, Arc::clone(&rx)));
        let reader = Spawned {
            rx,
            task: Some(task),
            done: false,
        };
        ChunkStream::spawned(content_type, config, reader, stops_tx)
    }
}

/// The task: feeds the channel, and on a stop releases everything before reporting it.
async fn run(
    mut chunks: ChunkStream,
    tx: mpsc::Sender<Sent>,
    mut watch: Watch,
    rx: SharedReceiver,
) -> Result<(), StreamError> {
    let end = feed(&mut chunks, &tx, &mut watch).await;
    if let Err(err @ (StreamError::Stalled(_) | StreamError::TooSlow { .. })) = &end {
        trace::cut(err);
    }
    if end.is_err() {
        // The reader gets the error from the JoinHandle; the chunks it did not take go
        // back to the pool now, whether or not it ever polls again.
        let mut rx = lock(&rx);
        rx.close();
        while rx.try_recv().is_ok() {}
    }
    drop(chunks); // the source goes before the task reports its end
    end
}

/// Sends every item of `chunks` through `tx`, until the last one (`Ok`), or the reader's
/// drop, a stop or a stall (`Err`).
async fn feed(
    chunks: &mut ChunkStream,
    tx: &mpsc::Sender<Sent>,
    watch: &mut Watch,
) -> Result<(), StreamError> {
    loop {
        let Some(item) = watch.until(tx, chunks.next(), false).await? else {
            return Ok(());
        };
        let last = item.is_err() || chunks.is_terminated();
        let permit = match tx.try_reserve() {
            Ok(permit) => permit,
            // The channel is full: wait for the reader, within the stall limit.
            Err(mpsc::error::TrySendError::Full(())) => watch
                .until(tx, tx.reserve(), true)
                .await?
                .map_err(|_| StreamError::Cancelled)?,
            Err(mpsc::error::TrySendError::Closed(())) => return Err(StreamError::Cancelled),
        };
        if let (Some((pace, _)), Ok(chunk)) = (&mut watch.pace, &item) {
            pace.sent(chunk.len());
        }
        permit.send(Sent { item, last });
        if last {
            return Ok(());
        }
    }
}

/// A timer made on first use and reset for each wait.
type Timer = Option<Pin<Box<Sleep>>>;

/// What may stop the task besides its own end: the reader's drop, the stops handed over
/// by the reader's `ChunkStream::stop_on`, the stall limit and the minimum data rate.
struct Watch {
    stops: mpsc::UnboundedReceiver<StopFuture>,
    /// The stops received so far, watched together.
    armed: FuturesUnordered<StopFuture>,
    /// The stall limit and its timer.
    stall: Option<(Duration, Timer)>,
    /// The reader's pace and its timer.
    pace: Option<(Pace, Timer)>,
}

impl Watch {
    /// Awaits `ready`, watching the reader, the stops (arming new ones on the way) and,
    /// when `waiting` for the reader, the stall limit from now and the minimum rate. A
    /// reader gone is `Err(Cancelled)`, which nobody will read.
    async fn until<T>(
        &mut self,
        tx: &mpsc::Sender<Sent>,
        ready: impl Future<Output = T>,
        waiting: bool,
    ) -> Result<T, StreamError> {
        let mut ready = std::pin::pin!(ready);
        let Watch {
            stops,
            armed,
            stall,
            pace,
        } = self;
        let mut stall = match stall {
            Some((limit, timer)) if waiting => Some((
                *limit,
                arm(timer, Instant::now() + (*limit).min(FAR_FUTURE)),
            )),
            _ => None,
        };
        let queued = tx.max_capacity() - tx.capacity();
        let mut pace = match pace {
            Some((pace, timer)) if waiting => {
                let deadline = pace.deadline(queued);
                Some((&*pace, arm(timer, deadline)))
            }
            _ => None,
        };
        loop {
            tokio::select! {
                biased;
                () = tx.closed() => return Err(StreamError::Cancelled),
                Some(err) = armed.next(), if !armed.is_empty() => return Err(err),
                limit = expired(&mut stall) => return Err(StreamError::Stalled(limit)),
                pace = expired(&mut pace) => return Err(pace.too_slow(queued)),
                Some(stop) = stops.recv() => armed.push(stop),
                value = &mut ready => return Ok(value),
            }
        }
    }
}

/// `timer` set to go off at `deadline`.
fn arm(timer: &mut Timer, deadline: Instant) -> &mut Pin<Box<Sleep>> {
    match timer {
        Some(sleep) => {
            sleep.as_mut().reset(deadline);
            sleep
        }
        None => timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
    }
}

/// Completes with what the limit carries when its deadline passes; never without one.
async fn expired<L: Copy>(timer: &mut Option<(L, &mut Pin<Box<Sleep>>)>) -> L {
    match timer {
        Some((limit, sleep)) => {
            sleep.as_mut().await;
            *limit
        }
        None => std::future::pending().await,
    }
}

/// What the reader reports for a task that ended without a last item.
fn task_end(joined: Result<Result<(), StreamError>, JoinError>) -> Option<Item> {
    match joined {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(Err(err)),
        Err(err) if err.is_panic() => Some(Err(StreamError::panicked(None, err.into_panic()))),
        // Aborted from outside: the runtime is shutting down.
        Err(_) => Some(Err(StreamError::Cancelled)),
    }
}

/// The reading end of a spawned stream; dropping it aborts the task.
struct Spawned {
    rx: SharedReceiver,
    /// `None` once the task's end has been reported.
    task: Option<JoinHandle<Result<(), StreamError>>>,
    done: bool,
}

impl Stream for Spawned {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let received = lock(&this.rx).poll_recv(cx);
        match ready!(received) {
            Some(Sent { item, last }) => {
                this.done = last;
                Poll::Ready(Some(item))
            }
            None => {
                let Some(task) = this.task.as_mut() else {
                    this.done = true;
                    return Poll::Ready(None);
                };
                let joined = ready!(Pin::new(task).poll(cx));
                this.task = None;
                this.done = true;
                Poll::Ready(task_end(joined))
            }
        }
    }
}

impl FusedStream for Spawned {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
