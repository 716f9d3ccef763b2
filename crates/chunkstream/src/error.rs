//! [`StreamError`]: why a stream ended early.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::config::MinDataRate;
use crate::encode::EncodeError;

/// A boxed error from user code (a source or a transform).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a [`ChunkStream`](crate::ChunkStream) ended before its source did: always its last
/// item (see [`ChunkStream`](crate::ChunkStream) for what the body holds then).
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
}

/// [`ErrorKind`], [`StreamError::kind`], `as_str` and `message` from one row per kind:
/// `Variant => "name", "message";`, the variant named as in [`StreamError`].
macro_rules! error_kinds {
    ($($kind:ident => $name:literal, $message:literal;)*) => {
        /// The kind of a [`StreamError`], one per variant; [`as_str`](ErrorKind::as_str) (and
        /// `Display`) gives its machine-readable name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $(
                #[doc = concat!("[`StreamError::", stringify!($kind), "`], named `", $name, "`.")]
                $kind,
            )*
        }

        impl StreamError {
            /// The kind of failure, without its details.
            pub fn kind(&self) -> ErrorKind {
                match self {
                    $(StreamError::$kind { .. } => ErrorKind::$kind,)*
                }
            }
        }

        impl ErrorKind {
            /// A generic message for this kind, safe to show any client: it says what kind of
            /// thing went wrong and nothing of the source's detail (no table names, no SQL
            /// errors). Error bodies and error markers carry it; the detail goes to the log.
            ///
            /// # Examples
            ///
            /// ```
            /// use chunkstream::ErrorKind;
            ///
            /// assert_eq!(ErrorKind::Source.message(), "the source of the stream failed");
            /// ```
            pub fn message(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $message,)*
                }
            }

            /// The kind's name, as logs and error bodies carry it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)*
                }
            }
        }
    };
}

error_kinds! {
    Source => "source", "the source of the stream failed";
    Transform => "transform", "an item could not be transformed";
    Encode => "encode", "an item could not be encoded";
    Panicked => "panicked", "the server failed while streaming";
    Cancelled => "cancelled", "the stream was cancelled";
    TimedOut => "timed_out", "the stream timed out";
    Stalled => "stalled", "the stream was stopped: the client took no data for too long";
    TooSlow => "too_slow", "the stream was stopped: the client read too slowly";
    NoRuntime => "no_runtime", "the server could not run the stream";
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

/// A new id for one reported failure: 16 lowercase hex digits, which the body (or error
/// marker) a client sees and the log line with the detail both carry.
///
/// Unique enough to match a client's report to a log line: a process-wide counter mixed
/// with `RandomState`'s per-process random keys, so ids differ across restarts too.
pub(crate) fn new_error_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

/// The error and its causes, each cause's text once: `StreamError`'s own text already
/// holds its source's, so a cause whose text is already there is not repeated.
pub(crate) fn chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let more = err.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = err.source();
    }
    text
}
