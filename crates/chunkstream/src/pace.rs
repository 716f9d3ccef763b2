//! The pace of a spawned stream's reader, judged against a [`MinDataRate`] much as
//! Kestrel times its response writes: each chunk the stream waits for the reader to
//! take moves a deadline on by the chunk's time at the minimum rate. The deadline runs
//! from the previous one, but never from more than the grace period ahead of now: a
//! reader faster than the rate banks at most the grace period (Kestrel banks all of
//! it, so a client that read a few megabytes fast, into the kernel's and hyper's
//! buffers, could then crawl for minutes), and one slower than the rate falls behind
//! with every chunk and is cut once it has used up the grace period.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::MinDataRate;
use crate::error::StreamError;
use crate::sync::FAR_FUTURE;

/// The chunks handed to a spawned stream's channel, and the minimum its reader keeps.
pub(crate) struct Pace {
    min: MinDataRate,
    /// When the reader must have taken the chunks the stream waited on so far.
    due: Option<Instant>,
    /// Since when the reader has been behind on the rate (the last wait that began with
    /// the grace period), and what it had taken then: what a cut reports.
    period: Option<(Instant, u64)>,
    /// Bytes of every chunk sent into the channel.
    sent: u64,
    /// Sizes of the chunks sent last, newest last: as many as the channel holds, so
    /// every chunk still queued is among them.
    recent: VecDeque<u64>,
    capacity: usize,
}

impl Pace {
    /// A reader starting now, on a channel of `capacity` chunks.
    pub(crate) fn new(min: MinDataRate, capacity: usize) -> Pace {
        Pace {
            min,
            due: None,
            period: None,
            sent: 0,
            recent: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records a chunk of `bytes` sent into the channel.
    pub(crate) fn sent(&mut self, bytes: usize) {
        let bytes = bytes as u64;
        self.sent += bytes;
        self.recent.push_back(bytes);
        if self.recent.len() > self.capacity {
            self.recent.pop_front();
        }
    }

    /// With `queued` chunks in the channel: the bytes the reader has taken, and the
    /// size of the chunk it takes next (the oldest queued).
    fn taken(&self, queued: usize) -> (u64, u64) {
        let queued = queued.min(self.recent.len());
        let in_channel: u64 = self.recent.iter().rev().take(queued).sum();
        let next = self
            .recent
            .len()
            .checked_sub(queued)
            .map_or(0, |oldest| self.recent.get(oldest).copied().unwrap_or(0));
        (self.sent - in_channel, next)
    }

    /// The stream begins to wait for the reader with `queued` chunks in the channel:
    /// when the reader falls below the rate unless it takes the next one. That is the
    /// previous deadline, at most the grace period from now (the grace period from now
    /// on the first wait), plus the next chunk's time at the rate. Called once per wait.
    pub(crate) fn deadline(&mut self, queued: usize) -> Instant {
        let (taken, next) = self.taken(queued);
        let now = Instant::now();
        let ceiling = now + self.min.grace.min(FAR_FUTURE);
        let from = match self.due {
            Some(due) if due < ceiling => due.max(now),
            _ => {
                // A full grace period: the reader is not behind; its pace counts from now.
                self.period = Some((now, taken));
                ceiling
            }
        };
        let at_rate = next as f64 / self.min.bytes_per_second.max(1) as f64;
        let due =
            from + Duration::try_from_secs_f64(at_rate).map_or(FAR_FUTURE, |d| d.min(FAR_FUTURE));
        self.due = Some(due);
        due
    }

    /// The error for a reader cut now with `queued` chunks waiting: its average rate
    /// since it fell behind.
    pub(crate) fn too_slow(&self, queued: usize) -> StreamError {
        let (taken, _) = self.taken(queued);
        let (since, base) = self.period.unwrap_or((Instant::now(), taken));
        let secs = since.elapsed().as_secs_f64();
        let bytes_per_second = if secs > 0.0 {
            ((taken - base) as f64 / secs) as u64
        } else {
            0
        };
        StreamError::TooSlow {
            bytes_per_second,
            min: self.min,
        }
    }
}
