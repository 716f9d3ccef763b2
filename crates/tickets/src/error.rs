//! Error responses: one JSON shape for every 4xx and 5xx the service sends, a request id
//! on every response, and internal details kept in the log unless the service runs with
//! `--expose-errors`.
//!
//! ```json
//! {"error": "overloaded", "message": "too many downloads in progress; retry later", "request_id": "..."}
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chunkstream::StreamError;
use tracing::Instrument as _;

/// The `X-Request-Id` header: the id of the request, on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request target (path and query) the service reads, in bytes; longer is `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers the service reads; more is `431`.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of request headers (names and values) the service reads; more is `431`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// An error response: a status, a short machine-readable `error` code, a message for the
/// client, and, for the log, the detail behind it.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<String>,
    retry_after: Option<u64>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error with a status, a code and a message the client may see.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
            extra: None,
        }
    }

    /// `400 Bad Request` with `code` and a message naming what is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `500 Internal Server Error`: a generic message for the client, `detail` for the log.
    pub fn internal(detail: impl fmt::Display) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id identifies it in the server's log",
        )
        .with_detail(detail)
    }

    /// `503 Service Unavailable` with `Retry-After`: the service is at its limit.
    pub fn overloaded(retry_after_secs: u64) -> Self {
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many downloads in progress; retry later",
        );
        err.retry_after = Some(retry_after_secs.max(1));
        err
    }

    /// The error of a stream that failed before its first chunk: `503` when cancelled,
    /// `504` when timed out, `500` otherwise; the stream's error is the detail.
    pub fn from_stream(err: &StreamError) -> Self {
        let status = chunkstream::response::error_status(err);
        let code = match status {
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::GATEWAY_TIMEOUT => "timeout",
            _ => "internal",
        };
        let message = match code {
            "internal" => "internal error; the request id identifies it in the server's log",
            _ => "the response could not be started; retry later",
        };
        ApiError::new(status, code, message).with_detail(err)
    }

    /// The generic error for a status that carries no error of its own (a route that does
    /// not exist, a method it does not take, ...).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint; see GET /healthz".into()),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not take that method (see the Allow header)".into(),
            ),
            StatusCode::URI_TOO_LONG => ("uri_too_long", "the request target is too long".into()),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
                "headers_too_large",
                "the request headers are too large".into(),
            ),
            s if s.is_server_error() => (
                "internal",
                "internal error; the request id identifies it in the server's log".into(),
            ),
            s => (
                "error",
                s.canonical_reason().unwrap_or("request failed").to_owned(),
            ),
        };
        ApiError::new(status, code, message)
    }

    /// The same error with `detail` for the log (and for the client with
    /// `--expose-errors`).
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// The same error with more fields in its body.
    pub fn with_fields(mut self, fields: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = Some(fields);
        self
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its `error` code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The response: the status, `Retry-After` when set, `X-Request-Id`, and the JSON
    /// body `{"error", "message", "request_id"}` (plus `"detail"` when `expose` is set).
    pub fn render(&self, request_id: &RequestId, expose: bool) -> Response {
        let mut body = self.extra.clone().unwrap_or_default();
        body.insert("error".into(), self.code.into());
        body.insert("message".into(), self.message.clone().into());
        body.insert("request_id".into(), request_id.0.clone().into());
        if let Some(detail) = self.detail.as_ref().filter(|_| expose) {
            body.insert("detail".into(), detail.clone().into());
        }
        let mut response = Response::new(Body::from(serde_json::Value::Object(body).to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    /// The status, with the error in the response's extensions; [`request_context`]
    /// renders the body (it knows the request id).
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self.status;
        response.extensions_mut().insert(self);
        response
    }
}

/// The id of one request: unique within the process, and unlikely to repeat across
/// restarts (its first half comes from the start time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The next id.
    pub fn next() -> RequestId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static BOOT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let boot = *BOOT.get_or_init(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            (nanos as u32) ^ std::process::id().rotate_left(16)
        });
        RequestId(format!(
            "{boot:08x}{:08x}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether error responses carry their detail (`--expose-errors`, for development).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExposeErrors(pub bool);

/// Middleware: gives the request an id (in its extensions, a tracing span and the
/// `X-Request-Id` response header), refuses oversized request targets (`414`) and
/// headers (`431`), and renders every 4xx and 5xx response as the JSON error body,
/// logging the detail of server errors.
pub async fn request_context(
    State(expose): State<ExposeErrors>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::next();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = match check_size(&request) {
        Some(err) => err.into_response(),
        None => {
            request.extensions_mut().insert(id.clone());
            next.run(request).instrument(span.clone()).await
        }
    };
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let err = response
            .extensions_mut()
            .remove::<ApiError>()
            .unwrap_or_else(|| ApiError::from_status(status));
        span.in_scope(|| {
            if err.code() == "overloaded" {
                // Routine under load; `/healthz` reports the saturation.
                tracing::debug!(status = status.as_u16(), error = %err, "request refused");
            } else if status.is_server_error() {
                tracing::warn!(status = status.as_u16(), error = %err, "request failed");
            } else {
                tracing::debug!(status = status.as_u16(), error = %err, "request refused");
            }
        });
        let (mut parts, _) = response.into_parts();
        let (rendered, body) = err.render(&id, expose.0).into_parts();
        parts.headers.remove(CONTENT_LENGTH);
        for (name, value) in &rendered.headers {
            parts.headers.insert(name, value.clone());
        }
        response = Response::from_parts(parts, body);
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

fn check_size(request: &Request) -> Option<ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target has {target} bytes; at most {MAX_URI_BYTES} are read"),
        ));
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "{} headers, {bytes} bytes; at most {MAX_HEADERS} headers and \
                 {MAX_HEADER_BYTES} bytes are read",
                headers.len()
            ),
        ));
    }
    None
}
