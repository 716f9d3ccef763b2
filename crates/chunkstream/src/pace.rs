//! The pace of a spawned stream's reader, judged against a [`MinDataRate`]: what it has
//! taken from the channel, and when it falls below the rate if it takes nothing more.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::MinDataRate;
use crate::error::StreamError;
use crate::sync::FAR_FUTURE;

/// The chunks handed to a spawned stream's channel, and the minimum its reader keeps.
pub(crate) struct Pace {
    min: MinDataRate,
    /// When the stream first waited for the reader, and what it had taken by then:
    /// until then it kept up, and what it took filled its own buffers, not its pace.
    started: Option<(Instant, u64)>,
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
            started: None,
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

    /// The stream waits for the reader with `queued` chunks in the channel: when the
    /// reader falls below the rate unless it takes one. That is the first wait, plus the
    /// grace, plus the time the bytes taken since and the next chunk take at the rate.
    pub(crate) fn deadline(&mut self, queued: usize) -> Instant {
        let (taken, next) = self.taken(queued);
        let (since, base) = *self.started.get_or_insert((Instant::now(), taken));
        let owed = (taken - base + next) as f64 / self.min.bytes_per_second.max(1) as f64;
        let allowed = Duration::try_from_secs_f64(owed)
            .unwrap_or(FAR_FUTURE)
            .saturating_add(self.min.grace)
            .min(FAR_FUTURE);
        since + allowed
    }

    /// The error for a reader cut now with `queued` chunks waiting: its average rate
    /// since the first wait.
    pub(crate) fn too_slow(&self, queued: usize) -> StreamError {
        let (taken, _) = self.taken(queued);
        let (since, base) = self.started.unwrap_or((Instant::now(), taken));
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
