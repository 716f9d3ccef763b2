//! [`StreamResponse`]: a streamed body with its status, content type and total count.

use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;

use crate::error::StreamError;
use crate::stream::ChunkStream;

cfg_axum! {
    mod axum;
}

/// A response whose body is a [`ChunkStream`]: status, optional total count (sent as
/// `X-Total-Count`), content type (from the stream's format), and the chunks.
///
/// An HTTP status goes out before the body, so a stream that fails before its first
/// chunk can only get an error status if that first chunk is awaited before the
/// response is sent: [`start`](StreamResponse::start) does that. A handler should
/// return `StreamResponse::new(chunks).start().await`; a response sent without
/// `start` answers `200` at once, and a failure on its first chunk aborts the transfer.
///
/// With the `axum` feature it implements axum's `IntoResponse`:
///
/// - `Content-Type` from the [`Format`](crate::Format), `X-Total-Count` when known, a
///   chunked body;
/// - a started response that failed before its first chunk answers with the status of
///   [`error_status`] and a small JSON problem body, `{"error": kind, "message": ...}`;
/// - a failure after the first chunk aborts the transfer (hyper leaves out the
///   terminating chunk, so the client sees an incomplete body) and is logged with
///   `tracing` at `WARN`.
///
/// Behind tower-http's `CompressionLayer` (gzip) the chunks still reach the client as
/// they are made: the encoder (async-compression 0.4) flushes whenever the body is not
/// ready, so a slow stream is not held back to its end (the concern of tower-http#292;
/// tested with tower-http 0.6). For a slow source, set
/// [`ChunkConfig::flush_interval`](crate::ChunkConfig::flush_interval) so that partly
/// filled buffers go out too.
///
/// # Examples
///
/// ```
/// use chunkstream::{ChunkConfig, StreamResponse, Streamer, source, transform};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let response = StreamResponse::new(streamer.stream(source::from_iter(0..10), transform::passthrough()))
///     .with_total_count(10);
/// assert_eq!(response.status(), http::StatusCode::OK);
/// assert_eq!(response.content_type(), "application/json");
/// assert_eq!(response.total_count(), Some(10));
/// ```
#[derive(Debug)]
pub struct StreamResponse {
    status: StatusCode,
    total_count: Option<u64>,
    chunks: ChunkStream,
    start: Start,
}

/// How far [`StreamResponse::start`] got.
#[derive(Debug)]
enum Start {
    /// Not awaited: the first chunk is still in `chunks`.
    Pending,
    /// The first chunk (`None`: the stream ended without any).
    Started(Option<Bytes>),
    /// The stream failed before its first chunk.
    Failed(StreamError),
}

impl StreamResponse {
    /// A `200 OK` response streaming `chunks`, with no total count.
    pub fn new(chunks: ChunkStream) -> Self {
        StreamResponse {
            status: StatusCode::OK,
            total_count: None,
            chunks,
            start: Start::Pending,
        }
    }

    /// The same response with another status (the status sent when the stream starts
    /// well).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same response announcing `count` items (`X-Total-Count`).
    pub fn with_total_count(mut self, count: u64) -> Self {
        self.total_count = Some(count);
        self
    }

    /// Awaits the first chunk, so that a stream failing before it can still be answered
    /// with an error status. Handlers should call it before returning the response.
    ///
    /// After it, [`error`](StreamResponse::error) tells whether the stream failed before
    /// its first chunk, and [`status`](StreamResponse::status) is then the error status.
    /// Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, StreamResponse, Streamer};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    /// let failing = futures_util::stream::iter([Err::<u32, _>(std::io::Error::other("no table"))]);
    /// let response = StreamResponse::new(streamer.stream(failing, chunkstream::transform::passthrough()))
    ///     .start()
    ///     .await;
    /// assert_eq!(response.error().map(|e| e.kind()), Some("source"));
    /// assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    /// # });
    /// ```
    pub async fn start(mut self) -> Self {
        if let Start::Pending = self.start {
            self.start = match self.chunks.next().await {
                Some(Ok(chunk)) => Start::Started(Some(chunk)),
                Some(Err(err)) => Start::Failed(err),
                None => Start::Started(None),
            };
        }
        self
    }

    /// Whether [`start`](StreamResponse::start) has run.
    pub fn is_started(&self) -> bool {
        !matches!(self.start, Start::Pending)
    }

    /// The error the stream failed with before its first chunk, once
    /// [`start`](StreamResponse::start) has run.
    pub fn error(&self) -> Option<&StreamError> {
        match &self.start {
            Start::Failed(err) => Some(err),
            _ => None,
        }
    }

    /// The status to send: the one given (`200 OK` by default), or, when the stream failed
    /// before its first chunk, [`error_status`] of that error.
    pub fn status(&self) -> StatusCode {
        match &self.start {
            Start::Failed(err) => error_status(err),
            _ => self.status,
        }
    }

    /// The announced item count, if known.
    pub fn total_count(&self) -> Option<u64> {
        self.total_count
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        self.chunks.content_type()
    }

    /// The body, less the first chunk if [`start`](StreamResponse::start) has taken it.
    pub fn chunks(&self) -> &ChunkStream {
        &self.chunks
    }

    /// Takes the whole body out, with the first chunk (or the error) that
    /// [`start`](StreamResponse::start) took put back in front.
    pub fn into_chunks(self) -> ChunkStream {
        let format = self.chunks.format();
        match self.start {
            Start::Pending | Start::Started(None) => self.chunks,
            Start::Started(Some(first)) => ChunkStream::from_stream(
                format,
                futures_util::stream::once(std::future::ready(Ok(first))).chain(self.chunks),
            ),
            Start::Failed(err) => ChunkStream::from_error(format, err),
        }
    }
}

/// The HTTP status for a stream that failed before its first chunk: `503 Service
/// Unavailable` when cancelled or stopped for a stalled reader (the server shed the
/// work), `504 Gateway Timeout` when timed out, `500 Internal Server Error` otherwise.
///
/// # Examples
///
/// ```
/// use chunkstream::{StreamError, response::error_status};
///
/// assert_eq!(error_status(&StreamError::Cancelled), http::StatusCode::SERVICE_UNAVAILABLE);
/// ```
pub fn error_status(err: &StreamError) -> StatusCode {
    match err {
        StreamError::Cancelled | StreamError::Stalled(_) => StatusCode::SERVICE_UNAVAILABLE,
        StreamError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON problem body for a stream that failed before its first chunk:
/// `{"error": kind, "message": display}`.
///
/// # Examples
///
/// ```
/// use chunkstream::{StreamError, response::problem_body};
///
/// assert_eq!(
///     problem_body(&StreamError::Cancelled),
///     r#"{"error":"cancelled","message":"stream cancelled"}"#,
/// );
/// ```
pub fn problem_body(err: &StreamError) -> String {
    serde_json::json!({ "error": err.kind(), "message": err.to_string() }).to_string()
}
