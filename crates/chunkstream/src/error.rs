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

    /// The kind of failure, without its details.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StreamError::Source(_) => ErrorKind::Source,
            StreamError::Transform { .. } => ErrorKind::Transform,
            StreamError::Encode { .. } => ErrorKind::Encode,
            StreamError::Panicked { .. } => ErrorKind::Panicked,
            StreamError::Cancelled => ErrorKind::Cancelled,
            StreamError::TimedOut(_) => ErrorKind::TimedOut,
            StreamError::Stalled(_) => ErrorKind::Stalled,
            StreamError::TooSlow { .. } => ErrorKind::TooSlow,
            StreamError::NoRuntime => ErrorKind::NoRuntime,
        }
    }
}

/// The kind of a [`StreamError`], one per variant; [`as_str`](ErrorKind::as_str) (and
/// `Display`) gives its machine-readable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`StreamError::Source`]: "source".
    Source,
    /// [`StreamError::Transform`]: "transform".
    Transform,
    /// [`StreamError::Encode`]: "encode".
    Encode,
    /// [`StreamError::Panicked`]: "panicked".
    Panicked,
    /// [`StreamError::Cancelled`]: "cancelled".
    Cancelled,
    /// [`StreamError::TimedOut`]: "timed_out".
    TimedOut,
    /// [`StreamError::Stalled`]: "stalled".
    Stalled,
    /// [`StreamError::TooSlow`]: "too_slow".
    TooSlow,
    /// [`StreamError::NoRuntime`]: "no_runtime".
    NoRuntime,
}

impl ErrorKind {
    /// The kind's name, as logs and error bodies carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Source => "source",
            ErrorKind::Transform => "transform",
            ErrorKind::Encode => "encode",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Stalled => "stalled",
            ErrorKind::TooSlow => "too_slow",
            ErrorKind::NoRuntime => "no_runtime",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
