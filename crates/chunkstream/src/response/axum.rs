//! axum's `IntoResponse` for [`StreamResponse`].

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use super::{Start, StreamResponse, error_status, problem_body};
use crate::stream::ChunkStream;

/// The `X-Total-Count` header name.
pub(crate) const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

impl IntoResponse for StreamResponse {
    /// Sends the status, `Content-Type`, `X-Total-Count` (when known) and the chunked
    /// body, or, when the stream failed before its first chunk, the error status with a
    /// JSON problem body.
    fn into_response(self) -> Response {
        if let Start::Failed(err) = &self.start {
            tracing::warn!(error = %err, kind = err.kind().as_str(), "stream failed before its first chunk");
            let mut response = Response::new(Body::from(problem_body(err)));
            *response.status_mut() = error_status(err);
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        let status = self.status;
        let total_count = self.total_count;
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
        let mut response = Response::new(Body::new(ChunkStream::from_stream(content_type_name, logged)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, content_type);
        if let Some(count) = total_count {
            headers.insert(X_TOTAL_COUNT, HeaderValue::from(count));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::BodyExt;

    use super::*;
    use crate::{ChunkConfig, Streamer, source, transform};

    async fn body_of(response: Response) -> Result<Vec<u8>, axum::Error> {
        Ok(response.into_body().collect().await?.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn headers_and_body() {
        let streamer = Streamer::new(ChunkConfig::default())
            .unwrap()
            .with_format(crate::format::Ndjson);
        let chunks = streamer.stream(source::from_iter(1..=3), transform::passthrough());
        let response = StreamResponse::new(chunks)
            .with_total_count(3)
            .start()
            .await
            .into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/x-ndjson");
        assert_eq!(response.headers()[X_TOTAL_COUNT], "3");
        assert_eq!(body_of(response).await.unwrap(), b"1\n2\n3\n");
    }

    #[tokio::test]
    async fn error_before_first_chunk_is_a_status() {
        let streamer = Streamer::new(ChunkConfig::default()).unwrap();
        let failing = futures_util::stream::iter([Err::<u32, _>(std::io::Error::other("boom"))]);
        let response = StreamResponse::new(streamer.stream(failing, transform::passthrough()))
            .start()
            .await
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(&body_of(response).await.unwrap()).unwrap();
        assert_eq!(body["error"], "source");
        assert_eq!(body["message"], "source failed: boom");
    }

    #[tokio::test]
    async fn error_after_first_chunk_aborts() {
        let config = ChunkConfig::with_sizes(64, 16);
        let streamer = Streamer::new(config).unwrap();
        let items = (0..100).map(|i| if i == 50 { Err(std::io::Error::other("late")) } else { Ok(i) });
        let chunks = streamer.stream(futures_util::stream::iter(items), transform::passthrough());
        let response = StreamResponse::new(chunks).start().await.into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(body_of(response).await.is_err());
    }
}
