//! [`StreamError`]: why a stream ended early.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::config::MinDataRate;
use crate::encode::EncodeError;

/// A boxed error from user code (a source or a transform).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a [`ChunkStream`](crate::ChunkStream) ended before its source did.
///
/// An error before the first chunk is the stream's first item (a server can still answer
/// with an error status); an error after it is the last item, and a `JsonArray` body then
/// lacks its closing `]`, so a truncated array never looks complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The source yielded an error.
    Source(BoxError),
    /// The transform returned an error for the item at `index` (0-based; on the batch
    /// path, the index of the batch's first item).
    Transform {
        /// Index of the item (or first item of the batch).
        index: u64,
        /// The transform's error.
        source: BoxError,
    },
    /// The transformed item at `index` could not be encoded.
    Encode {
        /// Index of the item that failed.
        index: u64,
        /// What the encoder reported.
        source: EncodeError,
    },
    /// User code (source, transform or `Serialize`) panicked; `index` is the item being
    /// processed, if any.
    Panicked {
        /// Index of the item being processed when the panic happened.
        index: Option<u64>,
        /// The panic message, when it was a string.
        message: String,
    },
    /// The stream's cancellation token was cancelled.
    Cancelled,
    /// The stream's timeout elapsed.
    TimedOut(Duration),
    /// The reader of a spawned stream took no chunk for this long while the channel was
    /// full (see [`ChunkConfig::stall_timeout`](crate::ChunkConfig::stall_timeout)): the
    /// task stopped and released the source and its buffers.
    Stalled(Duration),
    /// The reader of a spawned stream fell below the minimum data rate (see
    /// [`ChunkConfig::min_data_rate`](crate::ChunkConfig::min_data_rate)): the task
    /// stopped and released the source and its buffers.
    TooSlow {
        /// The reader's average rate since the stream began, in bytes per second.
        bytes_per_second: u64,
        /// The minimum it fell below.
        min: MinDataRate,
    },
    /// The stream needed a tokio runtime (for `spawn`, `flush_interval` or a timeout) and
    /// was used outside one, or in one without timers enabled.
    NoRuntime,
}

impl StreamError {
    /// Builds [`StreamError::Panicked`] from a caught panic payload.
    pub(crate) fn panicked(index: Option<u64>, payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(s) => (*s).to_owned(),
                Err(_) => "non-string panic payload".to_owned(),
            },
        };
        StreamError::Panicked { index, message }
    }

    /// A short machine-readable name for the kind of failure ("source", "transform",
    /// "encode", "panicked", "cancelled", "timed_out", "stalled", "too_slow", "no_runtime").
    pub fn kind(&self) -> &'static str {
        match self {
            StreamError::Source(_) => "source",
            StreamError::Transform { .. } => "transform",
            StreamError::Encode { .. } => "encode",
            StreamError::Panicked { .. } => "panicked",
            StreamError::Cancelled => "cancelled",
            StreamError::TimedOut(_) => "timed_out",
            StreamError::Stalled(_) => "stalled",
            StreamError::TooSlow { .. } => "too_slow",
            StreamError::NoRuntime => "no_runtime",
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Source(err) => write!(f, "source failed: {err}"),
            StreamError::Transform { index, source } => {
                write!(f, "transform failed at item {index}: {source}")
            }
            StreamError::Encode { index, source } => {
                write!(f, "cannot encode item {index}: {source}")
            }
            StreamError::Panicked {
                index: Some(index),
                message,
            } => write!(f, "panicked at item {index}: {message}"),
            StreamError::Panicked {
                index: None,
                message,
            } => write!(f, "panicked: {message}"),
            StreamError::Cancelled => f.write_str("stream cancelled"),
            StreamError::TimedOut(after) => write!(f, "stream timed out after {after:?}"),
            StreamError::Stalled(after) => {
                write!(f, "stream stopped: the reader took no chunk for {after:?}")
            }
            StreamError::TooSlow {
                bytes_per_second,
                min,
            } => write!(
                f,
                "stream stopped: the reader took {bytes_per_second} bytes/s, below the \
                 minimum of {} bytes/s (after a grace period of {:?})",
                min.bytes_per_second, min.grace
            ),
            StreamError::NoRuntime => {
                f.write_str("no tokio runtime with timers enabled to run the stream on")
            }
        }
    }
}

impl Error for StreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StreamError::Source(err) | StreamError::Transform { source: err, .. } => Some(&**err),
            StreamError::Encode { source, .. } => Some(source),
            _ => None,
        }
    }
}
