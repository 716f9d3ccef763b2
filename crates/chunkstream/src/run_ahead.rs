//! [`run_ahead`]: a source polled on its own task into a bounded queue, so producing
//! the next items (decoding database rows, say) overlaps encoding the current ones.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Polls `source` on a tokio task of its own, at most about `capacity` items ahead of the
/// reader, so that whatever work the source does per item (decoding rows, parsing
/// messages) runs on another core while the stream encodes.
///
/// Items travel in runs of up to `capacity / 4` (a run is sent as soon as the source is
/// not ready, so a slow source is not delayed), through a queue of bounded depth: at most
/// `max(capacity, 3)` items have been pulled from the source and not yet read. The task
/// starts at the first poll; outside a tokio runtime the source is simply polled in place.
///
/// The source ends after its first error (the streamer never reads past one). Dropping the
/// returned stream aborts the task, which drops the source at once. A panic in the source
/// is raised again where the returned stream is polled, so the streamer reports it as
/// [`StreamError::Panicked`](crate::StreamError::Panicked).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(async {
/// use futures_util::TryStreamExt;
/// use chunkstream::{ChunkConfig, Streamer, source, transform};
///
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let rows = source::run_ahead(source::from_iter(0..5), 2000);
/// let chunks = streamer.stream_batch(rows, transform::batch_passthrough());
/// let body: Vec<u8> = chunks.map_ok(|chunk| chunk.to_vec()).try_concat().await?;
/// assert_eq!(body, b"[0,1,2,3,4]");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn run_ahead<S, T, E>(source: S, capacity: usize) -> RunAhead<S, T, E>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    RunAhead {
        state: State::Idle(Box::pin(source)),
        capacity,
    }
}

/// The source made by [`run_ahead`].
#[must_use = "streams do nothing unless polled"]
pub struct RunAhead<S, T, E> {
    state: State<S, T, E>,
    capacity: usize,
}

// Nothing in a `RunAhead` is pinned in place (the source is pinned in its own box).
impl<S, T, E> Unpin for RunAhead<S, T, E> {}

enum State<S, T, E> {
    /// Not polled yet.
    Idle(Pin<Box<S>>),
    /// No runtime: polled in place.
    Inline(Pin<Box<S>>),
    Ahead {
        runs: mpsc::Receiver<Vec<Result<T, E>>>,
        current: std::vec::IntoIter<Result<T, E>>,
        task: JoinHandle<()>,
    },
    Done,
}

/// Items per run and runs queued, for `capacity` items ahead: the reader's run, the
/// queued runs and the run the task is filling add up to `max(capacity, 3)` at most.
fn sizes(capacity: usize) -> (usize, usize) {
    let run = (capacity / 4).max(1);
    let queued = (capacity / run).saturating_sub(2).max(1);
    (run, queued)
}

impl<S, T, E> RunAhead<S, T, E>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    fn start(source: Pin<Box<S>>, capacity: usize) -> State<S, T, E> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return State::Inline(source);
        };
        let (run_len, queued) = sizes(capacity);
        let (tx, runs) = mpsc::channel(queued);
        let task = runtime.spawn(feed(source, run_len, tx));
        State::Ahead {
            runs,
            current: Vec::new().into_iter(),
            task,
        }
    }
}

/// The task: gathers runs of ready items and sends them, until the source ends or fails,
/// or the reader is gone.
async fn feed<S, T, E>(mut source: Pin<Box<S>>, run_len: usize, tx: mpsc::Sender<Vec<Result<T, E>>>)
where
    S: Stream<Item = Result<T, E>>,
{
    let mut ended = false;
    while !ended {
        let mut run = Vec::with_capacity(run_len);
        std::future::poll_fn(|cx| {
            loop {
                match source.as_mut().poll_next(cx) {
                    Poll::Ready(Some(item)) => {
                        ended = item.is_err();
                        run.push(item);
                        if ended || run.len() == run_len {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(None) => {
                        ended = true;
                        return Poll::Ready(());
                    }
                    // Send what is ready rather than wait for a full run.
                    Poll::Pending if run.is_empty() => return Poll::Pending,
                    Poll::Pending => return Poll::Ready(()),
                }
            }
        })
        .await;
        if !run.is_empty() && tx.send(run).await.is_err() {
            break; // the reader is gone
        }
    }
}

impl<S, T, E> Stream for RunAhead<S, T, E>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Idle(_) => {
                    let State::Idle(source) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        continue; // not reached: the state was just matched
                    };
                    this.state = Self::start(source, this.capacity);
                }
                State::Inline(source) => return source.as_mut().poll_next(cx),
                State::Ahead {
                    runs,
                    current,
                    task,
                } => {
                    if let Some(item) = current.next() {
                        return Poll::Ready(Some(item));
                    }
                    if let Some(run) = ready!(runs.poll_recv(cx)) {
                        *current = run.into_iter();
                        continue;
                    }
                    // The task is over: it ended the source, or the source panicked.
                    let joined = ready!(Pin::new(task).poll(cx));
                    this.state = State::Done;
                    if let Err(err) = joined
                        && err.is_panic()
                    {
                        std::panic::resume_unwind(err.into_panic());
                    }
                    return Poll::Ready(None);
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl<S, T, E> Drop for RunAhead<S, T, E> {
    fn drop(&mut self) {
        if let State::Ahead { task, .. } = &self.state {
            task.abort();
        }
    }
}

impl<S, T, E> fmt::Debug for RunAhead<S, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Inline(_) => "inline",
            State::Ahead { .. } => "ahead",
            State::Done => "done",
        };
        f.debug_struct("RunAhead")
            .field("state", &state)
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::sizes;

    #[test]
    fn the_bound_is_the_capacity() {
        for capacity in [0, 1, 2, 3, 4, 7, 10, 100, 1000, 2001] {
            let (run, queued) = sizes(capacity);
            assert!(run >= 1 && queued >= 1);
            assert!(run * (queued + 2) <= capacity.max(3), "{capacity}");
        }
    }
}
