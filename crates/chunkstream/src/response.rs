//! [`StreamResponse`]: a streamed body with its status, content type and total count.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;

use crate::error::{StreamError, chain, new_error_id};
use crate::stream::ChunkStream;
use crate::trace;

#[cfg(feature = "axum")]
mod axum;

/// A started response whose body is a [`ChunkStream`]: status, optional total count (sent
/// as `X-Total-Count`), content type (from the stream's format), and the chunks.
///
/// A status goes out before the body, so a stream that fails before its first chunk can
/// only get an error status if that chunk is awaited first: the only ways to get a
/// `StreamResponse` ([`ChunkStream::respond`], or [`StreamResponse::new`] and then
/// [`start`](StreamResponseBuilder::start)) do that.
///
/// With the `axum` feature it implements axum's `IntoResponse`: `Content-Type` from the
/// [`Format`](crate::Format), `X-Total-Count` when known, a chunked body; a stream that
/// failed before its first chunk answers as its [`ErrorPolicy`] says; a failure after it
/// aborts the transfer (hyper leaves out the terminating chunk, so the client sees an
/// incomplete body) and is logged at `WARN`, after the format's
/// [error marker](crate::Streamer::with_error_markers) if markers are on.
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
/// The shortest handler: items in, a started response out.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, StreamResponse, Streamer, source};
///
/// async fn handler(streamer: Streamer) -> StreamResponse {
///     streamer.json(source::from_iter(0..10)).respond().await
/// }
///
/// let response = handler(Streamer::new(ChunkConfig::default()).unwrap()).await;
/// assert_eq!(response.status(), http::StatusCode::OK);
/// assert_eq!(response.content_type(), "application/json");
/// # });
/// ```
///
/// With a status or a total count, through [`StreamResponseBuilder`].
#[derive(Debug)]
pub struct StreamResponse {
    /// What was set before the start; its `chunks` lack the first, which `start` holds.
    built: StreamResponseBuilder,
    start: Start,
}

/// What [`StreamResponseBuilder::start`] saw first.
#[derive(Debug)]
enum Start {
    /// The first chunk (`None`: the stream ended without any).
    Started(Option<Bytes>),
    /// The stream failed before its first chunk.
    Failed(StreamError),
}

/// A [`StreamResponse`] that is not started yet: set its status and total count, then
/// [`start`](StreamResponseBuilder::start) it. It is deliberately not a response (no
/// `IntoResponse`), for the reason told at [`StreamResponse`].
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, StreamResponse, Streamer, source};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let response = StreamResponse::new(streamer.clone().with_format(chunkstream::format::Ndjson).json(source::from_iter(["a", "b"])))
///     .with_status(http::StatusCode::PARTIAL_CONTENT)
///     .with_total_count(2)
///     .start()
///     .await;
/// assert_eq!(response.status(), http::StatusCode::PARTIAL_CONTENT);
/// assert_eq!(response.total_count(), Some(2));
/// assert_eq!(response.content_type(), "application/x-ndjson");
/// # });
/// ```
#[cfg_attr(
    feature = "axum",
    doc = r#"
Returning the builder from an axum handler does not compile:

```compile_fail
use axum::response::IntoResponse;
use chunkstream::{ChunkConfig, StreamResponse, Streamer, source};

async fn handler() -> impl IntoResponse {
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    StreamResponse::new(streamer.json(source::from_iter(0..3))) // no `.start().await`
}
```
"#
)]
#[derive(Debug)]
#[must_use = "a response does nothing until it is started: call `.start().await`"]
pub struct StreamResponseBuilder {
    status: StatusCode,
    total_count: Option<u64>,
    chunks: ChunkStream,
    errors: ErrorPolicy,
}

impl StreamResponse {
    /// A builder for a `200 OK` response streaming `chunks`, with no total count. Finish
    /// it with [`start`](StreamResponseBuilder::start)`.await`.
    ///
    /// For a plain response, [`ChunkStream::respond`] does both in one call.
    #[allow(clippy::new_ret_no_self)] // the builder is the point: see `StreamResponseBuilder`
    pub fn new(chunks: ChunkStream) -> StreamResponseBuilder {
        StreamResponseBuilder {
            status: StatusCode::OK,
            total_count: None,
            chunks,
            errors: ErrorPolicy::default(),
        }
    }

    /// The error the stream failed with before its first chunk, if it did.
    pub fn error(&self) -> Option<&StreamError> {
        match &self.start {
            Start::Failed(err) => Some(err),
            Start::Started(_) => None,
        }
    }

    /// The status to send: the one given (`200 OK` by default), or, when the stream failed
    /// before its first chunk, [`error_status`] of that error.
    pub fn status(&self) -> StatusCode {
        match &self.start {
            Start::Failed(err) => error_status(err),
            Start::Started(_) => self.built.status,
        }
    }

    /// The answer to a stream that failed before its first chunk, as the response's
    /// [`ErrorPolicy`] makes it (which logs the detail with the body's id): `None` when
    /// the stream started. The `axum` feature's `IntoResponse` sends it; a server on
    /// another framework sends it itself.
    pub fn error_response(&self) -> Option<http::Response<String>> {
        self.error().map(|err| self.built.errors.respond(err))
    }

    /// The announced item count, if known.
    pub fn total_count(&self) -> Option<u64> {
        self.built.total_count
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        self.built.chunks.content_type()
    }

    /// The rest of the body, without the first chunk that starting the response took.
    pub fn chunks(&self) -> &ChunkStream {
        &self.built.chunks
    }

    /// Takes the whole body out, with the first chunk (or the error) that starting the
    /// response took put back in front.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    /// let response = streamer.json(source::from_iter([1, 2])).respond().await;
    /// let body = response.into_chunks().collect_bytes().await.unwrap();
    /// assert_eq!(&body[..], b"[1,2]");
    /// # });
    /// ```
    pub fn into_chunks(self) -> ChunkStream {
        let content_type = self.content_type();
        match self.start {
            Start::Started(None) => self.built.chunks,
            Start::Started(Some(first)) => ChunkStream::from_stream(
                content_type,
                futures_util::stream::once(std::future::ready(Ok(first))).chain(self.built.chunks),
            ),
            Start::Failed(err) => ChunkStream::from_error(content_type, err),
        }
    }
}

impl StreamResponseBuilder {
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

    /// The same response answering a failure before the first chunk as `errors` says
    /// (with the detail, or with a status and body of one's own). By default
    /// [`ErrorPolicy::default`]: a generic body.
    pub fn with_error_policy(mut self, errors: ErrorPolicy) -> Self {
        self.errors = errors;
        self
    }

    /// Awaits the first chunk (see [`StreamResponse`] for why) and gives the response to
    /// send: [`StreamResponse::error`] tells whether the stream failed before its first
    /// chunk, and [`StreamResponse::status`] is then the error status.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, StreamResponse, Streamer};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    /// let failing = futures_util::stream::iter([Err::<u32, _>(std::io::Error::other("no table"))]);
    /// let response = StreamResponse::new(streamer.json(failing)).start().await;
    /// assert_eq!(response.error().map(|e| e.kind().as_str()), Some("source"));
    /// assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    /// # });
    /// ```
    pub async fn start(mut self) -> StreamResponse {
        let start = match self.chunks.next().await {
            Some(Ok(chunk)) => Start::Started(Some(chunk)),
            Some(Err(err)) => Start::Failed(err),
            None => Start::Started(None),
        };
        StreamResponse { built: self, start }
    }
}

impl ChunkStream {
    /// The response for these chunks, started, its first chunk awaited (see
    /// [`StreamResponse`]): short for `StreamResponse::new(self).start().await`.
    pub async fn respond(self) -> StreamResponse {
        StreamResponse::new(self).start().await
    }
}

/// The HTTP status for a stream that failed before its first chunk: `503 Service
/// Unavailable` when cancelled or stopped for a stalled or too slow reader (the server shed the
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
        StreamError::Cancelled | StreamError::Stalled(_) | StreamError::TooSlow { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        StreamError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON problem body for a stream that failed before its first chunk, as the default
/// [`ErrorPolicy`] writes it: `{"error": kind, "message": generic, "id": id}`, where the
/// message is the kind's generic one ([`ErrorKind::message`](crate::ErrorKind::message)),
/// never the source's own text, and `id` is what the log line with the detail carries.
///
/// # Examples
///
/// ```
/// use chunkstream::{StreamError, response::problem_body};
///
/// let err = StreamError::Source("no such table: tickets".into());
/// assert_eq!(
///     problem_body(&err, "0123456789abcdef"),
///     r#"{"error":"source","message":"the source of the stream failed","id":"0123456789abcdef"}"#,
/// );
/// ```
pub fn problem_body(err: &StreamError, id: &str) -> String {
    Problem::new(err, id, None).to_json()
}

/// The problem body's fields, in the order they are written.
#[derive(serde::Serialize)]
struct Problem<'a> {
    error: &'static str,
    message: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl<'a> Problem<'a> {
    fn new(err: &StreamError, id: &'a str, detail: Option<String>) -> Self {
        let kind = err.kind();
        Problem {
            error: kind.as_str(),
            message: kind.message(),
            id,
            detail,
        }
    }

    fn to_json(&self) -> String {
        // Serializing strings into a `String` cannot fail; the fallback is never used.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A status and body of one's own for a failed stream, given the error and its id.
type ErrorMapper = dyn Fn(&StreamError, &str) -> http::Response<String> + Send + Sync;

/// How a [`StreamResponse`] answers a stream that failed before its first chunk. Cheap to
/// clone: build one per service and give it to every response with
/// [`StreamResponseBuilder::with_error_policy`].
///
/// Whatever the policy, each failure gets a new id and its detail (the error and its
/// causes) is logged at `WARN` under that id (with the `tracing` feature), so what a
/// client reports leads an operator to the cause.
///
/// - [`ErrorPolicy::default`]: the status of [`error_status`] and the [`problem_body`]:
///   kind, generic message, id. Nothing of the source's own message reaches the client.
/// - [`with_detail`](ErrorPolicy::with_detail): the same body plus `"detail"`, the error
///   and its causes (the database's message, say). For development, or for clients that
///   may see it.
/// - [`with_mapper`](ErrorPolicy::with_mapper): a status and body of one's own.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, StreamError, StreamResponse, Streamer, response::ErrorPolicy};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let failing = || futures_util::stream::iter([Err::<u32, _>(std::io::Error::other("no such table: tickets"))]);
///
/// // The default: kind, generic message and id.
/// let response = streamer.json(failing()).respond().await;
/// let answer = response.error_response().unwrap();
/// assert_eq!(answer.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(!answer.body().contains("no such table"));
///
/// // Opted in to the detail.
/// let detailed = ErrorPolicy::default().with_detail(true);
/// let response = StreamResponse::new(streamer.json(failing())).with_error_policy(detailed).start().await;
/// assert!(response.error_response().unwrap().body().contains("no such table"));
///
/// // A status and body of one's own.
/// let mapped = ErrorPolicy::default().with_mapper(|err: &StreamError, id: &str| {
///     let mut answer = http::Response::new(format!("failed ({}), ref {id}", err.kind()));
///     *answer.status_mut() = http::StatusCode::BAD_GATEWAY;
///     answer
/// });
/// let response = StreamResponse::new(streamer.json(failing())).with_error_policy(mapped).start().await;
/// let answer = response.error_response().unwrap();
/// assert_eq!(answer.status(), http::StatusCode::BAD_GATEWAY);
/// assert!(answer.body().starts_with("failed (source), ref "));
/// # });
/// ```
#[derive(Clone, Default)]
pub struct ErrorPolicy {
    detail: bool,
    mapper: Option<Arc<ErrorMapper>>,
}

impl ErrorPolicy {
    /// The same policy with the detail in the body (`"detail"`: the error and its causes)
    /// when `on`. Off by default. A mapper, when set, decides the body instead.
    pub fn with_detail(mut self, on: bool) -> Self {
        self.detail = on;
        self
    }

    /// The same policy answering with what `mapper` makes of the error and its id (the id
    /// the log line with the detail carries). It replaces the default status, headers and
    /// body: the response is sent as the mapper makes it, so it sets its own
    /// `Content-Type`.
    pub fn with_mapper<M>(mut self, mapper: M) -> Self
    where
        M: Fn(&StreamError, &str) -> http::Response<String> + Send + Sync + 'static,
    {
        self.mapper = Some(Arc::new(mapper));
        self
    }

    /// Whether the body carries the detail; see [`with_detail`](ErrorPolicy::with_detail).
    pub fn detail(&self) -> bool {
        self.detail
    }

    /// The answer to `err`: logs its detail under a new id, then makes the status and
    /// body (with `Content-Type: application/json` unless a mapper decides).
    pub fn respond(&self, err: &StreamError) -> http::Response<String> {
        let id = new_error_id();
        trace::reported(&id, err, "stream failed before its first chunk");
        if let Some(mapper) = &self.mapper {
            return mapper(err, &id);
        }
        let detail = self.detail.then(|| chain(err));
        json_response(error_status(err), Problem::new(err, &id, detail).to_json())
    }
}

/// A response of `status` with a JSON `body` and `Content-Type: application/json`.
pub(crate) fn json_response(status: StatusCode, body: String) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

impl fmt::Debug for ErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorPolicy")
            .field("detail", &self.detail)
            .field("mapper", &self.mapper.is_some())
            .finish()
    }
}
