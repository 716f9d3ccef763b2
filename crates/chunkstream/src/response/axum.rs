//! axum's `IntoResponse` for [`StreamResponse`].

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use super::StreamResponse;
use crate::stream::ChunkStream;

/// The `X-Total-Count` header name.
pub(crate) const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

impl IntoResponse for StreamResponse {
    /// Sends the status, `Content-Type`, `X-Total-Count` (when known) and the chunked
    /// body, or, when the stream failed before its first chunk, what the response's
    /// [`ErrorPolicy`](super::ErrorPolicy) answers (by default the error status with a
    /// generic JSON problem body).
    fn into_response(self) -> Response {
        if let Some(answer) = self.error_response() {
            // Logged by the policy, with the id the body carries.
            return answer.map(Body::from);
        }
        let (status, total_count) = (self.status(), self.total_count());
        let chunks = self.into_chunks();
        // A format of the user's own may name a content type that is no header value.
        let content_type = HeaderValue::from_str(chunks.content_type())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let content_type_name = chunks.content_type();
        // Once the status is out, an error can only abort the transfer: hyper sees the
        // body's `Err` and closes the connection without the terminating chunk.
        let logged = chunks.inspect_err(|err| {
            tracing::warn!(error = %err, kind = err.kind().as_str(), "stream failed mid-body; aborting the transfer");
        });
        let mut response = Response::new(Body::new(ChunkStream::from_stream(
            content_type_name,
            logged,
        )));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, content_type);
        if let Some(count) = total_count {
            headers.insert(X_TOTAL_COUNT, HeaderValue::from(count));
        }
        response
    }
}
